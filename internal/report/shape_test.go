package report

import (
	"strings"
	"testing"

	"github.com/service-mesh-performance/smp/spec"
)

// TestPlanRowsNameTheShape: a plan of a shape topology reads as the shape, not as a
// chain with "<nil>" responses (a shape has no response_size of its own).
func TestPlanRowsNameTheShape(t *testing.T) {
	p := (&spec.Plan{Workload: spec.Workload{App: spec.App{Kind: spec.AppBuiltin, Topology: spec.TopologyEmojivotoShape}}}).WithDefaults()
	for _, kv := range planRows(p) {
		if strings.Contains(kv.Value, "emojivoto-shape, 3 services") && !strings.Contains(kv.Value, "nil") {
			return
		}
	}
	t.Errorf("no plan row names the emojivoto-shape and its 3 services: %+v", planRows(p))
}
