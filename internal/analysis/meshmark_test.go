package analysis_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/analysis"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// markArm is an arm whose every figure is known: all requests of a trial at one
// latency, 10 s measured at a requested 100 rps, and the given resources.
type markArm struct {
	latency        time.Duration
	ok, fail, over int
	resources      []result.Resource
}

func (m markArm) trial() trialSpec {
	return trialSpec{samples: constant(m.ok, m.latency), failed: int64(m.fail), overflow: int64(m.over), resources: m.resources, rate: 100}
}

// markDoc is a baseline and a mesh arm measured once each, under the given plan.
func markDocPlan(t *testing.T, planYAML string, base, mesh markArm) *result.Document {
	t.Helper()
	return buildDoc(t, mustPlan(t, planYAML), []armSpec{
		{name: "baseline", mesh: spec.MeshNone, trials: []trialSpec{base.trial()}},
		{name: "mesh", mesh: spec.MeshBuiltin, trials: []trialSpec{mesh.trial()}},
	})
}

func markDoc(t *testing.T, base, mesh markArm) *result.Document {
	return markDocPlan(t, "arms: [baseline, {name: mesh, mesh: builtin}]", base, mesh)
}

func meshMarkOf(t *testing.T, doc *result.Document, arm string) *result.MeshMark {
	t.Helper()
	a, err := analysis.Analyze(doc, nil, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range a.Overhead {
		if o.Arm == arm {
			if o.MeshMark == nil {
				t.Fatalf("arm %s has no MeshMark", arm)
			}
			return o.MeshMark
		}
	}
	t.Fatalf("no overhead for arm %s", arm)
	return nil
}

func input(t *testing.T, m *result.MeshMark, name string) result.MeshMarkInput {
	t.Helper()
	for _, in := range m.Inputs {
		if in.Name == name {
			return in
		}
	}
	t.Fatalf("MeshMark has no input %s: %+v", name, m.Inputs)
	return result.MeshMarkInput{}
}

// TestMeshMarkFormula recomputes a score by hand from the definition in docs/meshmark.md:
// 100 × D × Π eᵢ^wᵢ, with open-loop weights 1/6, 1/6, 1/3, 1/3 and D the share of the
// offered requests that succeeded.
func TestMeshMarkFormula(t *testing.T) {
	// Latencies sit below 2048 µs, where an HDR bucket is 1 µs wide, so that percentiles
	// are the recorded values themselves.
	base := markArm{latency: 1000 * time.Microsecond, ok: 1000,
		resources: []result.Resource{app("svc-1", 50, 10<<20), app("svc-2", 30, 6<<20)}}
	mesh := markArm{latency: 1600 * time.Microsecond, ok: 990, fail: 10,
		resources: []result.Resource{app("svc-1", 60, 10<<20), app("svc-2", 30, 6<<20),
			proxy("svc-1-proxy", 100, 30<<20), proxy("svc-2-proxy", 120, 34<<20)}}
	m := meshMarkOf(t, markDoc(t, base, mesh), "mesh")

	// Costs: latency 1.0 vs 1.6 ms; CPU 80m at 100 rps = 800 mcores per krps vs 310m at
	// 100 rps = 3100; memory 16 MiB vs 80 MiB; 990 of the 1000 offered requests succeeded.
	want := map[string]struct{ base, value, eff, weight float64 }{
		"latency.p50": {1.0, 1.6, 1.0 / 1.6, 1.0 / 6},
		"latency.p99": {1.0, 1.6, 1.0 / 1.6, 1.0 / 6},
		"cpu":         {800, 3100, 800.0 / 3100, 1.0 / 3},
		"memory":      {16 << 20, 80 << 20, 16.0 / 80, 1.0 / 3},
		"goodput":     {1, 0.99, 0.99, 0},
	}
	score := 100 * 0.99
	for _, w := range want {
		if w.weight > 0 {
			score *= math.Pow(w.eff, w.weight)
		}
	}
	if m.Score == nil || math.Abs(*m.Score-score) > 1e-9 {
		t.Fatalf("score %v, want %.6f; inputs %+v", m.Score, score, m.Inputs)
	}
	if m.Partial || m.Invalid != "" || m.Version != analysis.MeshMarkVersion || m.Mode != result.MeshMarkOpenLoop {
		t.Errorf("partial %v invalid %q version %d mode %q, want a full open-loop version-%d score", m.Partial, m.Invalid, m.Version, m.Mode, analysis.MeshMarkVersion)
	}
	product, lost, weights := 1.0, 0.0, 0.0
	for name, w := range want {
		in := input(t, m, name)
		if math.Abs(in.Baseline-w.base) > 1e-9*w.base || math.Abs(in.Value-w.value) > 1e-9*w.value ||
			math.Abs(in.Efficiency-w.eff) > 1e-12 || math.Abs(in.Weight-w.weight) > 1e-12 || in.Missing != "" {
			t.Errorf("%s: baseline %g value %g efficiency %g weight %g (%q), want %g %g %g %g", name, in.Baseline, in.Value,
				in.Efficiency, in.Weight, in.Missing, w.base, w.value, w.eff, w.weight)
		}
		factor := w.eff
		if w.weight > 0 {
			factor = math.Pow(w.eff, w.weight)
		}
		if math.Abs(in.Factor-factor) > 1e-12 || in.Lost < 0 || in.Points != 0 {
			t.Errorf("%s: factor %g lost %g points %g, want factor %g, a loss ≥ 0 and no version-1 points", name, in.Factor, in.Lost, in.Points, factor)
		}
		product *= in.Factor
		lost += in.Lost
		weights += in.Weight
	}
	if math.Abs(100*product-*m.Score) > 1e-9 || math.Abs(lost-(100-*m.Score)) > 1e-9 || math.Abs(weights-1) > 1e-12 {
		t.Errorf("factors multiply to %g, losses add up to %g (score %g), weights to %g (want 1)", product, lost, *m.Score, weights)
	}
	// Each input's loss is its part of 100 − score in proportion to its term of
	// log(score/100): memory (efficiency 0.2) lost more than cpu (0.26), cpu more than
	// latency (0.625, with half the weight).
	loss := func(name string) float64 { return input(t, m, name).Lost }
	if !(loss("memory") > loss("cpu") && loss("cpu") > loss("latency.p50")+loss("latency.p99")) {
		t.Errorf("losses: memory %.2f, cpu %.2f, latency %.2f", loss("memory"), loss("cpu"), loss("latency.p50")+loss("latency.p99"))
	}
}

// TestMeshMarkNoFreePoints: an arm that holds its rate but costs ten times the baseline
// in everything scores 10, not 10 plus a share for goodput (version 1 gave it 32.5). With
// CPU and memory unmeasured the score is that of latency alone, marked partial, and not
// raised by the missing inputs.
func TestMeshMarkNoFreePoints(t *testing.T) {
	base := markArm{latency: 100 * time.Microsecond, ok: 1000, resources: []result.Resource{app("svc-1", 10, 10<<20)}}
	tenfold := markArm{latency: 1000 * time.Microsecond, ok: 1000,
		resources: []result.Resource{app("svc-1", 10, 10<<20), proxy("svc-1-proxy", 90, 90<<20)}}
	m := meshMarkOf(t, markDoc(t, base, tenfold), "mesh")
	if m.Score == nil || math.Abs(*m.Score-10) > 1e-9 {
		t.Errorf("ten times every cost: score %v, want 10; inputs %+v", m.Score, m.Inputs)
	}
	noRes := meshMarkOf(t, markDoc(t, markArm{latency: base.latency, ok: 1000}, markArm{latency: tenfold.latency, ok: 1000}), "mesh")
	if noRes.Score == nil || math.Abs(*noRes.Score-10) > 1e-9 || !noRes.Partial {
		t.Errorf("latency only: score %v partial %v, want 10, partial", noRes.Score, noRes.Partial)
	}
	for _, name := range []string{"cpu", "memory"} {
		if in := input(t, noRes, name); in.Missing == "" || in.Lost != 0 || in.Factor != 0 {
			t.Errorf("%s: missing %q, factor %g, lost %g", name, in.Missing, in.Factor, in.Lost)
		}
	}
}

// TestMeshMarkMonotonic: more cost in any input never raises the score, and an arm that
// costs exactly the baseline's scores 100.
func TestMeshMarkMonotonic(t *testing.T) {
	baseRes := []result.Resource{app("svc-1", 100, 20<<20)}
	base := markArm{latency: 1000 * time.Microsecond, ok: 1000, resources: baseRes}
	variant := func(lat time.Duration, fail int, proxyCPU float64, proxyMem int64) markArm {
		return markArm{latency: lat, ok: 1000 - fail, fail: fail,
			resources: []result.Resource{app("svc-1", 100, 20<<20), proxy("svc-1-proxy", proxyCPU, proxyMem)}}
	}
	same := meshMarkOf(t, markDoc(t, base, variant(1000*time.Microsecond, 0, 0, 0)), "mesh")
	if same.Score == nil || *same.Score != 100 {
		t.Errorf("an arm that costs what the baseline does scores %v, want 100", same.Score)
	}
	for _, dim := range []struct {
		name  string
		steps []markArm
	}{
		{"latency", []markArm{variant(1100*time.Microsecond, 0, 50, 8<<20), variant(1500*time.Microsecond, 0, 50, 8<<20), variant(3*time.Millisecond, 0, 50, 8<<20), variant(30*time.Millisecond, 0, 50, 8<<20)}},
		{"errors", []markArm{variant(1100*time.Microsecond, 0, 50, 8<<20), variant(1100*time.Microsecond, 4, 50, 8<<20), variant(1100*time.Microsecond, 10, 50, 8<<20)}},
		{"cpu", []markArm{variant(1100*time.Microsecond, 0, 10, 8<<20), variant(1100*time.Microsecond, 0, 100, 8<<20), variant(1100*time.Microsecond, 0, 1000, 8<<20)}},
		{"memory", []markArm{variant(1100*time.Microsecond, 0, 50, 1<<20), variant(1100*time.Microsecond, 0, 50, 20<<20), variant(1100*time.Microsecond, 0, 50, 400<<20)}},
	} {
		prev := math.Inf(1)
		for i, step := range dim.steps {
			m := meshMarkOf(t, markDoc(t, base, step), "mesh")
			if m.Score == nil {
				t.Fatalf("%s step %d: no score (%s)", dim.name, i, m.Invalid)
			}
			if !(*m.Score < prev) {
				t.Errorf("%s step %d: score %.3f, not below the cheaper step's %.3f", dim.name, i, *m.Score, prev)
			}
			if *m.Score < 0 || *m.Score > 100 {
				t.Errorf("%s step %d: score %.3f outside 0..100", dim.name, i, *m.Score)
			}
			prev = *m.Score
		}
	}
}

// TestMeshMarkInvalid: a trial that did not do the work gets no score, and the reason
// names it: more than 1% of its requests failed (overflow included), or its error rate
// broke the plan's error_rate SLO. A failing baseline leaves every arm without a score.
func TestMeshMarkInvalid(t *testing.T) {
	res := []result.Resource{app("svc-1", 100, 20<<20)}
	good := markArm{latency: time.Millisecond, ok: 1000, resources: res}
	for _, c := range []struct {
		name, plan string
		base, mesh markArm
		why        string
	}{
		{"95% errors", "", good, markArm{latency: time.Millisecond, ok: 50, fail: 950, resources: res},
			"trial mesh-1: error rate 95% exceeds 1%"},
		{"nothing succeeded", "", good, markArm{fail: 1000, resources: res}, "trial mesh-1: error rate 100% exceeds 1%"},
		{"2% errors", "", good, markArm{latency: time.Millisecond, ok: 980, fail: 20, resources: res},
			"trial mesh-1: error rate 2% exceeds 1%"},
		{"overflow", "", good, markArm{latency: time.Millisecond, ok: 1000, over: 30, resources: res},
			"trial mesh-1: error rate (overflow included) 2.91% exceeds 1%"},
		{"the plan's SLO", "slo: [error_rate < 0.1%]", good, markArm{latency: time.Millisecond, ok: 995, fail: 5, resources: res},
			"trial mesh-1: error rate 0.5% breaks the SLO error_rate < 0.1%"},
		{"a failing baseline", "", markArm{latency: time.Millisecond, ok: 900, fail: 100, resources: res}, good,
			"trial baseline-1: error rate 10% exceeds 1%"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := meshMarkOf(t, markDocPlan(t, "arms: [baseline, {name: mesh, mesh: builtin}]\n"+c.plan, c.base, c.mesh), "mesh")
			if m.Score != nil || m.Invalid != c.why {
				t.Errorf("score %v, invalid %q; want no score, invalid %q", m.Score, m.Invalid, c.why)
			}
		})
	}
	// 1% exactly is still a measurement.
	if m := meshMarkOf(t, markDoc(t, good, markArm{latency: time.Millisecond, ok: 990, fail: 10, resources: res}), "mesh"); m.Score == nil {
		t.Errorf("1%% errors: no score (%s)", m.Invalid)
	}
}

