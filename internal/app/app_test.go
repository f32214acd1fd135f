package app

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/service-mesh-performance/smp/internal/grpcecho"
)

var protocols = []Protocol{HTTP1, H2C, GRPC}

func TestChain(t *testing.T) {
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			// Each service returns a different size, so the body proves
			// which one answered the client.
			addrs := chain(t, 3, p, func(i int, c *Config) { c.ResponseSize = 4321 - i })
			r := newClient(t, p).do(t, addrs[0], "/productpage?u=normal")
			if !r.ok {
				t.Fatalf("reply %s: %s", r.code, r.body)
			}
			if r.hops != "3" {
				t.Errorf("x-smp-hops %q, want 3", r.hops)
			}
			if r.service != "svc-1" {
				t.Errorf("x-smp-service %q, want svc-1", r.service)
			}
			if want := makeBody(4321); !bytes.Equal(r.body, want) {
				t.Errorf("body: %d bytes, want svc-1's %d", len(r.body), len(want))
			}
			if p == H2C && r.proto != 2 {
				t.Errorf("h2c reply over HTTP/%d", r.proto)
			}
			okCode := "200"
			if p == GRPC {
				okCode = "OK"
			}
			for i, a := range addrs {
				name := fmt.Sprintf("svc-%d", i+1)
				if got := metric(t, a, "smp_app_requests_total", "service="+name, "protocol="+string(p), "code="+okCode); got != 1 {
					t.Errorf("%s counted %v %s requests, want 1", name, got, p)
				}
				if got := metric(t, a, "smp_app_request_duration_seconds_count", "protocol="+string(p)); got != 1 {
					t.Errorf("%s duration histogram has %v observations, want 1", name, got)
				}
				if i < len(addrs)-1 {
					up := fmt.Sprintf("svc-%d", i+2)
					if got := metric(t, a, "smp_app_upstream_calls_total", "upstream="+up, "outcome=ok"); got != 1 {
						t.Errorf("%s counted %v ok calls to %s, want 1", name, got, up)
					}
				}
				if got := metric(t, a, "smp_app_requests_in_flight"); got != 0 {
					t.Errorf("%s in flight %v after the reply", name, got)
				}
			}
		})
	}
}

// barrier answers its n callers only once all n have arrived, so a
// caller that calls one upstream after the other never gets past the
// first: a proof of parallel calls that does not depend on timing. The
// timeout only bounds how long a wrong implementation takes to fail.
type barrier struct {
	n       int
	mu      sync.Mutex
	arrived int
	all     chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, all: make(chan struct{})} }

func (b *barrier) arrive() bool {
	b.mu.Lock()
	b.arrived++
	if b.arrived == b.n {
		close(b.all)
	}
	b.mu.Unlock()
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-b.all:
		return true
	case <-t.C:
		return false
	}
}

// Echo makes a barrier a gRPC upstream.
func (b *barrier) Echo(context.Context, *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	if !b.arrive() {
		return nil, status.Error(codes.DeadlineExceeded, "barrier: the other calls never came")
	}
	return &wrapperspb.BytesValue{}, nil
}

// serveBarrier serves b over HTTP/1.1 and h2c, and over gRPC, each
// request counting as one arrival.
func serveBarrier(t *testing.T, b *barrier) Addrs {
	t.Helper()
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !b.arrive() {
			http.Error(w, "barrier: the other calls never came", http.StatusGatewayTimeout)
		}
	}))
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	hs.Config.Protocols = &p
	hs.Start()
	t.Cleanup(hs.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	grpcecho.Register(gs, b)
	served := make(chan struct{})
	go func() { defer close(served); _ = gs.Serve(ln) }()
	t.Cleanup(func() { gs.Stop(); <-served })
	return Addrs{HTTP: hs.Listener.Addr().String(), GRPC: ln.Addr().String()}
}

func TestFanOutCallsUpstreamsInParallel(t *testing.T) {
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			b := newBarrier(3)
			addr := upstreamAddr(serveBarrier(t, b), p)
			root := start(t, Config{Name: "svc-1", HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", UpstreamProtocol: p,
				Upstreams: []Upstream{{Name: "up-1", Addr: addr}, {Name: "up-2", Addr: addr}, {Name: "up-3", Addr: addr}}})
			if r := newClient(t, p).do(t, root, "/"); !r.ok {
				t.Fatalf("reply %s: %s", r.code, r.body)
			}
		})
	}
}

