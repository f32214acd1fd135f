package engine

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// realWorldConfig is a RealWorld run with a three-endpoint mix, spread bodies
// and churn, short enough for a test.
func realWorldConfig(target string, seed int64) Config {
	return Config{
		Target: target, Rate: 400, Duration: 1500 * time.Millisecond, Warmup: 200 * time.Millisecond,
		Arrival: Arrival{Pattern: RealWorld, Seed: seed,
			RealWorld: RealWorldRate{BurstEvery: 400 * time.Millisecond, BurstLength: 200 * time.Millisecond}},
		Requests: []Request{
			{Weight: 6, Path: "/a"},
			{Weight: 3, Path: "/b", Method: "POST", PayloadSize: 300},
			{Weight: 1, Path: "/c", Method: "PUT", PayloadSize: 2000},
		},
		SizeSpread: 0.5,
		Churn:      20,
	}
}

// TestPreviewIsReproducible: the schedule (intended times, endpoints, sizes)
// is a function of the config and the seed alone.
func TestPreviewIsReproducible(t *testing.T) {
	cfg := realWorldConfig("http://127.0.0.1:1/", 7)
	a, err := Preview(cfg, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Preview(cfg, 1<<20)
	if len(a) < 300 || !slices.Equal(a, b) {
		t.Fatalf("same seed: %d and %d slots, equal %v", len(a), len(b), slices.Equal(a, b))
	}
	cfg.Arrival.Seed = 8
	c, _ := Preview(cfg, 1<<20)
	if slices.Equal(a, c) {
		t.Fatal("seeds 7 and 8 gave the same schedule")
	}
	// Not only the times: the endpoint sequence differs too.
	reqs := func(s []Slot) []int {
		out := make([]int, 0, 100)
		for _, x := range s[:100] {
			out = append(out, x.Request)
		}
		return out
	}
	if slices.Equal(reqs(a), reqs(c)) {
		t.Error("seeds 7 and 8 chose the same first 100 endpoints")
	}
	for i := 1; i < len(a); i++ {
		if a[i].At < a[i-1].At {
			t.Fatalf("slot %d at %v before slot %d at %v", i, a[i].At, i-1, a[i-1].At)
		}
	}
	ia, _ := Schedule(realWorldConfig("http://127.0.0.1:1/", 7))
	ib, _ := Schedule(realWorldConfig("http://127.0.0.1:1/", 7))
	ic, _ := Schedule(realWorldConfig("http://127.0.0.1:1/", 8))
	if ia.Digest != ib.Digest || ia.Digest == ic.Digest || !ia.Complete || ia.Slots != len(a) {
		t.Errorf("digests %s %s %s; complete %v slots %d of %d", ia.Digest, ib.Digest, ic.Digest, ia.Complete, ia.Slots, len(a))
	}
}

// TestRealWorldCurve: the mean rate over the measured phase is the configured
// rate, the curve moves (bursts reach well above the mean), and a burst-free,
// flat configuration is constant.
func TestRealWorldCurve(t *testing.T) {
	cfg := Config{Target: "http://x/", Rate: 1000, Duration: time.Minute, Warmup: 5 * time.Second,
		Arrival: Arrival{Pattern: RealWorld, Seed: 3}}.withDefaults()
	sh := newShape(cfg)
	w, d := cfg.Warmup.Seconds(), cfg.Duration.Seconds()
	if mean := (sh.countAt(w+d) - sh.countAt(w)) / d; math.Abs(mean-1000) > 1e-6 {
		t.Errorf("mean rate over the measured phase %v, want 1000", mean)
	}
	if got := sh.countAt(w); math.Abs(got-5000) > 1e-6 {
		t.Errorf("warm-up holds the mean: %v slots in 5s, want 5000", got)
	}
	info, err := Schedule(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// 60s with a burst every 15s on average: none in a minute has probability e⁻⁴.
	if len(info.Bursts) == 0 || info.PeakRate < 1500 {
		t.Errorf("%d bursts, peak %v/s: the curve does not move", len(info.Bursts), info.PeakRate)
	}
	lo, hi := math.Inf(1), 0.0
	for x := w; x < w+d; x += 0.05 {
		r := sh.rateAt(x)
		lo, hi = min(lo, r), max(hi, r)
	}
	if lo <= 0 || hi/lo < 2 {
		t.Errorf("rate between %v and %v/s: want a swing of at least 2×", lo, hi)
	}

	flat := cfg
	flat.Arrival.RealWorld = RealWorldRate{BurstFactor: 1, DiurnalAmplitude: -1, Noise: -1}.withDefaults(cfg.Duration)
	fs := newShape(flat)
	for x := w; x < w+d; x += 0.5 {
		if r := fs.rateAt(x); math.Abs(r-1000) > 1e-6 {
			t.Fatalf("flat realworld rate at %vs is %v, want 1000", x, r)
		}
	}
}

// TestBodySizes: the 16 sizes of a spread body are the log-normal's band
// midpoints: symmetric in log space around the median, so their geometric mean
// is the median, and their log standard deviation a little under σ (the tails
// beyond the outer midpoints are cut).
func TestBodySizes(t *testing.T) {
	r := Request{PayloadSize: 10000}
	var logs []float64
	for q := range sizeQuantiles {
		logs = append(logs, math.Log(float64(bodySize(r, 0.5, q, sizeQuantiles))))
	}
	mean, sd := 0.0, 0.0
	for _, l := range logs {
		mean += l / float64(len(logs))
	}
	for _, l := range logs {
		sd += (l - mean) * (l - mean) / float64(len(logs))
	}
	sd = math.Sqrt(sd)
	if g := math.Exp(mean); math.Abs(g-10000) > 10 {
		t.Errorf("geometric mean %v, want 10000", g)
	}
	if sd < 0.45 || sd > 0.5 {
		t.Errorf("log sd %v, want just under 0.5", sd)
	}
	if !slices.IsSorted(logs) {
		t.Error("sizes do not rise with the band")
	}
	if got := bodySize(Request{Body: []byte("xyz")}, 0.5, 3, sizeQuantiles); got != 3 {
		t.Errorf("a given body keeps its size: %d", got)
	}
}

// recorder is a server that logs each request's path and body size in
// arrival order and counts connections.
type recorder struct {
	srv   *httptest.Server
	mu    sync.Mutex
	log   []Slot // At unused
	paths map[string]int
	conns atomic.Int64
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{paths: map[string]int{}}
	rec.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		rec.mu.Lock()
		idx := map[string]int{"/a": 0, "/b": 1, "/c": 2}[r.URL.Path]
		rec.log = append(rec.log, Slot{Request: idx, Size: int(n)})
		rec.paths[r.Method+" "+r.URL.Path]++
		rec.mu.Unlock()
		io.WriteString(w, "ok")
	}))
	rec.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			rec.conns.Add(1)
		}
	}
	rec.srv.Start()
	t.Cleanup(rec.srv.Close)
	return rec
}

