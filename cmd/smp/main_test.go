package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/internal/redact"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

func TestMain(m *testing.M) {
	// The commands run here redact with this salt instead of creating the user's
	// (~/.config/smp/redact-salt): tests leave nothing behind.
	os.Setenv(redact.SaltEnv, "smp's cmd/smp tests")
	testscript.Main(stopClusterAfter{m}, map[string]func(){
		"smp": func() {
			os.Exit(run(context.Background(), os.Args[1:], streams{in: os.Stdin, out: os.Stdout, err: os.Stderr}))
		},
	})
}

// stopClusterAfter stops the test cluster of kube_test.go once the tests have run.
type stopClusterAfter struct{ m *testing.M }

func (s stopClusterAfter) Run() int {
	defer stopCluster()
	return s.m.Run()
}

// TestScripts runs the CLI scripts in testdata/script: each is a txtar archive of files
// and commands with expected output (see testscript's documentation). $REPO is the
// repository root, and $WORK/run.json is a small but real result document.
func TestScripts(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("REPO", repo)
			return writeSampleResult(filepath.Join(env.WorkDir, "run.json"))
		},
	})
}

// writeSampleResult writes a two-arm result document with real histograms.
func writeSampleResult(path string) error {
	plan, err := spec.Parse("sample.yaml", []byte("name: sample\narms: [baseline, builtin]\nworkload: {rate: 100, duration: 1s}\n"))
	if err != nil {
		return err
	}
	start := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	doc := result.New("20261126-100000-sample-0001", "sample", start)
	doc.Plan = plan
	doc.Environment = result.Environment{ID: "env-1", Platform: "local", OS: "linux", Arch: "amd64", Cores: 2}
	for i, arm := range []string{"baseline", "builtin"} {
		h := hist.New()
		for j := 0; j < 100; j++ {
			h.Record(time.Duration(200+j*(i+1)) * time.Microsecond)
		}
		enc, err := h.Encode()
		if err != nil {
			return err
		}
		lat, err := result.NewDistribution(enc, 0, plan.Metrics.Percentiles, result.BucketBounds(plan.Metrics.Buckets))
		if err != nil {
			return err
		}
		ts := start.Add(time.Duration(i) * 2 * time.Second)
		doc.Trials = append(doc.Trials, result.Trial{ID: arm + "-1", Arm: arm, Repetition: 1, Order: i + 1,
			Status: result.StatusComplete, StartTime: ts, EndTime: ts.Add(time.Second),
			Generator: result.GeneratorInfo{Name: spec.GeneratorBuiltin},
			Load:      result.LoadStats{RequestedRateRPS: 100, AchievedRateRPS: 100, Connections: 16, RateHeld: true},
			Counts:    result.Counts{Requests: 100, Succeeded: 100}, StatusCodes: map[string]int64{"200": 100},
			Targets: []string{"http://127.0.0.1:9080/"}, Latency: lat})
	}
	return doc.Save(path)
}

// TestExitCodes pins the exit codes that CI scripts rely on.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte("name: ok\nworkload: {rate: 10}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("name: bad\nworkload: {rat: 10}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"help", []string{"--help"}, exitOK, ""},
		{"valid plan", []string{"validate", good}, exitOK, ""},
		{"invalid plan", []string{"validate", good, bad}, exitFailure, "bad.yaml:2:12: workload.rat:"},
		{"missing file", []string{"validate", filepath.Join(dir, "nope.yaml")}, exitFailure, "no such file"},
		{"no arguments", []string{"validate"}, exitUsage, "requires at least 1 arg"},
		{"unknown command", []string{"frobnicate"}, exitUsage, "unknown command"},
		{"unknown flag", []string{"version", "--frob"}, exitUsage, "unknown flag"},
		{"bad output format", []string{"version", "-o", "xml"}, exitUsage, "unknown output format"},
		{"bad mesh for init", []string{"init", "--mesh", "istoi"}, exitUsage, `did you mean "istio"`},
		{"mesh on wrong platform", []string{"init", "--mesh", "istio"}, exitUsage, "not available on the local platform"},
		{"export of a plan", []string{"export", good}, exitFailure, "good.yaml is a test plan, not a result"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), c.args, streams{in: strings.NewReader(""), out: &out, err: &errOut})
			if code != c.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, c.code, errOut.String())
			}
			if !strings.Contains(errOut.String(), c.stderr) {
				t.Errorf("stderr does not contain %q:\n%s", c.stderr, errOut.String())
			}
		})
	}
}
