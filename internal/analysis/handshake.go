package analysis

// handshakeMean is the mean time per request to open a connection (connect plus TLS
// handshake, in ms) over an arm's trials, weighting each trial by its samples. Means
// add up exactly, so the sum of the two phases' means is the mean of their sum. It is
// uncomputable unless every trial ran with keep-alive off (Trial.Handshake), so the
// "handshake" delta appears only when both arms measured it; a plaintext trial's TLS
// part is 0.
func handshakeMean(tlsOnly bool) func(ad *armData, w []float64) (float64, bool) {
	return func(ad *armData, w []float64) (float64, bool) {
		var sum, n float64
		for j, t := range ad.trials {
			h := t.Handshake
			if h == nil || h.Connect == nil || h.Connect.Count == 0 {
				return 0, false
			}
			c := float64(h.Connect.Count)
			per := 0.0
			if !tlsOnly {
				per = h.Connect.MeanMS
			}
			if h.TLS != nil {
				per += h.TLS.MeanMS
			}
			sum += w[j] * c * per
			n += w[j] * c
		}
		if n == 0 {
			return 0, false
		}
		return sum / n, true
	}
}

// maxRate is the mean highest sustainable rate of an arm's capacity searches
// (workload.find_max); uncomputable unless every trial searched.
func maxRate(ad *armData, w []float64) (float64, bool) {
	var sum, n float64
	for j, t := range ad.trials {
		if t.Search == nil {
			return 0, false
		}
		sum += w[j] * t.Search.MaxRateRPS
		n += w[j]
	}
	if n == 0 {
		return 0, false
	}
	return sum / n, true
}
