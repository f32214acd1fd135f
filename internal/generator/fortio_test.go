package generator

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fortio.org/fortio/stats"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

func percentileMS(d result.Distribution, p float64) float64 {
	for _, q := range d.Percentiles {
		if q.Percentile == p {
			return q.ValueMS
		}
	}
	return math.NaN()
}

// TestFortioHTTP runs fortio's fast client in closed loop against a loopback server that
// answers every 10th request with 503, and accounts for every request the server saw.
func TestFortioHTTP(t *testing.T) {
	tg := newTarget(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n%10 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte("body"))
	})
	w := workload(t, func(w *spec.Workload) {
		w.Rate, w.Connections, w.Duration = rate(0), 3, spec.Duration(time.Second)
		w.Method, w.Body, w.Headers = "PUT", "payload", map[string]string{"X-Smp": "yes"}
	})
	tr, err := Fortio{}.Run(testContext(t, time.Minute), Job{Workload: w, Target: platform.Target{URLs: []string{tg.URL + "/x"}}})
	if err != nil {
		t.Fatal(err)
	}
	c := tr.Counts
	// fortio sends one unmeasured warm-up request per connection.
	if got, want := tg.requests.Load(), c.Requests+3; got != want {
		t.Errorf("server saw %d requests; trial has %d + 3 warm-up", got, c.Requests)
	}
	if c.Requests < 100 || c.Succeeded+c.Failed != c.Requests {
		t.Errorf("counts %+v", c)
	}
	if tr.StatusCodes["503"] != c.Failed || tr.StatusCodes["200"] != c.Succeeded || tr.ErrorsByClass["http"] != c.Failed {
		t.Errorf("status %v, errors %v, counts %+v", tr.StatusCodes, tr.ErrorsByClass, c)
	}
	// The server's 503s were every 10th of all its requests, warm-up included.
	if lo, hi := (c.Requests+3)/10-1, (c.Requests+3)/10+1; c.Failed < lo || c.Failed > hi {
		t.Errorf("%d failed of %d, want about a tenth", c.Failed, c.Requests)
	}
	if tr.Latency.Count != c.Succeeded || tr.ErrorLatency == nil || tr.ErrorLatency.Count != c.Failed {
		t.Errorf("latency count %d, error latency %v, counts %+v", tr.Latency.Count, tr.ErrorLatency, c)
	}
	methods, headers, bodies := tg.seen()
	if methods["PUT"] != int(tg.requests.Load()) || headers["X-Smp"] != "yes" || bodies["payload"] != int(tg.requests.Load()) {
		t.Errorf("server saw methods %v, header X-Smp %q, bodies %v", methods, headers["X-Smp"], bodies)
	}
	// fortio's fast client closes its connection after a non-2xx response and reconnects.
	// A goroutine whose last call got a 503 does not reconnect; warm-up 503s (at most 3) do.
	if n := c.ConnectionsOpened; n != tg.conns.Load() || n < c.Failed || n > 3+c.Failed+3 {
		t.Errorf("fortio reports %d sockets, the server saw %d connections; want 3 + about one per 503 (%d)", n, tg.conns.Load(), c.Failed)
	}
	if !slices.ContainsFunc(tr.Warnings, func(w string) bool { return strings.Contains(w, "reconnects") }) {
		t.Errorf("warnings %q do not explain the reconnects", tr.Warnings)
	}
	if tr.Generator.Name != spec.GeneratorFortio || tr.Generator.Version == "" || !hasCaveat(tr, "coordinated omission not corrected") {
		t.Errorf("generator %+v", tr.Generator)
	}
	if !tr.Load.ClosedLoop || tr.Load.AchievedRateRPS <= 0 || tr.Status != result.StatusComplete {
		t.Errorf("load %+v, status %s", tr.Load, tr.Status)
	}
	if d := tr.EndTime.Sub(tr.StartTime); d < 900*time.Millisecond || d > 3*time.Second {
		t.Errorf("measured phase lasted %v, want about 1s", d)
	}
}

func hasCaveat(tr result.Trial, part string) bool {
	return slices.ContainsFunc(tr.Generator.Caveats, func(c string) bool { return strings.Contains(c, part) })
}

