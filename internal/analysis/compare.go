package analysis

import (
	"errors"
	"fmt"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// Side is one arm of one result document, as runs are compared.
type Side struct {
	// Run names the document in messages: "main", "pr", a file name.
	Run string
	Doc *result.Document
	Arm string
}

func (s Side) label() string {
	if s.Run == "" {
		return s.Arm
	}
	return s.Run + " " + s.Arm
}

// Comparison is an arm of one run measured against an arm of a reference run.
type Comparison struct {
	// Deltas are other − base, the metrics of Analyze's deltas, with bootstrap intervals.
	Deltas []result.Delta
	// SLO holds the conditions evaluated on the other arm; overhead conditions are
	// measured against the base arm.
	SLO []result.SLOResult
	// Pass is false when an SLO failed.
	Pass bool
}

// Compare measures arm other against arm base, usually the same arm in two runs (a main
// branch and a pull request, two days, two versions). Deltas are those of Analyze, with
// other in the place of the arm and base in the place of the baseline, and intervals from
// the same bootstrap: repetitions and requests of each side resampled independently. Each
// condition is evaluated on other; an overhead condition compares other with base (its
// messages name the runs: "pr builtin: overhead.latency.p99 = +12% (p99 2.24ms vs 2.00ms
// in main), not < 5%").
//
// The random streams are seeded from opts.Seed (default: other's plan seed) and the
// sides' labels, so the same inputs give the same intervals. Edge cases: a side with no
// measured trials gives no deltas and fails its conditions with the reason; errors are
// returned for invalid options and undecodable histograms only.
func Compare(base, other Side, conds []spec.Condition, opts Options) (*Comparison, error) {
	if base.Doc == nil || other.Doc == nil {
		return nil, errors.New("analysis: compare: no result document")
	}
	opts = opts.withDefaults(other.Doc)
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	a := &analyzer{opts: opts}
	bd := newArmData(base.Doc, base.Arm, "compare:"+base.label())
	od := newArmData(other.Doc, other.Arm, "compare:"+other.label()+" vs "+base.label())
	out := &Comparison{Pass: true}
	if len(bd.trials) > 0 && len(od.trials) > 0 {
		deltas, err := a.deltas(bd, od)
		if err != nil {
			return nil, err
		}
		out.Deltas = deltas
	}
	ref := reference{label: other.label(), ad: bd, name: base.label(), noun: base.Run, zeroSame: true,
		vs: func(v string) string { return "vs " + v + " in " + base.Run }}
	if base.Run == "" {
		ref.noun = base.Arm
		ref.vs = func(v string) string { return "vs " + v + " in " + base.Arm }
	}
	if len(bd.trials) == 0 {
		ref.ad, ref.missing = nil, fmt.Sprintf("%s has no measured trials", base.label())
	}
	for _, c := range conds {
		text := c.Text
		if text == "" {
			text = conditionText(c)
		}
		r, err := evaluateOn(slo{text: text, cond: c}, other.Arm, od, ref)
		if err != nil {
			return nil, err
		}
		out.SLO = append(out.SLO, r)
		out.Pass = out.Pass && r.Pass
	}
	return out, nil
}

// CompareDistributions compares the latency percentiles ps of two sets of distributions
// (each set one arm's trials, pooled losslessly) as Analyze compares arms: the difference
// other − base of each pooled percentile, with a t interval from the spread of the
// per-distribution percentiles when a set has two or more, else a request bootstrap
// interval and no verdict; the deltas form one family (Holm).
//
// Edge cases: a set holding no value gives no deltas (an empty slice, no error); a
// percentile outside (0, 100] is an error, as are invalid options and undecodable
// histograms. opts.Seed 0 means 1.
func CompareDistributions(base, other []result.Distribution, ps []float64, opts Options) ([]result.Delta, error) {
	opts.Percentiles = ps
	opts = opts.withDefaults(&result.Document{})
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	bd, err := pooled(base)
	if err != nil {
		return nil, fmt.Errorf("analysis: base: %w", err)
	}
	od, err := pooled(other)
	if err != nil {
		return nil, fmt.Errorf("analysis: other: %w", err)
	}
	if bd.pooled.Count() == 0 || od.pooled.Count() == 0 {
		return []result.Delta{}, nil
	}
	a := &analyzer{opts: opts}
	out, err := a.latencyDeltas(&armData{name: "distributions", dists: map[string]*pooledDist{"latency": bd}},
		&armData{name: "distributions", dists: map[string]*pooledDist{"latency": od}}, true)
	if err != nil {
		return nil, err
	}
	family := make([]*result.Delta, len(out))
	for i := range out {
		family[i] = &out[i]
	}
	controlFamily(family, opts.Confidence)
	return out, nil
}

func pooled(dists []result.Distribution) (*pooledDist, error) {
	pd := &pooledDist{pooled: hist.New()}
	for i, d := range dists {
		h, err := decode(d.Histogram)
		if err != nil {
			return nil, fmt.Errorf("distribution %d: %w", i, err)
		}
		pd.trials = append(pd.trials, h)
		pd.pooled.Merge(h)
	}
	return pd, nil
}
