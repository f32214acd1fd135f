package analysis_test

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/analysis"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

const twoArms = `
name: t
arms: [baseline, {name: sidecar, mesh: builtin}]
repetitions: 2
seed: 7
`

// fixture: a baseline and a sidecar arm, two repetitions each, with failures, overflow and
// resources; the raw figures are kept to check the analysis against.
type fixture struct {
	doc     *result.Document
	samples map[string][]time.Duration
	arms    []armSpec
}

func newFixture(t testing.TB, reps int) fixture {
	r := rand.New(rand.NewPCG(1, 2))
	f := fixture{samples: map[string][]time.Duration{}}
	f.arms = []armSpec{{name: "baseline", mesh: spec.MeshNone}, {name: "sidecar", mesh: spec.MeshBuiltin}}
	for i := range f.arms {
		a := &f.arms[i]
		for rep := range reps {
			median := 300 * time.Microsecond
			res := []result.Resource{app("svc-1", 100+float64(rep)*10, 20<<20), app("svc-2", 50, 10<<20)}
			if a.mesh != spec.MeshNone {
				median = 450 * time.Microsecond
				res = append(res, proxy("svc-1-proxy", 80+float64(rep)*2, 30<<20), proxy("svc-2-proxy", 60, 28<<20),
					// A proxy that could not be measured at all is left out.
					result.Resource{Component: "client-proxy", Role: result.RoleProxy, Error: "process 1 was not found", Source: "procfs"})
			}
			ts := trialSpec{samples: lognormal(r, 4000+r.IntN(1000), median, 0.6, 0), failed: int64(rep + 3),
				overflow: int64(rep), duration: time.Duration(10+rep) * time.Second, resources: res}
			a.trials = append(a.trials, ts)
			f.samples[a.name] = append(f.samples[a.name], ts.samples...)
		}
	}
	f.doc = buildDoc(t, mustPlan(t, twoArms), f.arms)
	return f
}

