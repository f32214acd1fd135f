package analysis_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/analysis"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// sloDoc has every request of an arm at one latency, so that every figure is known: the
// baseline at 10.6 ms (HDR bucket top 10.607 ms), the builtin arm at 12.4 ms (12.407 ms)
// with 10 of 1010 requests failed, two proxies (100m and 200m, 30 and 34 MiB) and an app.
func sloDoc(t *testing.T, plan string) *result.Document {
	t.Helper()
	if plan == "" {
		plan = "arms: [baseline, {name: builtin, mesh: builtin}]"
	}
	return buildDoc(t, mustPlan(t, plan), []armSpec{
		{name: "baseline", mesh: spec.MeshNone, trials: []trialSpec{{samples: constant(1000, 10600*time.Microsecond),
			resources: []result.Resource{app("svc-1", 50, 10<<20)}}}},
		{name: "builtin", mesh: spec.MeshBuiltin, trials: []trialSpec{{samples: constant(1000, 12400*time.Microsecond), failed: 10,
			resources: []result.Resource{proxy("svc-1-proxy", 100, 30<<20), proxy("client-proxy", 200, 34<<20), app("svc-1", 60, 10<<20)}}}},
	})
}

func TestSLOMessages(t *testing.T) {
	doc := sloDoc(t, "")
	tests := []struct {
		cond  string
		arm   string // the result for this arm is checked
		pass  bool
		value float64
		msg   string
	}{
		{"latency.p99 < 25ms", "builtin", true, 12.407, "builtin: latency.p99 = 12.4ms, < 25ms ok"},
		{"latency.p99 < 12ms", "builtin", false, 12.407, "builtin: latency.p99 = 12.4ms, not < 12ms"},
		{"latency.p99 < 12ms", "baseline", true, 10.607, "baseline: latency.p99 = 10.6ms, < 12ms ok"},
		{"latency.mean <= 12.5ms", "builtin", true, 12.404, "builtin: latency.mean = 12.4ms, <= 12.5ms ok"},
		{"latency.max < 1s", "builtin", true, 12.407, "builtin: latency.max = 12.4ms, < 1s ok"},
		{"overhead.latency.p99 < 5ms", "builtin", true, 1.8, "builtin: overhead.latency.p99 = +1.8ms (p99 12.4ms vs baseline 10.6ms), < 5ms ok"},
		{"overhead.latency.p99 < 1ms", "builtin", false, 1.8, "builtin: overhead.latency.p99 = +1.8ms (p99 12.4ms vs baseline 10.6ms), not < 1ms"},
		{"overhead.latency.p99 < 10%", "builtin", false, 1.8 / 10.607, "builtin: overhead.latency.p99 = +17% (p99 12.4ms vs baseline 10.6ms), not < 10%"},
		{"error_rate < 0.1%", "builtin", false, 10.0 / 1010, "builtin: error_rate = 0.99%, not < 0.1%"},
		{"error_rate < 0.1%", "baseline", true, 0, "baseline: error_rate = 0%, < 0.1% ok"},
		{"throughput >= 100rps", "builtin", true, 101, "builtin: throughput = 101 rps, >= 100rps ok"},
		{"overhead.throughput >= 0", "builtin", true, 1, "builtin: overhead.throughput = +1 rps (throughput 101 rps vs baseline 100 rps), >= 0 ok"},
		{"cpu.proxy < 200m", "builtin", true, 150, "builtin: cpu.proxy = 150m, < 200m ok"},
		{"cpu.proxy < 200m", "baseline", true, 0, "baseline: cpu.proxy = 0m, < 200m ok"},
		{"cpu.proxy.max < 0.25", "builtin", false, 300, "builtin: cpu.proxy.max = 300m, not < 0.25"},
		{"memory.proxy < 30MiB", "builtin", false, 32 << 20, "builtin: memory.proxy = 32MiB, not < 30MiB"},
		{"memory.proxy.max < 40MiB", "builtin", true, 35 << 20, "builtin: memory.proxy.max = 35MiB, < 40MiB ok"},
		{"overhead.cpu.app < 20m", "builtin", true, 10, "builtin: overhead.cpu.app = +10m (cpu.app 60m vs baseline 50m), < 20m ok"},
		{"overhead.cpu.proxy < 100m", "builtin", false, 150, "builtin: overhead.cpu.proxy = +150m (cpu.proxy 150m vs baseline 0m), not < 100m"},
		// Uncomputable: fails, saying why.
		{"overhead.cpu.proxy < 10%", "builtin", false, 0,
			"builtin: overhead.cpu.proxy cannot be evaluated: the baseline's cpu.proxy is 0, so an overhead in % is undefined"},
		{"cpu.control_plane < 1", "builtin", false, 0,
			"builtin: cpu.control_plane cannot be evaluated: no control_plane resources were collected for this arm (collected by procfs)"},
		{"service_time.p99 < 20ms", "builtin", false, 0,
			"builtin: service_time.p99 cannot be evaluated: trial builtin-1 did not record service_time (generator builtin)"},
	}
	for _, tt := range tests {
		t.Run(tt.cond+"/"+tt.arm, func(t *testing.T) {
			c := mustCond(t, tt.cond)
			got, err := analysis.Analyze(doc, []spec.Condition{c}, analysis.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var r *result.SLOResult
			for i := range got.SLO {
				if got.SLO[i].Arm == tt.arm {
					r = &got.SLO[i]
				}
			}
			if r == nil {
				t.Fatalf("no result for arm %s: %+v", tt.arm, got.SLO)
			}
			if r.Pass != tt.pass || r.Message != tt.msg || math.Abs(r.Value-tt.value) > 1e-9*math.Max(1, math.Abs(tt.value)) ||
				r.Condition != tt.cond || r.Unit != c.Unit {
				t.Errorf("got  %+v\nwant pass %v value %g message %q", *r, tt.pass, tt.value, tt.msg)
			}
			if got.Pass != allPass(got.SLO) {
				t.Errorf("Analysis.Pass %v with results %+v", got.Pass, got.SLO)
			}
		})
	}
}

func allPass(rs []result.SLOResult) bool {
	for _, r := range rs {
		if !r.Pass {
			return false
		}
	}
	return true
}

func TestSLOArms(t *testing.T) {
	doc := sloDoc(t, `
arms: [baseline, {name: builtin, mesh: builtin}]
slo:
  - latency.p99 < 25ms                                   # every arm
  - overhead.latency.p99 < 5ms                           # every arm but the baseline
  - {condition: "latency.p99 < 11ms", arms: [baseline]}  # the arms named
`)
	got, err := analysis.Analyze(doc, []spec.Condition{mustCond(t, "error_rate < 5%")}, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ cond, arm string }{
		{"latency.p99 < 25ms", "baseline"}, {"latency.p99 < 25ms", "builtin"},
		{"overhead.latency.p99 < 5ms", "builtin"},
		{"latency.p99 < 11ms", "baseline"},
		{"error_rate < 5%", "baseline"}, {"error_rate < 5%", "builtin"},
	}
	if len(got.SLO) != len(want) {
		t.Fatalf("%d results, want %d: %+v", len(got.SLO), len(want), got.SLO)
	}
	for i, w := range want {
		if r := got.SLO[i]; r.Condition != w.cond || r.Arm != w.arm || !r.Pass {
			t.Errorf("result %d: %+v, want %s on %s, passing", i, r, w.cond, w.arm)
		}
	}
	if !got.Pass {
		t.Error("Pass is false with every SLO passing")
	}
	got, _ = analysis.Analyze(doc, []spec.Condition{mustCond(t, "latency.p50 < 1ms")}, analysis.Options{})
	if got.Pass {
		t.Error("Pass is true with a failing extra condition")
	}
}

// TestSLOUncomputable: every way a metric can be missing fails the SLO with the reason.
func TestSLOUncomputable(t *testing.T) {
	tests := []struct {
		name string
		doc  func(t *testing.T) *result.Document
		cond string
		msg  string
	}{
		{"baseline not measured", func(t *testing.T) *result.Document {
			d := sloDoc(t, "")
			d.Trials[0].Status = result.StatusFailed
			return d
		}, "overhead.latency.p99 < 5ms",
			"builtin: overhead.latency.p99 cannot be evaluated: baseline baseline: the arm has no measured trials"},
		{"arm not measured", func(t *testing.T) *result.Document {
			d := sloDoc(t, "")
			d.Trials[1].Status = result.StatusFailed
			return d
		}, "latency.p99 < 25ms", "builtin: latency.p99 cannot be evaluated: the arm has no measured trials"},
		{"no request succeeded", func(t *testing.T) *result.Document {
			return buildDoc(t, mustPlan(t, "arms: [baseline]"), []armSpec{
				{name: "baseline", mesh: spec.MeshNone, trials: []trialSpec{{failed: 100}}}})
		}, "latency.p99 < 25ms", "baseline: latency.p99 cannot be evaluated: no request succeeded"},
		{"nothing was due", func(t *testing.T) *result.Document {
			return buildDoc(t, mustPlan(t, "arms: [baseline]"), []armSpec{
				{name: "baseline", mesh: spec.MeshNone, trials: []trialSpec{{}}}})
		}, "error_rate < 1%", "baseline: error_rate cannot be evaluated: no requests were due"},
		{"mesh arm without resources", func(t *testing.T) *result.Document {
			d := sloDoc(t, "")
			d.Trials[1].Resources = nil
			return d
		}, "cpu.proxy < 1", "builtin: cpu.proxy cannot be evaluated: no proxy resources were collected for this arm (no collector reported anything)"},
		{"only the baseline", func(t *testing.T) *result.Document {
			return buildDoc(t, mustPlan(t, "arms: [baseline]"), []armSpec{
				{name: "baseline", mesh: spec.MeshNone, trials: []trialSpec{{samples: constant(10, time.Millisecond)}}}})
		}, "overhead.latency.p99 < 5ms", "overhead.latency.p99 < 5ms: cannot be evaluated: there is no arm besides the baseline to compare"},
		{"no plan, no baseline", func(t *testing.T) *result.Document {
			d := sloDoc(t, "")
			d.Plan = nil
			d.Trials = d.Trials[1:]
			return d
		}, "overhead.latency.p99 < 5ms", "builtin: overhead.latency.p99 cannot be evaluated: the plan has no baseline arm"},
		{"latency of a trial without its distribution's data", func(t *testing.T) *result.Document {
			d := sloDoc(t, "")
			d.Trials[1].StartLag = nil
			return d
		}, "start_lag.p99 < 1ms", "builtin: start_lag.p99 cannot be evaluated: trial builtin-1 did not record start_lag (generator builtin)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := analysis.Analyze(tt.doc(t), []spec.Condition{mustCond(t, tt.cond)}, analysis.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var found bool
			for _, r := range got.SLO {
				if r.Message == tt.msg {
					found = true
					if r.Pass {
						t.Errorf("uncomputable SLO passed: %+v", r)
					}
				}
			}
			if !found {
				t.Errorf("no result says %q; got %+v", tt.msg, got.SLO)
			}
			if got.Pass {
				t.Error("Analysis.Pass with an uncomputable SLO")
			}
		})
	}
}