// TestMeshMarkModes: capacity counts where it can differ between arms. A closed-loop run
// makes goodput a fourth dimension (weight 1/4, latency 1/8 each); a capacity search
// makes find_max's rate one; an open-loop run has goodput only as a factor (weight 0).
func TestMeshMarkModes(t *testing.T) {
	res := []result.Resource{app("svc-1", 100, 20<<20)}
	withRes := func(ts trialSpec, f func(*trialSpec)) trialSpec { f(&ts); return ts }
	base := markArm{latency: time.Millisecond, ok: 2000, resources: res}.trial()
	mesh := markArm{latency: 2 * time.Millisecond, ok: 1000, resources: res}.trial()
	for _, c := range []struct {
		mode   string
		change func(*trialSpec)
		input  string
		eff    float64
	}{
		{result.MeshMarkClosedLoop, func(ts *trialSpec) { ts.rate, ts.closedLoop = 0, true }, "goodput", 0.5},
		{result.MeshMarkCapacity, func(ts *trialSpec) {
			ts.search = &result.Search{MaxRateRPS: 1.5 * float64(len(ts.samples))} // 3000 vs 1500 rps
		}, "capacity", 0.5},
	} {
		doc := buildDoc(t, mustPlan(t, "arms: [baseline, {name: mesh, mesh: builtin}]"), []armSpec{
			{name: "baseline", mesh: spec.MeshNone, trials: []trialSpec{withRes(base, c.change)}},
			{name: "mesh", mesh: spec.MeshBuiltin, trials: []trialSpec{withRes(mesh, c.change)}},
		})
		m := meshMarkOf(t, doc, "mesh")
		in := input(t, m, c.input)
		if m.Mode != c.mode || in.Weight != 0.25 || math.Abs(in.Efficiency-c.eff) > 1e-12 || input(t, m, "latency.p99").Weight != 0.125 {
			t.Errorf("%s: mode %q, %s weight %g efficiency %g, p99 weight %g", c.mode, m.Mode, c.input, in.Weight, in.Efficiency,
				input(t, m, "latency.p99").Weight)
		}
	}
	open := meshMarkOf(t, markDoc(t, markArm{latency: time.Millisecond, ok: 1000, resources: res}, markArm{latency: time.Millisecond, ok: 1000, resources: res}), "mesh")
	if in := input(t, open, "goodput"); open.Mode != result.MeshMarkOpenLoop || in.Weight != 0 || in.Unit != "ratio" || in.Efficiency != 1 || in.Lost != 0 {
		t.Errorf("open loop: mode %q, goodput %+v", open.Mode, in)
	}
}

