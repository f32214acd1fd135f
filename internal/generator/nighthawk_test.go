package generator

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/spec"
)

// nighthawk_client cannot be built here (Bazel and Envoy), so these tests use
// testdata/nighthawk.json, a reconstruction of its documented --output-format json (see
// testdata/README.md), and a stand-in binary that prints it.

func TestParseProtoDuration(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"0.000180007s": 180007 * time.Nanosecond, "10s": 10 * time.Second, "0s": 0,
		"9.990000883s": 9990000883 * time.Nanosecond, "1.5s": 1500 * time.Millisecond, "-0.25s": -250 * time.Millisecond,
	} {
		if got, err := parseProtoDuration(s); err != nil || got != want {
			t.Errorf("%q: %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"10", "1.0000000001s", "abcs", ""} {
		if _, err := parseProtoDuration(s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

// fixtureTicks returns a statistic's ticks from the fixture, to compare with.
func fixtureStat(t *testing.T, id string) nighthawkStatistic {
	t.Helper()
	o, err := parseNighthawk(readFixture(t, "nighthawk.json"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := o.global()
	if err != nil {
		t.Fatal(err)
	}
	s := g.statistic(id)
	if s == nil {
		t.Fatalf("no %s in the fixture", id)
	}
	return *s
}

// TestNighthawkTicks: the rebuilt histogram has the statistic's count, and at every tick
// gives the tick's value (to HDR's 0.1% and smp's whole µs).
func TestNighthawkTicks(t *testing.T) {
	s := fixtureStat(t, "sequencer.callback")
	h, err := s.histogram()
	if err != nil {
		t.Fatal(err)
	}
	if strconv.FormatInt(h.Count(), 10) != s.Count.String() {
		t.Fatalf("count %d, statistic says %s", h.Count(), s.Count)
	}
	var prev int64
	for _, p := range s.Percentiles {
		n, _ := strconv.ParseInt(p.Count.String(), 10, 64)
		want, _ := parseProtoDuration(p.Duration)
		if n == prev || p.Percentile == 0 {
			prev = n
			continue // no new values at this tick
		}
		prev = n
		got := h.Percentile(float64(n) / float64(h.Count()) * 100)
		if d := math.Abs(float64(got - want)); d > float64(want)*0.001+float64(time.Microsecond) {
			t.Errorf("tick %g (count %d): %v, nighthawk printed %v", p.Percentile, n, got, want)
		}
	}
	// A statistic whose ticks do not add up to its count is refused.
	bad := s
	bad.Count = json.Number("9999")
	if _, err := bad.histogram(); err == nil || !strings.Contains(err.Error(), "add up to 9990") {
		t.Errorf("error %v", err)
	}
}

func TestNighthawkParse(t *testing.T) {
	o, err := parseNighthawk(append([]byte("[info] log line before the JSON\n"), readFixture(t, "nighthawk.json")...))
	if err != nil {
		t.Fatal(err)
	}
	if o.version() != "0.5.0" {
		t.Errorf("version %q", o.version())
	}
	m := &measurement{errors: map[string]int64{}, status: map[string]int64{}, requestedRate: 1000}
	if err := o.into(m, time.Now()); err != nil {
		t.Fatal(err)
	}
	if m.requests != 9990 || m.succeeded != 9980 || m.failed != 10 || m.errors["http"] != 10 {
		t.Errorf("requests %d succeeded %d failed %d errors %v", m.requests, m.succeeded, m.failed, m.errors)
	}
	if m.status["2xx"] != 9980 || m.status["5xx"] != 10 {
		t.Errorf("status %v", m.status)
	}
	if m.latency.Count() != 9990 || m.service == nil || m.service.Count() != 9990 {
		t.Errorf("latency %d, service %v", m.latency.Count(), m.service)
	}
	// sequencer.callback (release to completion) is above request_to_response.
	if m.latency.Percentile(50) <= m.service.Percentile(50) {
		t.Errorf("latency p50 %v not above service p50 %v", m.latency.Percentile(50), m.service.Percentile(50))
	}
	wantStart, _ := time.Parse(time.RFC3339, "2026-11-20T10:00:00.25Z")
	if !m.start.Equal(wantStart) || m.end.Sub(m.start) != 9990000883*time.Nanosecond {
		t.Errorf("window %v … %v", m.start, m.end)
	}
	if m.bytesReceived != 2427570 || m.bytesSent != 619380 || m.connections != 4 {
		t.Errorf("bytes %d/%d, connections %d", m.bytesReceived, m.bytesSent, m.connections)
	}
	if math.Abs(m.achievedRate-1000) > 1 || !m.rateHeld {
		t.Errorf("achieved %.2f/s, held %v (%s)", m.achievedRate, m.rateHeld, m.rateWarning)
	}
	// Without a global result and with more than one worker there is nothing to read.
	o.Results = []nighthawkResult{{Name: "worker_0"}, {Name: "worker_1"}}
	if err := o.into(m, time.Now()); err == nil {
		t.Error("no error without a global result")
	}
}

// TestNighthawkRun drives the generator against a stand-in nighthawk_client: the command
// line smp builds, and the trial it makes of the output.
func TestNighthawkRun(t *testing.T) {
	argsFile := fakeBinary(t, "nighthawk_client", "--version", "nighthawk_client version: 0.5.0 (release)", "nighthawk.json")
	w := workload(t, func(w *spec.Workload) {
		w.Rate, w.Connections, w.Duration = rate(1000), 4, spec.Duration(10*time.Second)
		w.Protocol, w.Streams = spec.ProtocolH2C, 8
		w.Arrival = spec.Arrival{Pattern: spec.PatternUniform, Jitter: 0.1}
		w.Headers, w.RequestSize, w.Method = map[string]string{"X-Smp": "1"}, 64, "PUT"
	})
	g := NewNighthawk()
	if err := g.Check(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	tr, err := g.Run(testContext(t, time.Minute), Job{Workload: w, Target: platform.Target{URLs: []string{"h2c://127.0.0.1:10000/"}}})
	if err != nil {
		t.Fatal(err)
	}
	args := readArgs(t, argsFile)
	for flag, want := range map[string]string{"--output-format": "json", "--concurrency": "1", "--rps": "1000",
		"--connections": "4", "--duration": "10", "--max-concurrent-streams": "8", "--max-active-requests": "32",
		"--request-body-size": "64", "--request-method": "PUT", "--request-header": "X-Smp:1",
		"--jitter-uniform": "0.000200000s", "--max-pending-requests": "10000"} {
		if got := argAfter(args, flag); got != want {
			t.Errorf("%s %q, want %q (command line %q)", flag, got, want, args)
		}
	}
	for _, flag := range []string{"--h2", "--open-loop", "--no-default-failure-predicates"} {
		if !slices.Contains(args, flag) {
			t.Errorf("no %s in %q", flag, args)
		}
	}
	if args[len(args)-1] != "http://127.0.0.1:10000/" {
		t.Errorf("URI %q", args[len(args)-1])
	}
	if tr.Generator.Version != "0.5.0 (release)" || !hasCaveat(tr, "sequencer's release") {
		t.Errorf("generator %+v", tr.Generator)
	}
	if tr.Counts.Requests != 9990 || tr.Latency.Count != 9990 || tr.ServiceTime == nil {
		t.Errorf("counts %+v, latency %d", tr.Counts, tr.Latency.Count)
	}
	// The fixture's median release-to-completion time, from its p50 tick.
	s := fixtureStat(t, "sequencer.callback")
	i := sort.Search(len(s.Percentiles), func(i int) bool { return s.Percentiles[i].Percentile >= 0.5 })
	want, _ := parseProtoDuration(s.Percentiles[i].Duration)
	if got := percentileMS(tr.Latency, 50); math.Abs(got-float64(want)/1e6) > float64(want)/1e6*0.001+0.001 {
		t.Errorf("latency p50 %.4f ms, nighthawk's tick %v", got, want)
	}
}

func TestNighthawkCheck(t *testing.T) {
	fakeBinary(t, "nighthawk_client", "--version", "nighthawk_client version: 0.5.0", "nighthawk.json")
	for _, c := range []struct {
		name string
		edit func(w *spec.Workload)
		err  string
	}{
		{"h1", func(w *spec.Workload) {}, ""},
		{"grpc", func(w *spec.Workload) { w.Protocol = spec.ProtocolGRPC }, "no grpc load mode"},
		{"body", func(w *spec.Workload) { w.Body = "{}" }, "request_size"},
		{"poisson", func(w *spec.Workload) { w.Arrival.Pattern = spec.PatternPoisson }, "cannot produce poisson"},
		{"args", func(w *spec.Workload) { w.AdditionalOptions = `{"args": ["--prefetch-connections"]}` }, ""},
	} {
		err := NewNighthawk().Check(context.Background(), workload(t, c.edit))
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.err)
		}
	}
}
