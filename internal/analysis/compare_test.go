package analysis_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/analysis"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// runOf draws reps trials of n latencies from a lognormal with the median scaled by
// scale (1 = the reference distribution: median 1 ms, shape 0.5, p99 ≈ 3.2 ms).
func runOf(t *testing.T, r *rand.Rand, reps int, scale float64) []result.Distribution {
	t.Helper()
	var out []result.Distribution
	for range reps {
		out = append(out, distOf(t, lognormal(r, simN, time.Duration(scale*float64(simMedian)), simSigma, 0)))
	}
	return out
}

// TestCompareDistributionsVerdicts: synthetic runs drawn from known distributions. Two
// runs of the same distribution, or of distributions 0.5% apart (well inside the noise of
// 5000 requests: the p99's standard error is about 2.5%), are called insignificant in most
// experiments: a 95% test is wrong 5% of the time before the family correction, so at
// least 40 of 50 (the expected 47.5 minus 3.4 standard deviations). An injected 25%
// regression (+0.25 ms at p50, +0.8 ms at p99, six standard errors or more) is called
// significant, and positive, in every one of them. Runs measured once get a request
// interval and no verdict.
func TestCompareDistributionsVerdicts(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	ps := []float64{50, 99}
	for _, c := range []struct {
		name        string
		scale       float64
		reps        int
		significant bool
	}{
		{"same distribution, once", 1, 1, false},
		{"25% regression, once", 1.25, 1, false},
		{"same distribution", 1, 3, false},
		{"0.5% apart", 1.005, 3, false},
		{"25% regression", 1.25, 3, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			agree := map[float64]int{}
			for seed := int64(1); seed <= 50; seed++ {
				r := rand.New(rand.NewPCG(uint64(seed), 1234))
				base, other := runOf(t, r, c.reps, 1), runOf(t, r, c.reps, c.scale)
				got, err := analysis.CompareDistributions(base, other, ps, analysis.Options{Seed: seed, Replicates: 500})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(ps) {
					t.Fatalf("%d deltas, want %d", len(got), len(ps))
				}
				for i, d := range got {
					if d.CILow == nil || d.CIHigh == nil {
						t.Fatalf("%s: no interval", d.Metric)
					}
					if *d.CILow > d.Delta || *d.CIHigh < d.Delta {
						t.Errorf("%s: interval [%g, %g] does not hold the delta %g", d.Metric, *d.CILow, *d.CIHigh, d.Delta)
					}
					if c.reps == 1 {
						noVerdict := d.Significant == nil && d.Verdict == result.VerdictNone ||
							d.Verdict == result.VerdictBelowResolution && !*d.Significant
						if !noVerdict || d.Interval != result.IntervalRequests {
							t.Fatalf("%s measured once: verdict %q, significant %v, interval %q; want none, from requests", d.Metric, d.Verdict, d.Significant, d.Interval)
						}
						agree[ps[i]]++
						continue
					}
					if *d.Significant == c.significant && (!c.significant || *d.CILow > 0) {
						agree[ps[i]]++
					}
				}
			}
			for _, p := range ps {
				want := 40
				if c.significant || c.reps == 1 {
					want = 50
				}
				t.Logf("p%g: verdict as expected in %d of 50", p, agree[p])
				if agree[p] < want {
					t.Errorf("p%g: significant=%v in only %d of 50 experiments; want at least %d", p, c.significant, agree[p], want)
				}
			}
		})
	}
}

func TestCompareDistributionsEdges(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	some := runOf(t, r, 1, 1)
	empty := []result.Distribution{distOf(t, nil)}
	if got, err := analysis.CompareDistributions(some, empty, []float64{50}, analysis.Options{}); err != nil || len(got) != 0 {
		t.Errorf("against an empty distribution: %v, %v; want no deltas and no error", got, err)
	}
	if _, err := analysis.CompareDistributions(some, some, []float64{0}, analysis.Options{}); err == nil {
		t.Error("percentile 0 accepted")
	}
	if _, err := analysis.CompareDistributions(some, some, []float64{50}, analysis.Options{Replicates: 10}); err == nil {
		t.Error("10 replicates accepted")
	}
	bad := []result.Distribution{{Histogram: result.Histogram{Encoding: "csv", Unit: "us"}}}
	if _, err := analysis.CompareDistributions(some, bad, []float64{50}, analysis.Options{}); err == nil || !strings.Contains(err.Error(), "other") {
		t.Errorf("undecodable histogram: %v", err)
	}
	// The same inputs give the same intervals.
	a, _ := analysis.CompareDistributions(some, runOf(t, rand.New(rand.NewPCG(2, 2)), 1, 1), []float64{99}, analysis.Options{})
	b, _ := analysis.CompareDistributions(some, runOf(t, rand.New(rand.NewPCG(2, 2)), 1, 1), []float64{99}, analysis.Options{})
	if *a[0].CILow != *b[0].CILow || *a[0].CIHigh != *b[0].CIHigh {
		t.Errorf("intervals differ between identical calls: %v %v", a[0], b[0])
	}
}

