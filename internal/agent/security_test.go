package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/engine"
)

// syncBuffer is a log destination safe for the agent's goroutines.
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

// startRequest is a valid start request for target, starting soon.
func startRequest(t *testing.T, target string) []byte {
	t.Helper()
	load, err := loadOf(engine.Config{Target: target, Rate: 100, Connections: 1, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(StartRequest{Protocol: ProtocolVersion, Agents: 1, StartAt: time.Now().Add(100 * time.Millisecond), Load: load})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// post sends a start request with a hand-made TLS client, as an attacker would.
func post(conf *tls.Config, addr string, body []byte, token string) (int, string, error) {
	tr := &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodPost, "https://"+addr+PathRun, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg), nil
}

// TestRefusals: an agent takes a start request only from its own controller, over
// mutual TLS, with the token when it has one, for a target on its allow-list. Every
// refusal is logged, and the target never sees a request; the last case, a valid
// controller with an allowed target, shows that the checks do let the right one in.
func TestRefusals(t *testing.T) {
	srv, served := target(t)
	other, _ := target(t)
	b, err := NewBundle("", true)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := NewBundle("", false) // another run's CA
	if err != nil {
		t.Fatal(err)
	}
	creds, err := b.AgentCredentials()
	if err != nil {
		t.Fatal(err)
	}
	allow, err := ParseAllowList(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	// The hand-made client's accepted run is stopped before its start; whether it ends
	// with a result (of no requests) or an error depends on whether its connections were
	// open when the stop arrived, a race a loaded machine can win either way. Only runs
	// that sent requests are counted; the controller's is the only one that may.
	var runs, loaded atomic.Int64
	addr := serveAgent(t, ServerConfig{Credentials: creds, Allow: allow, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		OnResult: func(_ StartRequest, res *engine.Result) {
			runs.Add(1)
			if res.Measure.Requests > 0 {
				loaded.Add(1)
			}
		}})

	// Clients that verify the agent properly (the run CA), with various identities.
	withCert := func(c tls.Certificate) *tls.Config {
		conf := &tls.Config{RootCAs: b.CA.Pool(), ServerName: "localhost", NextProtos: []string{"h2"}}
		if c.Certificate != nil {
			conf.Certificates = []tls.Certificate{c}
		}
		return conf
	}
	for _, tc := range []struct {
		name   string
		conf   *tls.Config
		token  string
		target string
		status int    // 0: the handshake must fail
		log    string // what the agent logs
	}{
		{"no client certificate", withCert(tls.Certificate{}), b.Token, srv.URL, 0, "no certificate"},
		{"certificate from another CA", withCert(stranger.Controller.TLS), b.Token, srv.URL, 0, "certificate signed by unknown authority"},
		{"an agent's certificate, not a controller's", withCert(b.Agent.TLS), b.Token, srv.URL, 0, "sa/smp-agent, want"},
		{"controller without the token", withCert(b.Controller.TLS), "", srv.URL, http.StatusUnauthorized, "missing or wrong token"},
		{"controller with a wrong token", withCert(b.Controller.TLS), "guess", srv.URL, http.StatusUnauthorized, "missing or wrong token"},
		{"target outside the allow-list", withCert(b.Controller.TLS), b.Token, other.URL, http.StatusForbidden, "not in this agent's allow-list"},
		{"the controller, an allowed target", withCert(b.Controller.TLS), b.Token, srv.URL, http.StatusOK, "run accepted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(logs.String())
			status, body, err := post(tc.conf, addr, startRequest(t, tc.target), tc.token)
			if tc.status == 0 {
				if err == nil {
					t.Fatalf("handshake succeeded: status %d %s", status, body)
				}
			} else if err != nil || status != tc.status {
				t.Fatalf("status %d (%v), want %d; body %s", status, err, tc.status, body)
			}
			got := logs.String()[before:]
			if !strings.Contains(got, tc.log) || !strings.Contains(got, "peer=127.0.0.1:") {
				t.Errorf("the agent's log lacks %q with the peer's address:\n%s", tc.log, got)
			}
		})
	}
	// The hand-made client above closed its request body at once, which tells the agent
	// to stop before its start; nothing may have reached the target yet.
	if n := served.Load(); n != 0 {
		t.Errorf("the target saw %d requests from refused or stopped runs", n)
	}
	// The real controller runs a load through the same agent.
	ctrl, err := b.ControllerCredentials()
	if err != nil {
		t.Fatal(err)
	}
	c := Controller{Agents: []string{addr}, Credentials: ctrl, Lead: testLead}
	out, err := c.Run(context.Background(), engine.Config{Target: srv.URL, Rate: 100, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if n := loaded.Load(); n != 1 || out.Result == nil || served.Load() != out.Result.Measure.Requests+1 || out.Agents[0].Reach.Attempts != 1 {
		t.Errorf("%d runs with requests (%d in all), %d requests served: want exactly the controller's run and its reach check",
			n, runs.Load(), served.Load())
	}
}

// serveAgent serves one agent with cfg on a loopback port until the test ends, and
// returns its address. Serve must then return without an error.
func serveAgent(t *testing.T, cfg ServerConfig) string {
	t.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String()
}

// TestControllerRefusesImpostor: a controller does not drive a server whose
// certificate comes from another CA, even one that says it is an agent.
func TestControllerRefusesImpostor(t *testing.T) {
	srv, served := target(t)
	ours, err := NewBundle("", false)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := StartLocal(context.Background(), 1, LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer theirs.Close()
	ctrl, err := ours.ControllerCredentials()
	if err != nil {
		t.Fatal(err)
	}
	c := Controller{Agents: theirs.Addresses, Credentials: ctrl}
	_, err = c.Run(context.Background(), engine.Config{Target: srv.URL, Rate: 10, Duration: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no load was sent") {
		t.Fatalf("error %v, want the run refused before any load", err)
	}
	if served.Load() != 0 {
		t.Errorf("the target saw %d requests", served.Load())
	}
}

// TestRefusedShareCallsTheRunOff: when one of two agents refuses its share (its
// allow-list does not have the target), neither sends anything, not even the reach
// check's request: every agent checks its share before any of them sends one.
func TestRefusedShareCallsTheRunOff(t *testing.T) {
	srv, served := target(t)
	b, err := NewBundle("", false)
	if err != nil {
		t.Fatal(err)
	}
	open, err := startLocalWith(t, b, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	creds, err := b.AgentCredentials()
	if err != nil {
		t.Fatal(err)
	}
	allow, err := ParseAllowList("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	strict := serveAgent(t, ServerConfig{Credentials: creds, Allow: allow})
	ctrl, err := b.ControllerCredentials()
	if err != nil {
		t.Fatal(err)
	}
	c := Controller{Agents: []string{open.Addresses[0], strict}, Credentials: ctrl, Lead: 500 * time.Millisecond}
	_, err = c.Run(context.Background(), engine.Config{Target: srv.URL, Rate: 100, Connections: 2, Duration: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "no load was sent") {
		t.Fatalf("error %v, want a 403 that calls the run off", err)
	}
	if served.Load() != 0 {
		t.Errorf("the target saw %d requests", served.Load())
	}
}

func TestAllowList(t *testing.T) {
	a, err := ParseAllowList("10.0.0.0/8, api.internal", "127.0.0.1:8080,[::1]:9000")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		target string
		ok     bool
	}{
		{"http://10.1.2.3:80/", true},
		{"https://10.1.2.3/", true},
		{"grpc://10.9.9.9:9090", true},
		{"10.9.9.9:9090", true},
		{"http://11.0.0.1/", false},
		{"http://api.internal:1234/x", true},
		{"http://API.internal/", true},
		{"http://api.internal.evil.com/", false},
		{"http://127.0.0.1:8080/", true},
		{"http://127.0.0.1:8081/", false},
		{"http://[::1]:9000/", true},
		{"http://localhost:8080/", false}, // names are not resolved
	} {
		if err := a.Check(tc.target); (err == nil) != tc.ok {
			t.Errorf("%s: %v, want allowed=%v", tc.target, err, tc.ok)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "host:0", "a b", "http://x/"} {
		if _, err := ParseAllowList(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	var none *AllowList
	if err := none.Check("http://anything/"); err != nil {
		t.Errorf("an empty list refused: %v", err)
	}
}

func TestShares(t *testing.T) {
	cfg := engine.Config{Target: "http://x/", Rate: 1000, Connections: 10, MaxInflight: 100, Duration: time.Second,
		Arrival: engine.Arrival{Pattern: engine.Uniform, Jitter: 0.8, Seed: 3}}
	s, err := Shares(cfg, 4)
	if err != nil {
		t.Fatal(err)
	}
	conns, seeds := 0, map[int64]bool{}
	for i, sh := range s {
		c := sh.cfg
		conns += c.Connections
		seeds[c.Arrival.Seed] = true
		if c.Rate != 250 || c.Arrival.Jitter != 0.2 || c.MaxInflight != 25 {
			t.Errorf("agent %d: rate %v jitter %v max inflight %d", i, c.Rate, c.Arrival.Jitter, c.MaxInflight)
		}
		if want := (float64(i)+0.5)/4 - 0.5; c.Arrival.Phase != want {
			t.Errorf("agent %d: phase %v, want %v", i, c.Arrival.Phase, want)
		}
	}
	if conns != 10 || len(seeds) != 4 {
		t.Errorf("%d connections, %d distinct seeds; want 10 and 4", conns, len(seeds))
	}
	if _, err := Shares(engine.Config{Target: "http://x/", Connections: 3, Duration: time.Second}, 4); err == nil {
		t.Error("3 connections spread over 4 agents")
	}
}

func TestBestSample(t *testing.T) {
	// Controller at 0, agent 5ms ahead. A ping with symmetric 1ms delays, and one with
	// 9ms out and 1ms back (queueing), which alone would put the offset at 9ms.
	sym := sampleOf(0, int64(6*time.Millisecond), int64(6*time.Millisecond), int64(2*time.Millisecond), 2*time.Millisecond)
	skew := sampleOf(0, int64(14*time.Millisecond), int64(14*time.Millisecond), int64(10*time.Millisecond), 10*time.Millisecond)
	if sym.Offset != 5*time.Millisecond || sym.RTT != 2*time.Millisecond {
		t.Errorf("symmetric ping: %+v", sym)
	}
	if got := BestSample([]ClockSample{skew, sym, skew}); got != sym {
		t.Errorf("best of the pings is %+v, want the fastest %+v", got, sym)
	}
}

func TestLoopbackTargetNeedsLoopbackAgents(t *testing.T) {
	c := Controller{Agents: []string{"10.0.0.3:7070"}}
	_, err := c.Run(context.Background(), engine.Config{Target: "http://127.0.0.1:8080/", Rate: 1, Duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), "would load its own machine") {
		t.Errorf("error %v", err)
	}
	if u, _ := url.Parse(URL("10.0.0.3:7070")); u.Scheme != "https" || u.Host != "10.0.0.3:7070" {
		t.Errorf("URL = %v", u)
	}
}
