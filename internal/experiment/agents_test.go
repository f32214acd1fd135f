package experiment

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/service-mesh-performance/smp/internal/agent"
	"github.com/service-mesh-performance/smp/internal/generator"
	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/result"
)

func countingTarget(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s, &n
}

// TestRunWithAgents: workload.agents without agent_urls starts the agents in this
// process; two trials in a row run on the same agents, each lists them, and the counts
// add up to what the target saw.
func TestRunWithAgents(t *testing.T) {
	s, served := countingTarget(t)
	plan := parse(t, "name: a\nrepetitions: 2\nworkload: {rate: 200, connections: 2, duration: 500ms, warmup: 0s, agents: 2, endpoint_urls: ["+s.URL+"]}\n")
	doc, err := Run(context.Background(), plan, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if doc.Status != result.StatusComplete || len(doc.Trials) != 2 {
		t.Fatalf("status %s, %d trials: %v", doc.Status, len(doc.Trials), doc.Errors)
	}
	var total int64
	for _, tr := range doc.Trials {
		if len(tr.Agents) != 2 || tr.Counts.Requests != 100 {
			t.Errorf("trial %s: %d agents, %d requests; want 2 and 100", tr.ID, len(tr.Agents), tr.Counts.Requests)
		}
		for _, a := range tr.Agents {
			if a.Status != result.AgentComplete || a.Requests != 50 || a.ReachAttempts != 1 {
				t.Errorf("trial %s: agent %+v, want complete with 50 requests, the target reached at once", tr.ID, a)
			}
			total += int64(a.ReachAttempts) // the reach check's request, before the trial
		}
		if !strings.Contains(strings.Join(tr.Warnings, "\n"), "ran inside smp") {
			t.Errorf("no warning that the agents added no capacity: %v", tr.Warnings)
		}
		total += tr.Counts.Requests
	}
	if total != served.Load() {
		t.Errorf("trials count %d requests with the reach checks', the target saw %d", total, served.Load())
	}
}

// TestRunWithAgentsCancelled: Ctrl-C stops every agent's load, and each still sends
// what it measured: the interrupted trial holds exactly what the target served.
func TestRunWithAgentsCancelled(t *testing.T) {
	s, served := countingTarget(t)
	plan := parse(t, "name: c\nworkload: {rate: 100, connections: 2, duration: 1m, warmup: 0s, agents: 2, endpoint_urls: ["+s.URL+"]}\n")
	ctx, cancel := context.WithCancel(context.Background())
	doc, err := Run(ctx, plan, Options{Status: progressCanceller{cancel}})
	if err == nil || doc == nil {
		t.Fatalf("Run = %v, %v; want the partial document and the context's error", doc, err)
	}
	tr := doc.Trials[0]
	if doc.Status != result.StatusInterrupted || tr.Status != result.StatusPartial || len(tr.Agents) != 2 {
		t.Fatalf("status %s, trial %s, %d agents", doc.Status, tr.Status, len(tr.Agents))
	}
	for _, a := range tr.Agents {
		if a.Status != result.AgentComplete {
			t.Errorf("agent %+v: want its partial result delivered", a)
		}
	}
	// A request in flight when the load stops is served but not counted (it is not a
	// measurement); there are at most as many as connections (2). Each agent's reach
	// check sent one more, before the trial.
	reach := int64(tr.Agents[0].ReachAttempts + tr.Agents[1].ReachAttempts)
	if gap := served.Load() - tr.Counts.Requests - reach; tr.Counts.Requests == 0 || reach != 2 || gap < 0 || gap > 2 {
		t.Errorf("trial counts %d requests and %d reach checks, the target saw %d", tr.Counts.Requests, reach, served.Load())
	}
}

// TestTrialGenerator: the one choice of a trial's generator follows the deployment's
// Load: none is the run's own; fortio's REST API is driven where the platform says, with
// a warning when the plan named another generator; agents beside the application are
// driven with the credentials the platform handed back, and before the first deploy
// they are counted from the plan.
func TestTrialGenerator(t *testing.T) {
	plan := parse(t, "name: g\nworkload: {agents: 3, endpoint_urls: [http://127.0.0.1:1/]}\n")
	run := generator.Builtin{}

	got, warnings, err := trialGenerator(plan, run, platform.Load{}, "r", nil)
	if err != nil || got != generator.Generator(run) || len(warnings) != 0 {
		t.Errorf("no load: got %#v, %q, %v; want the run's generator", got, warnings, err)
	}

	got, warnings, err = trialGenerator(plan, run, platform.Load{Kind: platform.LoadFortioREST, FortioURL: "http://127.0.0.1:9/fortio/", Where: "pod p"}, "r", nil)
	if f, ok := got.(generator.FortioREST); err != nil || !ok || f.BaseURL != "http://127.0.0.1:9/fortio/" || f.Where != "pod p" ||
		len(warnings) != 1 || !strings.Contains(warnings[0], "load_generator builtin") {
		t.Errorf("fortio load: got %#v, %q, %v", got, warnings, err)
	}

	b, err := agent.NewBundle("r", true)
	if err != nil {
		t.Fatal(err)
	}
	files := b.ControllerFiles()
	creds := &platform.AgentCredentials{CA: files[agent.CAFile], Cert: files[agent.CertFile(agent.RoleController)],
		Key: files[agent.KeyFile(agent.RoleController)], Token: b.Token}
	got, _, err = trialGenerator(plan, run, platform.Load{Kind: platform.LoadAgents, Agents: []string{"127.0.0.1:1", "127.0.0.1:2"}, Credentials: creds}, "r", nil)
	if d, ok := got.(generator.Distributed); err != nil || !ok || len(d.Agents) != 2 || d.RunID != "r" ||
		d.Credentials.Role != agent.RoleController || d.Credentials.Token != b.Token {
		t.Errorf("agent load: got %#v, %v", got, err)
	}
	got, _, err = trialGenerator(plan, run, platform.Load{Kind: platform.LoadAgents}, "r", nil)
	if d, ok := got.(generator.Distributed); err != nil || !ok || len(d.Agents) != 3 {
		t.Errorf("agents before the first deploy: got %#v, %v; want the plan's 3", got, err)
	}
	creds.Key = []byte("not a key")
	if _, _, err = trialGenerator(plan, run, platform.Load{Kind: platform.LoadAgents, Agents: []string{"a"}, Credentials: creds}, "r", nil); err == nil {
		t.Error("agent load with a broken key: no error")
	}
}
