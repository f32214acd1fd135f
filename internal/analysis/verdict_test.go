package analysis_test

import (
	"math"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/analysis"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// family is a family of deltas with the given raw p-values, each far above its resolution.
func family(ps ...float64) []result.Delta {
	out := make([]result.Delta, len(ps))
	for i, p := range ps {
		out[i] = result.Delta{Metric: "m", Delta: 1, Resolution: 0.001, Confidence: 0.95, PValue: &p}
	}
	return out
}

// TestHolmFamily holds the verdicts to Holm's step-down procedure, with adjusted
// p-values computed by hand: sort the p-values, multiply the i-th smallest by m − i + 1,
// keep them non-decreasing. The families are chosen so that the procedure is told apart
// from its neighbours: no correction would call all of both families significant,
// Bonferroni (every p-value × m) only two of the first; Holm calls all three of the first
// and none of the second. Controlled together, as `smp compare` controls every pair it
// shows, the six deltas are one family, and none is significant.
func TestHolmFamily(t *testing.T) {
	for _, c := range []struct {
		name     string
		families [][]result.Delta
		adjusted [][]float64
		sig      [][]bool
	}{
		{"step-down keeps the third", [][]result.Delta{family(0.02, 0.011, 0.015)},
			[][]float64{{0.033, 0.033, 0.033}}, [][]bool{{true, true, true}}},
		{"none below 5% after correction", [][]result.Delta{family(0.04, 0.02, 0.03)},
			[][]float64{{0.06, 0.06, 0.06}}, [][]bool{{false, false, false}}},
		// Sorted: 0.001 0.011 0.015 0.02 0.03 0.04 → ×6 ×5 ×4 ×3 ×2 ×1, non-decreasing.
		{"two pairs, one family", [][]result.Delta{family(0.02, 0.011, 0.015), family(0.04, 0.001, 0.03)},
			[][]float64{{0.06, 0.055, 0.06}, {0.06, 0.006, 0.06}}, [][]bool{{false, false, false}, {false, true, false}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			analysis.ControlFamily(c.families...)
			for i, f := range c.families {
				for j, d := range f {
					want := result.VerdictNotSignificant
					if c.sig[i][j] {
						want = result.VerdictSignificant
					}
					if d.PAdjusted == nil || math.Abs(*d.PAdjusted-c.adjusted[i][j]) > 1e-12 || d.Verdict != want ||
						d.Significant == nil || *d.Significant != c.sig[i][j] {
						t.Errorf("family %d, p %g: adjusted %v, verdict %q, significant %v; want adjusted %g, %q",
							i, *d.PValue, ptrString(d.PAdjusted), d.Verdict, ptrString(d.Significant), c.adjusted[i][j], want)
					}
				}
			}
		})
	}
	// A delta without a test (one repetition) gets no verdict and is not counted in the
	// family: with m = 3 the smallest p-value adjusts to 0.039, with m = 4 it would be 0.052.
	f := append(family(0.02, 0.013, 0.015), result.Delta{Metric: "once", Delta: 1, Resolution: 0.001})
	analysis.ControlFamily(f)
	if d := f[3]; d.Verdict != result.VerdictNone || d.Significant != nil || d.PAdjusted != nil || !*f[1].Significant {
		t.Errorf("untested delta: verdict %q, significant %v, adjusted %v; the tested ones: %v", d.Verdict, ptrString(d.Significant),
			ptrString(d.PAdjusted), *f[1].Significant)
	}
}

func ptrString[T any](p *T) any {
	if p == nil {
		return "nil"
	}
	return *p
}

// TestBelowResolutionNeverSignificant: when every repetition gives the same figure the
// spread is 0 and the t test's p-value is 0, however small the difference; only the
// instrument's resolution stands between it and a verdict. Two arms without a mesh, five
// repetitions of 10 s each, identical latencies, and the application's CPU exactly 0.5
// mcores higher in every trial of the second arm: half of one /proc clock tick over
// 10 s (1 mcore), which the instrument cannot tell. It is VerdictBelowResolution and not
// significant. The same arms 2 mcores apart are significant, so the resolution rule, not
// the test, is what keeps the first quiet. A zero-spread delta below resolution given to
// ControlFamily directly is held the same way.
func TestBelowResolutionNeverSignificant(t *testing.T) {
	run := func(extra float64) result.Delta {
		arms := []armSpec{{name: "a", mesh: spec.MeshNone}, {name: "b", mesh: spec.MeshNone}}
		for i := range arms {
			cpu := 40.0
			if i == 1 {
				cpu += extra
			}
			for range spec.DefaultRepetitions {
				arms[i].trials = append(arms[i].trials, trialSpec{samples: constant(5000, 400*time.Microsecond),
					resources: []result.Resource{app("svc-1", cpu, 20<<20), app("svc-2", cpu, 20<<20)}})
			}
		}
		doc := buildDoc(t, mustPlan(t, "arms: [{name: a, mesh: none}, {name: b, mesh: none}]\nbaseline: a\n"), arms)
		got, err := analysis.Analyze(doc, nil, analysis.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return findDelta(t, got, "b", "cpu.app")
	}
	below := run(0.5)
	if below.Resolution != 1 || below.PValue == nil || *below.PValue != 0 || math.Abs(below.Delta-0.5) > 1e-9 {
		t.Fatalf("cpu.app: delta %g, resolution %g, p %v; want 0.5 mcores, 1, 0 (no spread)", below.Delta, below.Resolution, ptrString(below.PValue))
	}
	if below.Verdict != result.VerdictBelowResolution || below.Significant == nil || *below.Significant {
		t.Errorf("0.5 mcores at a resolution of 1, p = 0: verdict %q, significant %v; want %q, false",
			below.Verdict, ptrString(below.Significant), result.VerdictBelowResolution)
	}
	if above := run(2); above.Verdict != result.VerdictSignificant || above.Significant == nil || !*above.Significant {
		t.Errorf("2 mcores at a resolution of 1, p = 0: verdict %q, significant %v; want significant", above.Verdict, ptrString(above.Significant))
	}

	zero := 0.0
	f := []result.Delta{{Metric: "latency.p50", Delta: 0.0005, Resolution: 0.001, Confidence: 0.95, PValue: &zero}}
	analysis.ControlFamily(f)
	if f[0].Verdict != result.VerdictBelowResolution || f[0].Significant == nil || *f[0].Significant {
		t.Errorf("0.5 µs at a resolution of 1 µs, p = 0: verdict %q, significant %v", f[0].Verdict, ptrString(f[0].Significant))
	}
	// The same holds for a negative difference and for one without a test.
	f = []result.Delta{{Metric: "throughput", Delta: -0.05, Resolution: 0.1, PValue: &zero}, {Metric: "x", Delta: 0.05, Resolution: 0.1}}
	analysis.ControlFamily(f)
	for _, d := range f {
		if d.Verdict != result.VerdictBelowResolution || d.Significant == nil || *d.Significant {
			t.Errorf("%s %+g at a resolution of 0.1: verdict %q, significant %v", d.Metric, d.Delta, d.Verdict, ptrString(d.Significant))
		}
	}
}
