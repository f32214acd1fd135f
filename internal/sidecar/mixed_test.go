package sidecar

import (
	"context"
	"strings"
	"testing"
)

// TestMixedProtocols runs, for every kind that runs here, the sidecars of a service
// that is called over HTTP/1.1 and calls its upstream over gRPC (emojivoto's web):
//
//	client → A (HTTP/1.1 out) ─mTLS→ B inbound (HTTP/1.1) → http app
//	         B outbound (gRPC)  ─mTLS→ C inbound (gRPC)    → grpc app
//
// Once B's Spec says HTTP/1.1 and its outbound says gRPC, once its Spec says gRPC and
// its inbound says HTTP/1.1. Requests must arrive over each protocol (the HTTP app
// over HTTP/1.1, not HTTP/2), and B must count both.
func TestMixedProtocols(t *testing.T) {
	for _, k := range []Kind{Builtin, HAProxy, Nginx} {
		t.Run(string(k), func(t *testing.T) {
			t.Parallel()
			tool := needTool(t, k)
			for _, p := range []Protocol{HTTP1, GRPC} {
				if err := k.Supports(p, Strict, tool); err != nil {
					if integration() {
						t.Fatalf("SMP_INTEGRATION=1: %v", err)
					}
					t.Skip(err)
				}
			}
			t.Run("outbound-grpc", func(t *testing.T) { testMixed(t, k, tool, HTTP1, "", GRPC) })
			t.Run("inbound-http1", func(t *testing.T) { testMixed(t, k, tool, GRPC, HTTP1, "") })
		})
	}
}

// testMixed runs the path with B's Spec protocol p and its listeners' in and out.
func testMixed(t *testing.T, k Kind, tool Tool, p, in, out Protocol) {
	ctx := context.Background()
	pk := newRunPKI(t, "client", "web", "emoji")
	httpApp, grpcApp := startApp(t, HTTP1), startApp(t, GRPC)
	c := launch(t, k, tool, pk.spec(Spec{Name: "emoji-proxy", Protocol: GRPC, Concurrency: 1, AdminListen: "127.0.0.1:0",
		Inbound: &Inbound{Listen: "127.0.0.1:0", App: grpcApp.addr}}, "emoji"))
	b := launch(t, k, tool, pk.spec(Spec{Name: "web-proxy", Protocol: p, Concurrency: 1, AdminListen: "127.0.0.1:0",
		Inbound:   &Inbound{Listen: "127.0.0.1:0", App: httpApp.addr, Protocol: in},
		Outbounds: []Outbound{{Listen: "127.0.0.1:0", Upstream: c.Addrs.Inbound, UpstreamID: pk.ids["emoji"].ID, Protocol: out}}}, "web"))
	a := launch(t, k, tool, pk.spec(Spec{Name: "client-proxy", Protocol: HTTP1, Concurrency: 1, AdminListen: "127.0.0.1:0",
		Outbounds: []Outbound{{Listen: "127.0.0.1:0", Upstream: b.Addrs.Inbound, UpstreamID: pk.ids["web"].ID}}}, "client"))
	b0 := counters(t, b)
	const n = 4
	for i := range n {
		if err := callOnce(ctx, HTTP1, a.Addrs.Outbounds[0], nil); err != nil {
			t.Fatalf("HTTP/1.1 request %d through client → web's inbound: %v", i, err)
		}
		if err := callOnce(ctx, GRPC, b.Addrs.Outbounds[0], nil); err != nil {
			t.Fatalf("gRPC call %d through web's outbound → emoji's inbound: %v", i, err)
		}
	}
	if got := httpApp.hits.Load(); got != n {
		t.Errorf("the HTTP app got %d requests, want %d", got, n)
	}
	if v := httpApp.lastProto(); v != 1 {
		t.Errorf("the HTTP app got HTTP/%d from web's sidecar, want HTTP/1.1", v)
	}
	if got := grpcApp.hits.Load(); got != n {
		t.Errorf("the gRPC app got %d calls, want %d", got, n)
	}
	if d := counters(t, b).Requests - b0.Requests; d != 2*n {
		t.Errorf("web's sidecar counted %d requests, want %d (inbound and outbound)", d, 2*n)
	}
}

// TestListenerProtocolValidated: a listener's protocol is one of the HTTP ones, and a
// TCP sidecar carries nothing else.
func TestListenerProtocolValidated(t *testing.T) {
	base := Spec{Name: "x", MTLS: Off, AdminListen: "127.0.0.1:0",
		Inbound: &Inbound{Listen: "127.0.0.1:0", App: "127.0.0.1:1"}}
	for _, c := range []struct {
		name    string
		spec    func(Spec) Spec
		wantErr string
	}{
		{"grpc in an http1 sidecar", func(s Spec) Spec { s.Inbound.Protocol = GRPC; return s }, ""},
		{"unknown", func(s Spec) Spec { s.Inbound.Protocol = "spdy"; return s }, `inbound.protocol "spdy"`},
		{"tcp listener", func(s Spec) Spec { s.Inbound.Protocol = TCP; return s }, `inbound.protocol "tcp"`},
		{"http1 in a tcp sidecar", func(s Spec) Spec { s.Protocol = TCP; s.Inbound.Protocol = HTTP1; return s }, "carries tcp on every listener"},
	} {
		s := base
		in := *base.Inbound
		s.Inbound = &in
		err := c.spec(s).withDefaults().Validate()
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.wantErr)
		}
	}
}