func TestSLOFromPlanEdgeCases(t *testing.T) {
	doc := sloDoc(t, `
arms: [baseline, {name: builtin, mesh: builtin}]
slo:
  - {condition: "overhead.latency.p99 < 5ms", arms: [baseline]}
`)
	// A condition that no longer parses (a document written by another version).
	doc.Plan.SLO = append(doc.Plan.SLO, spec.SLO{Condition: "latency.p99 < fast"})
	got, err := analysis.Analyze(doc, nil, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.SLO) != 2 || got.Pass {
		t.Fatalf("results %+v, pass %v", got.SLO, got.Pass)
	}
	if r := got.SLO[0]; r.Pass || r.Message != "baseline: overhead.latency.p99 cannot be evaluated: this is the baseline arm; overhead is measured against it" {
		t.Errorf("overhead on the baseline itself: %+v", r)
	}
	if r := got.SLO[1]; r.Pass || !strings.HasPrefix(r.Message, "latency.p99 < fast: cannot be evaluated: ") {
		t.Errorf("unparsable condition: %+v", r)
	}
}

func TestSLOWithServiceTime(t *testing.T) {
	doc := buildDoc(t, mustPlan(t, "arms: [baseline]"), []armSpec{{name: "baseline", mesh: spec.MeshNone,
		trials: []trialSpec{{samples: constant(100, 2*time.Millisecond), withServiceTime: true}}}})
	got, err := analysis.Analyze(doc, []spec.Condition{mustCond(t, "service_time.p99 < 3ms"), mustCond(t, "start_lag.max < 1ms")}, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Pass || got.SLO[0].Message != "baseline: service_time.p99 = 2ms, < 3ms ok" || got.SLO[1].Message != "baseline: start_lag.max = 0ms, < 1ms ok" {
		t.Errorf("%+v", got.SLO)
	}
}

// TestGatewayDelta: with entry via gateway every arm has a gateway (role gateway); its CPU
// is a delta of its own (what the mesh adds to it: mTLS towards svc-1's sidecar), kept
// apart from the proxies', and SLO conditions can name it.
func TestGatewayDelta(t *testing.T) {
	gateway := func(cpu float64) result.Resource {
		r := proxy("gateway", cpu, 12<<20)
		r.Role = result.RoleGateway
		return r
	}
	doc := buildDoc(t, mustPlan(t, "arms: [baseline, {name: builtin, mesh: builtin}]"), []armSpec{
		{name: "baseline", mesh: spec.MeshNone, trials: []trialSpec{{samples: constant(1000, 10600*time.Microsecond),
			resources: []result.Resource{gateway(40), app("svc-1", 50, 10<<20)}}}},
		{name: "builtin", mesh: spec.MeshBuiltin, trials: []trialSpec{{samples: constant(1000, 12400*time.Microsecond),
			resources: []result.Resource{gateway(70), proxy("svc-1-proxy", 100, 30<<20), app("svc-1", 60, 10<<20)}}}},
	})
	got, err := analysis.Analyze(doc, []spec.Condition{mustCond(t, "overhead.cpu.gateway < 20m")}, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d := findDelta(t, got, "builtin", "cpu.gateway"); d.Baseline != 40 || d.Value != 70 || d.Delta != 30 || d.Unit != "mcores" {
		t.Errorf("cpu.gateway: %+v, want 40 → 70 mcores", d)
	}
	if d := findDelta(t, got, "builtin", "cpu.proxy"); d.Value != 100 {
		t.Errorf("cpu.proxy %g: the gateway's CPU is not a proxy's", d.Value)
	}
	want := "builtin: overhead.cpu.gateway = +30m (cpu.gateway 70m vs baseline 40m), not < 20m"
	if len(got.SLO) != 1 || got.SLO[0].Pass || got.SLO[0].Message != want {
		t.Errorf("SLO %+v, want %q", got.SLO, want)
	}
}
