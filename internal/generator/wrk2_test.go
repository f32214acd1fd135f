package generator

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/spec"
)

// wrk2 cannot be installed here (not in Debian, no source download), so its parser is
// tested on testdata/wrk2-*.txt: reconstructions of wrk2's documented output (the README's
// "Example 1"), see testdata/README.md.

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseWrk2(t *testing.T) {
	r, err := parseWrk2(readFixture(t, "wrk2-readme-example1.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if r.requests != 60031 || r.runtime != 30010*time.Millisecond || r.requestsPerSec != 2000.67 {
		t.Errorf("summary: %d requests in %v at %.2f/s", r.requests, r.runtime, r.requestsPerSec)
	}
	if want := int64(math.Round(19.82 * 1024 * 1024)); r.bytesRead != want {
		t.Errorf("bytes read %d, want %d (19.82MB)", r.bytesRead, want)
	}
	for _, c := range []struct {
		name      string
		s         *spectrum
		rows      int
		mean, max float64
		// Ticks of the README's spectrum: percentile → value in ms.
		ticks map[float64]float64
	}{
		{"recorded", r.recorded, 79, 6178, 11312, map[float64]float64{50: 6.207, 75: 7.367, 90: 8.463, 99.0625: 10.535, 99.9023: 11.191, 100: 11.319}},
		{"uncorrected", r.uncorrected, 79, 2757, 7012, map[float64]float64{50: 2.679, 90: 4.471, 99.0625: 5.443, 100: 7.015}},
	} {
		if c.s == nil {
			t.Fatalf("%s: no spectrum", c.name)
		}
		if len(c.s.rows) != c.rows || c.s.totalCount != 39500 || c.s.mean != c.mean || c.s.max != c.max {
			t.Errorf("%s: %d rows, count %d, mean %g µs, max %g µs", c.name, len(c.s.rows), c.s.totalCount, c.s.mean, c.s.max)
		}
		h := c.s.histogram()
		if h.Count() != 39500 {
			t.Errorf("%s: histogram holds %d, want 39500", c.name, h.Count())
		}
		// At a tick, the rebuilt histogram gives the tick's value (to HDR's 0.1%).
		for p, ms := range c.ticks {
			got := float64(h.Percentile(p)) / float64(time.Millisecond)
			if math.Abs(got-ms) > ms*0.001 {
				t.Errorf("%s: p%g = %.3f ms, wrk2 printed %.3f ms", c.name, p, got, ms)
			}
		}
		// Between ticks it reads the upper tick: p52 lies between the 0.5 and 0.55 ticks.
		if c.name == "recorded" {
			if got := float64(h.Percentile(52)) / float64(time.Millisecond); math.Abs(got-6.399) > 0.007 {
				t.Errorf("p52 = %.3f ms, want the 0.55 tick's 6.399 ms", got)
			}
		}
	}
}

func TestParseWrk2Errors(t *testing.T) {
	r, err := parseWrk2(readFixture(t, "wrk2-errors.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if r.connect != 0 || r.read != 12 || r.write != 3 || r.timeout != 7 || r.non2xx != 250 {
		t.Errorf("errors: connect %d read %d write %d timeout %d non-2xx %d", r.connect, r.read, r.write, r.timeout, r.non2xx)
	}
	for _, c := range []struct{ name, text, err string }{
		{"no spectrum", "Running 1s test @ http://x/\n  1 requests in 1.00s, 10.00B read\n", "no detailed percentile spectrum"},
		{"bad row", "  Latency Distribution (HdrHistogram - Recorded Latency)\n  Detailed Percentile spectrum:\n  Value Percentile TotalCount 1/(1-Percentile)\n  1.0 x 3 1.00\n", "spectrum row"},
		{"count mismatch", "  Latency Distribution (HdrHistogram - Recorded Latency)\n  Detailed Percentile spectrum:\n  Value Percentile TotalCount 1/(1-Percentile)\n  1.000 1.000000 3 inf\n#[Mean = 1.000, StdDeviation = 0.000]\n#[Max = 1.000, Total count = 4]\n", "footer says 4"},
	} {
		if _, err := parseWrk2([]byte(c.text)); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.err)
		}
	}
}

