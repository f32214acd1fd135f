package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/service-mesh-performance/smp/result"
)

// TestAgentCommands: `smp agent certs` writes the credentials, `smp agent` serves with
// them, and `smp load --agents` drives it: the result lists the agent, and its counts
// are what the target saw. Ending the agent's context ends the command with exit 0.
func TestAgentCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	code, stdout, stderr := runCLI(t, "agent", "certs", "--dir", dir)
	if code != 0 || !strings.Contains(stdout, "smp-agent-key.pem") {
		t.Fatalf("certs: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, f := range []string{"ca.pem", "smp-agent.pem", "smp-agent-key.pem", "smp-controller.pem", "smp-controller-key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("certs did not write %s: %v", f, err)
		}
	}
	if code, _, stderr := runCLI(t, "agent", "certs", "--dir", dir); code != exitUsage || !strings.Contains(stderr, "--force") {
		t.Errorf("certs over existing credentials: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "agent", "--listen", "127.0.0.1:0"); code != exitUsage || !strings.Contains(stderr, "needs credentials") {
		t.Errorf("agent without credentials: exit %d, %s", code, stderr)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		code := run(ctx, []string{"agent", "--listen", "127.0.0.1:0", "--certs", dir}, streams{in: strings.NewReader(""), out: io.Discard, err: pw})
		pw.Close()
		done <- code
	}()
	lines := bufio.NewScanner(pr)
	var addr string
	listening := regexp.MustCompile(`listening on https://(127\.0\.0\.1:\d+)`)
	for addr == "" && lines.Scan() {
		if m := listening.FindStringSubmatch(lines.Text()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatal("the agent did not say where it listens")
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }() // the agent's log, until it exits

	srv, served := countingServer(t, http.StatusOK)
	out := filepath.Join(t.TempDir(), "result.json")
	code, stdout, stderr = runCLI(t, "load", srv.URL+"/", "--rate", "200", "-c", "2", "-d", "500ms", "--warmup", "0",
		"--agents", addr, "--agent-certs", dir, "-o", out, "-q", "--allow-rate-miss")
	if code != 0 {
		t.Fatalf("load: exit %d\n%s\n%s", code, stdout, stderr)
	}
	doc, err := result.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	tr := doc.Trials[0]
	if len(tr.Agents) != 1 || tr.Agents[0].Status != result.AgentComplete || tr.Agents[0].Address != "https://"+addr {
		t.Fatalf("agents in the result: %+v", tr.Agents)
	}
	// The server also answered the agent's reach check, once: it was up.
	if a := tr.Agents[0]; tr.Counts.Requests+1 != served.Load() || tr.Counts.Requests != 100 || a.Requests != 100 || a.ReachAttempts != 1 {
		t.Errorf("the result counts %d requests (agent %d, and %d reach attempts), the server saw %d; want 100 and 1",
			tr.Counts.Requests, a.Requests, a.ReachAttempts, served.Load())
	}
	if doc.Plan.Workload.Agents != 1 || len(doc.Plan.Workload.AgentURLs) != 1 {
		t.Errorf("the recorded plan lost the agents: %+v", doc.Plan.Workload)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("agent exited %d after its context ended", code)
	}
}
