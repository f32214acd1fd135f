package experiment

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

func parse(t *testing.T, yaml string) *spec.Plan {
	t.Helper()
	p, err := spec.Parse("plan.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func order(ts []TrialPlan) string {
	var parts []string
	for _, tp := range ts {
		parts = append(parts, tp.Arm.Name+string(rune('0'+tp.Repetition)))
	}
	return strings.Join(parts, " ")
}

func TestSchedule(t *testing.T) {
	base := "arms: [baseline, {name: a, mesh: builtin}, {name: b, mesh: haproxy}]\nrepetitions: 2\n"
	for _, c := range []struct{ order, want string }{
		{"interleaved", "baseline1 a1 b1 baseline2 a2 b2"},
		{"sequential", "baseline1 baseline2 a1 a2 b1 b2"},
	} {
		got := order(Schedule(parse(t, base+"order: "+c.order+"\n")))
		if got != c.want {
			t.Errorf("%s: %s, want %s", c.order, got, c.want)
		}
	}
	// Random: every round holds every arm once, the order depends on the seed only.
	r1 := Schedule(parse(t, base+"order: random\nseed: 7\n"))
	r2 := Schedule(parse(t, base+"order: random\nseed: 7\n"))
	if order(r1) != order(r2) {
		t.Errorf("the same seed gave %s and %s", order(r1), order(r2))
	}
	for round := 0; round < 2; round++ {
		seen := map[string]bool{}
		for _, tp := range r1[round*3 : round*3+3] {
			seen[tp.Arm.Name] = true
			if tp.Repetition != round+1 {
				t.Errorf("round %d holds repetition %d", round+1, tp.Repetition)
			}
		}
		if len(seen) != 3 {
			t.Errorf("round %d runs %v", round+1, seen)
		}
	}
	differs := false
	for seed := 1; seed < 20 && !differs; seed++ {
		differs = order(Schedule(parse(t, base+"order: random\nseed: "+string(rune('0'+seed%10))+"\n"))) != "baseline1 a1 b1 baseline2 a2 b2"
	}
	if !differs {
		t.Error("random order never differs from the plan order")
	}
	for i, tp := range r1 {
		if tp.Order != i+1 {
			t.Errorf("trial %d has order %d", i, tp.Order)
		}
	}
}

// TestRunExternal runs a two-arm plan against real loopback servers (the external
// platform: nothing is deployed) and checks the document: one trial per arm, the arm's
// own URL used, analysis against the baseline, SLO verdicts.
func TestRunExternal(t *testing.T) {
	var fast, slow atomic.Int64
	fastSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fast.Add(1)
		io.WriteString(w, "ok")
	}))
	defer fastSrv.Close()
	slowSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		slow.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer slowSrv.Close()
	plan := parse(t, `
name: external
repetitions: 1
arms:
  - {name: direct, mesh: none, endpoint_urls: ["`+fastSrv.URL+`"]}
  - {name: broken, mesh: envoy, endpoint_urls: ["`+slowSrv.URL+`"]}
workload: {rate: 100, connections: 2, duration: 500ms, warmup: 0s}
slo: ["error_rate < 1%"]
`)
	doc, err := Run(context.Background(), plan, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Trials) != 2 || doc.Status != result.StatusComplete {
		t.Fatalf("%d trials, status %s: %v", len(doc.Trials), doc.Status, doc.Errors)
	}
	if doc.Trials[0].Counts.Requests != fast.Load() || doc.Trials[1].Counts.Requests != slow.Load() {
		t.Errorf("each arm must load its own URL: %d/%d vs %d/%d", doc.Trials[0].Counts.Requests, fast.Load(), doc.Trials[1].Counts.Requests, slow.Load())
	}
	// The broken arm answered every request with a 500: complete (its SLO judges it), and
	// saying that it has no latency.
	noLatency := func(tr result.Trial) bool {
		return slices.Contains(tr.Warnings, fmt.Sprintf("no request succeeded: %d of %d failed (http %d): the trial has no latency",
			tr.Counts.Requests, tr.Counts.Requests, tr.Counts.Requests))
	}
	if noLatency(doc.Trials[0]) || !noLatency(doc.Trials[1]) {
		t.Errorf("warnings: direct %q, broken %q; want the broken arm's alone to say it has no latency", doc.Trials[0].Warnings, doc.Trials[1].Warnings)
	}
	if doc.Environment.Platform != "external" || doc.Environment.ID == "" || doc.Environment.Cores == 0 {
		t.Errorf("environment %+v", doc.Environment)
	}
	a := doc.Analysis
	if a == nil || a.Baseline != "direct" || len(a.Overhead) != 1 || a.Pass {
		t.Fatalf("analysis %+v", a)
	}
	verdicts := map[string]bool{}
	for _, r := range a.SLO {
		verdicts[r.Arm] = r.Pass
	}
	if !verdicts["direct"] || verdicts["broken"] {
		t.Errorf("SLO verdicts %v: direct must pass, broken must fail", verdicts)
	}
	// The load generator measures itself.
	found := false
	for _, r := range doc.Trials[0].Resources {
		found = found || r.Role == result.RoleLoadGenerator
	}
	if !found {
		t.Errorf("no load-generator resources in %+v", doc.Trials[0].Resources)
	}
}

// TestRunCancelled: a cancelled context ends the run with status interrupted and the
// trials measured so far.
func TestRunCancelled(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	defer s.Close()
	plan := parse(t, "name: c\nworkload: {rate: 100, duration: 1m, warmup: 0s, endpoint_urls: ["+s.URL+"]}\n")
	ctx, cancel := context.WithCancel(context.Background())
	doc, err := Run(ctx, plan, Options{Progress: 0, Status: progressCanceller{cancel}})
	if err == nil || doc == nil {
		t.Fatalf("Run = %v, %v; want the partial document and the context's error", doc, err)
	}
	if doc.Status != result.StatusInterrupted || len(doc.Trials) != 1 || doc.Trials[0].Status != result.StatusPartial {
		t.Errorf("status %s, %d trials", doc.Status, len(doc.Trials))
	}
}

// progressCanceller cancels the run when the first progress line arrives, i.e. once the
// load is running.
type progressCanceller struct{ cancel context.CancelFunc }

func (p progressCanceller) Write(b []byte) (int, error) {
	if strings.Contains(string(b), "measure") {
		p.cancel()
	}
	return len(b), nil
}

func TestSaturation(t *testing.T) {
	res := []result.Resource{
		{Role: result.RoleApp, CPUMcoresAvg: 300}, {Role: result.RoleProxy, CPUMcoresAvg: 550},
		{Role: result.RoleLoadGenerator, CPUMcoresAvg: 900},
	}
	if w := saturation(res, 1); !strings.Contains(w, "85% of its 1 CPU(s)") {
		t.Errorf("one CPU, 850 mcores used: %q", w)
	}
	if w := saturation(res, 2); w != "" {
		t.Errorf("two CPUs, 850 mcores used (the load generator does not count): %q", w)
	}
	for list, want := range map[string]int{"0": 1, "1-3": 3, "0,2-3": 3, "": 0} {
		if got := countCPUs(list); got != want {
			t.Errorf("countCPUs(%q) = %d, want %d", list, got, want)
		}
	}
}