// TestRealWorldRunFollowsSchedule: with one connection the server sees the
// requests in claim order, so the endpoints and body sizes it receives must be
// exactly Preview's, run after run; another seed sends other traffic.
func TestRealWorldRunFollowsSchedule(t *testing.T) {
	runOnce := func(seed int64) ([]Slot, *Result, *recorder) {
		rec := newRecorder(t)
		cfg := realWorldConfig(rec.srv.URL+"/ignored", seed)
		res := mustRun(t, cfg)
		m := res.Measure
		if m.Overflow != 0 || m.Failed != 0 || res.Warmup.Failed != 0 {
			t.Fatalf("seed %d: overflow %d, failed %d/%d: %v", seed, m.Overflow, m.Failed, res.Warmup.Failed, m.Errors)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return slices.Clone(rec.log), res, rec
	}
	want, err := Preview(realWorldConfig("http://127.0.0.1:1/", 11), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		want[i].At = 0
	}
	got1, res1, rec1 := runOnce(11)
	got2, res2, _ := runOnce(11)
	if !slices.Equal(got1, want) || !slices.Equal(got2, want) {
		t.Fatalf("the server saw %d and %d requests, the preview has %d slots; first difference at %d / %d",
			len(got1), len(got2), len(want), firstDiff(got1, want), firstDiff(got2, want))
	}
	if res1.Schedule == nil || res2.Schedule == nil || res1.Schedule.Digest != res2.Schedule.Digest {
		t.Fatalf("schedule digests %+v and %+v", res1.Schedule, res2.Schedule)
	}
	// The mix counts match what the server saw, path by path.
	all := func(r *Result) []int64 {
		out := slices.Clone(r.Measure.Mix)
		for i, n := range r.Warmup.Mix {
			out[i] += n
		}
		return out
	}
	counts := all(res1)
	if int(counts[0]) != rec1.paths["GET /a"] || int(counts[1]) != rec1.paths["POST /b"] || int(counts[2]) != rec1.paths["PUT /c"] {
		t.Errorf("mix counts %v, server saw %v", counts, rec1.paths)
	}
	// Weights 6:3:1, drawn per slot: each share within 4 binomial sd.
	total := float64(counts[0] + counts[1] + counts[2])
	for i, w := range []float64{0.6, 0.3, 0.1} {
		if sd := math.Sqrt(total * w * (1 - w)); math.Abs(float64(counts[i])-total*w) > 4*sd {
			t.Errorf("endpoint %d: %d of %.0f, want %.0f ± %.0f", i, counts[i], total, total*w, 4*sd)
		}
	}
	// Churn 20 on one connection: connections are the lifetimes needed to
	// cover every request, each drawn from the seed.
	wantConns, covered := int64(0), int64(0)
	for covered < int64(len(want)) {
		covered += churnLife(11, 20, 0, int(wantConns))
		wantConns++
	}
	if res1.Connections != wantConns || rec1.conns.Load() != wantConns {
		t.Errorf("connections: engine %d, server %d, want %d for %d requests with churn 20", res1.Connections, rec1.conns.Load(), wantConns, len(want))
	}

	got3, res3, _ := runOnce(12)
	if slices.Equal(got3, got1) || res3.Schedule.Digest == res1.Schedule.Digest {
		t.Error("seed 12 sent the same traffic as seed 11")
	}
}

// firstDiff is the index of the first slot where a and b differ.
func firstDiff(a, b []Slot) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestHandshakePhases: with keep-alive off every request records its connect,
// TLS and first-byte times; plaintext has no TLS samples; keep-alive on records
// none of it.
func TestHandshakePhases(t *testing.T) {
	pki := newTestPKI(t)
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	tlsSrv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.pool, ClientAuth: tls.RequireAndVerifyClientCert}
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	plain, _ := okServer(t)

	mtls := mustRun(t, Config{Target: tlsSrv.URL, Rate: 100, Connections: 2, Duration: 400 * time.Millisecond, KeepAlive: boolp(false),
		TLS: &TLS{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey}})
	m := mtls.Measure
	if m.Requests < 30 || m.Succeeded != m.Requests || m.Connect == nil {
		t.Fatalf("mTLS: requests %d ok %d errors %v connect %v", m.Requests, m.Succeeded, m.Errors, m.Connect)
	}
	for name, h := range map[string]int64{"connect": m.Connect.Count(), "tls": m.TLSHandshake.Count(), "first byte": m.FirstByte.Count()} {
		if h != m.Requests {
			t.Errorf("mTLS: %s has %d samples for %d requests", name, h, m.Requests)
		}
	}
	if m.TLSHandshake.Percentile(50) <= 0 {
		t.Error("mTLS handshakes took no time")
	}

	pt := mustRun(t, Config{Target: plain.URL, Rate: 100, Duration: 300 * time.Millisecond, KeepAlive: boolp(false)}).Measure
	if pt.Connect == nil || pt.Connect.Count() != pt.Requests || pt.FirstByte.Count() != pt.Requests || pt.TLSHandshake.Count() != 0 {
		t.Errorf("plaintext: %d requests, connect %v, tls %v samples", pt.Requests, pt.Connect, pt.TLSHandshake)
	}

	ka := mustRun(t, Config{Target: plain.URL, Rate: 100, Duration: 200 * time.Millisecond}).Measure
	if ka.Connect != nil || ka.TLSHandshake != nil || ka.FirstByte != nil {
		t.Error("keep-alive on must record no per-connection phases")
	}
}

