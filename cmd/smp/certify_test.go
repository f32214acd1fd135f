package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/certify"
	"github.com/service-mesh-performance/smp/result"
)

func runSMP(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, streams{in: strings.NewReader(""), out: &out, err: &errOut})
	return code, out.String(), errOut.String()
}

// TestCertifyChecksOnly runs the checks on this machine: whatever its verdict, the
// certificate is written, has every check with a reason, and the exit code follows the
// verdict.
func TestCertifyChecksOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cert.json")
	code, out, errOut := runSMP(t, "certify", "--calibrate", "none", "--interval", "200ms", "-o", path)
	c, err := result.LoadCertificate(path)
	if err != nil {
		t.Fatalf("exit %d, no certificate: %v\n%s", code, err, errOut)
	}
	if len(c.Checks) != 11 || c.Calibration != nil || c.Platform != "local" || c.Host.Cores == 0 {
		t.Errorf("certificate %+v", c)
	}
	for _, ch := range c.Checks {
		if ch.Reason == "" || ch.Verdict == "" {
			t.Errorf("check %+v", ch)
		}
	}
	if want := map[bool]int{true: exitFailure, false: exitOK}[c.Verdict == result.VerdictFail]; code != want {
		t.Errorf("verdict %s, exit %d; want %d", c.Verdict, code, want)
	}
	if !strings.Contains(out, "verdict: "+strings.ToUpper(string(c.Verdict))) || !strings.Contains(out, c.EnvironmentHash) {
		t.Errorf("stdout:\n%s", out)
	}
}

func TestCertifyUsage(t *testing.T) {
	for _, args := range [][]string{
		{"certify", "--calibrate", "1x10s"},
		{"certify", "--platform", "moon"},
		{"certify", "--nodes", "nodes.json"},
		{"certify", "--interval", "1ms"},
		{"certify", "--kubeconfig", "kubeconfig"},
		{"certify", "--platform", "kubernetes", "--nodes", "nodes.json", "--context", "prod"},
		{"certify", "--platform", "kubernetes", "--observe", "-1s"},
	} {
		if code, _, errOut := runSMP(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, code, exitUsage, errOut)
		}
	}
}

