package generator

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/internal/proc"
	"github.com/service-mesh-performance/smp/spec"
)

// statsCorrect is wrk 4's stats_correct (src/stats.c), transcribed, on a dense array.
func statsCorrect(data []int64, expected int64) {
	maxV := int64(len(data) - 1)
	for n := expected * 2; n <= maxV; n++ {
		count := data[n]
		for m := n - expected; count != 0 && m > expected; m -= expected {
			data[m] += count
		}
	}
}

// TestUncorrect applies wrk's correction to random histograms and checks that
// uncorrect gives back exactly what was recorded.
func TestUncorrect(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		size := 50 + r.IntN(3000)
		orig := make([]int64, size)
		for range 1 + r.IntN(400) {
			orig[r.IntN(size)] += int64(1 + r.IntN(5))
		}
		orig[size-1]++ // the max
		expected := int64(1 + r.IntN(size/3))
		corrected := slices.Clone(orig)
		statsCorrect(corrected, expected)
		var pairs [][2]int64 // what done() prints: every non-zero value, ascending
		for v, c := range corrected {
			if c != 0 {
				pairs = append(pairs, [2]int64{int64(v), c})
			}
		}
		got := uncorrect(pairs, expected)
		back := make([]int64, size)
		for _, p := range got {
			back[p[0]] = p[1]
		}
		if !slices.Equal(back, orig) {
			t.Fatalf("trial %d (size %d, expected %d): uncorrect did not invert stats_correct", trial, size, expected)
		}
	}
	if got := wrkExpected(2_000_000, 1000, 4); got != 8000 {
		t.Errorf("wrkExpected = %d, want 2e6 / (1000/4) = 8000", got)
	}
	if got := wrkExpected(2_000_000, 3, 4); got != 0 {
		t.Errorf("wrkExpected with fewer requests than connections = %d, want 0 (no correction)", got)
	}
}

// slowEvery20 answers at once except every 20th request, which takes 20 ms: enough for
// wrk's stats_correct to add synthetic samples.
func slowEvery20(n int64, w http.ResponseWriter, r *http.Request) {
	if n%20 == 0 {
		time.Sleep(20 * time.Millisecond)
	}
	if r.URL.Path == "/fail" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write([]byte("hello"))
}

