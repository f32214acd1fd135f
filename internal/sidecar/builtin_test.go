package sidecar

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/proc"
)

// inProcess runs the builtin sidecar in this process with Run and returns its
// addresses; the test's cleanup cancels it and checks that Run returned nil.
func inProcess(t testing.TB, cfg Config) Addrs {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, func(a Addrs) { addrs <- a }) }()
	select {
	case a := <-addrs:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run(%s) = %v", cfg.Name, err)
			}
		})
		return a
	case err := <-done:
		cancel()
		t.Fatalf("Run(%s) = %v before ready", cfg.Name, err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatalf("Run(%s) not ready after 10s", cfg.Name)
	}
	return Addrs{}
}

// inProcessPath is client → A (outbound) → B (inbound) → app, both sidecars run by Run
// in this process.
func inProcessPath(t testing.TB, p Protocol, m MTLSMode) (a, b Addrs, app *testApp) {
	t.Helper()
	pk := newRunPKI(t, "client", "svc-1")
	app = startApp(t, p)
	b = inProcess(t, pk.spec(Spec{Name: "svc-1-proxy", Inbound: &Inbound{Listen: "127.0.0.1:0", App: app.addr},
		Protocol: p, MTLS: m, AdminListen: "127.0.0.1:0"}, "svc-1").BuiltinConfig())
	a = inProcess(t, pk.spec(Spec{Name: "client-proxy",
		Outbounds: []Outbound{{Listen: "127.0.0.1:0", Upstream: b.Inbound, UpstreamID: pk.ids["svc-1"].ID}},
		Protocol:  p, MTLS: m, AdminListen: "127.0.0.1:0"}, "client").BuiltinConfig())
	return a, b, app
}

func getBody(t testing.TB, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestBuiltinReadyNeedsTheApp: /ready answers 503, naming the app's address, while the
// application behind the inbound listener does not accept connections (on Kubernetes
// the sidecar's readiness probe stands for the app, which listens on loopback only), and
// 200 once it does.
func TestBuiltinReadyNeedsTheApp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	appAddr := ln.Addr().String()
	ln.Close() // nothing listens there yet
	pk := newRunPKI(t, "svc-1")
	b := inProcess(t, pk.spec(Spec{Name: "svc-1-proxy", Inbound: &Inbound{Listen: "127.0.0.1:0", App: appAddr},
		MTLS: Strict, AdminListen: "127.0.0.1:0"}, "svc-1").BuiltinConfig())
	if code, body := getBody(t, "http://"+b.Admin+"/ready"); code != http.StatusServiceUnavailable || !strings.Contains(body, appAddr) {
		t.Errorf("/ready without the app = %d %q, want 503 naming %s", code, body, appAddr)
	}
	ln, err = net.Listen("tcp", appAddr)
	if err != nil {
		t.Skipf("the app's port was taken meanwhile: %v", err)
	}
	defer ln.Close()
	if code, body := getBody(t, "http://"+b.Admin+"/ready"); code != 200 || body != "ready\n" {
		t.Errorf("/ready with the app = %d %q, want 200", code, body)
	}
}

