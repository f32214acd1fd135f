package sidecar

import (
	"context"
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestTwoHopPath runs the data path of a sidecar mesh for every kind that runs here,
// over every protocol and mTLS mode: client → sidecar A (outbound) → sidecar B
// (inbound) → application, each sidecar a real process on loopback. It checks that
// requests arrive, that both sidecars' own counters moved, and that B's inbound port
// enforces the mTLS mode: strict refuses plaintext, a certificate from another CA and
// no certificate; permissive takes plaintext and mTLS; off takes plaintext.
func TestTwoHopPath(t *testing.T) {
	for _, k := range []Kind{Builtin, HAProxy, Nginx} {
		t.Run(string(k), func(t *testing.T) {
			t.Parallel()
			tool := needTool(t, k)
			for _, p := range []Protocol{HTTP1, H2C, GRPC} {
				for _, m := range []MTLSMode{Strict, Permissive, Off} {
					t.Run(fmt.Sprintf("%s/%s", p, m), func(t *testing.T) {
						if err := k.Supports(p, m, tool); err != nil {
							if integration() {
								t.Fatalf("SMP_INTEGRATION=1: %v", err)
							}
							t.Skip(err)
						}
						testTwoHop(t, k, tool, p, m)
					})
				}
			}
		})
	}
}

// twoHop is sidecar A (client side) → sidecar B (svc-1) → app.
type twoHop struct {
	pki  *runPKI
	app  *testApp
	a, b *Sidecar
}

func startTwoHop(t *testing.T, k Kind, tool Tool, p Protocol, m MTLSMode, upstreamID string) *twoHop {
	t.Helper()
	h := &twoHop{pki: newRunPKI(t, "client", "svc-1", "svc-2"), app: startApp(t, p)}
	if upstreamID == "" {
		upstreamID = h.pki.ids["svc-1"].ID
	}
	h.b = launch(t, k, tool, h.pki.spec(Spec{
		Name:        "svc-1-proxy",
		Inbound:     &Inbound{Listen: "127.0.0.1:0", App: h.app.addr},
		Protocol:    p,
		MTLS:        m,
		Concurrency: 1,
		AdminListen: "127.0.0.1:0",
	}, "svc-1"))
	h.a = launch(t, k, tool, h.pki.spec(Spec{
		Name:        "client-proxy",
		Outbounds:   []Outbound{{Listen: "127.0.0.1:0", Upstream: h.b.Addrs.Inbound, UpstreamID: upstreamID}},
		Protocol:    p,
		MTLS:        m,
		Concurrency: 1,
		AdminListen: "127.0.0.1:0",
	}, "client"))
	return h
}

func testTwoHop(t *testing.T, k Kind, tool Tool, p Protocol, m MTLSMode) {
	ctx := context.Background()
	h := startTwoHop(t, k, tool, p, m, "")
	a0, b0 := counters(t, h.a), counters(t, h.b)
	const n = 5
	for i := range n {
		if err := callOnce(ctx, p, h.a.Addrs.Outbounds[0], nil); err != nil {
			t.Fatalf("request %d through A → B → app: %v", i, err)
		}
	}
	if got := h.app.hits.Load(); got != n {
		t.Errorf("the app got %d requests, want %d", got, n)
	}
	if p == H2C {
		if v := h.app.lastProto(); v != 2 {
			t.Errorf("the app got HTTP/%d, want HTTP/2 end to end", v)
		}
	}
	a1, b1 := counters(t, h.a), counters(t, h.b)
	if d := a1.Requests - a0.Requests; d != n {
		t.Errorf("sidecar A counted %d requests, want %d (%+v → %+v)", d, n, a0, a1)
	}
	if d := b1.Requests - b0.Requests; d != n {
		t.Errorf("sidecar B counted %d requests, want %d (%+v → %+v)", d, n, b0, b1)
	}
	if m != Off && b1.Handshakes != NotReported && b1.Handshakes == 0 {
		t.Errorf("sidecar B reports no TLS handshake under mtls %s: %+v", m, b1)
	}
	if m == Off && b1.Handshakes > 0 {
		t.Errorf("sidecar B reports TLS handshakes with mtls off: %+v", b1)
	}
	for _, c := range []Counters{a1, b1} {
		if c.BytesIn != NotReported && (c.BytesIn == 0 || c.BytesOut == 0) {
			t.Errorf("byte counters did not move: %+v", c)
		}
	}

	checkInbound(t, h, p, m)
	if p == GRPC {
		checkTrailers(t, h.a.Addrs.Outbounds[0])
	}
}

// checkInbound calls B's inbound port directly: plaintext, mTLS with the run's CA,
// a certificate from another CA, TLS without a certificate. The app's hit counter is
// the ground truth: nginx answers a refused client with its own 400 page.
func checkInbound(t *testing.T, h *twoHop, p Protocol, m MTLSMode) {
	t.Helper()
	ctx := context.Background()
	h2 := p != HTTP1
	for _, at := range []struct {
		name   string
		cfg    *tls.Config // nil: plaintext
		accept bool
	}{
		{"plaintext", nil, m != Strict},
		{"mTLS with the run's CA", h.pki.clientTLS("client", h2), m != Off},
		{"a certificate from another CA", h.pki.foreignTLS(t, h2), false},
		{"TLS without a client certificate", h.pki.noCertTLS(h2), false},
	} {
		before := h.app.hits.Load()
		err := callOnce(ctx, p, h.b.Addrs.Inbound, at.cfg)
		reached := h.app.hits.Load() > before
		switch {
		case at.accept && (err != nil || !reached):
			t.Errorf("mtls %s: %s was refused, want accepted: %v", m, at.name, err)
		case !at.accept && (err == nil || reached):
			t.Errorf("mtls %s: %s reached the app, want refused (err %v)", m, at.name, err)
		}
	}
}

// checkTrailers proves gRPC status and trailers survive the path: a stream that fails
// after data (status in trailers) and a trailers-only error (health of an unknown
// service).
func checkTrailers(t *testing.T, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc := grpcConn(t, addr, nil)
	st, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, trailersMethod)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SendMsg(wrapperspb.Bytes([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var msg wrapperspb.BytesValue
	if err := st.RecvMsg(&msg); err != nil {
		t.Fatalf("first message: %v", err)
	}
	err = st.RecvMsg(&msg)
	if s, _ := status.FromError(err); s.Code() != codes.ResourceExhausted || s.Message() != "failed after data" {
		t.Errorf("status after data = %v, want ResourceExhausted \"failed after data\"", err)
	}
	if got := st.Trailer().Get("x-smp-trailer"); len(got) != 1 || got[0] != "kept" {
		t.Errorf("trailer x-smp-trailer = %q, want [kept] (trailers: %v)", got, st.Trailer())
	}
	_, err = healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: "no-such-service"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("trailers-only status = %v, want NotFound", err)
	}
}