// TestRunEmbedsCertificate: smp run embeds --certificate FILE, the newest certificate of
// its results folder with auto, none with none; a missing file is a usage error.
func TestRunEmbedsCertificate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(plan, []byte("name: certified\nworkload: {rate: 50, duration: 200ms, warmup: 0s, endpoint_urls: ["+srv.URL+"]}\nmetrics: {collectors: []}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	results := filepath.Join(dir, "results")
	cert := certify.New("local", result.CertificateHost{OS: "linux", Cores: 1}, nil, nil, "test", time.Now())
	if err := cert.Save(certify.DefaultPath(results, cert)); err != nil {
		t.Fatal(err)
	}
	load := func(args ...string) *result.Document {
		t.Helper()
		out := filepath.Join(dir, "out.json")
		code, _, errOut := runSMP(t, append([]string{"run", plan, "-q", "--allow-rate-miss", "--results", results, "-o", out}, args...)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s", args, code, errOut)
		}
		doc, err := result.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	if doc := load(); doc.Certificate == nil || doc.Certificate.ID != cert.ID {
		t.Errorf("auto: certificate %+v", doc.Certificate)
	} else if !strings.Contains(strings.Join(doc.Warnings, "\n"), "issued for another environment") {
		t.Errorf("a certificate of another machine must be flagged: %v", doc.Warnings)
	}
	if doc := load("--certificate", "none"); doc.Certificate != nil {
		t.Error("none embedded a certificate")
	}
	if doc := load("--certificate", certify.DefaultPath(results, cert)); doc.Certificate == nil {
		t.Error("FILE did not embed the certificate")
	}
	if code, _, _ := runSMP(t, "run", plan, "-q", "--certificate", filepath.Join(dir, "nope.json")); code != exitUsage {
		t.Errorf("missing certificate: exit %d, want %d", code, exitUsage)
	}
}

// TestRunFindMaxFlag: --find-max turns the plan's search on with its defaults; against a
// server that holds every rate up to max_rate it reports "at least" max_rate.
func TestRunFindMaxFlag(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.yaml")
	body := "name: search\nworkload:\n  endpoint_urls: [" + srv.URL + "]\n  find_max: {start_rate: 100, max_rate: 200, step_duration: 300ms, step_warmup: 0s, p99: 1s}\n"
	if err := os.WriteFile(plan, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.json")
	code, _, errOut := runSMP(t, "run", plan, "--find-max", "--certificate", "none", "--progress", "lines", "-o", out)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	doc, err := result.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	s := doc.Trials[0].Search
	if s == nil || s.MaxRateRPS != 200 || !s.AtLeast || len(s.Steps) != 2 || s.Steps[0].RateRPS != 100 {
		t.Fatalf("search %+v", s)
	}
	if !strings.Contains(errOut, "max sustainable rate: at least 200 rps") {
		t.Errorf("the run output lacks the search table:\n%s", errOut)
	}
}

// TestCertifyCalibrates runs the real calibration: smp's sample app as a process,
// repeated; the certificate holds every run's figures and finite CVs.
func TestCertifyCalibrates(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the sample app twice")
	}
	bin := buildSMP(t)
	path := filepath.Join(t.TempDir(), "cert.json")
	cmd := exec.Command(bin, "certify", "--calibrate", "2x1s", "--interval", "100ms", "-q", "-o", path)
	crowd := cpuCrowded()
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == exitFailure) {
		t.Fatalf("smp certify: %v\n%s", err, out)
	}
	c, err := result.LoadCertificate(path)
	if err != nil {
		t.Fatal(err)
	}
	cal := c.Calibration
	// One round trip longer than a 1 s trial leaves that trial nothing to measure, which
	// certify says. Only a machine crowded off its CPUs does that (once, at load 20).
	if cal != nil && strings.Contains(cal.Error, "sent no request") {
		if busy, why := crowd(); busy {
			t.Logf("not checked: %s; %s", cal.Error, why)
			return
		}
	}
	if cal == nil || cal.Error != "" || cal.Repetitions != 2 || len(cal.Samples) != 2 || len(cal.Checks) != 3 {
		t.Fatalf("calibration %+v", cal)
	}
	// Real figures in their units, whatever the machine's speed: over one connection in a
	// closed loop the requests run one after another, and at least half of them took p50
	// each, so a second holds at most 2/p50 of them (10% more for HDR's rounding and the
	// last request, which may end after the measured phase). A throughput in another unit,
	// or a latency in seconds, breaks the bound; a loaded machine only lowers throughput.
	for _, s := range cal.Samples {
		if s.P50MS <= 0 || s.P99MS < s.P50MS || s.ThroughputRPS <= 0 || s.ThroughputRPS > 1.1*2*1000/s.P50MS {
			t.Errorf("sample %+v: want 0 < p50 ≤ p99 and 0 < throughput ≤ 2/p50", s)
		}
	}
	for _, v := range []float64{cal.CV.P50, cal.CV.P99, cal.CV.Throughput} {
		if math.IsNaN(v) || v < 0 {
			t.Errorf("CV %+v", cal.CV)
		}
	}
}

// cpuCrowded starts a reading of the kernel's CPU pressure (/proc/pressure/cpu: the time
// in which some task waited for a CPU) and returns its end: whether tasks waited for a
// CPU more than a quarter of the time since, and how long. Without PSI it says false.
func cpuCrowded() func() (bool, string) {
	read := func() (time.Duration, bool) {
		data, err := os.ReadFile("/proc/pressure/cpu")
		if err != nil {
			return 0, false
		}
		line, _, _ := strings.Cut(string(data), "\n") // "some avg10=… total=<µs>"
		_, total, ok := strings.Cut(line, "total=")
		us, err := strconv.ParseInt(strings.TrimSpace(total), 10, 64)
		return time.Duration(us) * time.Microsecond, ok && err == nil
	}
	before, ok := read()
	start := time.Now()
	return func() (bool, string) {
		after, ok2 := read()
		span := time.Since(start)
		if !ok || !ok2 {
			return false, "no CPU pressure figures (/proc/pressure/cpu)"
		}
		waited := after - before
		return waited > span/4, fmt.Sprintf("tasks waited for a CPU %v of the %v", waited.Round(time.Millisecond), span.Round(time.Millisecond))
	}
}