// TestBuiltinAdmin checks the admin endpoints of Run: /ready, /stats (per listener)
// and /metrics (own registry, the sidecar's counters and the process collector).
func TestBuiltinAdmin(t *testing.T) {
	a, b, _ := inProcessPath(t, HTTP1, Strict)
	for range 3 {
		if err := callOnce(context.Background(), HTTP1, a.Outbounds[0], nil); err != nil {
			t.Fatal(err)
		}
	}
	if code, body := getBody(t, "http://"+b.Admin+"/ready"); code != 200 || body != "ready\n" {
		t.Errorf("/ready = %d %q", code, body)
	}
	code, body := getBody(t, "http://"+b.Admin+"/stats")
	if code != 200 {
		t.Fatalf("/stats = %d", code)
	}
	var doc StatsDocument
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Name != "svc-1-proxy" || doc.MTLS != Strict || len(doc.Listeners) != 1 {
		t.Fatalf("/stats = %+v", doc)
	}
	in := doc.Listeners[0]
	if in.Name != "inbound" || in.RequestsTotal != 3 || in.TLSHandshakesTotal < 1 || in.ReceivedBytesTotal == 0 ||
		in.SentBytesTotal == 0 || in.ConnectionsTotal < 1 || in.ErrorsTotal != 0 {
		t.Errorf("inbound stats = %+v", in)
	}
	_, body = getBody(t, "http://"+a.Admin+"/stats")
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if out := doc.Listeners[0]; out.Direction != "outbound" || out.UpstreamTLSHandshakesTotal < 1 || out.RequestsTotal != 3 {
		t.Errorf("outbound stats = %+v", out)
	}
	code, body = getBody(t, "http://"+b.Admin+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		`smp_sidecar_requests_total{direction="inbound",listener="inbound"} 3`,
		`smp_sidecar_info{mtls="strict",name="svc-1-proxy",protocol="http1"} 1`,
		`smp_sidecar_tls_handshakes_total{direction="inbound",listener="inbound"}`,
		"process_resident_memory_bytes",
		"go_goroutines",
		"go_gc_heap_live_bytes ", // bench/soak.sh's leak verdict reads it
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestBuiltinGRPCTrailers: status codes other than OK, with trailers after data and
// trailers-only, survive two builtin sidecars over mTLS and in plaintext.
func TestBuiltinGRPCTrailers(t *testing.T) {
	for _, m := range []MTLSMode{Strict, Off} {
		t.Run(string(m), func(t *testing.T) {
			a, _, _ := inProcessPath(t, GRPC, m)
			checkTrailers(t, a.Outbounds[0])
		})
	}
}

// TestBuiltinUpstreamDown: a request whose upstream is gone is answered by the sidecar
// (502, or gRPC UNAVAILABLE) and counted as an error.
func TestBuiltinUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	a := inProcess(t, Config{Name: "client-proxy", Outbounds: []Outbound{{Listen: "127.0.0.1:0", Upstream: dead}},
		Protocol: HTTP1, MTLS: Off, AdminListen: "127.0.0.1:0"})
	code, _ := getBody(t, "http://"+a.Outbounds[0]+"/x")
	if code != http.StatusBadGateway {
		t.Errorf("status = %d, want 502", code)
	}
	c, err := ReadCounters(context.Background(), nil, Builtin, "http://"+a.Admin+"/stats")
	if err != nil {
		t.Fatal(err)
	}
	if c.Errors != 1 || c.Requests != 1 {
		t.Errorf("counters = %+v, want 1 request and 1 error", c)
	}
}

// TestUpstreamIdentityChecked: an outbound whose UpstreamID names another service
// refuses the upstream sidecar, for every kind that runs here.
func TestUpstreamIdentityChecked(t *testing.T) {
	for _, k := range []Kind{Builtin, HAProxy, Nginx} {
		t.Run(string(k), func(t *testing.T) {
			tool := needTool(t, k)
			for _, p := range []Protocol{HTTP1, GRPC} {
				t.Run(string(p), func(t *testing.T) {
					h := startTwoHop(t, k, tool, p, Strict, "spiffe://smp.local/run/test-run/sa/svc-2")
					if err := callOnce(context.Background(), p, h.a.Addrs.Outbounds[0], nil); err == nil {
						t.Fatal("request went through to an upstream with the wrong identity")
					}
					if n := h.app.hits.Load(); n != 0 {
						t.Errorf("the app got %d requests", n)
					}
					// The right identity goes through: the refusal was about the id.
					h2 := startTwoHop(t, k, tool, p, Strict, "")
					if err := callOnce(context.Background(), p, h2.a.Addrs.Outbounds[0], nil); err != nil {
						t.Fatalf("with the right identity: %v", err)
					}
				})
			}
		})
	}
}

// TestMainReadyLine runs Main as `smp sidecar` does: one JSON ready line on stdout and
// nothing else, GOMAXPROCS untouched unless Concurrency is set.
func TestMainReadyLine(t *testing.T) {
	app := startApp(t, HTTP1)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sidecar.json")
	data, _ := json.Marshal(Config{Name: "svc-1-proxy", Inbound: &Inbound{Listen: "127.0.0.1:0", App: app.addr},
		Outbounds: []Outbound{{Listen: "127.0.0.1:0", Upstream: app.addr}}, MTLS: Off, AdminListen: "127.0.0.1:0"})
	if err := os.WriteFile(cfg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- Main(ctx, cfg, &stdout, &stderr) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stdout.String(), "\n") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	line := stdout.String()
	var r ReadyLine
	if err := json.Unmarshal([]byte(line), &r); err != nil || !r.Ready || r.Inbound == "" || len(r.Outbounds) != 1 || r.Admin == "" {
		t.Errorf("ready line %q: %+v, %v", line, r, err)
	}
	if err := callOnce(context.Background(), HTTP1, r.Inbound, nil); err != nil {
		t.Error(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Main = %v", err)
	}
	if stdout.String() != line {
		t.Errorf("more on stdout after the ready line: %q", stdout.String())
	}
}

func TestMainRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, json, want string }{
		{"unknown field", `{"name":"x","admin_listen":"127.0.0.1:0","mtls":"off","outbounds":[{"listen":"127.0.0.1:0","upstream":"127.0.0.1:1"}],"colour":1}`, `unknown field "colour"`},
		{"invalid spec", `{"name":"x","admin_listen":"127.0.0.1:0","protocol":"h3"}`, `protocol "h3"`},
		{"missing identity", `{"name":"x","admin_listen":"127.0.0.1:0","outbounds":[{"listen":"127.0.0.1:0","upstream":"127.0.0.1:1"}],"cert_file":"/nonexistent.pem","key_file":"/nonexistent.pem","ca_file":"/nonexistent.pem"}`, "load identity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".json")
			if err := os.WriteFile(cfg, []byte(tc.json), 0o644); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err := Main(context.Background(), cfg, &out, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Main = %v, want an error with %q", err, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", out.String())
			}
		})
	}
}

