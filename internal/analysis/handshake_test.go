package analysis_test

import (
	"math"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/analysis"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// TestHandshakeDelta: with keep-alive off both arms carry Trial.Handshake, and the
// "handshake" delta is the difference of their mean connect + TLS times, "handshake.tls"
// of the TLS part alone; a plaintext arm's TLS part is 0. Without handshakes on one arm,
// neither row appears.
func TestHandshakeDelta(t *testing.T) {
	plan := mustPlan(t, "arms: [baseline, {name: mesh, mesh: builtin}]\n")
	base := trialSpec{samples: constant(100, time.Millisecond)}
	mesh := trialSpec{samples: constant(100, 2*time.Millisecond)}
	doc := buildDoc(t, plan, []armSpec{{name: "baseline", mesh: spec.MeshNone, trials: []trialSpec{base}},
		{name: "mesh", mesh: spec.MeshBuiltin, trials: []trialSpec{mesh}}})
	withHS := func(tr *result.Trial, connect, tls time.Duration) {
		c := distOf(t, constant(100, connect))
		h := &result.Handshake{Mode: "plaintext", Connect: &c}
		if tls > 0 {
			d := distOf(t, constant(100, tls))
			h.Mode, h.TLS = "mtls", &d
		}
		tr.Handshake = h
	}
	withHS(&doc.Trials[0], 100*time.Microsecond, 0)
	a, err := analysis.Analyze(doc, nil, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range a.Overhead {
		for _, d := range o.Deltas {
			if d.Metric == "handshake" || d.Metric == "handshake.tls" {
				t.Errorf("delta %s with handshakes on one arm only", d.Metric)
			}
		}
	}

	withHS(&doc.Trials[1], 120*time.Microsecond, 1500*time.Microsecond)
	a, err = analysis.Analyze(doc, nil, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hs := findDelta(t, a, "mesh", "handshake")
	if !near(hs.Baseline, 0.1) || !near(hs.Value, 1.62) || !near(hs.Delta, 1.52) || hs.Unit != "ms" {
		t.Errorf("handshake delta %+v, want 0.1 → 1.62 ms", hs)
	}
	tl := findDelta(t, a, "mesh", "handshake.tls")
	if !near(tl.Baseline, 0) || !near(tl.Value, 1.5) {
		t.Errorf("handshake.tls delta %+v, want 0 → 1.5 ms", tl)
	}
}

// TestMaxRateDelta: arms that ran a capacity search compare their highest sustainable
// rates.
func TestMaxRateDelta(t *testing.T) {
	plan := mustPlan(t, "arms: [baseline, {name: mesh, mesh: builtin}]\n")
	s := trialSpec{samples: constant(10, time.Millisecond)}
	doc := buildDoc(t, plan, []armSpec{{name: "baseline", mesh: spec.MeshNone, trials: []trialSpec{s}},
		{name: "mesh", mesh: spec.MeshBuiltin, trials: []trialSpec{s}}})
	doc.Trials[0].Search = &result.Search{MaxRateRPS: 8000}
	doc.Trials[1].Search = &result.Search{MaxRateRPS: 6000}
	a, err := analysis.Analyze(doc, nil, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := findDelta(t, a, "mesh", "max_rate")
	if d.Baseline != 8000 || d.Value != 6000 || d.DeltaPercent == nil || *d.DeltaPercent != -25 {
		t.Errorf("max_rate delta %+v", d)
	}
}

// near compares ms figures read back from HDR histograms (3 significant digits).
func near(got, want float64) bool { return math.Abs(got-want) <= 0.002*math.Max(1, want) }
