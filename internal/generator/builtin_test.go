package generator

import (
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/engine"
	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/spec"
)

// TestTrialOfReportsGeneratorCost: the engine's own cost (CPU over the
// measured phase, spin) and why requests left late reach the trial's load
// figures, in the units their names give.
func TestTrialOfReportsGeneratorCost(t *testing.T) {
	ready := hist.New()
	ready.Record(3 * time.Millisecond)
	empty := func() engine.PhaseResult {
		return engine.PhaseResult{Latency: hist.New(), Service: hist.New(), StartLag: hist.New(), ErrorLatency: hist.New(), ReadyLag: hist.New()}
	}
	res := &engine.Result{Config: engine.Config{Connections: 4}, Warmup: empty(), Measure: empty(), RequestedRate: 1000,
		LateCause: engine.LateEngine,
		Generator: engine.GeneratorStats{CPU: 100 * time.Millisecond, Wall: 400 * time.Millisecond, CPUs: 1, Spin: 75 * time.Microsecond}}
	res.Measure.ReadyLag = ready
	job := Job{Target: platform.Target{URLs: []string{"http://127.0.0.1:1/"}}, Workload: workload(t, func(*spec.Workload) {}),
		Metrics: (&spec.Plan{}).WithDefaults().Metrics}
	tr, err := TrialOf(res, Builtin{}.Info(), job)
	if err != nil {
		t.Fatal(err)
	}
	l := tr.Load
	if l.GeneratorCPUMcores != 250 || l.SpinUS != 75 || l.LateCause != "engine" || l.ReadyLagP99MS < 3 || l.ReadyLagP99MS > 3.01 {
		t.Errorf("generator %v mcores, spin %v µs, late cause %q, ready-lag p99 %v ms; want 250, 75, engine, 3",
			l.GeneratorCPUMcores, l.SpinUS, l.LateCause, l.ReadyLagP99MS)
	}
}