// TestLaunchBuiltinProcess: the builtin as its own process, with Concurrency applied
// to GOMAXPROCS, its PID real, and nothing left once stopped.
func TestLaunchBuiltinProcess(t *testing.T) {
	app := startApp(t, HTTP1)
	sc := launch(t, Builtin, Tool{}, Spec{Name: "svc-1-proxy", Inbound: &Inbound{Listen: "127.0.0.1:0", App: app.addr},
		MTLS: Off, Concurrency: 1, AdminListen: "127.0.0.1:0"})
	if sc.PID() <= 0 || sc.PID() == os.Getpid() {
		t.Fatalf("PID = %d", sc.PID())
	}
	_, body := getBody(t, sc.StatsURL)
	var doc StatsDocument
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Concurrency != 1 {
		t.Errorf("concurrency = %d, want 1 (GOMAXPROCS from the config)", doc.Concurrency)
	}
	if err := sc.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(sc.PID())); err == nil {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(sc.PID()) + "/stat"); !bytes.Contains(b, []byte(") Z")) {
			t.Errorf("pid %d still running after Stop", sc.PID())
		}
	}
	if _, err := net.DialTimeout("tcp", sc.Addrs.Inbound, time.Second); err == nil {
		t.Errorf("inbound %s still accepts after Stop", sc.Addrs.Inbound)
	}
}

// TestLaunchFailureSaysWhy: a sidecar that exits at start is an error with its command
// line and its own words, and leaves nothing running.
func TestLaunchFailureSaysWhy(t *testing.T) {
	_, err := Launch(context.Background(), Builtin, Spec{
		Name: "broken", Outbounds: []Outbound{{Listen: "127.0.0.1:0", Upstream: "127.0.0.1:1"}},
		CertFile: "/nonexistent/cert.pem", KeyFile: "/nonexistent/key.pem", CAFile: "/nonexistent/ca.pem",
		AdminListen: "127.0.0.1:0", WorkDir: t.TempDir(),
	}, Options{Env: []string{childEnv + "=1"}})
	var re *proc.RunError
	if !errors.As(err, &re) {
		t.Fatalf("Launch = %v, want a *proc.RunError", err)
	}
	if !strings.Contains(re.Command, "sidecar --config") || !strings.Contains(re.Output, "load identity") {
		t.Errorf("RunError lacks the command or the cause: %v", re)
	}
}

// TestLaunchMissingBinary: a missing proxy is a clear error with the install hint,
// found before anything starts.
func TestLaunchMissingBinary(t *testing.T) {
	for _, k := range []Kind{HAProxy, Nginx, Envoy} {
		_, err := Launch(context.Background(), k, Spec{Name: "x", Inbound: &Inbound{Listen: "127.0.0.1:0", App: "127.0.0.1:1"},
			MTLS: Off, AdminListen: "127.0.0.1:0", WorkDir: t.TempDir()}, Options{Binary: "smp-no-such-" + string(k)})
		var nf *proc.NotFoundError
		if !errors.As(err, &nf) {
			t.Errorf("%s: Launch = %v, want *proc.NotFoundError", k, err)
			continue
		}
		if !strings.Contains(err.Error(), "install it with: ") {
			t.Errorf("%s: error %q has no install hint", k, err)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader in two goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLaunchPortInUse: a fixed port that is taken is reported as such (the words Launch
// looks for before it picks other free ports for ":0" addresses).
func TestLaunchPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// nginx and haproxy retry bind() for about 5 s before they give up: run them side by side.
	t.Run("kinds", func(t *testing.T) {
		for _, k := range []Kind{Builtin, HAProxy, Nginx} {
			t.Run(string(k), func(t *testing.T) {
				t.Parallel()
				tool := needTool(t, k)
				_, err := Launch(context.Background(), k, Spec{Name: "x", Inbound: &Inbound{Listen: "127.0.0.1:0", App: "127.0.0.1:1"},
					MTLS: Off, AdminListen: ln.Addr().String(), WorkDir: shortTempDir(t)}, Options{Tool: tool, Env: []string{childEnv + "=1"}})
				if err == nil || !strings.Contains(err.Error(), "in use") {
					t.Errorf("Launch = %v, want an error saying the address is in use", err)
				}
			})
		}
	})
}