// TestFortioRateAndWarmup: at a rate, fortio sends exactly rate × duration calls (its
// schedule is a fixed count), and the time-based warm-up is a separate run.
func TestFortioRateAndWarmup(t *testing.T) {
	tg := newTarget(t, nil)
	wu := spec.Duration(300 * time.Millisecond)
	w := workload(t, func(w *spec.Workload) {
		w.Rate, w.Connections, w.Duration, w.Warmup = rate(200), 2, spec.Duration(time.Second), &wu
	})
	tr, err := Fortio{}.Run(testContext(t, time.Minute), Job{Workload: w, Target: platform.Target{URLs: []string{tg.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	// fortio schedules exactly rate × duration calls (the schedule it is given is checked
	// in TestFortioRunnerOptions) and never makes more; each goroutine makes at least its
	// first two, and one still behind when the duration is over stops early, so a loaded
	// machine loses the rest: how many depends on the machine, not on smp.
	if n := tr.Counts.Requests; n < 2*2 || n > 200 {
		t.Errorf("%d requests, want at most 200 (200/s for 1s) and 2 per goroutine", n)
	}
	if tr.Warmup == nil || tr.Warmup.Requests < 2*2 || tr.Warmup.Requests > 60 {
		t.Fatalf("warm-up %+v, want at most 60 requests (200/s for 300ms) and 2 per goroutine", tr.Warmup)
	}
	// Two runs, each with one warm-up request per connection.
	if got, want := tg.requests.Load(), tr.Counts.Requests+tr.Warmup.Requests+2*2; got != want {
		t.Errorf("server saw %d requests, want %d", got, want)
	}
	if tr.Load.RequestedRateRPS != 200 || tr.Load.ClosedLoop {
		t.Errorf("load %+v", tr.Load)
	}
	// On a loaded machine (the race detector, 2 cores) fortio may fall behind; the verdict
	// must then say so, and a held rate must be one the numbers support.
	switch l := tr.Load; {
	case l.RateHeld && l.AchievedRateRPS < 200*(1-0.01-3/math.Sqrt(200)):
		t.Errorf("rate held at %.1f/s of 200/s", l.AchievedRateRPS)
	case !l.RateHeld && l.RateWarning == "":
		t.Errorf("rate not held, without a reason: %+v", l)
	case l.RateHeld && math.Abs(l.AchievedRateRPS-200) > 20:
		t.Errorf("achieved %.1f/s, want 200±20", l.AchievedRateRPS)
	case l.RateHeld && float64(tr.Counts.Requests) < 200*(1-0.01-3/math.Sqrt(200)):
		t.Errorf("rate held with %d of 200 calls made", tr.Counts.Requests)
	}
	if !hasCaveat(tr, "separate fortio run") {
		t.Errorf("caveats %q do not mention the separate warm-up run", tr.Generator.Caveats)
	}
}

// TestFortioRunnerOptions: the schedule fortio is given is the workload's: its rate in
// total over as many goroutines as connections, staggered, for the phase's duration.
func TestFortioRunnerOptions(t *testing.T) {
	w := workload(t, func(w *spec.Workload) { w.Rate, w.Connections = rate(200), 2 })
	p, err := fortioPlanOf(w)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{300 * time.Millisecond, time.Second} {
		ro := fortioRunnerOptions(p, d)
		if ro.QPS != 200 || ro.Duration != d || ro.NumThreads != 2 || !ro.Uniform || ro.Exactly != 0 {
			t.Errorf("runner options %+v, want 200 qps for %v over 2 goroutines, uniform", ro, d)
		}
	}
	w.Rate = nil
	if p, err = fortioPlanOf(w); err != nil || fortioRunnerOptions(p, time.Second).QPS != -1 {
		t.Errorf("closed loop: qps %v (%v), want -1 (fortio's max speed)", fortioRunnerOptions(p, time.Second).QPS, err)
	}
}

// TestFortioGRPC runs health checks against a real gRPC health server, serving and not.
func TestFortioGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Stop()
		<-served
	})
	for _, c := range []struct {
		service string
		status  string
		class   string
	}{
		{"", "grpc:OK", ""},
		{"down", "health:NOT_SERVING", "grpc"},
		{"unknown", "grpc:NOT_FOUND", "grpc"},
	} {
		w := workload(t, func(w *spec.Workload) {
			w.Protocol, w.Rate, w.Connections, w.Streams = spec.ProtocolGRPC, rate(0), 2, 2
			w.Duration, w.GRPC = spec.Duration(500*time.Millisecond), spec.GRPC{Method: spec.GRPCHealth, Service: c.service}
		})
		tr, err := Fortio{}.Run(testContext(t, time.Minute), Job{Workload: w, Target: platform.Target{URLs: []string{"grpc://" + ln.Addr().String()}}})
		if err != nil {
			t.Fatalf("service %q: %v", c.service, err)
		}
		if tr.Counts.Requests < 50 || tr.StatusCodes[c.status] != tr.Counts.Requests {
			t.Errorf("service %q: %d requests, status %v; want all %s", c.service, tr.Counts.Requests, tr.StatusCodes, c.status)
		}
		if c.class != "" && tr.ErrorsByClass[c.class] != tr.Counts.Requests {
			t.Errorf("service %q: errors %v, want all %s", c.service, tr.ErrorsByClass, c.class)
		}
		// 2 connections × 2 streams: 4 goroutines on 2 connections.
		if tr.Counts.ConnectionsOpened != 2 || tr.Load.Streams != 2 {
			t.Errorf("service %q: %d connections, %d streams; want 2 and 2", c.service, tr.Counts.ConnectionsOpened, tr.Load.Streams)
		}
	}
}

// TestFortioCancel: cancelling stops the run early with a partial trial.
func TestFortioCancel(t *testing.T) {
	tg := newTarget(t, nil)
	w := workload(t, func(w *spec.Workload) { w.Rate, w.Connections, w.Duration = rate(100), 2, spec.Duration(time.Minute) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for tg.requests.Load() < 20 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	start := time.Now()
	tr, err := Fortio{}.Run(ctx, Job{Workload: w, Target: platform.Target{URLs: []string{tg.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 20*time.Second || tr.Status != result.StatusPartial || tr.Counts.Requests == 0 || tr.Counts.Requests >= 6000 {
		t.Errorf("after %v: status %s, %d requests", time.Since(start), tr.Status, tr.Counts.Requests)
	}
}

func TestFortioCheck(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(w *spec.Workload)
		err  string
	}{
		{"http/1.1", func(w *spec.Workload) {}, ""},
		{"uniform ±10%", func(w *spec.Workload) { w.Arrival = spec.Arrival{Pattern: spec.PatternUniform, Jitter: 0.1} }, ""},
		{"uniform ±20%", func(w *spec.Workload) { w.Arrival = spec.Arrival{Pattern: spec.PatternUniform, Jitter: 0.2} }, "fixed ±10%"},
		{"poisson", func(w *spec.Workload) { w.Arrival.Pattern = spec.PatternPoisson }, "cannot produce poisson"},
		{"h2 streams", func(w *spec.Workload) { w.Protocol, w.Streams = spec.ProtocolH2, 4 }, "cannot put 4 streams"},
		{"grpc streams", func(w *spec.Workload) { w.Protocol, w.Streams = spec.ProtocolGRPC, 4 }, ""},
		{"grpc echo", func(w *spec.Workload) { w.Protocol, w.GRPC.Method = spec.ProtocolGRPC, spec.GRPCEcho }, "not smp's echo"},
		{"tcp", func(w *spec.Workload) { w.Protocol = spec.ProtocolTCP }, ""},
		{"tcp connection rate", func(w *spec.Workload) { off := false; w.Protocol, w.KeepAlive = spec.ProtocolTCP, &off }, "keeps its connections"},
		{"tcp over tls", func(w *spec.Workload) { w.Protocol, w.TLS.Enabled = spec.ProtocolTCP, true }, "plain TCP only"},
		{"h2c", func(w *spec.Workload) { w.Protocol = spec.ProtocolH2C }, "not h2c"},
		{"mix", func(w *spec.Workload) { w.Mix = []spec.Request{{Path: "/"}} }, "workload.mix"},
		{"options", func(w *spec.Workload) { w.AdditionalOptions = `{"r": 0.001}` }, "no additional_options"},
	} {
		err := Fortio{}.Check(context.Background(), workload(t, c.edit))
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.err)
		}
	}
}

// TestFortioToHist checks the fallback conversion of fortio's bucketed histogram against
// the samples it was made from: same count, exact extremes, and every percentile within
// the width of the fortio bucket that holds the true value.
func TestFortioToHist(t *testing.T) {
	fh := stats.NewHistogram(0, fortioResolution)
	var samples []float64
	for i := range 5000 {
		// 80 µs … ~30 ms, skewed like a latency distribution.
		v := 80e-6 * math.Exp(float64(i%997)/997*math.Log(400))
		samples = append(samples, v)
		fh.Record(v)
	}
	slices.Sort(samples)
	data := fh.Export()
	h := fortioToHist(data, nil)
	if h.Count() != int64(len(samples)) {
		t.Fatalf("count %d, want %d", h.Count(), len(samples))
	}
	near := func(got time.Duration, want float64) bool {
		return math.Abs(got.Seconds()-want) <= want*0.001+1e-6 // HDR: 3 digits, whole µs
	}
	if !near(h.Min(), samples[0]) || !near(h.Max(), samples[len(samples)-1]) {
		t.Errorf("min %v max %v, want %gs and %gs", h.Min(), h.Max(), samples[0], samples[len(samples)-1])
	}
	for _, p := range []float64{1, 10, 50, 75, 90, 99, 99.9} {
		truth := samples[int(math.Ceil(p/100*float64(len(samples))))-1]
		var width float64
		for _, b := range data.Data {
			if truth > b.Start && truth <= b.End || truth == b.Start {
				width = b.End - b.Start
			}
		}
		got := h.Percentile(p).Seconds()
		if math.Abs(got-truth) > width+truth*0.001+1e-6 {
			t.Errorf("p%g: %gs, truth %gs, fortio bucket width %gs", p, got, truth, width)
		}
		// And it agrees with fortio's own interpolation to 1/hist.SpreadPoints of a bucket.
		if f := data.CalcPercentile(p); math.Abs(got-f) > width/hist.SpreadPoints*2+f*0.001+1e-6 {
			t.Errorf("p%g: %gs, fortio interpolates %gs (bucket width %gs)", p, got, f, width)
		}
	}
	// Subtracting the error histogram leaves the successes.
	errs := stats.NewHistogram(0, fortioResolution)
	for _, v := range samples[:100] {
		errs.Record(v)
	}
	if ok := fortioToHist(data, errs.Export()); ok.Count() != int64(len(samples)-100) {
		t.Errorf("after subtracting 100 errors: %d, want %d", ok.Count(), len(samples)-100)
	}
	if fortioToHist(nil, nil).Count() != 0 || fortioToHist(&stats.HistogramData{}, nil).Count() != 0 {
		t.Error("an empty fortio histogram converts to a non-empty one")
	}
}

func TestFortioFallingBehind(t *testing.T) {
	out := "Sleep times : count 99 avg -0.1\nWARNING 37.50% of sleep were falling behind\n"
	if got := fortioFallingBehind(out); !strings.HasPrefix(got, "37.50% of the calls") {
		t.Errorf("got %q", got)
	}
	if got := fortioFallingBehind("Sleep times : count 99 avg 0.004"); got != "" {
		t.Errorf("got %q for a run that kept up", got)
	}
}

// TestFortioH2 loads an HTTPS server over h2 with the platform's kind of TLS: a CA file
// and a server name that is not the URL's host (the local platform's svc-1 case).
func TestFortioH2(t *testing.T) {
	var h2 atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && r.TLS != nil && r.TLS.ServerName == "example.com" {
			h2.Add(1)
		}
		_, _ = w.Write([]byte("ok"))
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes below are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	w := workload(t, func(w *spec.Workload) {
		w.Protocol, w.Rate, w.Connections, w.Duration = spec.ProtocolH2, rate(0), 2, spec.Duration(500*time.Millisecond)
	})
	job := Job{Workload: w, Target: platform.Target{URLs: []string{srv.URL + "/"}, TLS: &platform.TLSFiles{CAFile: ca, ServerName: "example.com"}}}
	tr, err := Fortio{}.Run(testContext(t, time.Minute), job)
	if err != nil {
		t.Fatal(err)
	}
	// Every request, the 2 warm-up ones included, came over h2 with SNI example.com.
	if tr.Counts.Requests < 20 || tr.Counts.Failed != 0 || h2.Load() != tr.Counts.Requests+2 {
		t.Errorf("counts %+v, errors %v; the server saw %d h2 requests with SNI example.com", tr.Counts, tr.ErrorsByClass, h2.Load())
	}
	// Without the CA, verification fails: every call is a transport error, not a crash.
	job.Target.TLS = &platform.TLSFiles{ServerName: "example.com"}
	tr, err = Fortio{}.Run(testContext(t, time.Minute), job)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Counts.Requests == 0 || tr.Counts.Failed != tr.Counts.Requests || tr.ErrorsByClass["other"] != tr.Counts.Requests {
		t.Errorf("unverifiable server: counts %+v, errors %v", tr.Counts, tr.ErrorsByClass)
	}
	// fortio records -1 bytes for a response it has no size for; their sum is no count.
	if tr.BytesReceived < 0 || !slices.Contains(tr.Generator.Caveats, fortioCaveatSizes) {
		t.Errorf("failed calls: bytes received %d, caveats %q", tr.BytesReceived, tr.Generator.Caveats)
	}
}

// echoTarget is a TCP echo server that waits delay before echoing each message of size
// bytes, and counts the messages it echoes.
type echoTarget struct {
	ln       net.Listener
	messages atomic.Int64
	wg       sync.WaitGroup
}

func newEchoTarget(t *testing.T, size int, delay time.Duration) *echoTarget {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoTarget{ln: ln}
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	e.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			e.wg.Go(func() {
				defer c.Close()
				buf := make([]byte, size)
				for {
					if _, err := io.ReadFull(c, buf); err != nil {
						return
					}
					time.Sleep(delay) // the server's work, not synchronisation
					// Counted before the echo is written: counted after, a client that
					// has its echo (and a test that then reads the count) can run before
					// this goroutine does, and the count is one short on a loaded machine.
					e.messages.Add(1)
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		e.wg.Wait()
	})
	return e
}

func (e *echoTarget) URL() string { return "tcp://" + e.ln.Addr().String() }

// TestTCPCrossCheck runs the builtin engine and fortio's TCP runner against the same echo
// server (2 ms per message) and checks that every message is accounted for and that their
// medians agree (crossCheckTolerance).
func TestTCPCrossCheck(t *testing.T) {
	const size = 256
	echo := newEchoTarget(t, size, serverDelay)
	w := workload(t, func(w *spec.Workload) {
		w.Protocol, w.Rate, w.Connections, w.Duration = spec.ProtocolTCP, rate(0), 4, spec.Duration(2*time.Second)
		w.RequestSize, w.Method = size, ""
	})
	p50 := map[spec.Generator]float64{}
	for _, g := range []Generator{Builtin{}, Fortio{}} {
		name := g.Info().Name
		before := echo.messages.Load()
		tr, err := g.Run(testContext(t, time.Minute), Job{Workload: w, Target: platform.Target{URLs: []string{echo.URL()}}})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c := tr.Counts
		if c.Failed != 0 || c.Requests < 500 || tr.StatusCodes["tcp:OK"] != c.Requests {
			t.Fatalf("%s: counts %+v status %v errors %v", name, c, tr.StatusCodes, tr.ErrorsByClass)
		}
		// fortio sends one unmeasured message per connection first.
		warm := int64(0)
		if name == spec.GeneratorFortio {
			warm = 4
		}
		if got := echo.messages.Load() - before; got != c.Requests+warm {
			t.Errorf("%s: the server echoed %d messages; the trial has %d + %d warm-up", name, got, c.Requests, warm)
		}
		if tr.BytesReceived < size*c.Requests {
			t.Errorf("%s: received %d bytes for %d echoes of %d", name, tr.BytesReceived, c.Requests, size)
		}
		p50[name] = percentileMS(tr.Latency, 50)
		t.Logf("%-8s p50 %.3f ms  p99 %.3f ms  %d messages", name, p50[name], percentileMS(tr.Latency, 99), c.Requests)
		if p50[name] < float64(serverDelay)/float64(time.Millisecond) {
			t.Errorf("%s: p50 %.3f ms is below the server's own %v delay", name, p50[name], serverDelay)
		}
	}
	base := p50[spec.GeneratorBuiltin]
	if d := math.Abs(p50[spec.GeneratorFortio] - base); d > crossCheckTolerance(base) {
		t.Errorf("fortio p50 %.3f ms is %.3f ms from builtin's %.3f ms", p50[spec.GeneratorFortio], d, base)
	}
}
