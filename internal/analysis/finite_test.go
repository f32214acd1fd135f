package analysis_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/analysis"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// TestAnalysisIsAlwaysWritable analyses arms at the edges a loaded machine or a broken
// system produces (resources measured as 0, no request succeeded, one trial or three,
// open and closed loop) against each other: whatever the verdicts, every figure must be
// one JSON can hold, or the run that measured them cannot write its result (a MeshMark
// over a baseline of 0 mcores once failed a whole run on a NaN).
func TestAnalysisIsAlwaysWritable(t *testing.T) {
	type variant struct {
		cpu, mem       float64
		trials, ok, ko int
		closed         bool
	}
	var vs []variant
	for _, cpu := range []float64{0, 7} {
		for _, mem := range []float64{0, 1 << 20} {
			for _, trials := range []int{1, 3} {
				for _, okko := range [][2]int{{200, 0}, {0, 50}} {
					for _, closed := range []bool{false, true} {
						vs = append(vs, variant{cpu, mem, trials, okko[0], okko[1], closed})
					}
				}
			}
		}
	}
	arm := func(name string, mesh spec.MeshType, v variant) armSpec {
		a := armSpec{name: name, mesh: mesh}
		for i := range v.trials {
			res := []result.Resource{app("svc-1", v.cpu, int64(v.mem))}
			if mesh != spec.MeshNone {
				res = append(res, proxy("svc-1-proxy", v.cpu, int64(v.mem)))
			}
			lat := constant(v.ok, time.Duration(i+1)*time.Millisecond)
			a.trials = append(a.trials, trialSpec{samples: lat, failed: int64(v.ko), resources: res, rate: 20, closedLoop: v.closed})
		}
		return a
	}
	plan := mustPlan(t, "arms: [baseline, {name: mesh, mesh: builtin}]")
	for _, b := range vs {
		for _, m := range vs {
			pair := [2]variant{b, m}
			name := fmt.Sprintf("baseline %+v, mesh %+v", pair[0], pair[1])
			doc := buildDoc(t, plan, []armSpec{arm("baseline", spec.MeshNone, pair[0]), arm("mesh", spec.MeshBuiltin, pair[1])})
			a, err := analysis.Analyze(doc, nil, analysis.Options{Replicates: 100})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			doc.Analysis = a
			if _, err := json.Marshal(doc); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}
