package agent

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/engine"
)

// unavailableFor is a real HTTP server that answers 503 to its first n requests (a
// Service whose route is not programmed yet, a mesh without its endpoints) and 200
// after; n < 0 answers 503 forever. It counts every request.
func unavailableFor(t *testing.T, n int64) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var seen atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k := seen.Add(1); n < 0 || k <= n {
			http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s, &seen
}

// TestAgentsWaitUntilTheTargetServes: a target that fails its first 5 requests is
// reached by both agents before the run, one request at a time each, so the trial
// measures a target that serves: no failed request, and the server saw exactly the
// reach checks' requests and the run's.
func TestAgentsWaitUntilTheTargetServes(t *testing.T) {
	const failFirst = 5
	srv, served := unavailableFor(t, failFirst)
	l, err := StartLocal(context.Background(), 2, LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c := Controller{Agents: l.Addresses, Credentials: l.Controller, Lead: testLead}
	out, err := c.Run(context.Background(), engine.Config{Target: srv.URL, Rate: 100, Connections: 2, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var attempts int64
	saw503 := false
	for _, a := range out.Agents {
		if a.State != StateComplete || a.Reach.Attempts < 1 || a.Reach.After <= 0 {
			t.Errorf("agent %d: %s (%v), reach %+v", a.Index, a.State, a.Err, a.Reach)
		}
		attempts += int64(a.Reach.Attempts)
		saw503 = saw503 || strings.Contains(a.Reach.FirstError, "status 503")
		t.Logf("agent %d: %d attempts in %v, first: %q", a.Index, a.Reach.Attempts, a.Reach.After, a.Reach.FirstError)
	}
	if attempts != failFirst+2 || !saw503 {
		t.Errorf("%d attempts in all, a 503 seen: %v; want the %d failures and one success per agent", attempts, saw503, failFirst)
	}
	m := out.Result.Measure
	if m.Failed != 0 || m.Requests == 0 {
		t.Errorf("measured %d requests, %d failed (%v): want none failed", m.Requests, m.Failed, m.Status)
	}
	if got := served.Load(); got != attempts+m.Requests+out.Result.Warmup.Requests {
		t.Errorf("the server saw %d requests: %d reach attempts and %d run requests", got, attempts, m.Requests)
	}
}

// TestUnreachableTargetCallsTheRunOff: a target that never serves, or is not there,
// calls the run off after ReachTimeout, with what the last attempt met; no agent
// started a run.
func TestUnreachableTargetCallsTheRunOff(t *testing.T) {
	failing, served := unavailableFor(t, -1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/"
	ln.Close()
	for _, tc := range []struct{ name, target, met string }{
		{"always 503", failing.URL, "the last met status 503"},
		{"nothing listening", closed, "the last met refused: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var runs atomic.Int64
			l, err := StartLocal(context.Background(), 2, LocalOptions{OnResult: func(int, StartRequest, *engine.Result) { runs.Add(1) }})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			c := Controller{Agents: l.Addresses, Credentials: l.Controller, Lead: testLead, ReachTimeout: time.Second}
			before := served.Load()
			_, err = c.Run(context.Background(), engine.Config{Target: tc.target, Rate: 100, Connections: 2, Duration: 300 * time.Millisecond})
			if err == nil || !strings.Contains(err.Error(), "could not reach "+tc.target+" in 1s") ||
				!strings.Contains(err.Error(), tc.met) || !strings.Contains(err.Error(), "no load was sent") {
				t.Fatalf("error %v, want the run called off: could not reach, %q", err, tc.met)
			}
			if runs.Load() != 0 {
				t.Errorf("%d agents ran a load", runs.Load())
			}
			t.Logf("%v (the 503 server saw %d requests)", err, served.Load()-before)
		})
	}
}

// holdingListener hands its server the first connection (an agent's reach check) and
// holds every later one open without a word, as a route that broke after the check:
// their TLS handshakes hang until the dialer's timeout.
type holdingListener struct {
	net.Listener
	accepted atomic.Int64
	mu       sync.Mutex
	held     []net.Conn
}

func (l *holdingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || l.accepted.Add(1) == 1 {
			return c, err
		}
		l.mu.Lock()
		l.held = append(l.held, c)
		l.mu.Unlock()
	}
}

func (l *holdingListener) Close() error {
	l.mu.Lock()
	for _, c := range l.held {
		c.Close()
	}
	l.mu.Unlock()
	return l.Listener.Close()
}

// TestLateAgentIsNotLost: an agent whose connections hang in their dial until the
// timeout starts its clock that much late and still sends its result, in which every
// request failed: the controller waits for it (the engine's bound is one timeout to
// connect, then warm-up, duration and one more timeout), rather than calling it lost
// and the trial empty ("none of the agents completed its share", as a harness CI run
// on the real node had it).
func TestLateAgentIsNotLost(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	hl := &holdingListener{Listener: srv.Listener}
	srv.Listener = hl
	srv.StartTLS()
	defer srv.Close()
	b, err := NewBundle("", false)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := b.AgentCredentials()
	if err != nil {
		t.Fatal(err)
	}
	// Heartbeats every 100ms, so that a LostAfter of 1s (instead of 5s) still only
	// catches a silent agent, and the test is short.
	agent := serveAgent(t, ServerConfig{Credentials: creds, Heartbeat: 100 * time.Millisecond})
	ctrl, err := b.ControllerCredentials()
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 2 * time.Second
	// A lead shorter than the timeout, so that the hung dials end after the start.
	c := Controller{Agents: []string{agent}, Credentials: ctrl, Lead: 200 * time.Millisecond, LostAfter: time.Second}
	out, err := c.Run(context.Background(), engine.Config{Target: srv.URL, TLS: &engine.TLS{Insecure: true}, Rate: 20,
		Duration: 500 * time.Millisecond, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	a := out.Agents[0]
	if a.State != StateComplete || a.Reach.Attempts != 1 || a.StartLate < timeout/2 {
		t.Fatalf("agent %s (%v), reach %+v, started %v late; want complete, reached at once, started about %v late",
			a.State, a.Err, a.Reach, a.StartLate, timeout)
	}
	m := out.Result.Measure
	if m.Requests == 0 || m.Succeeded != 0 || m.Errors[engine.ClassTimeout] == 0 {
		t.Errorf("measured %d requests, %d succeeded, errors %v: want every one timed out", m.Requests, m.Succeeded, m.Errors)
	}
	t.Logf("agent started %v late; %d requests, errors %v", a.StartLate, m.Requests, m.Errors)
}

// TestReachStopped: a run stopped (Ctrl-C) while its agents wait for the target says it
// was stopped, not that the target could not be reached in the reach timeout, and
// returns at once.
func TestReachStopped(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if seen.Add(1) == 1 {
			cancel() // Ctrl-C once the first attempt has reached the target
		}
		http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	l, err := StartLocal(context.Background(), 1, LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c := Controller{Agents: l.Addresses, Credentials: l.Controller, Lead: testLead, ReachTimeout: time.Hour}
	start := time.Now()
	_, err = c.Run(ctx, engine.Config{Target: srv.URL, Rate: 10, Duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), "stopped while trying to reach "+srv.URL) || !errors.Is(err, context.Canceled) ||
		strings.Contains(err.Error(), "could not reach") {
		t.Fatalf("error %v, want the run stopped while its agent tried to reach the target", err)
	}
	t.Logf("returned after %v: %v", time.Since(start).Round(time.Millisecond), err)
}