// TestMixHotPathDoesNotAllocate: choosing and sending a variant of a mix with
// spread bodies allocates nothing per request.
func TestMixHotPathDoesNotAllocate(t *testing.T) {
	srv := fastBodyServer(t)
	cfg := realWorldConfig(srv.URL(), 5)
	cfg.Churn = 0
	r := &run{cfg: cfg.withDefaults(), stats: &sharedStats{}, base: time.Now()}
	ep, err := r.cfg.endpoint()
	if err != nil {
		t.Fatal(err)
	}
	r.ep, r.mix = ep, newMixer(r.cfg)
	f, err := newH1Factory(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.variants) != 3*sizeQuantiles {
		t.Fatalf("%d variants, want %d", len(f.variants), 3*sizeQuantiles)
	}
	callers, err := f.open(context.Background(), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	c := callers[0]
	defer c.close()
	ps := r.newPhaseStats()
	key := uint64(0)
	allocs := testing.AllocsPerRun(2000, func() {
		v := r.mix.pick(key)
		key++
		if st, err := c.do(context.Background(), ps, time.Hour, v); err != nil || st != 200 {
			t.Fatalf("status %d err %v", st, err)
		}
		ps.mix[v/r.mix.sizes]++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per request", allocs)
	}
}

// fastBodyServer is fastServer for requests with bodies of a few KiB: a
// buffer large enough for a body and the next head (bodies hold no blank
// line, so each head's end is one request), and no allocation per request.
func fastBodyServer(t testing.TB) *rawServer {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	return newRawServer(t, func(c net.Conn, _ <-chan struct{}) {
		buf := make([]byte, 64<<10)
		n := 0
		for {
			m, err := c.Read(buf[n:])
			if err != nil {
				return
			}
			n += m
			for {
				i := bytes.Index(buf[:n], []byte("\r\n\r\n"))
				if i < 0 {
					break
				}
				n = copy(buf, buf[i+4:n])
				if _, err := c.Write(resp); err != nil {
					return
				}
			}
		}
	})
}
