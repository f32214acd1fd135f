package engine

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/service-mesh-performance/smp/internal/grpcecho"
)

// barrier holds each request in the handler until want of them are there together (or
// a second has passed), so a client that fills every stream slot the server allows makes
// the server see exactly want at once, however slowly the machine runs the test; a
// client that opened more streams than allowed would show a peak above want.
type barrier struct {
	mu             sync.Mutex
	cond           *sync.Cond
	want, in, peak int
	round          int // bumped each time want requests are in together
}

func newBarrier(want int) *barrier {
	b := &barrier{want: want}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *barrier) pass() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.in++
	b.peak = max(b.peak, b.in)
	if b.in >= b.want {
		b.round++
		b.cond.Broadcast()
		return
	}
	round, deadline := b.round, time.Now().Add(time.Second)
	wake := time.AfterFunc(time.Second, func() { b.mu.Lock(); b.cond.Broadcast(); b.mu.Unlock() })
	defer wake.Stop()
	for b.round == round && time.Now().Before(deadline) {
		b.cond.Wait()
	}
}

func (b *barrier) leave() { b.mu.Lock(); b.in--; b.mu.Unlock() }

func (b *barrier) counts() (peak, rounds int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peak, b.round
}

// TestH2CStreamLimitHonoured: with the server's MAX_CONCURRENT_STREAMS below the streams
// asked, the engine uses every slot the server allows and never more.
func TestH2CStreamLimitHonoured(t *testing.T) {
	const conns, streams, serverLimit = 2, 8, 2
	b := newBarrier(conns * serverLimit)
	var notH2 atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			notH2.Add(1)
		}
		b.pass()
		defer b.leave()
		io.WriteString(w, "ok")
	})
	s := httptest.NewServer(h2c.NewHandler(h, &http2.Server{MaxConcurrentStreams: serverLimit}))
	defer s.Close()

	res := mustRun(t, Config{Target: s.URL, Protocol: H2C, Connections: conns, Streams: streams, Duration: 500 * time.Millisecond})
	m := res.Measure
	peak, rounds := b.counts()
	t.Logf("%d requests, %d rounds of %d at once", m.Requests, rounds, conns*serverLimit)
	if m.Requests < conns*serverLimit || m.Succeeded != m.Requests {
		t.Fatalf("requests %d ok %d errors %v", m.Requests, m.Succeeded, m.Errors)
	}
	if peak != conns*serverLimit || rounds == 0 {
		t.Errorf("server saw at most %d concurrent requests (%d full rounds), want %d (conns × MAX_CONCURRENT_STREAMS)", peak, rounds, conns*serverLimit)
	}
	if notH2.Load() != 0 || res.Connections != conns {
		t.Errorf("%d requests not over h2, %d connections (want 0 and %d)", notH2.Load(), res.Connections, conns)
	}
	// Workers waiting for a stream slot are charged from their intended time,
	// which in closed loop is when they asked: latency ≥ service time.
	if m.Latency.Percentile(50) < m.Service.Percentile(50) {
		t.Errorf("latency p50 %v < service p50 %v", m.Latency.Percentile(50), m.Service.Percentile(50))
	}
}

func TestH2OverTLSWithALPN(t *testing.T) {
	var notH2 atomic.Int64
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			notH2.Add(1)
		}
		body, _ := io.ReadAll(r.Body)
		w.Write(body) // echo
	}))
	s.EnableHTTP2 = true
	s.StartTLS()
	defer s.Close()
	pool := s.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs

	res := mustRun(t, Config{Target: s.URL, Protocol: H2, Rate: 200, Connections: 2, Streams: 4, PayloadSize: 1000,
		Duration: 300 * time.Millisecond, TLS: &TLS{Config: &tls.Config{RootCAs: pool}}})
	m := res.Measure
	if m.Requests < 55 || m.Succeeded != m.Requests || notH2.Load() != 0 {
		t.Fatalf("requests %d ok %d non-h2 %d errors %v", m.Requests, m.Succeeded, notH2.Load(), m.Errors)
	}
	if m.BytesReceived != 1000*m.Requests || m.BytesSent != 1000*m.Requests {
		t.Errorf("bytes sent %d received %d for %d echoed 1000-byte bodies", m.BytesSent, m.BytesReceived, m.Requests)
	}
}

func TestH2AgainstHTTP1OnlyServer(t *testing.T) {
	// Go's server refuses an ALPN list it shares nothing with (alert
	// no_application_protocol), so the failure is the handshake's.
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS() // HTTP/1.1 only
	defer s.Close()
	res := mustRun(t, Config{Target: s.URL, Protocol: H2, Rate: 50, Duration: 200 * time.Millisecond,
		TLS: &TLS{Insecure: true}})
	if m := res.Measure; m.Requests == 0 || m.Errors[ClassTLS] != m.Requests {
		t.Errorf("requests %d errors %v, want all tls errors", m.Requests, m.Errors)
	}
}