// TestMeshMarkInterval: with repetitions the score has an interval that holds it, wider
// when the repetitions disagree; a missing input raises its upper end; one repetition
// per arm gives none.
func TestMeshMarkInterval(t *testing.T) {
	doc := func(spreadPct float64, withRes bool) *result.Document {
		r := rand.New(rand.NewPCG(5, 5))
		var b, m []trialSpec
		for i := range 3 {
			f := 1 + spreadPct/100*float64(i-1)
			var bres, mres []result.Resource
			if withRes {
				bres = []result.Resource{app("svc-1", 100, 20<<20)}
				mres = []result.Resource{app("svc-1", 100, 20<<20), proxy("svc-1-proxy", 80*f, 30<<20)}
			}
			b = append(b, trialSpec{samples: lognormal(r, 4000, time.Millisecond, 0.3, 0), resources: bres, rate: 400})
			m = append(m, trialSpec{samples: lognormal(r, 4000, time.Duration(f*1500)*time.Microsecond, 0.3, 0), resources: mres, rate: 400})
		}
		return buildDoc(t, mustPlan(t, "arms: [baseline, {name: mesh, mesh: builtin}]"),
			[]armSpec{{name: "baseline", mesh: spec.MeshNone, trials: b}, {name: "mesh", mesh: spec.MeshBuiltin, trials: m}})
	}
	width := func(m *result.MeshMark) float64 { return *m.CIHigh - *m.CILow }
	agree, disagree := meshMarkOf(t, doc(1, true), "mesh"), meshMarkOf(t, doc(20, true), "mesh")
	for _, m := range []*result.MeshMark{agree, disagree} {
		if m.CILow == nil || !(*m.CILow <= *m.Score && *m.Score <= *m.CIHigh) || m.Confidence != 0.95 {
			t.Fatalf("score %v, interval %v..%v at %v", m.Score, m.CILow, m.CIHigh, m.Confidence)
		}
	}
	if !(width(disagree) > 3*width(agree)) {
		t.Errorf("interval %.2f wide when repetitions disagree by 20%%, %.2f when by 1%%; want at least 3 times wider", width(disagree), width(agree))
	}
	partial := meshMarkOf(t, doc(1, false), "mesh")
	// Without CPU and memory the score is latency's; were they free, latency's third of
	// the weight would be all its loss: log(score/100) × 1/3.
	free := 100 * math.Exp(math.Log(*partial.Score/100)/3)
	if !partial.Partial || partial.CIHigh == nil || *partial.CIHigh < free-1e-9 {
		t.Errorf("partial %v, score %v, interval high %v; want at least %.2f (cpu and memory free)", partial.Partial, partial.Score, partial.CIHigh, free)
	}
	once := meshMarkOf(t, markDoc(t, markArm{latency: time.Millisecond, ok: 1000}, markArm{latency: 2 * time.Millisecond, ok: 1000}), "mesh")
	if once.CILow != nil || once.CIHigh != nil {
		t.Errorf("one repetition: interval %v..%v, want none", once.CILow, once.CIHigh)
	}
}

