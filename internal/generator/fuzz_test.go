package generator

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// The external generators' output is parsed from their stdout (wrk's done() hook, wrk2's
// report, nighthawk's JSON) or their REST answer (fortio in a pod). A generator of
// another version, a truncated run or a hostile pod can print anything: whatever it
// prints, smp must not panic, and a trial it builds from it must pass result's Check (a
// document smp writes is one it would read back). Seed corpora are in
// testdata/fuzz/<target>; scripts/fuzz runs every target for a few seconds in CI.
//
//	go test ./internal/generator -run '^$' -fuzz '^FuzzWrk2$' -fuzztime 5m

// fuzzJob is the job the fuzzed outputs are converted for.
func fuzzJob(t *testing.T) Job {
	w := workload(t, func(w *spec.Workload) { w.Rate, w.Duration = rate(100), spec.Duration(time.Second) })
	return Job{Workload: w, Metrics: (&spec.Plan{}).WithDefaults().Metrics, Target: platform.Target{URLs: []string{"http://127.0.0.1:8080/"}}}
}

func newMeasurement() *measurement {
	return &measurement{requestedRate: 100, connectionsAsked: 2, streams: 1, rateHeld: true,
		errors: map[string]int64{}, status: map[string]int64{}}
}

// checkTrial fails t when the trial built from m would make an unsound document.
func checkTrial(t *testing.T, m *measurement, info result.GeneratorInfo) {
	t.Helper()
	tr, err := m.trial(info, fuzzJob(t))
	if err != nil {
		return
	}
	tr.ID, tr.Arm, tr.Repetition, tr.Order = "a-1", "a", 1, 1
	doc := result.New("fuzz", "fuzz", time.Unix(0, 0))
	doc.Trials = []result.Trial{tr}
	if err := doc.Check(); err != nil {
		t.Fatalf("a trial from this output is unsound:\n%v", err)
	}
}

var start = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

func FuzzWrk(f *testing.F) {
	f.Fuzz(func(t *testing.T, out []byte) {
		rep, err := parseWrkDone(out)
		if err != nil {
			return
		}
		m := newMeasurement()
		if err := rep.into(m, 2, start); err != nil {
			return
		}
		checkTrial(t, m, result.GeneratorInfo{Name: spec.GeneratorWrk})
	})
}

func FuzzWrk2(f *testing.F) {
	f.Fuzz(func(t *testing.T, out []byte) {
		rep, err := parseWrk2(out)
		if err != nil {
			return
		}
		m := newMeasurement()
		rep.into(m, start, 10*time.Second)
		checkTrial(t, m, result.GeneratorInfo{Name: spec.GeneratorWrk2})
	})
}

func FuzzNighthawk(f *testing.F) {
	f.Fuzz(func(t *testing.T, out []byte) {
		o, err := parseNighthawk(out)
		if err != nil {
			return
		}
		_ = o.version()
		m := newMeasurement()
		if err := o.into(m, start); err != nil {
			return
		}
		checkTrial(t, m, result.GeneratorInfo{Name: spec.GeneratorNighthawk})
	})
}

// FuzzFortioREST reads what fortio's REST API answers (in a pod, on Kubernetes).
func FuzzFortioREST(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		var res fortioRESTResult
		if err := json.Unmarshal(body, &res); err != nil {
			return
		}
		m := newMeasurement()
		if err := res.into(m); err != nil {
			return
		}
		checkTrial(t, m, FortioREST{}.infoOf(res))
	})
}