// flakyHealth answers UNAVAILABLE to every third call.
type flakyHealth struct {
	healthpb.UnimplementedHealthServer
	mu          sync.Mutex
	calls       int
	ok, failed  int64
	lastService string
}

func (h *flakyHealth) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	h.lastService = req.GetService()
	if h.calls%3 == 0 {
		h.failed++
		return nil, status.Error(codes.Unavailable, "every third call fails")
	}
	h.ok++
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func grpcServer(t *testing.T, register func(*grpc.Server)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	register(s)
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ln) }()
	t.Cleanup(func() { s.Stop(); <-done })
	return ln.Addr().String()
}

func TestGRPCStatusCodesCounted(t *testing.T) {
	h := &flakyHealth{}
	addr := grpcServer(t, func(s *grpc.Server) { healthpb.RegisterHealthServer(s, h) })
	res := mustRun(t, Config{Target: addr, Protocol: GRPC, GRPCService: "smp.test", Connections: 2, Streams: 2,
		Duration: 300 * time.Millisecond})
	m := res.Measure
	h.mu.Lock()
	defer h.mu.Unlock()
	if m.Status["grpc:OK"] != h.ok || m.Status["grpc:UNAVAILABLE"] != h.failed || h.ok == 0 || h.failed == 0 {
		t.Errorf("status %v, server answered %d OK and %d UNAVAILABLE", m.Status, h.ok, h.failed)
	}
	if m.Succeeded != h.ok || m.Failed != h.failed || len(m.Errors) != 1 || m.Errors[ClassGRPC] != h.failed {
		t.Errorf("ok %d failed %d errors %v: a server's non-OK status is class grpc, not a transport error", m.Succeeded, m.Failed, m.Errors)
	}
	if m.Latency.Count() != m.Succeeded || m.ErrorLatency.Count() != h.failed {
		t.Errorf("latency %d error latency %d samples", m.Latency.Count(), m.ErrorLatency.Count())
	}
	if h.lastService != "smp.test" || res.Connections != 2 {
		t.Errorf("service %q connections %d", h.lastService, res.Connections)
	}
}

func TestGRPCEcho(t *testing.T) {
	addr := grpcServer(t, func(s *grpc.Server) { grpcecho.Register(s, grpcecho.NewServer(1000)) })
	res := mustRun(t, Config{Target: "grpc://" + addr, Protocol: GRPC, GRPCCall: Echo, PayloadSize: 100,
		Rate: 300, Connections: 2, Streams: 2, Duration: 300 * time.Millisecond})
	m := res.Measure
	if m.Requests < 85 || m.Succeeded != m.Requests {
		t.Fatalf("requests %d ok %d status %v errors %v", m.Requests, m.Succeeded, m.Status, m.Errors)
	}
	respSize := int64(proto.Size(&wrapperspb.BytesValue{Value: make([]byte, 1000)}))
	reqSize := int64(proto.Size(&wrapperspb.BytesValue{Value: make([]byte, 100)}))
	if m.BytesReceived != respSize*m.Requests || m.BytesSent != reqSize*m.Requests {
		t.Errorf("bytes sent %d received %d, want %d and %d", m.BytesSent, m.BytesReceived, reqSize*m.Requests, respSize*m.Requests)
	}
}

func TestGRPCUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	res := mustRun(t, Config{Target: addr, Protocol: GRPC, Rate: 50, Duration: 300 * time.Millisecond, Timeout: 200 * time.Millisecond})
	m := res.Measure
	if m.Requests == 0 || m.Succeeded != 0 || m.Errors[ClassRefused]+m.Errors[ClassTimeout] != m.Requests {
		t.Errorf("requests %d ok %d errors %v status %v, want refused (or timeout while backing off)", m.Requests, m.Succeeded, m.Errors, m.Status)
	}
	// The run ends at its hard stop (500ms) even with no connection: dials are bounded by
	// the timeout. A loaded machine stretches that to seconds (5.8s seen at load 28); a
	// dial or a retry without a deadline would hold the run far longer than this bound.
	if elapsed := time.Since(start); elapsed > 15*time.Second {
		t.Errorf("took %v", elapsed)
	}
}

func TestEchoMethodMatchesGRPCEcho(t *testing.T) {
	if echoMethod != grpcecho.FullMethod {
		t.Errorf("engine calls %q, grpcecho serves %q", echoMethod, grpcecho.FullMethod)
	}
}