func TestMeshMarkEdges(t *testing.T) {
	ms := time.Millisecond
	withProxy := []result.Resource{app("svc-1", 100, 20<<20), proxy("svc-1-proxy", 100, 20<<20)}
	appOnly := []result.Resource{app("svc-1", 100, 20<<20)}
	// Faster and cheaper than the baseline: clamped at 100.
	m := meshMarkOf(t, markDoc(t, markArm{latency: 2 * ms, ok: 1000, resources: []result.Resource{app("svc-1", 300, 60<<20)}},
		markArm{latency: 1 * ms, ok: 1000, resources: withProxy}), "mesh")
	if m.Score == nil || *m.Score != 100 {
		t.Errorf("cheaper than the baseline: score %v, want 100", m.Score)
	}
	for _, name := range []string{"latency.p50", "cpu", "memory"} {
		if in := input(t, m, name); in.Efficiency != 1 {
			t.Errorf("%s: efficiency %g, want 1 (clamped)", name, in.Efficiency)
		}
	}
	// A mesh arm whose proxies were not measured: cpu and memory missing, with the reason.
	m = meshMarkOf(t, markDoc(t, markArm{latency: ms, ok: 1000, resources: appOnly}, markArm{latency: ms, ok: 1000, resources: appOnly}), "mesh")
	if !m.Partial || !strings.Contains(input(t, m, "cpu").Missing, "the proxies were not measured") {
		t.Errorf("proxies not measured: partial %v, cpu %+v", m.Partial, input(t, m, "cpu"))
	}
}

