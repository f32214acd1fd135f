package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/service-mesh-performance/smp/result"
)

// runCLI runs the command line in this process, as main would.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, streams{in: strings.NewReader(""), out: &out, err: &errOut})
	return code, out.String(), errOut.String()
}

func countingServer(t *testing.T, status int) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(status)
		io.WriteString(w, "hello")
	}))
	t.Cleanup(s.Close)
	return s, &n
}

// TestLoadWritesTheResult: an open-loop run against a real server prints the summary,
// writes a result document whose counts match what the server saw, and exits 0.
func TestLoadWritesTheResult(t *testing.T) {
	s, served := countingServer(t, http.StatusOK)
	out := filepath.Join(t.TempDir(), "result.json")
	code, stdout, stderr := runCLI(t, "load", s.URL+"/x", "--rate", "200", "-c", "2", "-d", "1s", "--warmup", "200ms",
		"-H", "X-Test: 1", "--payload-size", "100", "-o", out, "-q", "--allow-rate-miss")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	// At 200/s the engine spins its automatic 100µs and says what it cost.
	for _, want := range []string{"Target", "open loop at 200 rps", "Latency", "Service time", "Status        200:",
		"Generator", "mcores of CPU, spinning 100 µs per request"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	if stderr != "" {
		t.Errorf("-q should keep stderr quiet, got:\n%s", stderr)
	}
	doc, err := result.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	tr := doc.Trials[0]
	warm := tr.Warmup.Requests
	if got := tr.Counts.Requests + warm; got != served.Load() {
		t.Errorf("result counts %d requests (incl. %d warm-up), the server saw %d", got, warm, served.Load())
	}
	if tr.Counts.Requests < 190 || tr.Counts.Requests > 210 {
		t.Errorf("%d requests in 1s at 200 rps", tr.Counts.Requests)
	}
	if tr.Latency.Count != tr.Counts.Succeeded || tr.BytesSent == 0 {
		t.Errorf("latency samples %d for %d successes; %d bytes sent", tr.Latency.Count, tr.Counts.Succeeded, tr.BytesSent)
	}
	if doc.Plan.Workload.Headers["X-Test"] != "1" || doc.Plan.Workload.RequestSize != 100 {
		t.Errorf("the recorded plan lost the flags: %+v", doc.Plan.Workload)
	}
	// The document is what export reads.
	if code, _, stderr := runCLI(t, "export", out, "--format", "fortio"); code != 0 {
		t.Errorf("export: exit %d: %s", code, stderr)
	}
}

// TestLoadGates: --max-p99 and --max-error-rate turn into exit code 3 with one line per
// violated condition, and pass when they hold. A load in which no request succeeded, or
// more than --error-ceiling (10% by default) failed, exits 1 with the reason in one line.
func TestLoadGates(t *testing.T) {
	ok, _ := countingServer(t, http.StatusOK)
	failing, _ := countingServer(t, http.StatusServiceUnavailable)
	var n atomic.Int64
	half := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(half.Close)
	for _, c := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"p99 impossible", []string{ok.URL, "--max-p99", "1ns"}, exitSLO, "SLO failed: target: latency.p99 ="},
		{"p99 generous", []string{ok.URL, "--max-p99", "10s"}, exitOK, ""},
		{"nothing succeeded", []string{failing.URL, "--max-error-rate", "1%"}, exitFailure,
			"smp: error: trial target-1: no request succeeded: 30 of 30 failed (http 30)\n"},
		{"half failed", []string{half.URL}, exitFailure, "smp: error: trial target-1: error rate 50% exceeds the ceiling of 10% (workload.error_ceiling)\n"},
		{"half failed, ceiling raised", []string{half.URL, "--error-ceiling", "60%", "--max-error-rate", "1%"}, exitSLO,
			"SLO failed: target: error_rate = 50%"},
		{"bad ceiling", []string{ok.URL, "--error-ceiling", "lots"}, exitUsage, "--error-ceiling: \"lots\" is not a share"},
		{"slo flag", []string{ok.URL, "--slo", "throughput > 1000000"}, exitSLO, "SLO failed: target: throughput ="},
		{"bad slo", []string{ok.URL, "--slo", "latency.p99 < fast"}, exitUsage, "is not a number"},
		{"bad url", []string{"ftp://x/"}, exitUsage, "unsupported URL scheme"},
		{"bad flag combination", []string{ok.URL, "--streams", "4"}, exitUsage, "streams apply to HTTP/2 and gRPC"},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Whether a loaded machine holds the rate is TestLoadRateNotHeld's business.
			args := append([]string{"load", "--rate", "100", "-c", "1", "-d", "300ms", "--warmup", "0s", "-q", "--allow-rate-miss",
				"-o", filepath.Join(t.TempDir(), "r.json")}, c.args...)
			code, stdout, stderr := runCLI(t, args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, c.code, stdout, stderr)
			}
			if !strings.Contains(stderr, c.stderr) {
				t.Errorf("stderr lacks %q:\n%s", c.stderr, stderr)
			}
		})
	}
}

