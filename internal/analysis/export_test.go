package analysis

import "github.com/service-mesh-performance/smp/result"

// TwoLevelBootstrap says which latency deltas of arm against base the interval smp used
// before verdicts were tested over trials would call significant: the two-level
// percentile bootstrap (trials, then requests; histBoot.replicate). The calibration
// measures it beside the current method.
func TwoLevelBootstrap(doc *result.Document, base, arm string, ps []float64, seed int64) ([]bool, error) {
	a := &analyzer{opts: Options{Replicates: defaultReplicates, Confidence: defaultConfidence, Seed: seed}}
	bd, ad := newArmData(doc, base, base), newArmData(doc, arm, arm)
	bl, err := bd.dist("latency")
	if err != nil {
		return nil, err
	}
	al, err := ad.dist("latency")
	if err != nil {
		return nil, err
	}
	lo, hi, ok := a.percentileIntervals(arm, ps, bl.resampler(), al.resampler())
	sig := make([]bool, len(ps))
	for i := range ps {
		sig[i] = ok[i] && (lo[i] > 0 || hi[i] < 0)
	}
	return sig, nil
}
