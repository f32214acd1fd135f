package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fortio.org/fortio/fhttp"
	"fortio.org/fortio/periodic"
	flog "fortio.org/log"
	smp "github.com/layer5io/service-mesh-performance/spec"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestCompareImportedResults is the interop the SMP and fortio worlds ask for: an smp run,
// fortio's own JSON from a real fortio run against the same server, and an SMP
// PerformanceTestResult (as protobuf's JSON writes it) set side by side by smp compare,
// the imported two marked as such and given no verdict; smp report and smp results read
// them too.
func TestCompareImportedResults(t *testing.T) {
	s, _ := countingServer(t, http.StatusOK)
	dir := t.TempDir()
	run := filepath.Join(dir, "smp-run.json")
	if code, out, errOut := runCLI(t, "load", s.URL, "--rate", "200", "-c", "2", "-d", "1s", "--warmup", "0s", "-o", run, "-q", "--allow-rate-miss"); code != 0 {
		t.Fatalf("load: exit %d\n%s\n%s", code, out, errOut)
	}

	flog.SetLogLevelQuiet(flog.Critical)
	o := &fhttp.HTTPRunnerOptions{RunnerOptions: periodic.RunnerOptions{QPS: 200, Duration: time.Second, NumThreads: 2,
		Out: io.Discard, Stop: periodic.NewAborter(), Labels: "fortio run"}}
	o.URL = s.URL
	res, err := fhttp.RunHTTPTest(o)
	if err != nil {
		t.Fatal(err)
	}
	fortioJSON, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	fortioFile := filepath.Join(dir, "fortio.json")
	start := time.Now().Add(-time.Hour).UTC()
	smpJSON, err := protojson.Marshal(&smp.PerformanceTestResult{SmpVersion: "v0.6.1", Id: "meshery-7",
		StartTime: timestamppb.New(start), EndTime: timestamppb.New(start.Add(30 * time.Second)), ActualQps: 199.5,
		LatenciesMs: &smp.PerformanceTestResult_Latency{Min: 0.1, Average: 0.4, P50: 0.3, P90: 0.6, P99: 1.2, Max: 4}})
	if err != nil {
		t.Fatal(err)
	}
	smpFile := filepath.Join(dir, "meshery.json")
	for path, data := range map[string][]byte{fortioFile: fortioJSON, smpFile: smpJSON} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	code, out, errOut := runCLI(t, "compare", run, fortioFile, smpFile)
	if code != 0 {
		t.Fatalf("compare: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"smp-run (baseline)", "fortio", "meshery", "meshery-7",
		"fortio is imported from a fortio result", "meshery is imported from an SMP PerformanceTestResult",
		"no verdict: no confidence intervals", "latency p99"} {
		if !strings.Contains(out, want) {
			t.Errorf("compare output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "CPU per proxy") {
		t.Errorf("compare shows CPU for results that have none:\n%s", out)
	}

	code, out, errOut = runCLI(t, "report", fortioFile)
	if code != 0 || !strings.Contains(out, "imported from a fortio result") {
		t.Errorf("report of the fortio result: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "results", "list", "--dir", dir)
	if code != 0 || !strings.Contains(out, "imported fortio") || !strings.Contains(out, "imported smp") {
		t.Errorf("results list: exit %d\n%s\n%s", code, out, errOut)
	}
}