// runWrkHook runs the real wrk for a second (2 threads, 4 connections, every 20th
// response slow) with smp's done() hook at the given scan budget, and returns what the
// hook printed.
func runWrkHook(t *testing.T, budget float64) wrkReport {
	t.Helper()
	needBinary(t, "wrk")
	tg := newTarget(t, slowEvery20)
	script, cleanup, err := wrkFiles(request{method: "GET"}, wrkDone(hdrTicks(), budget))
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	out, _, err := runToEnd(testContext(t, time.Minute), proc.Cmd{Path: "wrk",
		Args: []string{"-t", "2", "-c", "4", "-d", "1s", "-s", script, tg.URL}}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := parseWrkDone(out)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestWrkHookUndoesCorrection runs the real wrk with smp's script and checks the premise
// of the hook: the histogram done() sees holds more samples than requests (wrk added
// synthetic ones), and after uncorrect it holds exactly one per request. The scan budget
// here always allows the exact dump: with the generator's, a loaded machine's stalls
// widen wrk's histogram past it (2473 values up to hundreds of ms seen), and the hook
// prints percentiles instead (TestWrkHookPercentiles).
func TestWrkHookUndoesCorrection(t *testing.T) {
	rep := runWrkHook(t, 1e12)
	if !rep.complete || len(rep.values) == 0 || int64(len(rep.values)) != rep.distinct {
		t.Fatalf("hook printed %d of %d values (complete %v)", len(rep.values), rep.distinct, rep.complete)
	}
	var corrected, raw int64
	for _, v := range rep.values {
		corrected += v[1]
	}
	for _, v := range uncorrect(rep.values, wrkExpected(rep.durationUS, rep.requests, 4)) {
		raw += v[1]
	}
	if corrected <= rep.requests {
		t.Errorf("wrk's histogram holds %d samples for %d requests: no correction to undo (test premise)", corrected, rep.requests)
	}
	if raw != rep.requests {
		t.Errorf("after undoing the correction: %d samples for %d requests", raw, rep.requests)
	}
}

// TestWrkHookPercentiles: when the exact dump would cost more than its budget (here none),
// the hook prints wrk's value at each percentile asked for, rising, the last one wrk's
// maximum, and the report rebuilds a histogram of one sample per response from them.
func TestWrkHookPercentiles(t *testing.T) {
	rep := runWrkHook(t, 0)
	ticks := hdrTicks()
	if !rep.complete || len(rep.values) != 0 || len(rep.percentiles) != len(ticks) {
		t.Fatalf("hook printed %d values and %d percentiles (complete %v), want %d percentiles", len(rep.values), len(rep.percentiles), rep.complete, len(ticks))
	}
	for i, p := range rep.percentiles {
		if p[0] != ticks[i] || i > 0 && p[1] < rep.percentiles[i-1][1] {
			t.Errorf("percentile %d: %v, want %v µs rising", i, p, ticks[i])
		}
	}
	if last := rep.percentiles[len(rep.percentiles)-1]; last[0] != 100 || int64(last[1]) != rep.maxUS || last[1] < 20000 {
		t.Errorf("last percentile %v, want 100 at wrk's maximum %d µs (≥ 20ms: every 20th response)", last, rep.maxUS)
	}
	var m measurement
	if err := rep.into(&m, 4, time.Now()); err != nil {
		t.Fatal(err)
	}
	if m.latency.Count() != rep.requests || !slices.ContainsFunc(m.caveats, func(c string) bool { return strings.Contains(c, "rebuilt from wrk's percentiles") }) {
		t.Errorf("rebuilt histogram holds %d samples for %d requests, caveats %q", m.latency.Count(), rep.requests, m.caveats)
	}
}

// TestWrk runs the wrk generator for real: counts against the server's, method, headers
// and body through the Lua script, errors by status, keep-alive off.
func TestWrk(t *testing.T) {
	needBinary(t, "wrk")
	tg := newTarget(t, slowEvery20)
	g := NewWrk()
	w := workload(t, func(w *spec.Workload) {
		w.Rate, w.Connections, w.Duration = rate(0), 4, spec.Duration(time.Second)
		w.Method, w.Body, w.Headers = "POST", "ab\"c\x01", map[string]string{"X-Smp": `q"uote\`}
	})
	tr, err := g.Run(testContext(t, time.Minute), Job{Workload: w, Target: platform.Target{URLs: []string{tg.URL + "/fail"}}})
	if err != nil {
		t.Fatal(err)
	}
	c := tr.Counts
	// wrk counts completed responses; the few in flight when it stops reach the server
	// but not the count.
	if got := tg.requests.Load(); got < c.Requests || got > c.Requests+4 {
		t.Errorf("server saw %d requests, wrk counted %d", got, c.Requests)
	}
	if c.Requests < 50 || c.Failed != c.Requests || tr.ErrorsByClass["http"] != c.Requests {
		t.Errorf("counts %+v, errors %v: want every response a failure by status", c, tr.ErrorsByClass)
	}
	if tr.Latency.Count != c.Requests {
		t.Errorf("latency holds %d samples for %d responses (wrk's synthetic samples not undone?)", tr.Latency.Count, c.Requests)
	}
	// The histogram is wrk's exact one with its correction undone, or, when a loaded
	// machine's stalls made that too costly to print, rebuilt from its percentiles.
	undone, rebuilt := hasCaveat(tr, "is undone"), hasCaveat(tr, "rebuilt from wrk's percentiles")
	if undone == rebuilt {
		t.Errorf("caveats %q: want the histogram's source, exact or rebuilt", tr.Generator.Caveats)
	}
	// Every request was a POST with the body (a handler may still be running: compare sets).
	methods, headers, bodies := tg.seen()
	if len(methods) != 1 || methods["POST"] == 0 || len(bodies) != 1 || bodies["ab\"c\x01"] == 0 || headers["X-Smp"] != `q"uote\` {
		t.Errorf("server saw methods %v, bodies %v, X-Smp %q", methods, bodies, headers["X-Smp"])
	}
	// The slow 5%: p99 at 20 ms and more (the server's sleep, at any speed), p50 below it
	// (a loaded machine slows the other 95% too, so no bound in milliseconds).
	if p50, p99 := percentileMS(tr.Latency, 50), percentileMS(tr.Latency, 99); p99 < 20 || p50 >= p99 {
		t.Errorf("p50 %.3f ms, p99 %.3f ms; want p99 ≥ 20 ms (every 20th response) and p50 below", p50, p99)
	}
	if tr.Generator.Name != spec.GeneratorWrk || tr.Generator.Version == "" || tr.Generator.Version == "unknown" ||
		!hasCaveat(tr, "closed loop; latency uncorrected (CO)") {
		t.Errorf("generator %+v", tr.Generator)
	}
	if !tr.Load.ClosedLoop || tr.Load.Connections != 4 || tr.BytesReceived <= 0 {
		t.Errorf("load %+v, bytes received %d", tr.Load, tr.BytesReceived)
	}

	// Keep-alive off: wrk reconnects after every response.
	before := tg.conns.Load()
	off := false
	w.KeepAlive, w.Body, w.Method, w.Duration = &off, "", "", spec.Duration(time.Second)
	tr, err = g.Run(testContext(t, time.Minute), Job{Workload: w, Target: platform.Target{URLs: []string{tg.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	if conns := tg.conns.Load() - before; conns < tr.Counts.Requests {
		t.Errorf("keep_alive false: %d connections for %d requests", conns, tr.Counts.Requests)
	}
	if tr.Counts.Failed != 0 || tr.Counts.Requests < 20 {
		t.Errorf("keep_alive false: counts %+v", tr.Counts)
	}
}

// TestWrkRefused: nothing listening is a clear error (wrk's own check fails), not a trial.
func TestWrkRefused(t *testing.T) {
	needBinary(t, "wrk")
	tg := newTarget(t, nil)
	url := tg.URL
	tg.Close()
	w := workload(t, func(w *spec.Workload) { w.Rate, w.Connections, w.Duration = rate(0), 1, spec.Duration(time.Second) })
	_, err := NewWrk().Run(testContext(t, time.Minute), Job{Workload: w, Target: platform.Target{URLs: []string{url}}})
	var re *proc.RunError
	if !errors.As(err, &re) || !strings.Contains(re.Output, "unable to connect") || !strings.Contains(re.Command, "wrk") {
		t.Errorf("error %v, want wrk's 'unable to connect' with its command line", err)
	}
}

// TestWrkWarmupAndCancel: the warm-up is a separate wrk process; cancelling the measured
// run sends SIGINT, and wrk's report of the time so far becomes a partial trial.
//
// The cancel comes when the measured run's connections have carried 50 requests, not
// after a fixed time: on a crowded machine the warm-up's process can outlast any fixed
// time, and a cancel as the measured wrk starts finds it with nothing measured.
func TestWrkWarmupAndCancel(t *testing.T) {
	needBinary(t, "wrk")
	const conns = 2
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu       sync.Mutex
		order    = map[string]int{} // each connection's rank of first request
		measured int
	)
	tg := newTarget(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		rank, seen := order[r.RemoteAddr]
		if !seen {
			rank = len(order)
			order[r.RemoteAddr] = rank
		}
		// The warm-up's connections are the first conns to carry requests (wrk keeps them
		// for the run: this server neither closes them nor fails a request).
		if rank >= conns {
			if measured++; measured == 50 {
				cancel()
			}
		}
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	})
	wu := spec.Duration(time.Second)
	w := workload(t, func(w *spec.Workload) {
		w.Rate, w.Connections, w.Duration, w.Warmup = rate(0), conns, spec.Duration(time.Minute), &wu
	})
	tr, err := NewWrk().Run(ctx, Job{Workload: w, Target: platform.Target{URLs: []string{tg.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	// 50 requests on the measured connections mean wrk had 48 answers or more (one
	// request in flight per connection) when the SIGINT came.
	if tr.Status != "partial" || tr.Counts.Requests < 50-conns || tr.EndTime.Sub(tr.StartTime) >= time.Minute {
		t.Errorf("status %s, counts %+v, measured %v; want a partial trial of at least %d requests, shorter than the minute asked",
			tr.Status, tr.Counts, tr.EndTime.Sub(tr.StartTime), 50-conns)
	}
	if tr.Warmup == nil || tr.Warmup.Requests == 0 {
		t.Errorf("warm-up %+v", tr.Warmup)
	}
	if got := tg.requests.Load(); got < tr.Warmup.Requests+tr.Counts.Requests {
		t.Errorf("server saw %d requests, fewer than warm-up %d + measured %d", got, tr.Warmup.Requests, tr.Counts.Requests)
	}
}

// TestMissingBinaries: each binary generator names the program and how to install it,
// from Check (before anything is deployed) and from Run.
func TestMissingBinaries(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, c := range []struct {
		g    Generator
		name string
		hint string
		edit func(w *spec.Workload)
	}{
		{NewWrk(), "wrk", "apt-get install wrk", func(w *spec.Workload) { w.Rate = rate(0) }},
		{NewWrk2(), "wrk2", "github.com/giltene/wrk2", func(w *spec.Workload) {}},
		{NewNighthawk(), "nighthawk_client", "https://github.com/envoyproxy/nighthawk", func(w *spec.Workload) {}},
	} {
		w := workload(t, c.edit)
		err := c.g.(Checker).Check(context.Background(), w)
		var nf *proc.NotFoundError
		if !errors.As(err, &nf) || nf.Name != c.name || !strings.Contains(err.Error(), c.hint) {
			t.Errorf("%s: Check error %v, want %s not found with %q", c.name, err, c.name, c.hint)
		}
		if fix := Fix(err); !strings.Contains(fix, "until "+c.name+" is installed") {
			t.Errorf("%s: Fix = %q", c.name, fix)
		}
		_, err = c.g.Run(context.Background(), Job{Workload: w, Target: platform.Target{URLs: []string{"http://127.0.0.1:1/"}}})
		if !errors.As(err, &nf) {
			t.Errorf("%s: Run error %v, want *proc.NotFoundError", c.name, err)
		}
	}
	if fix := Fix(errors.New("fortio cannot produce poisson arrivals")); !strings.Contains(fix, "load_generator: builtin") {
		t.Errorf("Fix of a workload error = %q", fix)
	}
}

func TestWrkCheck(t *testing.T) {
	needBinary(t, "wrk")
	for _, c := range []struct {
		name string
		edit func(w *spec.Workload)
		err  string
	}{
		{"closed loop", func(w *spec.Workload) { w.Rate = rate(0) }, ""},
		{"h2", func(w *spec.Workload) { w.Rate, w.Protocol = rate(0), spec.ProtocolH2 }, "HTTP/1.1 only"},
		{"client cert", func(w *spec.Workload) { w.Rate, w.TLS.CertFile = rate(0), "c.pem" }, "client certificate"},
		{"args", func(w *spec.Workload) { w.Rate, w.AdditionalOptions = rate(0), `{"args": ["--latency"]}` }, ""},
		{"bad options", func(w *spec.Workload) { w.Rate, w.AdditionalOptions = rate(0), `{"flags": 1}` }, `want {"args"`},
	} {
		err := NewWrk().Check(context.Background(), workload(t, c.edit))
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.err)
		}
	}
}

func TestLuaQuote(t *testing.T) {
	needBinary(t, "wrk") // wrk's LuaJIT reads the literals back
	dir := t.TempDir()
	values := []string{"plain", `q"uote`, `back\slash`, "new\nline", "\x00\x01\xff", ""}
	var b strings.Builder
	for _, v := range values {
		b.WriteString("io.write(" + luaQuote(v) + ", \"|\")\n")
	}
	b.WriteString("os.exit(0)\n")
	script := filepath.Join(dir, "q.lua")
	if err := os.WriteFile(script, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	// wrk runs the script when it loads it, before it connects anywhere.
	out, err := exec.Command("wrk", "-c", "1", "-t", "1", "-d", "1s", "-s", script, "http://127.0.0.1:1/").Output()
	if err != nil {
		t.Fatalf("wrk: %v (%q)", err, out)
	}
	if got, want := string(out), strings.Join(values, "|")+"|"; got != want {
		t.Errorf("LuaJIT read back %s, want %s", strconv.Quote(got), strconv.Quote(want))
	}
}

// TestWrkPercentileFallback: when the exact dump is too costly the hook prints wrk's
// percentiles, and the histogram is rebuilt from them with a caveat saying so.
func TestWrkPercentileFallback(t *testing.T) {
	out := []byte("Running 1s test @ http://x/\n" +
		"smp-wrk summary 1000000 1000 50000 0 0 0 0 0\n" +
		"smp-wrk stats 900000 100 2000000\n" +
		"smp-wrk p 0 100\nsmp-wrk p 50 500\nsmp-wrk p 90 900\nsmp-wrk p 99 5000\nsmp-wrk p 100 2000000\nsmp-wrk end\n")
	rep, err := parseWrkDone(out)
	if err != nil {
		t.Fatal(err)
	}
	m := &measurement{errors: map[string]int64{}, status: map[string]int64{}}
	if err := rep.into(m, 4, time.Now()); err != nil {
		t.Fatal(err)
	}
	if m.latency.Count() != 1000 || m.requests != 1000 {
		t.Fatalf("histogram %d, requests %d; want 1000", m.latency.Count(), m.requests)
	}
	for p, us := range map[float64]int64{50: 500, 90: 900, 99: 5000, 100: 2000000} {
		if got := m.latency.Percentile(p); got != time.Duration(us)*time.Microsecond && math.Abs(float64(got)/float64(time.Duration(us)*time.Microsecond)-1) > 0.001 {
			t.Errorf("p%g = %v, wrk printed %dµs", p, got, us)
		}
	}
	if !slices.ContainsFunc(m.caveats, func(c string) bool { return strings.Contains(c, "rebuilt from wrk's percentiles") }) {
		t.Errorf("caveats %q", m.caveats)
	}
	if _, err := parseWrkDone([]byte("Running 1s test\n  0 requests in 1.00s\n")); err == nil {
		t.Error("no error for output without the hook's lines")
	}
}

// TestRunToEndLateHandler: a cancel that comes while the program still ignores SIGINT (wrk
// as it starts: Lua states, the address probe, threads) reaches it once it catches SIGINT,
// and its report is the output, instead of the SIGINT being lost and the program killed
// without a report after grace.
func TestRunToEndLateHandler(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"ignoring", "go"} {
		if err := syscall.Mkfifo(filepath.Join(dir, name), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type ran struct {
		out         []byte
		interrupted bool
		err         error
	}
	done := make(chan ran, 1)
	go func() {
		out, interrupted, err := runToEnd(ctx, proc.Cmd{Name: "late-sigint", Path: self,
			Env: []string{helperEnv + "=late-sigint:" + dir}}, 10*time.Second)
		done <- ran{out, interrupted, err}
	}()
	// Opening a FIFO returns once the other end is open too: the helper ignores SIGINT.
	f, err := os.Open(filepath.Join(dir, "ignoring"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	cancel()
	// Now let it catch SIGINT.
	if f, err = os.OpenFile(filepath.Join(dir, "go"), os.O_WRONLY, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r := <-done
	if r.err != nil || !r.interrupted || strings.TrimSpace(string(r.out)) != "report" {
		t.Errorf("runToEnd = %q, interrupted %v, error %v; want the report after the late SIGINT", r.out, r.interrupted, r.err)
	}
}