// TestFanOut runs a 4-service fan-out of smp services whose leaves each
// wait delay: the reply takes about one delay, not three.
func TestFanOut(t *testing.T) {
	// Long enough that a loaded machine's scheduling noise (hundreds of
	// milliseconds were seen on 2 busy cores) stays below one delay.
	const delay = time.Second
	var ups []Upstream
	var leaves []Addrs
	for i := 2; i <= 4; i++ {
		name := fmt.Sprintf("svc-%d", i)
		a := start(t, Config{Name: name, HTTPAddr: "127.0.0.1:0", Delay: delay, ResponseSize: 10})
		leaves = append(leaves, a)
		ups = append(ups, Upstream{Name: name, Addr: a.HTTP})
	}
	root := start(t, Config{Name: "svc-1", HTTPAddr: "127.0.0.1:0", Upstreams: ups, ResponseSize: 100})
	c := newClient(t, HTTP1)
	begin := time.Now()
	r := c.do(t, root, "/")
	took := time.Since(begin)
	if !r.ok {
		t.Fatalf("reply %s: %s", r.code, r.body)
	}
	if r.hops != "4" {
		t.Errorf("x-smp-hops %q, want 4 (svc-1 and its 3 upstreams)", r.hops)
	}
	if len(r.body) != 100 {
		t.Errorf("body %d bytes, want svc-1's 100", len(r.body))
	}
	// One after the other the calls would take 3×delay.
	if took >= 2*delay {
		t.Errorf("fan-out took %v: the delays did not overlap (sequential: %v)", took, 3*delay)
	}
	if took < delay {
		t.Errorf("fan-out took %v, less than one upstream's delay %v", took, delay)
	}
	for i, a := range leaves {
		if got := metric(t, a, "smp_app_requests_total", "code=200"); got != 1 {
			t.Errorf("svc-%d counted %v requests, want 1", i+2, got)
		}
	}
}

func TestUpstreamDown(t *testing.T) {
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			dead := deadAddr(t)
			// svc-1 → svc-2 → svc-gone: the failure is two hops away.
			addrs := chain(t, 2, p, func(i int, c *Config) {
				if i == 1 {
					c.Upstreams = []Upstream{{Name: "svc-gone", Addr: dead}}
				}
			})
			c := newClient(t, p)
			r := c.do(t, addrs[1], "/")
			wantCode := "502"
			if p == GRPC {
				wantCode = "Unavailable"
			}
			if r.code != wantCode {
				t.Fatalf("svc-2 answered %s (%s), want %s", r.code, r.body, wantCode)
			}
			if msg := string(r.body); !strings.Contains(msg, "svc-2: upstream svc-gone ("+dead+")") {
				t.Errorf("svc-2's message does not name the upstream: %q", msg)
			}
			if r.service != "svc-2" || r.hops != "1" {
				t.Errorf("x-smp-service %q, x-smp-hops %q; want svc-2, 1", r.service, r.hops)
			}

			r = c.do(t, addrs[0], "/")
			if r.code != wantCode {
				t.Fatalf("svc-1 answered %s (%s), want %s", r.code, r.body, wantCode)
			}
			msg := string(r.body)
			if !strings.Contains(msg, "svc-1: upstream svc-2") || !strings.Contains(msg, "svc-2: upstream svc-gone") {
				t.Errorf("svc-1's message does not carry the cause through the chain: %q", msg)
			}
			if r.hops != "2" {
				t.Errorf("x-smp-hops %q, want 2 (svc-1 and svc-2 ran)", r.hops)
			}
			if got := metric(t, addrs[1], "smp_app_upstream_calls_total", "upstream=svc-gone", "outcome=error"); got != 2 {
				t.Errorf("svc-2 counted %v failed calls to svc-gone, want 2", got)
			}
			if got := metric(t, addrs[0], "smp_app_upstream_calls_total", "upstream=svc-2", "outcome=status"); got != 1 {
				t.Errorf("svc-1 counted %v error answers from svc-2, want 1", got)
			}
			if got := metric(t, addrs[0], "smp_app_requests_total", "protocol="+string(p), "code="+wantCode); got != 1 {
				t.Errorf("svc-1 counted %v %s replies, want 1", got, wantCode)
			}
		})
	}
}