// TestLoadClosedLoop: --rate 0 sends as fast as the connections allow.
func TestLoadClosedLoop(t *testing.T) {
	s, served := countingServer(t, http.StatusOK)
	out := filepath.Join(t.TempDir(), "r.json")
	code, stdout, stderr := runCLI(t, "load", s.URL, "--rate", "0", "-c", "2", "-d", "500ms", "--warmup", "0s", "-q", "-o", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "closed loop") {
		t.Errorf("summary does not say closed loop:\n%s", stdout)
	}
	doc, err := result.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	tr := doc.Trials[0]
	if !tr.Load.ClosedLoop || tr.Counts.Requests != served.Load() || tr.Counts.Requests < 50 {
		t.Errorf("closed loop %v, %d requests, server saw %d", tr.Load.ClosedLoop, tr.Counts.Requests, served.Load())
	}
}

// TestLoadTCP: smp load tcp:// against a real echo server (fortio's tcp-echo protocol:
// every byte comes back) sends messages of --payload-size bytes; the result counts what
// the server echoed, and the summary's status is the echo's.
func TestLoadTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var echoed atomic.Int64
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				n, _ := io.Copy(c, c)
				echoed.Add(n)
			})
		}
	})
	out := filepath.Join(t.TempDir(), "result.json")
	code, stdout, stderr := runCLI(t, "load", "tcp://"+ln.Addr().String(), "--rate", "500", "-c", "4", "-d", "1s",
		"--warmup", "200ms", "--payload-size", "1KiB", "-o", out, "-q", "--allow-rate-miss")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"tcp://", "open loop at 500 rps", "Status        tcp:OK:", "Latency"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	doc, err := result.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	tr := doc.Trials[0]
	if tr.Counts.Requests < 490 || tr.Counts.Failed != 0 || tr.StatusCodes["tcp:OK"] != tr.Counts.Requests {
		t.Errorf("counts %+v status %v errors %v", tr.Counts, tr.StatusCodes, tr.ErrorsByClass)
	}
	if tr.BytesSent != 1024*(tr.Counts.Requests) {
		t.Errorf("%d bytes sent for %d messages of 1KiB", tr.BytesSent, tr.Counts.Requests)
	}
	ln.Close()
	wg.Wait() // every echo is counted once the connections have closed
	if got, want := echoed.Load(), 1024*(tr.Counts.Requests+tr.Warmup.Requests); got != want {
		t.Errorf("server echoed %d bytes, the run sent %d (with warm-up)", got, want)
	}
	if doc.Plan.Workload.Protocol != "tcp" || doc.Plan.Workload.RequestSize != 1024 || doc.Plan.Workload.Method != "" {
		t.Errorf("recorded workload: protocol %s request_size %d method %q", doc.Plan.Workload.Protocol, doc.Plan.Workload.RequestSize, doc.Plan.Workload.Method)
	}
}
