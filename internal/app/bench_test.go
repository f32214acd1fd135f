package app

import (
	"context"
	"io"
	"net/http"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/service-mesh-performance/smp/internal/grpcecho"
)

// benchmarkChain sends requests one at a time through a 2-service chain:
// the client → svc-1 → svc-2 round trip, with allocations counted across
// the whole process (client and both services).
func benchmarkChain(b *testing.B, p Protocol) {
	addrs := chain(b, 2, p, func(_ int, c *Config) { c.ResponseSize = 1024 })
	c := newClient(b, p)
	if r := c.do(b, addrs[0], "/"); !r.ok || r.hops != "2" {
		b.Fatalf("warm-up reply %s, hops %q", r.code, r.hops)
	}
	b.ReportAllocs()
	if p == GRPC {
		cc := c.grpcs[addrs[0].GRPC]
		req, resp := &wrapperspb.BytesValue{}, &wrapperspb.BytesValue{}
		for b.Loop() {
			if err := cc.Invoke(context.Background(), grpcecho.FullMethod, req, resp); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	url := "http://" + addrs[0].HTTP + "/"
	for b.Loop() {
		get(b, c.http, url)
	}
}

// get is a GET with as little client-side work as net/http allows.
func get(b *testing.B, c *http.Client, url string) {
	resp, err := c.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("reply %d, %v", resp.StatusCode, err)
	}
}

func BenchmarkChainHTTP1(b *testing.B) { benchmarkChain(b, HTTP1) }
func BenchmarkChainH2C(b *testing.B)   { benchmarkChain(b, H2C) }
func BenchmarkChainGRPC(b *testing.B)  { benchmarkChain(b, GRPC) }

// BenchmarkChainHTTP1Parallel is the same chain under concurrent clients,
// which exercises the upstream connection pool.
func BenchmarkChainHTTP1Parallel(b *testing.B) {
	addrs := chain(b, 2, HTTP1, func(_ int, c *Config) { c.ResponseSize = 1024 })
	c := newClient(b, HTTP1)
	b.ReportAllocs()
	url := "http://" + addrs[0].HTTP + "/"
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			get(b, c.http, url)
		}
	})
}