func TestParseWrkUnits(t *testing.T) {
	for s, want := range map[string]time.Duration{"30.01s": 30010 * time.Millisecond, "1.25ms": 1250 * time.Microsecond,
		"850.00us": 850 * time.Microsecond, "2.00m": 2 * time.Minute, "1.00h": time.Hour} {
		if got, err := parseWrkDuration(s); err != nil || got != want {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for s, want := range map[string]int64{"512.00B": 512, "1.50KB": 1536, "19.82MB": 20782776, "1.00GB": 1 << 30} {
		if got, err := parseWrkBytes(s); err != nil || got != want {
			t.Errorf("parseWrkBytes(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	if _, err := parseWrkDuration("3 parsecs"); err == nil {
		t.Error("parseWrkDuration accepted garbage")
	}
}

// fakeBinary puts a shell script named name on PATH (PATH is only that folder) that
// prints its version for versionArg, and otherwise records its arguments in the
// returned file and prints the fixture: the documented output stands in for the program.
func fakeBinary(t *testing.T, name, versionArg, version, fixture string) (argsFile string) {
	t.Helper()
	dir := t.TempDir()
	argsFile = filepath.Join(dir, "args")
	fix, err := filepath.Abs(filepath.Join("testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\nif [ \"$1\" = " + versionArg + " ]; then echo '" + version + "'; exit 0; fi\n" +
		"for a in \"$@\"; do printf '%s\\n' \"$a\"; done > " + argsFile + "\ncat " + fix + "\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":/usr/bin:/bin")
	return argsFile
}

func readArgs(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func argAfter(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// TestWrk2Run drives the generator against a stand-in wrk2 that prints the README's
// output: the command line smp builds and the trial it makes of the report.
func TestWrk2Run(t *testing.T) {
	argsFile := fakeBinary(t, "wrk2", "-v", "wrk 4.0.0 [epoll] Copyright (C) 2012 Will Glozer", "wrk2-errors.txt")
	w := workload(t, func(w *spec.Workload) {
		w.Rate, w.Connections, w.Duration = rate(2000), 100, spec.Duration(20*time.Second)
		w.Headers = map[string]string{"X-Smp": "1"}
	})
	g := NewWrk2()
	tr, err := g.Run(testContext(t, time.Minute), Job{Workload: w, Target: platform.Target{URLs: []string{"http://127.0.0.1:80/index.html"}}})
	if err != nil {
		t.Fatal(err)
	}
	args := readArgs(t, argsFile)
	threads := wrkThreads(100)
	calibS := int(math.Ceil((wrk2Calibration + time.Duration((100+threads-1)/threads)*5*time.Millisecond + 20*time.Second).Seconds()))
	if argAfter(args, "-R") != "2000" || argAfter(args, "-c") != "100" || argAfter(args, "-d") != strconv.Itoa(calibS)+"s" ||
		!slices.Contains(args, "--latency") || !slices.Contains(args, "-U") || argAfter(args, "-s") == "" || args[len(args)-1] != "http://127.0.0.1:80/index.html" {
		t.Errorf("wrk2 command line %q", args)
	}
	if tr.Generator.Version != "4.0.0" || !hasCaveat(tr, "corrected latency from the planned send; 1 ms timer granularity") {
		t.Errorf("generator %+v", tr.Generator)
	}
	if tr.Latency.Count != 39500 || tr.ServiceTime == nil || tr.ServiceTime.Count != 39500 {
		t.Fatalf("latency count %d, service time %+v", tr.Latency.Count, tr.ServiceTime)
	}
	if p50 := percentileMS(tr.Latency, 50); math.Abs(p50-6.207) > 0.007 {
		t.Errorf("latency p50 %.3f ms, wrk2 printed 6.207", p50)
	}
	if p50 := percentileMS(*tr.ServiceTime, 50); math.Abs(p50-2.679) > 0.003 {
		t.Errorf("service time p50 %.3f ms, wrk2 printed 2.679", p50)
	}
	c := tr.Counts
	if c.Requests != 39500 || c.Failed != 250+12+3+7 || c.Succeeded != c.Requests-c.Failed {
		t.Errorf("counts %+v", c)
	}
	if e := tr.ErrorsByClass; e["http"] != 250 || e["reset"] != 12 || e["closed"] != 3 || e["timeout"] != 7 {
		t.Errorf("errors %v", e)
	}
	if tr.Warmup == nil || tr.Warmup.Requests != 60031-39500 {
		t.Errorf("warm-up %+v, want the calibration's %d requests", tr.Warmup, 60031-39500)
	}
	if tr.Load.RequestedRateRPS != 2000 || tr.Load.ClosedLoop {
		t.Errorf("load %+v", tr.Load)
	}
}