func TestUpstreamTimeout(t *testing.T) {
	for _, p := range protocols {
		t.Run(string(p), func(t *testing.T) {
			addrs := chain(t, 2, p, func(i int, c *Config) {
				if i == 0 {
					c.UpstreamTimeout = 100 * time.Millisecond
				} else {
					c.Delay = time.Minute // cut short when svc-1 gives up
				}
			})
			begin := time.Now()
			r := newClient(t, p).do(t, addrs[0], "/")
			if took := time.Since(begin); took > 10*time.Second {
				t.Errorf("took %v with a 100ms upstream timeout", took)
			}
			if r.ok {
				t.Fatal("a stalled upstream gave a successful reply")
			}
			if msg := string(r.body); !strings.Contains(msg, "upstream svc-2") || !strings.Contains(msg, "no answer within 100ms") {
				t.Errorf("message %q does not say which upstream timed out", msg)
			}
			if got := metric(t, addrs[0], "smp_app_upstream_calls_total", "upstream=svc-2", "outcome=timeout"); got != 1 {
				t.Errorf("counted %v timeouts, want 1", got)
			}
		})
	}
}

func TestHealthDoesNotCallUpstreams(t *testing.T) {
	a := start(t, Config{Name: "svc-1", HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0",
		Upstreams: []Upstream{{Name: "svc-gone", Addr: deadAddr(t)}}})
	c := newClient(t, HTTP1)
	r := c.do(t, a, "/healthz")
	if r.code != "200" || string(r.body) != "ok\n" {
		t.Errorf("/healthz: %s %q", r.code, r.body)
	}
	if got := metric(t, a, "smp_app_upstream_calls_total", "upstream=svc-gone", "outcome=error"); got != 0 {
		t.Errorf("/healthz made %v upstream calls", got)
	}
	if got := metric(t, a, "smp_app_requests_total", "code=200"); got != 0 {
		t.Errorf("/healthz counted as %v requests", got)
	}

	cc, err := grpc.NewClient("passthrough:///"+a.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	for _, svc := range []string{"", grpcecho.ServiceName} {
		resp, err := healthpb.NewHealthClient(cc).Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatalf("health check %q: %v", svc, err)
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q: %v", svc, resp.GetStatus())
		}
	}
}

func TestRequestBodyIsReadAndDiscarded(t *testing.T) {
	for _, p := range []Protocol{HTTP1, H2C} {
		t.Run(string(p), func(t *testing.T) {
			addrs := chain(t, 2, p, func(_ int, c *Config) { c.ResponseSize = 7 })
			c := newClient(t, p)
			payload := bytes.Repeat([]byte("x"), 1<<20)
			resp, err := c.http.Post("http://"+addrs[0].HTTP+"/upload", "application/octet-stream", bytes.NewReader(payload))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body bytes.Buffer
			if _, err := body.ReadFrom(resp.Body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || body.Len() != 7 || resp.Header.Get("X-Smp-Hops") != "2" {
				t.Errorf("POST of 1 MiB: %d, %d bytes, hops %q: %s", resp.StatusCode, body.Len(), resp.Header.Get("X-Smp-Hops"), body.Bytes())
			}
		})
	}
}

// TestUpstreamRequest checks what an upstream receives, with a plain
// net/http server standing in for it: a GET of the same path and query
// with the tracing headers, and no x-smp-hops back (which counts 0).
func TestUpstreamRequest(t *testing.T) {
	type seen struct {
		method, uri, requestID, traceparent, other string
	}
	got := make(chan seen, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Method, r.RequestURI, r.Header.Get("X-Request-Id"), r.Header.Get("Traceparent"), r.Header.Get("X-Other")}
	}))
	defer up.Close()
	a := start(t, Config{Name: "svc-1", HTTPAddr: "127.0.0.1:0",
		Upstreams: []Upstream{{Name: "plain", Addr: up.Listener.Addr().String()}}})
	c := newClient(t, HTTP1)
	req, err := http.NewRequest(http.MethodPut, "http://"+a.HTTP+"/reviews/0?x=1&y=%2F", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Request-Id", "abc")
	req.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	req.Header.Set("X-Other", "not passed on")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Smp-Hops") != "1" {
		t.Errorf("reply %d, hops %q; want 200, 1 (the plain upstream sends no hops)", resp.StatusCode, resp.Header.Get("X-Smp-Hops"))
	}
	s := <-got
	want := seen{"GET", "/reviews/0?x=1&y=%2F", "abc", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", ""}
	if s != want {
		t.Errorf("upstream saw %+v, want %+v", s, want)
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := writeCert(t, dir)
	a := start(t, Config{Name: "svc-1", HTTPAddr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0",
		CertFile: certFile, KeyFile: keyFile, ResponseSize: 5})
	if a.TLS == "" || a.GRPC != "" {
		t.Fatalf("addrs %+v: want a TLS listener and no gRPC", a)
	}
	for _, tc := range []struct {
		alpn  string
		major int
		label string
	}{{"h2", 2, "h2"}, {"http/1.1", 1, "http1-tls"}} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, NextProtos: []string{tc.alpn}}, ForceAttemptHTTP2: tc.alpn == "h2"}
		resp, err := (&http.Client{Transport: tr}).Get("https://" + a.TLS + "/")
		if err != nil {
			t.Fatalf("%s: %v", tc.alpn, err)
		}
		resp.Body.Close()
		tr.CloseIdleConnections()
		if resp.StatusCode != 200 || resp.ProtoMajor != tc.major || resp.ContentLength != 5 {
			t.Errorf("ALPN %s: %d over HTTP/%d, %d bytes", tc.alpn, resp.StatusCode, resp.ProtoMajor, resp.ContentLength)
		}
		if got := metric(t, a, "smp_app_requests_total", "protocol="+tc.label, "code=200"); got != 1 {
			t.Errorf("counted %v %s requests, want 1", got, tc.label)
		}
	}
}

