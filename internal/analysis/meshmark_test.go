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

// markDoc is a baseline and a mesh arm whose every figure is known: all requests of an arm
// at one latency, 10 s measured, and the given resources.
type markArm struct {
	latency   time.Duration
	ok, fail  int
	resources []result.Resource
}

func markDoc(t *testing.T, base, mesh markArm) *result.Document {
	t.Helper()
	return buildDoc(t, mustPlan(t, "arms: [baseline, {name: mesh, mesh: builtin}]"), []armSpec{
		{name: "baseline", mesh: spec.MeshNone, trials: []trialSpec{{samples: constant(base.ok, base.latency), failed: int64(base.fail), resources: base.resources}}},
		{name: "mesh", mesh: spec.MeshBuiltin, trials: []trialSpec{{samples: constant(mesh.ok, mesh.latency), failed: int64(mesh.fail), resources: mesh.resources}}},
	})
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

// TestMeshMarkFormula recomputes a score by hand from the definition in docs/meshmark.md.
func TestMeshMarkFormula(t *testing.T) {
	// Latencies sit below 2048 µs, where an HDR bucket is 1 µs wide, so that percentiles
	// are the recorded values themselves.
	base := markArm{latency: 1000 * time.Microsecond, ok: 1000,
		resources: []result.Resource{app("svc-1", 50, 10<<20), app("svc-2", 30, 6<<20)}}
	mesh := markArm{latency: 1600 * time.Microsecond, ok: 990, fail: 10,
		resources: []result.Resource{app("svc-1", 60, 10<<20), app("svc-2", 30, 6<<20),
			proxy("svc-1-proxy", 100, 30<<20), proxy("svc-2-proxy", 120, 34<<20)}}
	m := meshMarkOf(t, markDoc(t, base, mesh), "mesh")

	// Costs: latency 1.0 vs 1.6 ms; goodput 100 vs 99 rps; CPU 80m at 100 rps = 800
	// mcores per krps vs 310m at 100 rps = 3100; memory 16 MiB vs 80 MiB.
	want := map[string]struct{ base, value, eff float64 }{
		"latency.p50": {1.0, 1.6, 1.0 / 1.6},
		"latency.p99": {1.0, 1.6, 1.0 / 1.6},
		"goodput":     {100, 99, 0.99},
		"cpu":         {800, 3100, 800.0 / 3100},
		"memory":      {16 << 20, 80 << 20, 16.0 / 80},
	}
	score := 100 * (0.125*want["latency.p50"].eff + 0.125*want["latency.p99"].eff + 0.25*want["goodput"].eff +
		0.25*want["cpu"].eff + 0.25*want["memory"].eff)
	if m.Score == nil || math.Abs(*m.Score-score) > 1e-9 {
		t.Fatalf("score %v, want %.6f; inputs %+v", m.Score, score, m.Inputs)
	}
	if m.Partial || m.Version != analysis.MeshMarkVersion {
		t.Errorf("partial %v version %d, want a full version-%d score", m.Partial, m.Version, analysis.MeshMarkVersion)
	}
	var points, weights float64
	for name, w := range want {
		in := input(t, m, name)
		if math.Abs(in.Baseline-w.base) > 1e-9*w.base || math.Abs(in.Value-w.value) > 1e-9*w.value ||
			math.Abs(in.Efficiency-w.eff) > 1e-12 || in.Missing != "" {
			t.Errorf("%s: baseline %g value %g efficiency %g (%q), want %g %g %g", name, in.Baseline, in.Value, in.Efficiency, in.Missing, w.base, w.value, w.eff)
		}
		if math.Abs(in.Points-100*in.Weight*in.Efficiency) > 1e-9 {
			t.Errorf("%s: %g points, want 100 × %g × %g", name, in.Points, in.Weight, in.Efficiency)
		}
		points += in.Points
		weights += in.Weight
	}
	if math.Abs(points-*m.Score) > 1e-9 || math.Abs(weights-1) > 1e-12 {
		t.Errorf("points add up to %g (score %g), weights to %g (want 1)", points, *m.Score, weights)
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
		{"errors", []markArm{variant(1100*time.Microsecond, 0, 50, 8<<20), variant(1100*time.Microsecond, 10, 50, 8<<20), variant(1100*time.Microsecond, 300, 50, 8<<20)}},
		{"cpu", []markArm{variant(1100*time.Microsecond, 0, 10, 8<<20), variant(1100*time.Microsecond, 0, 100, 8<<20), variant(1100*time.Microsecond, 0, 1000, 8<<20)}},
		{"memory", []markArm{variant(1100*time.Microsecond, 0, 50, 1<<20), variant(1100*time.Microsecond, 0, 50, 20<<20), variant(1100*time.Microsecond, 0, 50, 400<<20)}},
	} {
		prev := math.Inf(1)
		for i, step := range dim.steps {
			m := meshMarkOf(t, markDoc(t, base, step), "mesh")
			if m.Score == nil {
				t.Fatalf("%s step %d: no score", dim.name, i)
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

func TestMeshMarkEdges(t *testing.T) {
	ms := time.Millisecond
	appOnly := []result.Resource{app("svc-1", 100, 20<<20)}
	withProxy := []result.Resource{app("svc-1", 100, 20<<20), proxy("svc-1-proxy", 100, 20<<20)}
	tests := []struct {
		name        string
		base, mesh  markArm
		score       float64 // -1: no score
		partial     bool
		missing     map[string]string // input → part of its Missing reason
		zeroEffIn   []string
		effOneInput []string
	}{
		{name: "faster than the baseline is clamped at 100",
			base:  markArm{latency: 2 * ms, ok: 1000, resources: []result.Resource{app("svc-1", 300, 60<<20)}},
			mesh:  markArm{latency: 1 * ms, ok: 1000, resources: withProxy},
			score: 100, effOneInput: []string{"latency.p50", "cpu", "memory"}},
		{name: "no resources anywhere: latency and goodput only, partial",
			base: markArm{latency: 1 * ms, ok: 1000}, mesh: markArm{latency: 2 * ms, ok: 1000},
			// (0.125·0.5 + 0.125·0.5 + 0.25·1) / 0.5
			score: 100 * (0.125*0.5 + 0.125*0.5 + 0.25) / 0.5, partial: true,
			missing: map[string]string{"cpu": "baseline: no app resources were collected", "memory": "baseline: no app resources"}},
		{name: "mesh arm whose proxies were not measured: no cpu or memory",
			base: markArm{latency: 1 * ms, ok: 1000, resources: appOnly}, mesh: markArm{latency: 1 * ms, ok: 1000, resources: appOnly},
			score: 100, partial: true, missing: map[string]string{"cpu": "the proxies were not measured", "memory": "the proxies were not measured"}},
		{name: "an arm that delivered nothing loses latency and goodput entirely",
			base: markArm{latency: 1 * ms, ok: 1000, resources: appOnly}, mesh: markArm{ok: 0, fail: 1000, resources: withProxy},
			// cpu: 100m at 100 rps vs 200m at 100 rps; memory 20 vs 40 MiB.
			score: 100 * (0.25*0.5 + 0.25*0.5), zeroEffIn: []string{"latency.p50", "latency.p99", "goodput"}},
		{name: "a baseline with no successful request gives no score",
			base: markArm{ok: 0, fail: 1000, resources: appOnly}, mesh: markArm{latency: 1 * ms, ok: 1000, resources: withProxy},
			score: -1, missing: map[string]string{"latency.p50": "baseline: no request succeeded", "goodput": "baseline: no request succeeded"}},
	}
	for _, c := range tests {
		t.Run(c.name, func(t *testing.T) {
			m := meshMarkOf(t, markDoc(t, c.base, c.mesh), "mesh")
			switch {
			case c.score < 0 && m.Score != nil:
				t.Errorf("score %g, want none", *m.Score)
			case c.score >= 0 && (m.Score == nil || math.Abs(*m.Score-c.score) > 1e-9):
				t.Errorf("score %v, want %g; inputs %+v", m.Score, c.score, m.Inputs)
			}
			if m.Partial != c.partial {
				t.Errorf("partial %v, want %v", m.Partial, c.partial)
			}
			for name, why := range c.missing {
				if in := input(t, m, name); !strings.Contains(in.Missing, why) || in.Points != 0 {
					t.Errorf("%s: missing %q with %g points, want a reason containing %q and no points", name, in.Missing, in.Points, why)
				}
			}
			for _, name := range c.zeroEffIn {
				if in := input(t, m, name); in.Efficiency != 0 || in.Missing != "" {
					t.Errorf("%s: efficiency %g (missing %q), want 0", name, in.Efficiency, in.Missing)
				}
			}
			for _, name := range c.effOneInput {
				if in := input(t, m, name); in.Efficiency != 1 {
					t.Errorf("%s: efficiency %g, want 1 (clamped)", name, in.Efficiency)
				}
			}
		})
	}
}
