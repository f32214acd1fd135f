package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestValidateDevZero: a plan that never ends is refused at the size limit, which the
// message says how to raise, instead of growing until the kernel kills smp.
func TestValidateDevZero(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	start := time.Now()
	code, _, stderr := runCLI(t, "validate", "/dev/zero")
	if code != exitFailure || !strings.Contains(stderr, "/dev/zero is larger than 4MiB; raise the limit with --max-plan-size") {
		t.Errorf("exit %d:\n%s", code, stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Logf("took %v", d) // not a failure: the machine may be busy; the limit is what is tested
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, []byte("name: big\n# "+strings.Repeat("x", 5<<20)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "validate", big, "--max-plan-size", "8MiB"); code != exitOK {
		t.Errorf("a raised limit: exit %d\n%s", code, stderr)
	}
}

// TestReportStdinInterrupted: `sleep 30 | smp report -` waits for input; Ctrl-C (the
// context) ends it at once with an error, although the read itself cannot be interrupted.
func TestReportStdinInterrupted(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"report", "-"}, streams{in: pr, out: &out, err: &errOut}) }()
	if _, err := pw.Write([]byte(`{"api_version": `)); err != nil { // half a document, then nothing
		t.Fatal(err)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitFailure || !strings.Contains(errOut.String(), "reading standard input interrupted") {
			t.Errorf("exit %d:\n%s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("smp report - did not end when its context did")
	}
	// Standard input that ends without a document is an error too.
	code, _, stderr := runCLI(t, "report", "-")
	if code != exitFailure || !strings.Contains(stderr, "standard input is empty") {
		t.Errorf("empty input: exit %d\n%s", code, stderr)
	}
}

// TestReportRefusesPlansAndUnsoundResults: a plan handed to smp report says it is a
// plan; a result whose counts contradict each other is refused with the field's path.
func TestReportRefusesPlansAndUnsoundResults(t *testing.T) {
	code, _, stderr := runCLI(t, "report", "../../examples/quickstart.yaml")
	if code != exitFailure || !strings.Contains(stderr, "quickstart.yaml is a test plan, not a result; run it with `smp run") {
		t.Errorf("a plan: exit %d\n%s", code, stderr)
	}
	doc, err := os.ReadFile(resultFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(doc), `"failed": 0`, `"failed": -3`, 1)
	if bad == string(doc) {
		t.Fatal("the fixture has no failed count to corrupt")
	}
	path := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"report", path}, {"export", path}, {"compare", path, path, "--slo", "error_rate < 1%"}} {
		code, stdout, stderr := runCLI(t, args...)
		if code != exitFailure || !strings.Contains(stderr, "trials[0].counts.failed: -3 is negative") || strings.Contains(stdout, "-3") {
			t.Errorf("smp %s: exit %d\n%s\n%s", strings.Join(args, " "), code, stdout, stderr)
		}
	}
}

// resultFixture writes the small result document the CLI scripts use and returns its path.
func resultFixture(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run.json")
	if err := writeSampleResult(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTotalLoadDoesNotOverflow: the validate summary of a plan at its bounds (24h
// trials with 24h warm-ups, 1000 repetitions of 60 arms) says how long it would load,
// instead of a negative duration.
func TestTotalLoadDoesNotOverflow(t *testing.T) {
	for _, c := range []struct {
		per    time.Duration
		trials int
		want   string
	}{{35 * time.Second, 1, "35s"}, {48 * time.Hour, 60000, "2880000h"}, {time.Minute, 10, "10m"}} {
		if got := totalLoad(c.per, c.trials); got != c.want {
			t.Errorf("totalLoad(%v, %d) = %q, want %q", c.per, c.trials, got, c.want)
		}
	}
}