// compareRun is a run with a baseline and a mesh arm, three repetitions each; the mesh
// arm's latencies are scaled by meshScale.
func compareRun(t *testing.T, seed uint64, meshScale float64) *result.Document {
	r := rand.New(rand.NewPCG(seed, 77))
	var b, m []trialSpec
	for range 3 {
		b = append(b, trialSpec{samples: lognormal(r, simN, simMedian, simSigma, 0),
			resources: []result.Resource{app("svc-1", 100, 20<<20)}})
		m = append(m, trialSpec{samples: lognormal(r, simN, time.Duration(meshScale*float64(simMedian)), simSigma, 0),
			resources: []result.Resource{app("svc-1", 100, 20<<20), proxy("svc-1-proxy", 80, 30<<20)}})
	}
	return buildDoc(t, mustPlan(t, "arms: [baseline, {name: mesh, mesh: builtin}]\nrepetitions: 3"),
		[]armSpec{{name: "baseline", mesh: spec.MeshNone, trials: b}, {name: "mesh", mesh: spec.MeshBuiltin, trials: m}})
}

// TestCompareRuns: a pull request whose mesh arm got 30% slower than main's is flagged on
// that arm and not on the baseline arm, whose distribution did not change; overhead
// conditions compare with main's same arm and say so.
func TestCompareRuns(t *testing.T) {
	mainDoc, prDoc := compareRun(t, 1, 1.3), compareRun(t, 2, 1.3*1.3)
	conds := []spec.Condition{mustCond(t, "overhead.latency.p99 < 5%"), mustCond(t, "latency.p99 < 1s"), mustCond(t, "overhead.cpu.proxy < 1m")}

	mesh, err := analysis.Compare(analysis.Side{Run: "main", Doc: mainDoc, Arm: "mesh"}, analysis.Side{Run: "pr", Doc: prDoc, Arm: "mesh"}, conds, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p99 := deltaOf(t, mesh.Deltas, "latency.p99")
	if !*p99.Significant || *p99.CILow <= 0 {
		t.Errorf("mesh p99 %+.3f ms [%.3f, %.3f]: want a significant increase", p99.Delta, *p99.CILow, *p99.CIHigh)
	}
	if mesh.Pass {
		t.Error("a 30% regression passed overhead.latency.p99 < 5%")
	}
	if len(mesh.SLO) != 3 {
		t.Fatalf("%d SLO results, want 3: %+v", len(mesh.SLO), mesh.SLO)
	}
	if s := mesh.SLO[0]; s.Pass || s.Arm != "mesh" || !strings.HasPrefix(s.Message, "pr mesh: overhead.latency.p99 = +") ||
		!strings.Contains(s.Message, "ms in main), not < 5%") {
		t.Errorf("overhead condition: %+v", s)
	}
	if s := mesh.SLO[1]; !s.Pass || !strings.HasPrefix(s.Message, "pr mesh: latency.p99 = ") {
		t.Errorf("plain condition: %+v", s)
	}
	// The same proxy usage in both runs: +0m.
	if s := mesh.SLO[2]; !s.Pass || s.Message != "pr mesh: overhead.cpu.proxy = +0m (cpu.proxy 80m vs 80m in main), < 1m ok" {
		t.Errorf("cpu condition: %+v", s)
	}

	// A relative condition on proxies, which neither baseline arm has: 0 over 0 is no change.
	base, err := analysis.Compare(analysis.Side{Run: "main", Doc: mainDoc, Arm: "baseline"}, analysis.Side{Run: "pr", Doc: prDoc, Arm: "baseline"},
		[]spec.Condition{mustCond(t, "overhead.cpu.proxy < 10%")}, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"latency.p50", "latency.p99"} {
		if d := deltaOf(t, base.Deltas, m); *d.Significant {
			t.Errorf("baseline %s %+.3f ms [%.3f, %.3f]: the same distribution called significantly different", m, d.Delta, *d.CILow, *d.CIHigh)
		}
	}
	if !base.Pass || len(base.SLO) != 1 || base.SLO[0].Message != "pr baseline: overhead.cpu.proxy = +0% (cpu.proxy 0m vs 0m in main), < 10% ok" {
		t.Errorf("proxy condition on arms without proxies: pass %v, %+v", base.Pass, base.SLO)
	}

	// An arm the reference run lacks: no deltas, and overhead conditions fail saying why.
	none, err := analysis.Compare(analysis.Side{Run: "main", Doc: mainDoc, Arm: "istio"}, analysis.Side{Run: "pr", Doc: prDoc, Arm: "mesh"}, conds[:1], analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(none.Deltas) != 0 || none.Pass || !strings.Contains(none.SLO[0].Message, "main istio has no measured trials") {
		t.Errorf("missing reference arm: %d deltas, %+v", len(none.Deltas), none.SLO)
	}
}

func deltaOf(t *testing.T, ds []result.Delta, metric string) result.Delta {
	t.Helper()
	for _, d := range ds {
		if d.Metric == metric {
			if d.Significant == nil {
				t.Fatalf("%s has no interval", metric)
			}
			return d
		}
	}
	t.Fatalf("no delta %s in %+v", metric, ds)
	return result.Delta{}
}
