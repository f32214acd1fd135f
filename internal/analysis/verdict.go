package analysis

import (
	"cmp"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/service-mesh-performance/smp/result"
)

// spread is what the repetitions of two arms say about the noise of a difference of
// their figures: the standard error of the difference and its degrees of freedom.
type spread struct {
	se, df float64
}

// trialSpread estimates the standard error of mean(a) − mean(b) from per-trial figures
// (NaNs are trials that did not measure the figure and are left out). A fixed side is
// known exactly (the proxy usage of an arm without proxies) and adds no noise.
//
// Two varying sides of the same size (the default design) share a pooled variance with
// na+nb−2 degrees of freedom: with equal sizes the pooled test keeps its level when the
// two variances differ (Scheffé 1959, §10.2), and it has more degrees of freedom than
// Welch's, which is what three repetitions are short of. Sides of different sizes (a
// failed trial) use Welch's standard error and Satterthwaite's degrees of freedom, unless
// one side has a single trial, whose variance only the other side can estimate (pooled).
// ok is false when no spread can be estimated: every varying side has one trial.
func trialSpread(b, a []float64, bFixed, aFixed bool) (spread, bool) {
	b, a = finite(b), finite(a)
	switch {
	case bFixed && aFixed:
		return spread{}, false
	case bFixed:
		return oneSide(a)
	case aFixed:
		return oneSide(b)
	}
	nb, na := float64(len(b)), float64(len(a))
	if nb < 1 || na < 1 || nb+na < 3 {
		return spread{}, false
	}
	vb, va := variance(b), variance(a)
	if nb == na || nb == 1 || na == 1 {
		pooled := ((nb-1)*vb + (na-1)*va) / (nb + na - 2)
		return spread{se: math.Sqrt(pooled * (1/nb + 1/na)), df: nb + na - 2}, true
	}
	qb, qa := vb/nb, va/na
	s := spread{se: math.Sqrt(qb + qa), df: nb + na - 2}
	if qb+qa > 0 {
		s.df = (qb + qa) * (qb + qa) / (qb*qb/(nb-1) + qa*qa/(na-1))
	}
	return s, true
}

// oneSide is the spread of the mean of xs alone.
func oneSide(xs []float64) (spread, bool) {
	n := float64(len(xs))
	if n < 2 {
		return spread{}, false
	}
	return spread{se: math.Sqrt(variance(xs) / n), df: n - 1}, true
}

func finite(xs []float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			out = append(out, x)
		}
	}
	return out
}

// variance is the sample variance (n−1 in the denominator); 0 for fewer than two values.
func variance(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	var m float64
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	var ss float64
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return ss / float64(len(xs)-1)
}

// tTest returns Student's t interval of an estimate at confidence conf, and the
// two-sided p-value of the hypothesis that the true value is 0. A spread of 0 (every
// trial gave the same figure) gives a point interval and a p-value of 0 or 1; the
// resolution rule then decides whether such a difference means anything.
func tTest(est float64, s spread, conf float64) (lo, hi, p float64) {
	if s.se == 0 {
		if est == 0 {
			return est, est, 1
		}
		return est, est, 0
	}
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: s.df}
	q := t.Quantile(1 - (1-conf)/2)
	return est - q*s.se, est + q*s.se, 2 * t.Survival(math.Abs(est)/s.se)
}

// controlFamily gives the deltas of one family their verdicts: Holm's step-down
// adjustment of their p-values (PAdjusted), then VerdictSignificant when the adjusted
// p-value is below 1 − conf and |Delta| reaches the resolution. Holm holds the chance of
// one or more false "significant" verdicts in the family at 1 − conf whatever the
// dependence between the deltas (Holm 1979), and rejects everything Bonferroni rejects.
// Deltas without a p-value are not tested: they get VerdictNone and no Significant,
// except that one below resolution is VerdictBelowResolution either way.
func controlFamily(ds []*result.Delta, conf float64) {
	var tested []*result.Delta
	for _, d := range ds {
		if d.PValue != nil {
			tested = append(tested, d)
		}
	}
	slices.SortStableFunc(tested, func(x, y *result.Delta) int { return cmp.Compare(*x.PValue, *y.PValue) })
	m := len(tested)
	running := 0.0
	for i, d := range tested {
		running = math.Max(running, math.Min(1, float64(m-i)**d.PValue))
		adj := running
		d.PAdjusted = &adj
	}
	alpha := 1 - conf
	for _, d := range ds {
		sig := false
		switch {
		case math.Abs(d.Delta) < d.Resolution:
			d.Verdict = result.VerdictBelowResolution
		case d.PAdjusted == nil:
			d.Verdict, d.Significant = result.VerdictNone, nil
			continue
		case *d.PAdjusted < alpha:
			d.Verdict, sig = result.VerdictSignificant, true
		default:
			d.Verdict = result.VerdictNotSignificant
		}
		d.Significant = &sig
	}
}

// ControlFamily gives verdicts to deltas computed separately (by Compare, one pair of
// arms at a time) as one family: `smp compare` tests every delta of every pair it shows,
// so the family-wise error rate is held over all of them. It reads each delta's PValue,
// Resolution and Confidence (deltas without a p-value keep no verdict) and sets
// PAdjusted, Verdict and Significant in place.
func ControlFamily(families ...[]result.Delta) {
	var ds []*result.Delta
	conf := defaultConfidence
	for _, f := range families {
		for i := range f {
			ds = append(ds, &f[i])
			if f[i].Confidence > 0 {
				conf = f[i].Confidence
			}
		}
	}
	controlFamily(ds, conf)
}
