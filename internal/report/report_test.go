package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/report -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./internal/report -update, then review the diff):\n%s", name, got)
	}
}

func dist(t *testing.T, base time.Duration, n int) result.Distribution {
	t.Helper()
	h := hist.New()
	for i := 0; i < n; i++ {
		h.Record(base + time.Duration(i%100)*base/50)
	}
	enc, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	d, err := result.NewDistribution(enc, 0, []float64{50, 90, 99, 99.9}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ptr[T any](v T) *T { return &v }

func fixture(t *testing.T) *result.Document {
	start := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	doc := result.New("run-1", "fixture", start)
	lat := dist(t, 400*time.Microsecond, 5000)
	svc := dist(t, 300*time.Microsecond, 5000)
	lag := dist(t, 20*time.Microsecond, 5000)
	doc.Trials = []result.Trial{{
		ID: "baseline-1", Arm: "baseline", Repetition: 1, Order: 1, Status: result.StatusComplete,
		Generator: result.GeneratorInfo{Name: spec.GeneratorBuiltin},
		Targets:   []string{"http://127.0.0.1:8080/"},
		Warmup:    &result.Phase{StartTime: start, EndTime: start.Add(5 * time.Second)},
		StartTime: start.Add(5 * time.Second), EndTime: start.Add(15 * time.Second),
		Load: result.LoadStats{RequestedRateRPS: 500, AchievedRateRPS: 500.2, Connections: 16, RateHeld: true,
			Pattern: "constant", DurationMS: 10000},
		Counts:        result.Counts{Requests: 5002, Succeeded: 5000, Failed: 2, ConnectionsOpened: 16},
		ErrorsByClass: map[string]int64{"timeout": 1, "http": 1},
		StatusCodes:   map[string]int64{"200": 5000, "503": 1},
		BytesSent:     400000, BytesReceived: 5 << 20,
		Latency: lat, ServiceTime: &svc, StartLag: &lag,
		Warnings: []string{"something to know"},
	}}
	return doc
}

func TestTrialSummary(t *testing.T) {
	doc := fixture(t)
	var buf bytes.Buffer
	if err := Trial(&buf, &doc.Trials[0]); err != nil {
		t.Fatal(err)
	}
	golden(t, "trial.golden", buf.Bytes())
}

func TestOverheadTable(t *testing.T) {
	doc := fixture(t)
	second := doc.Trials[0]
	second.ID, second.Arm, second.Order = "builtin-1", "builtin", 2
	second.Load.RateHeld, second.Load.RateWarning = false, "start lag p99 1.9ms exceeds 1ms"
	second.Warnings = []string{"the load generator could not hold the requested rate: start lag p99 1.9ms exceeds 1ms"}
	doc.Trials = append(doc.Trials, second)
	sig, notSig := ptr(true), ptr(false)
	doc.Analysis = &result.Analysis{Baseline: "baseline", Pass: false,
		Overhead: []result.ArmOverhead{{Arm: "builtin", Deltas: []result.Delta{
			{Metric: "latency.p50", Unit: "ms", Baseline: 0.412, Value: 0.655, Delta: 0.243, DeltaPercent: ptr(59.0), CILow: ptr(0.231), CIHigh: ptr(0.255), Significant: sig},
			{Metric: "latency.p99", Unit: "ms", Baseline: 1.9, Value: 2.0, Delta: 0.1, DeltaPercent: ptr(5.3), CILow: ptr(-0.2), CIHigh: ptr(0.4), Significant: notSig},
			{Metric: "throughput", Unit: "rps", Baseline: 500.2, Value: 499.8, Delta: -0.4, DeltaPercent: ptr(-0.08)},
			{Metric: "error_rate", Unit: "ratio", Baseline: 0.0004, Value: 0.001, Delta: 0.0006},
			{Metric: "cpu.proxy", Unit: "mcores", Baseline: 0, Value: 153, Delta: 153},
			{Metric: "memory.proxy", Unit: "bytes", Baseline: 0, Value: 23 << 20, Delta: 23 << 20},
		}, MeshMark: &result.MeshMark{Version: 1, Score: ptr(71.25), Inputs: []result.MeshMarkInput{
			{Name: "latency.p50", Weight: 0.125, Efficiency: 0.6, Points: 7.5},
			{Name: "latency.p99", Weight: 0.125, Efficiency: 0.95, Points: 11.875},
			{Name: "goodput", Weight: 0.25, Efficiency: 0.9995, Points: 24.9875},
			{Name: "cpu", Weight: 0.25, Efficiency: 0.5, Points: 12.5},
			{Name: "memory", Weight: 0.25, Efficiency: 0.5755, Points: 14.3875},
		}}}},
		SLO: []result.SLOResult{
			{Condition: "error_rate < 0.1%", Arm: "builtin", Pass: false, Message: "builtin: error_rate = 0.1%, not < 0.1%"},
			{Condition: "error_rate < 0.1%", Arm: "baseline", Pass: true, Message: "baseline: error_rate = 0.04%, < 0.1% ok"},
		}}
	var buf bytes.Buffer
	if err := Overhead(&buf, doc); err != nil {
		t.Fatal(err)
	}
	golden(t, "overhead.golden", buf.Bytes())

	// Without an analysis the arms are shown side by side from the document itself.
	doc.Analysis = nil
	buf.Reset()
	if err := Overhead(&buf, doc); err != nil {
		t.Fatal(err)
	}
	golden(t, "arms.golden", buf.Bytes())
}

// TestArmsTableGaps: an arm without a measured trial, or whose every request failed,
// keeps its own column: "no measurement" or "–" where its figures would be, never the
// next arm's figures shifted left, nor a latency of 0 ms.
func TestArmsTableGaps(t *testing.T) {
	doc := fixture(t)
	failed := doc.Trials[0]
	failed.ID, failed.Arm, failed.Order, failed.Status, failed.Error = "first-1", "first", 2, result.StatusFailed, "deploy first: refused"
	none := doc.Trials[0]
	none.ID, none.Arm, none.Order = "refused-1", "refused", 3
	none.Counts = result.Counts{Requests: 50, Failed: 50}
	none.Latency = dist(t, time.Millisecond, 0)
	doc.Trials = []result.Trial{failed, doc.Trials[0], none}
	var buf bytes.Buffer
	if err := Overhead(&buf, doc); err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, line := range strings.Split(buf.String(), "\n") {
		lines[strings.Join(strings.Fields(line), " ")] = true
	}
	for _, want := range []string{
		"first baseline refused",
		"latency no measurement — —",
		"latency p50 — 0.792 ms —",
		"latency p99.9 — 1.19 ms —",
		"throughput — 500.2 rps 5.0 rps",
		"error rate — 0.04% 100.00%",
	} {
		if !lines[want] {
			t.Errorf("no line %q (columns first, baseline, refused) in\n%s", want, buf.String())
		}
	}
}

func TestFormatMS(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want string
	}{{0, "0"}, {0.04123, "0.0412"}, {0.4123, "0.412"}, {4.123, "4.12"}, {41.23, "41.2"}, {412.3, "412"}, {-1.5, "-1.50"}} {
		if got := FormatMS(c.in); got != c.want {
			t.Errorf("FormatMS(%v) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := FormatBytes(23 << 20); got != "23.0 MiB" {
		t.Errorf("FormatBytes = %q", got)
	}
}

// TestOverheadRowsFollowPercentiles: the overhead table shows a row for every latency
// percentile the deltas hold (the plan's metrics.percentiles), ascending, and no row for
// one they do not.
func TestOverheadRowsFollowPercentiles(t *testing.T) {
	deltas := []result.Delta{{Metric: "latency.p99.99", Unit: "ms"}, {Metric: "latency.p75", Unit: "ms"}, {Metric: "throughput", Unit: "rps"}}
	a := &result.Analysis{Baseline: "baseline", Overhead: []result.ArmOverhead{{Arm: "mesh", Deltas: deltas}}}
	tab := overheadTable(a)
	var labels []string
	for _, r := range tab.rows {
		labels = append(labels, r[0])
	}
	if want := []string{"latency p75", "latency p99.99", "throughput"}; !slices.Equal(labels, want) {
		t.Errorf("rows %q, want %q", labels, want)
	}
}