// TestMeshMarkBaselineBelowResolution: a baseline whose app used no CPU tick in the
// window (a light TCP echo over 2 s) measured 0 mcores. 0 over the arm's cost is no
// efficiency of 0 (a score of 0 whose losses were 0/0 and broke the result's JSON): the
// input is missing with the reason, and every figure of the analysis stays finite.
func TestMeshMarkBaselineBelowResolution(t *testing.T) {
	ms := time.Millisecond
	doc := markDoc(t, markArm{latency: ms, ok: 1000, resources: []result.Resource{app("svc-1", 0, 20<<20)}},
		markArm{latency: 2 * ms, ok: 1000, resources: []result.Resource{app("svc-1", 10, 20<<20), proxy("svc-1-proxy", 10, 20<<20)}})
	a, err := analysis.Analyze(doc, nil, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := json.Marshal(a); err != nil {
		t.Fatalf("the analysis cannot be written: %v", err)
	}
	m := meshMarkOf(t, doc, "mesh")
	cpu := input(t, m, "cpu")
	if !strings.Contains(cpu.Missing, "resolution") || !m.Partial || m.Score == nil || *m.Score <= 0 {
		t.Errorf("score %v partial %v, cpu input %+v: want cpu missing below resolution and a partial score", m.Score, m.Partial, cpu)
	}
}