func TestDeltasMatchRawSamples(t *testing.T) {
	f := newFixture(t, 2)
	got, err := analysis.Analyze(f.doc, nil, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Baseline != "baseline" || len(got.Overhead) != 1 || got.Overhead[0].Arm != "sidecar" {
		t.Fatalf("baseline %q, overhead arms %+v", got.Baseline, got.Overhead)
	}
	if !got.Pass || len(got.SLO) != 0 {
		t.Errorf("no SLOs: Pass %v, SLO %+v; want true and none", got.Pass, got.SLO)
	}
	for _, p := range spec.DefaultPercentiles() {
		name := "latency.p" + strconv.FormatFloat(p, 'f', -1, 64)
		d := findDelta(t, got, "sidecar", name)
		wb, wa := exactPercentileMS(f.samples["baseline"], p), exactPercentileMS(f.samples["sidecar"], p)
		if d.Unit != "ms" || !withinHDR(d.Baseline, wb) || !withinHDR(d.Value, wa) || math.Abs(d.Delta-(d.Value-d.Baseline)) > 1e-12 {
			t.Errorf("%s: %+v; raw samples give baseline %.4f, sidecar %.4f", name, d, wb, wa)
		}
		if d.DeltaPercent == nil || math.Abs(*d.DeltaPercent-d.Delta/d.Baseline*100) > 1e-9 {
			t.Errorf("%s: DeltaPercent %v", name, d.DeltaPercent)
		}
		if d.CILow == nil || d.CIHigh == nil || *d.CILow > *d.CIHigh || d.Confidence != 0.95 || d.Significant == nil {
			t.Errorf("%s: interval %v..%v at %v, significant %v", name, d.CILow, d.CIHigh, d.Confidence, d.Significant)
		}
	}
	// The figures are those of the pooled histograms as the result package reports them.
	for _, arm := range []string{"baseline", "sidecar"} {
		pooled, err := f.doc.ArmLatency(arm)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pooled.Percentiles {
			d := findDelta(t, got, "sidecar", "latency.p"+strconv.FormatFloat(p.Percentile, 'f', -1, 64))
			if v := map[string]float64{"baseline": d.Baseline, "sidecar": d.Value}[arm]; v != p.ValueMS {
				t.Errorf("%s p%g: analysis %g ms, result.ArmLatency %g ms", arm, p.Percentile, v, p.ValueMS)
			}
		}
	}
	// A 1.5× shift of the median over ~9000 requests per arm is far outside the noise.
	if d := findDelta(t, got, "sidecar", "latency.p50"); !*d.Significant || *d.CILow <= 0 {
		t.Errorf("p50 +50%% not significant: %+v (%v..%v)", d, *d.CILow, *d.CIHigh)
	}

	// Everything else, computed from the trial specs directly.
	type want struct{ base, value float64 }
	rps := func(a armSpec) float64 {
		var req, sec float64
		for _, ts := range a.trials {
			req += float64(int64(len(ts.samples)) + ts.failed)
			sec += ts.duration.Seconds()
		}
		return req / sec
	}
	errRate := func(a armSpec) float64 {
		var bad, due float64
		for _, ts := range a.trials {
			bad += float64(ts.failed + ts.overflow)
			due += float64(int64(len(ts.samples)) + ts.failed + ts.overflow)
		}
		return bad / due
	}
	meanPer := func(a armSpec, role result.Role, pick func(result.Resource) float64) float64 {
		var s float64
		n := 0
		for _, ts := range a.trials {
			var ts1 float64
			k := 0
			for _, r := range ts.resources {
				if r.Role == role && r.Error == "" {
					ts1 += pick(r)
					k++
				}
			}
			if k > 0 {
				s += ts1 / float64(k)
				n++
			}
		}
		if n == 0 {
			return 0
		}
		return s / float64(n)
	}
	cpu := func(r result.Resource) float64 { return r.CPUMcoresAvg }
	mem := func(r result.Resource) float64 { return float64(r.MemoryBytesAvg) }
	b, s := f.arms[0], f.arms[1]
	proxyTotal := meanPer(s, result.RoleProxy, cpu) * 2 // two measured proxies per trial
	checks := map[string]want{
		"throughput":         {rps(b), rps(s)},
		"error_rate":         {errRate(b), errRate(s)},
		"cpu.proxy":          {0, meanPer(s, result.RoleProxy, cpu)},
		"memory.proxy":       {0, meanPer(s, result.RoleProxy, mem)},
		"cpu.app":            {meanPer(b, result.RoleApp, cpu), meanPer(s, result.RoleApp, cpu)},
		"cpu.proxy.per_krps": {0, proxyTotal / (rps(s) / 1000)},
	}
	units := map[string]string{"throughput": "rps", "error_rate": "ratio", "cpu.proxy": "mcores", "memory.proxy": "bytes",
		"cpu.app": "mcores", "cpu.proxy.per_krps": "mcores"}
	for metric, w := range checks {
		d := findDelta(t, got, "sidecar", metric)
		if math.Abs(d.Baseline-w.base) > 1e-9*math.Abs(w.base)+1e-12 || math.Abs(d.Value-w.value) > 1e-9*math.Abs(w.value)+1e-12 ||
			d.Unit != units[metric] || math.Abs(d.Delta-(w.value-w.base)) > 1e-9*math.Abs(w.value)+1e-12 {
			t.Errorf("%s: got %+v, want baseline %g value %g unit %s", metric, d, w.base, w.value, units[metric])
		}
		if (w.base == 0) != (d.DeltaPercent == nil) {
			t.Errorf("%s: DeltaPercent %v with baseline %g; want it absent exactly when the baseline is 0", metric, d.DeltaPercent, w.base)
		}
		if d.CILow == nil || d.CIHigh == nil {
			t.Errorf("%s: no interval with two repetitions per arm", metric)
		}
	}
	if d := findDelta(t, got, "sidecar", "cpu.proxy"); !*d.Significant {
		t.Errorf("cpu.proxy from 0 to %g not significant", d.Value)
	}
}

// TestIntervalsNeedRepetitions: an arm measured once has no spread between repetitions,
// so its deltas get no verdict. Latency keeps an interval of the requests' sampling
// noise, marked as such; trial-level figures get none.
func TestIntervalsNeedRepetitions(t *testing.T) {
	f := newFixture(t, 1)
	got, err := analysis.Analyze(f.doc, nil, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, metric := range []string{"throughput", "error_rate", "cpu.app", "cpu.proxy"} {
		// A difference below the resolution is called so either way.
		if d := findDelta(t, got, "sidecar", metric); d.CILow != nil || d.PValue != nil ||
			!(d.Verdict == result.VerdictNone && d.Significant == nil || d.Verdict == result.VerdictBelowResolution && !*d.Significant) {
			t.Errorf("%s: interval %v..%v, p %v, verdict %q from one repetition per arm; want none", metric, d.CILow, d.CIHigh, d.PValue, d.Verdict)
		}
	}
	for _, p := range spec.DefaultPercentiles() {
		d := findDelta(t, got, "sidecar", latencyName(p))
		if d.CILow == nil || d.Interval != result.IntervalRequests || d.PValue != nil || d.Significant != nil || d.Verdict != result.VerdictNone {
			t.Errorf("%s from one repetition: interval %v (%s), p %v, significant %v, verdict %q; want a request interval and no verdict",
				d.Metric, d.CILow, d.Interval, d.PValue, d.Significant, d.Verdict)
		}
	}
}

// TestVerdictsWithRepetitions: with repetitions every delta that varies gets a trial
// interval, a p-value, its Holm adjustment and a verdict; the 50% median shift is
// significant and an adjusted p-value is never below the raw one.
func TestVerdictsWithRepetitions(t *testing.T) {
	f := newFixture(t, 3)
	got, err := analysis.Analyze(f.doc, nil, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range got.Overhead[0].Deltas {
		if d.CILow == nil || d.Interval != result.IntervalTrials || d.PValue == nil || d.PAdjusted == nil || *d.PAdjusted < *d.PValue ||
			d.Verdict == "" || d.Verdict == result.VerdictNone || d.Significant == nil {
			t.Errorf("%s: interval %v (%s), p %v adjusted %v, verdict %q", d.Metric, d.CILow, d.Interval, d.PValue, d.PAdjusted, d.Verdict)
		}
		if (d.Verdict == result.VerdictSignificant) != *d.Significant {
			t.Errorf("%s: verdict %q but significant %v", d.Metric, d.Verdict, *d.Significant)
		}
	}
	if d := findDelta(t, got, "sidecar", "latency.p50"); d.Verdict != result.VerdictSignificant || *d.CILow <= 0 {
		t.Errorf("p50 +50%% over three repetitions: %+v", d)
	}
	if m := got.Method; m == nil || m.Family == "" || m.Test == "" {
		t.Errorf("method %+v does not name the test and the family", m)
	}
}
func TestUncomputableDeltasLeftOut(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	doc := buildDoc(t, mustPlan(t, `
arms: [baseline, {name: sidecar, mesh: builtin}, {name: empty, mesh: builtin}]
`), []armSpec{
		{name: "baseline", mesh: spec.MeshNone, trials: []trialSpec{{samples: lognormal(r, 1000, time.Millisecond, 0.3, 0)}}},
		// Resources were not collected for the mesh arm.
		{name: "sidecar", mesh: spec.MeshBuiltin, trials: []trialSpec{{samples: lognormal(r, 1000, time.Millisecond, 0.3, 0)}}},
	})
	// An arm of the plan whose only trial failed.
	doc.Trials = append(doc.Trials, result.Trial{ID: "empty-1", Arm: "empty", Status: result.StatusFailed, Error: "deploy failed"})
	got, err := analysis.Analyze(doc, nil, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Overhead) != 1 {
		t.Fatalf("overhead for %d arms, want 1 (the failed arm has none): %+v", len(got.Overhead), got.Overhead)
	}
	for _, m := range []string{"cpu.proxy", "memory.proxy", "cpu.app", "cpu.proxy.per_krps"} {
		if hasDelta(got, "sidecar", m) {
			t.Errorf("%s reported for an arm whose resources were not collected", m)
		}
	}
	for _, m := range []string{"latency.p50", "throughput", "error_rate"} {
		if !hasDelta(got, "sidecar", m) {
			t.Errorf("%s missing", m)
		}
	}
}

func TestDeterminism(t *testing.T) {
	f := newFixture(t, 1) // one repetition: the bootstrap's seed matters
	a1, err := analysis.Analyze(f.doc, nil, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := analysis.Analyze(f.doc, nil, analysis.Options{})
	if !reflect.DeepEqual(a1, a2) {
		t.Error("two analyses of the same document with the same seed differ")
	}
	// The plan's seed is the default: passing it explicitly changes nothing.
	a3, _ := analysis.Analyze(f.doc, nil, analysis.Options{Seed: 7})
	if !reflect.DeepEqual(a1, a3) {
		t.Error("Seed 7 (the plan's) differs from the default")
	}
	a4, _ := analysis.Analyze(f.doc, nil, analysis.Options{Seed: 8})
	d1, d4 := findDelta(t, a1, "sidecar", "latency.p99"), findDelta(t, a4, "sidecar", "latency.p99")
	if *d1.CILow == *d4.CILow && *d1.CIHigh == *d4.CIHigh {
		t.Error("another seed gave the same interval")
	}
	if d1.Value != d4.Value {
		t.Error("the seed changed a point estimate")
	}
}

func TestOptions(t *testing.T) {
	f := newFixture(t, 1)
	for _, o := range []analysis.Options{{Replicates: 10}, {Confidence: 1}, {Confidence: -0.5}} {
		if _, err := analysis.Analyze(f.doc, nil, o); err == nil {
			t.Errorf("Analyze accepted %+v", o)
		}
	}
	if _, err := analysis.Analyze(nil, nil, analysis.Options{}); err == nil {
		t.Error("Analyze accepted a nil document")
	}
	// A wider confidence gives a wider interval.
	a90, _ := analysis.Analyze(f.doc, nil, analysis.Options{Confidence: 0.9})
	a99, _ := analysis.Analyze(f.doc, nil, analysis.Options{Confidence: 0.99})
	d90, d99 := findDelta(t, a90, "sidecar", "latency.p90"), findDelta(t, a99, "sidecar", "latency.p90")
	if w90, w99 := *d90.CIHigh-*d90.CILow, *d99.CIHigh-*d99.CILow; !(w99 > w90) || d99.Confidence != 0.99 {
		t.Errorf("99%% interval %g wide, 90%% %g; want wider", w99, w90)
	}
}

func TestNoPlan(t *testing.T) {
	f := newFixture(t, 1)
	f.doc.Plan = nil
	got, err := analysis.Analyze(f.doc, []spec.Condition{mustCond(t, "overhead.latency.p50 < 1s")}, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Baseline != "baseline" || len(got.Overhead) != 1 || len(got.SLO) != 1 || !got.Pass {
		t.Errorf("without a plan: baseline %q, %d overheads, SLO %+v", got.Baseline, len(got.Overhead), got.SLO)
	}
}

func mustCond(t testing.TB, s string) spec.Condition {
	t.Helper()
	c, err := spec.ParseCondition(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestResourceMeasuredRule(t *testing.T) {
	// A proxy that exited mid-window (Error, but samples) still counts; one with an error
	// and a single sample does not.
	exited := proxy("p2", 500, 50<<20)
	exited.Error = "process 12 exited 3s into the window"
	lonely := proxy("p3", 9000, 900<<20)
	lonely.Error, lonely.Samples = "only one sample inside the window", 1
	r := rand.New(rand.NewPCG(5, 6))
	doc := buildDoc(t, mustPlan(t, twoArms), []armSpec{
		{name: "baseline", mesh: spec.MeshNone, trials: []trialSpec{{samples: lognormal(r, 100, time.Millisecond, 0.3, 0)}}},
		{name: "sidecar", mesh: spec.MeshBuiltin, trials: []trialSpec{{samples: lognormal(r, 100, time.Millisecond, 0.3, 0),
			resources: []result.Resource{proxy("p1", 100, 10<<20), exited, lonely}}}},
	})
	got, err := analysis.Analyze(doc, nil, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d := findDelta(t, got, "sidecar", "cpu.proxy"); d.Value != 300 {
		t.Errorf("cpu.proxy = %g, want (100+500)/2 = 300", d.Value)
	}
}

// TestDeltasHonourPercentiles: the latency deltas are those of the plan's
// metrics.percentiles, in its order, each with the pooled figures and a verdict;
// Options.Percentiles overrides them.
func TestDeltasHonourPercentiles(t *testing.T) {
	f := newFixture(t, 3)
	f.doc.Plan.Metrics.Percentiles = []float64{75, 99.99, 50}
	got, err := analysis.Analyze(f.doc, nil, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range got.Overhead[0].Deltas {
		if strings.HasPrefix(d.Metric, "latency.") {
			names = append(names, d.Metric)
			if d.Verdict == "" || d.CILow == nil {
				t.Errorf("%s: no interval or verdict", d.Metric)
			}
		}
	}
	if want := []string{"latency.p75", "latency.p99.99", "latency.p50"}; !reflect.DeepEqual(names, want) {
		t.Errorf("latency deltas %v, want the plan's %v", names, want)
	}
	d := findDelta(t, got, "sidecar", "latency.p99.99")
	if wb := exactPercentileMS(f.samples["baseline"], 99.99); !withinHDR(d.Baseline, wb) {
		t.Errorf("p99.99 of the baseline %g ms, raw samples give %g", d.Baseline, wb)
	}
	o, err := analysis.Analyze(f.doc, nil, analysis.Options{Percentiles: []float64{90}})
	if err != nil {
		t.Fatal(err)
	}
	if !hasDelta(o, "sidecar", "latency.p90") || hasDelta(o, "sidecar", "latency.p75") {
		t.Errorf("Options.Percentiles [90]: deltas %+v", o.Overhead[0].Deltas)
	}
	if _, err := analysis.Analyze(f.doc, nil, analysis.Options{Percentiles: []float64{0}}); err == nil {
		t.Error("percentile 0 accepted")
	}
}
