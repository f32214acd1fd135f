package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/result"
)

// slowServer is a real HTTP server that takes 10ms over every request: one connection
// to it serves at most 100 requests a second, whatever the machine's load.
func slowServer(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(10 * time.Millisecond) // the server's work: it cannot answer faster
	}))
	t.Cleanup(s.Close)
	return s
}

// TestLoadRateNotHeld: an open-loop run at 200/s on one connection to a server that
// answers 100 a second measures, but not what was asked: smp load writes the result,
// says which trial and why on stderr, and exits 4; the document's analysis says the
// same, and smp compare warns about it. --allow-rate-miss accepts it (exit 0, or 3 for
// a failed SLO); without it a failed SLO is reported beside the rate, under exit 4.
func TestLoadRateNotHeld(t *testing.T) {
	s := slowServer(t)
	for _, c := range []struct {
		name    string
		args    []string
		code    int
		stderr  []string
		outcome result.Outcome
	}{
		{"rate not held", nil, exitRateNotHeld,
			[]string{"smp: error: trial target-1: rate not held: ", "requests waited for a free connection (1 × 1)",
				"the result is written, but not at the rate asked (--allow-rate-miss accepts such a run)\n"},
			result.OutcomeRateNotHeld},
		{"and an SLO failed", []string{"--max-p99", "1ns"}, exitRateNotHeld,
			[]string{"trial target-1: rate not held: ", "\n  SLO failed: target: latency.p99 ="}, result.OutcomeRateNotHeld},
		{"allowed", []string{"--allow-rate-miss"}, exitOK, nil, result.OutcomePass},
		{"allowed, SLO failed", []string{"--allow-rate-miss", "--max-p99", "1ns"}, exitSLO,
			[]string{"SLO failed: target: latency.p99 ="}, result.OutcomeSLOFailed},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r.json")
			args := append([]string{"load", s.URL, "--rate", "200", "-c", "1", "-d", "1s", "--warmup", "0s", "-q", "-o", out}, c.args...)
			code, stdout, stderr := runCLI(t, args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, c.code, stdout, stderr)
			}
			for _, want := range c.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if c.stderr == nil && stderr != "" {
				t.Errorf("stderr should be quiet:\n%s", stderr)
			}
			if !strings.Contains(stdout, "NOT HELD") {
				t.Errorf("the summary does not say the rate was not held:\n%s", stdout)
			}
			doc, err := result.Load(out)
			if err != nil {
				t.Fatalf("no result written: %v", err)
			}
			a := doc.Analysis
			if a.Outcome != c.outcome || len(a.RateNotHeld) != 1 || !strings.HasPrefix(a.RateNotHeld[0], "trial target-1: rate not held: ") {
				t.Errorf("analysis: outcome %q, rate_not_held %q; want %q and one line", a.Outcome, a.RateNotHeld, c.outcome)
			}
			// smp compare reads such a run with a warning (its own gate is --slo).
			if code, stdout, stderr := runCLI(t, "compare", out, out); code != exitOK || !strings.Contains(stdout, "r#1 was not measured at the rate it asked for: trial target-1: rate not held: ") {
				t.Errorf("compare: exit %d, no warning that the rate was not held:\n%s\n%s", code, stdout, stderr)
			}
			if allowed := strings.Contains(strings.Join(c.args, " "), "--allow-rate-miss"); a.RateMissAllowed != allowed || doc.Plan.Workload.AllowRateMiss != allowed {
				t.Errorf("rate_miss_allowed %v, plan's allow_rate_miss %v; want %v", a.RateMissAllowed, doc.Plan.Workload.AllowRateMiss, allowed)
			}
		})
	}
}

// TestRunRateNotHeld: smp run exits 4 like smp load when a trial of its plan did not
// hold the rate, and a plan's workload.allow_rate_miss accepts it.
func TestRunRateNotHeld(t *testing.T) {
	s := slowServer(t)
	for _, c := range []struct {
		name  string
		allow string
		code  int
	}{{"strict", "", exitRateNotHeld}, {"allowed by the plan", "\n  allow_rate_miss: true", exitOK}} {
		t.Run(c.name, func(t *testing.T) {
			plan := writePlan(t, fmt.Sprintf(`
name: too-slow
environment: {platform: local}
arms: [baseline]
repetitions: 1
workload:
  endpoint_urls: [%s]
  rate: 200
  connections: 1
  duration: 1s
  warmup: 0s%s
`, s.URL, c.allow))
			out := filepath.Join(t.TempDir(), "r.json")
			code, stdout, stderr := runCLI(t, "run", plan, "-q", "-o", out)
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, c.code, stdout, stderr)
			}
			if c.code == exitRateNotHeld && !strings.Contains(stderr, "smp: error: trial baseline-1: rate not held: ") {
				t.Errorf("stderr does not say which trial did not hold its rate:\n%s", stderr)
			}
			doc, err := result.Load(out)
			if err != nil {
				t.Fatalf("no result written: %v", err)
			}
			if want := map[int]result.Outcome{exitOK: result.OutcomePass, exitRateNotHeld: result.OutcomeRateNotHeld}[c.code]; doc.Analysis.Outcome != want {
				t.Errorf("analysis.outcome %q, want %q", doc.Analysis.Outcome, want)
			}
		})
	}
}

// TestLoadInterrupted: SIGTERM and SIGINT stop smp load, which writes the partial
// result and exits 128 + the signal's number, as a shell reports a program the signal
// ended: 143 and 130.
func TestLoadInterrupted(t *testing.T) {
	bin := buildSMP(t)
	s, _ := countingServer(t, http.StatusOK)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r.json")
			r := &smpRun{lines: make(chan string, 1000)}
			r.cmd = exec.Command(bin, "load", s.URL, "--rate", "100", "-c", "1", "-d", "1m", "--warmup", "0s", "--progress", "lines", "-o", out)
			r.start(t)
			r.waitFor(t, "measure", time.Minute)
			if err := r.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := r.wait(t, 30*time.Second); code != 128+int(sig) {
				t.Errorf("exit code %d after %s, want %d\nstderr:\n%s", code, sig, 128+int(sig), r.stderr.String())
			}
			doc, err := result.Load(out)
			if err != nil {
				t.Fatalf("no partial result: %v\nstderr:\n%s", err, r.stderr.String())
			}
			if doc.Status != result.StatusInterrupted || len(doc.Trials) != 1 || doc.Trials[0].Counts.Requests == 0 {
				t.Errorf("status %s with %d trials; want interrupted, with the requests sent", doc.Status, len(doc.Trials))
			}
			if !strings.Contains(r.stderr.String(), "smp: error: interrupted; the partial result is in "+out) {
				t.Errorf("stderr does not say where the partial result is:\n%s", r.stderr.String())
			}
		})
	}
}

// TestInterruptExitCode: a command whose context a signal cancelled exits 128 + the
// signal's number, however it failed; one cancelled otherwise (a test, a parent
// context) keeps its own code.
func TestInterruptExitCode(t *testing.T) {
	for _, c := range []struct {
		name  string
		cause error
		code  int
	}{{"SIGINT", interruption{syscall.SIGINT}, 130}, {"SIGTERM", interruption{syscall.SIGTERM}, 143}, {"no signal", context.Canceled, exitFailure}} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(c.cause)
			var out, errOut strings.Builder
			// smp report - waits for standard input, which never comes: only the context ends it.
			pr, pw := io.Pipe()
			defer pw.Close()
			code := run(ctx, []string{"report", "-"}, streams{in: pr, out: &out, err: &errOut})
			if code != c.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, c.code, errOut.String())
			}
		})
	}
}
