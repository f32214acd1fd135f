package analysis_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/analysis"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// The simulations below draw latencies from a lognormal with a median of 1 ms and shape
// 0.5 (p99 ≈ 3.2 ms), like a small service behind a proxy.
const (
	simMedian = time.Millisecond
	simSigma  = 0.5
	simN      = 5000
)

// simDoc is a baseline and a mesh arm, reps repetitions each, all drawn from the same
// distribution except that the mesh arm's latencies are shifted by shift.
func simDoc(t testing.TB, r *rand.Rand, reps int, shift time.Duration, seed int64) *result.Document {
	var b, m []trialSpec
	for range reps {
		b = append(b, trialSpec{samples: lognormal(r, simN, simMedian, simSigma, 0)})
		m = append(m, trialSpec{samples: lognormal(r, simN, simMedian, simSigma, shift)})
	}
	plan := mustPlan(t, `
arms: [baseline, {name: mesh, mesh: builtin}]
`)
	plan.Seed = seed
	return buildDoc(t, plan, []armSpec{{name: "baseline", mesh: spec.MeshNone, trials: b}, {name: "mesh", mesh: spec.MeshBuiltin, trials: m}})
}

// TestCoverage: when both arms draw from one distribution the true delta is 0, and a 95%
// interval must contain it in about 95% of experiments. Over 100 experiments (each its
// own data and its own bootstrap seed) the count of intervals containing 0 is
// Binomial(100, 0.95) if the intervals are exact: 95 ± 2.2. The band 85..100 allows for
// the known under-coverage of percentile-bootstrap intervals at finite samples (a point
// or two) plus four standard deviations of chance; fewer than 85 would mean intervals too
// narrow to trust. Here requests are independent and trials identical, the one case
// where one repetition's request interval is honest; TestCalibration covers the others.
// With three repetitions the verdict is tested too: its family correction makes it
// quieter than the interval.
func TestCoverage(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	for _, reps := range []int{1, 3} {
		contains, quiet := map[string]int{}, map[string]int{}
		metrics := []string{"latency.p50", "latency.p99"}
		for seed := int64(1); seed <= 100; seed++ {
			r := rand.New(rand.NewPCG(uint64(seed), 99))
			got, err := analysis.Analyze(simDoc(t, r, reps, 0, seed), nil, analysis.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range metrics {
				d := findDelta(t, got, "mesh", m)
				if *d.CILow <= 0 && *d.CIHigh >= 0 {
					contains[m]++
				}
				if d.Significant == nil || !*d.Significant {
					quiet[m]++
				}
			}
		}
		for _, m := range metrics {
			t.Logf("%d repetition(s): %s interval contains 0 in %d of 100, not significant in %d", reps, m, contains[m], quiet[m])
			if contains[m] < 85 {
				t.Errorf("%d repetition(s): the %s interval contains the true delta 0 in %d of 100 experiments; want 85..100",
					reps, m, contains[m])
			}
			if quiet[m] < contains[m] {
				t.Errorf("%d repetition(s): %s called significant in %d experiments whose interval holds 0", reps, m, quiet[m]-contains[m])
			}
		}
	}
}

// TestPower: a real shift of five times the spread between single trials is found. The
// spread is the standard deviation of the p50 and p99 deltas between two single trials
// of one distribution, measured here over 200 simulated pairs without any analysis; the
// means of three repetitions differ with √3 less, so the shift is 5·√3 ≈ 8.7 standard
// errors. Three repetitions per arm give the t test 4 degrees of freedom, and the Holm
// correction over the arm's 7 deltas asks for |t| above 5.6 at its first step, which
// such a shift passes about 90% of the time: over 50 experiments at least 38 must find
// it (the expected 45 minus 3 standard deviations).
func TestPower(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	r := rand.New(rand.NewPCG(42, 42))
	ps := map[string]float64{"latency.p50": 50, "latency.p99": 99}
	for metric, p := range ps {
		var deltas []float64
		for range 200 {
			a := lognormal(r, simN, simMedian, simSigma, 0)
			b := lognormal(r, simN, simMedian, simSigma, 0)
			deltas = append(deltas, exactPercentileMS(b, p)-exactPercentileMS(a, p))
		}
		spread := stddev(deltas)
		shift := time.Duration(5 * spread * float64(time.Millisecond))
		found := 0
		for seed := int64(1); seed <= 50; seed++ {
			got, err := analysis.Analyze(simDoc(t, r, 3, shift, seed), nil, analysis.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if d := findDelta(t, got, "mesh", metric); *d.Significant && *d.CILow > 0 {
				found++
			}
		}
		t.Logf("%s: spread %.4f ms, shift %v: significant in %d of 50", metric, spread, shift, found)
		if found < 38 {
			t.Errorf("%s: a shift of 5× the spread of one trial (%v) is significant in %d of 50 experiments; want at least 38", metric, shift, found)
		}
	}
}

func stddev(xs []float64) float64 {
	var s, s2 float64
	for _, x := range xs {
		s += x
		s2 += x * x
	}
	n := float64(len(xs))
	return math.Sqrt((s2 - s*s/n) / (n - 1))
}

// TestTwoLevelWidens: the same pooled requests give a much wider interval when the
// repetitions disagree with each other (run-to-run drift) than when they agree, because
// a rerun would not reproduce the same mix.
func TestTwoLevelWidens(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	base := []trialSpec{}
	for range 3 {
		base = append(base, trialSpec{samples: lognormal(r, simN, simMedian, simSigma, 0)})
	}
	agree, disagree := []trialSpec{}, []trialSpec{}
	for i := range 3 {
		agree = append(agree, trialSpec{samples: lognormal(r, simN, 1200*time.Microsecond, simSigma, 0)})
		// Medians 0.9, 1.2, 1.5 ms: the same mean level, repetitions that disagree.
		disagree = append(disagree, trialSpec{samples: lognormal(r, simN, time.Duration(900+300*i)*time.Microsecond, simSigma, 0)})
	}
	// The same disagreeing requests, as if recorded in one long trial.
	var merged []time.Duration
	for _, ts := range disagree {
		merged = append(merged, ts.samples...)
	}
	width := func(mesh []trialSpec, baseTrials []trialSpec) float64 {
		doc := buildDoc(t, mustPlan(t, "arms: [baseline, {name: mesh, mesh: builtin}]"),
			[]armSpec{{name: "baseline", mesh: spec.MeshNone, trials: baseTrials}, {name: "mesh", mesh: spec.MeshBuiltin, trials: mesh}})
		got, err := analysis.Analyze(doc, nil, analysis.Options{})
		if err != nil {
			t.Fatal(err)
		}
		d := findDelta(t, got, "mesh", "latency.p50")
		return *d.CIHigh - *d.CILow
	}
	wAgree, wDisagree := width(agree, base), width(disagree, base)
	baseMerged := []trialSpec{{samples: slices.Concat(base[0].samples, base[1].samples, base[2].samples)}}
	wOne := width([]trialSpec{{samples: merged}}, baseMerged)
	t.Logf("p50 interval width: repetitions agree %.4f ms, disagree %.4f ms, same requests as one trial each %.4f ms", wAgree, wDisagree, wOne)
	if wDisagree < 2*wAgree {
		t.Errorf("disagreeing repetitions: interval %.4f ms wide, agreeing %.4f ms; want at least twice as wide", wDisagree, wAgree)
	}
	if wDisagree < 2*wOne {
		t.Errorf("disagreeing repetitions: interval %.4f ms wide, the same requests as one trial %.4f ms; want at least twice as wide", wDisagree, wOne)
	}
}