// writeCert writes a self-signed certificate for 127.0.0.1.
func writeCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "svc-1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestRunFailsBeforeReady(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"invalid", Config{Name: "svc-1"}, "http_addr: required"},
		{"port in use", Config{Name: "svc-1", HTTPAddr: busy.Addr().String()}, "listen http on " + busy.Addr().String()},
		{"grpc port in use", Config{Name: "svc-1", HTTPAddr: "127.0.0.1:0", GRPCAddr: busy.Addr().String()}, "listen grpc"},
		{"missing key pair", Config{Name: "svc-1", HTTPAddr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0",
			CertFile: "/nonexistent/cert.pem", KeyFile: "/nonexistent/key.pem"}, "load TLS key pair"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			err := Run(context.Background(), tc.cfg, func(Addrs) { called = true })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run: %v, want an error containing %q", err, tc.want)
			}
			if called {
				t.Error("ready was called")
			}
		})
	}
}

func TestRunWithDoneContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	if err := Run(ctx, Config{Name: "svc-1", HTTPAddr: "127.0.0.1:0"}, func(Addrs) { called = true }); err != nil || called {
		t.Errorf("Run with a done ctx: %v, ready called %v; want nil, false", err, called)
	}
}

// TestShutdownCutsOffStuckRequests stops a service while one of its
// requests waits for an upstream that never answers: Run must return
// after draining for drainTimeout, close its port, and the client must not
// see a success.
func TestShutdownCutsOffStuckRequests(t *testing.T) {
	hit := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(hit)
		<-r.Context().Done()
	}))
	defer up.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan Addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Name: "svc-1", HTTPAddr: "127.0.0.1:0",
			Upstreams: []Upstream{{Name: "stuck", Addr: up.Listener.Addr().String()}}, UpstreamTimeout: time.Hour},
			func(a Addrs) { ready <- a })
	}()
	a := <-ready
	c := newClient(t, HTTP1)
	replied := make(chan reply, 1)
	go func() {
		resp, err := c.http.Get("http://" + a.HTTP + "/")
		if err != nil {
			replied <- reply{code: err.Error()}
			return
		}
		resp.Body.Close()
		replied <- reply{ok: resp.StatusCode == 200, code: resp.Status}
	}()
	<-hit
	begin := time.Now()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if took := time.Since(begin); took < drainTimeout || took > drainTimeout+5*time.Second {
		t.Errorf("Run returned %v after cancel, want about drainTimeout (%v)", took, drainTimeout)
	}
	if r := <-replied; r.ok {
		t.Errorf("the cut-off request got %s", r.code)
	}
	if conn, err := net.Dial("tcp", a.HTTP); err == nil {
		conn.Close()
		t.Error("the port still accepts connections after Run returned")
	}
}

func TestResponseSizeZero(t *testing.T) {
	a := start(t, Config{Name: "svc-1", HTTPAddr: "127.0.0.1:0"})
	r := newClient(t, H2C).do(t, a, "/")
	if r.code != "200" || len(r.body) != 0 || r.hops != "1" {
		t.Errorf("reply %s, %d bytes, hops %q", r.code, len(r.body), r.hops)
	}
}

func TestErrorsAreWrapped(t *testing.T) {
	err := Run(context.Background(), Config{Name: "svc-1", HTTPAddr: "127.0.0.1:0", ResponseSize: -1, Delay: -1}, nil)
	if err == nil {
		t.Fatal("no error")
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 2 {
		t.Errorf("want both problems reported, got %v", err)
	}
}
