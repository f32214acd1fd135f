package analysis

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/result"
)

// newRand returns the random stream of one (arm, metric) pair: the same seed gives the
// same intervals whatever else is computed, and in whatever order.
func newRand(seed int64, arm, metric string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(arm))
	h.Write([]byte{0})
	h.Write([]byte(metric))
	return rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
}

// gammaRand draws from Gamma(a, 1) for a ≥ 1 by Marsaglia and Tsang's method ("A simple
// method for generating gamma variables", ACM TOMS 26(3), 2000). 1 − v + log v is
// computed from v − 1 with Log1p, so that shapes of 10⁹ (the rank of a percentile in a
// billion requests) keep full precision.
func gammaRand(r *rand.Rand, a float64) float64 {
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		w := c * x
		if w <= -1 {
			continue
		}
		vm1 := w * (3 + w*(3+w)) // (1+w)³ − 1
		u := r.Float64()
		x2 := x * x
		if u < 1-0.0331*x2*x2 || math.Log(u) < 0.5*x2+d*(math.Log1p(vm1)-vm1) {
			return d * (1 + vm1)
		}
	}
}

// betaRand draws from Beta(a, b) for a, b ≥ 1.
func betaRand(r *rand.Rand, a, b float64) float64 {
	x := gammaRand(r, a)
	return x / (x + gammaRand(r, b))
}

// rank is the rank of percentile p among n values by hist's (HdrHistogram's) rule:
// ⌊p/100·n + ½⌋, between 1 and n.
func rank(p float64, n int64) int64 {
	r := p/100*float64(n) + 0.5
	switch {
	case !(r >= 1):
		return 1
	case r >= float64(n):
		return n
	}
	return int64(r)
}

// histBoot resamples the pooled latency histogram of an arm's trials.
//
// tops are the tops of every non-empty HDR bucket of any trial, ascending, in ms (what a
// percentile reports for a value in that bucket); cum[j][i] is how many of trial j's
// values are at or below tops[i].
type histBoot struct {
	tops []float64
	cum  [][]int64
	n    []int64
}

func newHistBoot(hists []*hist.Histogram) *histBoot {
	bars := make([][]hist.Bar, len(hists))
	var tops []time.Duration
	for j, h := range hists {
		bars[j] = h.Bars()
		for _, b := range bars[j] {
			tops = append(tops, b.To)
		}
	}
	slices.Sort(tops)
	tops = slices.Compact(tops)
	hb := &histBoot{tops: make([]float64, len(tops)), cum: make([][]int64, len(hists)), n: make([]int64, len(hists))}
	for i, t := range tops {
		hb.tops[i] = ms(t)
	}
	for j, bs := range bars {
		cum := make([]int64, len(tops))
		var c int64
		k := 0
		for i, t := range tops {
			if k < len(bs) && bs[k].To == t {
				c += bs[k].Count
				k++
			}
			cum[i] = c
		}
		hb.cum[j], hb.n[j] = cum, c
	}
	return hb
}

func decode(h result.Histogram) (*hist.Histogram, error) {
	if h.Encoding != result.HistogramEncoding || h.Unit != "us" {
		return nil, fmt.Errorf("histogram encoding %q in %q: want %q in us", h.Encoding, h.Unit, result.HistogramEncoding)
	}
	return hist.Decode(h.Data)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// search returns the smallest i with Σ_j w[j]·cum[j][i] ≥ target (the last index if none).
func (hb *histBoot) search(w []int64, target float64) int {
	i := sort.Search(len(hb.tops), func(i int) bool {
		var c int64
		for j, wj := range w {
			if wj != 0 {
				c += wj * hb.cum[j][i]
			}
		}
		return float64(c) >= target
	})
	return min(i, len(hb.tops)-1)
}

// percentile returns percentile p of the trials pooled with multiplicities w, exactly as
// hist.Percentile reports it for the merged histogram; NaN when they hold no value.
func (hb *histBoot) percentile(p float64, w []int64) float64 {
	n := hb.total(w)
	if n == 0 {
		return math.NaN()
	}
	return hb.tops[hb.search(w, float64(rank(p, n)))]
}

func (hb *histBoot) total(w []int64) int64 {
	var n int64
	for j, wj := range w {
		n += wj * hb.n[j]
	}
	return n
}

// replicate draws one bootstrap replicate of each percentile in ps into out, NaN when
// the replicate holds no value. w is scratch space of one int64 per trial.
//
// Level 1 (with two or more trials): draw as many trials as there are, with replacement,
// into multiplicities w. Level 2: draw N values, with replacement, from the pooled
// histogram of the drawn trials (N = their total count) and take the percentile's rank r
// among them. That second draw is never made value by value: the r-th smallest of N
// draws from a distribution F is F⁻¹(U₍ᵣ₎), where U₍ᵣ₎, the r-th smallest of N uniform
// draws, is Beta(r, N−r+1) distributed. So one replicate of one percentile costs a Beta
// draw and a binary search over the buckets, O(k·log buckets), whatever N is, and has
// exactly the distribution that resampling N values (a multinomial over the buckets)
// would give it.
func (hb *histBoot) replicate(r *rand.Rand, ps, out []float64, w []int64) {
	k := len(hb.n)
	if k == 1 {
		w[0] = 1
	} else {
		clear(w)
		for range k {
			w[r.IntN(k)]++
		}
	}
	n := hb.total(w)
	for i, p := range ps {
		if n == 0 {
			out[i] = math.NaN()
			continue
		}
		rk := rank(p, n)
		u := betaRand(r, float64(rk), float64(n-rk+1))
		out[i] = hb.tops[hb.search(w, u*float64(n))]
	}
}

// trialWeights draws level-1 multiplicities of k trials (k draws with replacement) into w.
func trialWeights(r *rand.Rand, w []float64) {
	clear(w)
	for range w {
		w[r.IntN(len(w))]++
	}
}

// interval returns the central interval holding conf of the replicates (percentile
// bootstrap; linear interpolation between order statistics), ignoring NaNs. ok is
// false when fewer than half the replicates are numbers.
func interval(reps []float64, conf float64) (lo, hi float64, ok bool) {
	xs := make([]float64, 0, len(reps))
	for _, x := range reps {
		if !math.IsNaN(x) {
			xs = append(xs, x)
		}
	}
	if len(xs) < 2 || 2*len(xs) < len(reps) {
		return 0, 0, false
	}
	slices.Sort(xs)
	q := func(p float64) float64 {
		h := p * float64(len(xs)-1)
		i := int(h)
		if i >= len(xs)-1 {
			return xs[len(xs)-1]
		}
		return xs[i] + (h-float64(i))*(xs[i+1]-xs[i])
	}
	a := (1 - conf) / 2
	return q(a), q(1 - a), true
}
