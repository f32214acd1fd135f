package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/service-mesh-performance/smp/internal/grpcecho"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start runs c until the test ends and returns its addresses. Services
// started later stop first (t.Cleanup is last in, first out), so a chain
// built from its end stops from its head.
func start(tb testing.TB, c Config) Addrs {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c, func(a Addrs) { ready <- a }) }()
	select {
	case a := <-ready:
		tb.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("Run %s: %v", c.Name, err)
			}
		})
		return a
	case err := <-done:
		cancel()
		tb.Fatalf("Run %s returned before it was ready: %v", c.Name, err)
	}
	return Addrs{}
}

// upstreamAddr is where a caller speaking p reaches a.
func upstreamAddr(a Addrs, p Protocol) string {
	if p == GRPC {
		return a.GRPC
	}
	return a.HTTP
}

// chain starts svc-n … svc-1, each calling the next over p, and returns
// their addresses in order (index 0 is svc-1). edit, if set, adjusts each
// service's Config (i is 0 for svc-1) before it starts.
func chain(tb testing.TB, n int, p Protocol, edit func(i int, c *Config)) []Addrs {
	tb.Helper()
	addrs := make([]Addrs, n)
	for i := n - 1; i >= 0; i-- {
		c := Config{Name: fmt.Sprintf("svc-%d", i+1), HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", UpstreamProtocol: p}
		if i < n-1 {
			c.Upstreams = []Upstream{{Name: fmt.Sprintf("svc-%d", i+2), Addr: upstreamAddr(addrs[i+1], p)}}
		}
		if edit != nil {
			edit(i, &c)
		}
		addrs[i] = start(tb, c)
	}
	return addrs
}

// deadAddr returns a loopback address where nothing listens.
func deadAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// reply is what a client saw, whatever the protocol.
type reply struct {
	ok      bool   // 200 or gRPC OK
	code    string // "200", "502", "OK", "Unavailable"
	proto   int    // HTTP major version (2 for gRPC)
	service string // x-smp-service
	hops    string // x-smp-hops
	body    []byte // the body, or the gRPC error message
}

// client sends requests to one service over one protocol.
type client struct {
	p     Protocol
	http  *http.Client
	grpcs map[string]*grpc.ClientConn
}

func newClient(tb testing.TB, p Protocol) *client {
	tb.Helper()
	c := &client{p: p, grpcs: map[string]*grpc.ClientConn{}}
	var protos http.Protocols
	if p == H2C {
		protos.SetUnencryptedHTTP2(true)
	} else {
		protos.SetHTTP1(true)
	}
	tr := &http.Transport{Protocols: &protos, MaxIdleConnsPerHost: 64}
	c.http = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	tb.Cleanup(func() {
		tr.CloseIdleConnections()
		for _, cc := range c.grpcs {
			cc.Close()
		}
	})
	return c
}

// do sends one request to the service at a (GET /path, or Echo).
func (c *client) do(tb testing.TB, a Addrs, path string) reply {
	tb.Helper()
	if c.p == GRPC {
		return c.echo(tb, a.GRPC)
	}
	resp, err := c.http.Get("http://" + a.HTTP + path)
	if err != nil {
		tb.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("GET %s: read body: %v", path, err)
	}
	return reply{ok: resp.StatusCode == 200, code: strconv.Itoa(resp.StatusCode), proto: resp.ProtoMajor,
		service: resp.Header.Get("X-Smp-Service"), hops: resp.Header.Get("X-Smp-Hops"), body: body}
}

func (c *client) echo(tb testing.TB, addr string) reply {
	tb.Helper()
	cc, ok := c.grpcs[addr]
	if !ok {
		var err error
		cc, err = grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			tb.Fatal(err)
		}
		c.grpcs[addr] = cc
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var header, trailer metadata.MD
	resp := &wrapperspb.BytesValue{}
	err := cc.Invoke(ctx, grpcecho.FullMethod, &wrapperspb.BytesValue{Value: []byte("ignored")}, resp,
		grpc.Header(&header), grpc.Trailer(&trailer))
	r := reply{ok: err == nil, code: "OK", proto: 2, body: resp.GetValue()}
	md := metadata.Join(header, trailer)
	if v := md.Get("x-smp-service"); len(v) > 0 {
		r.service = v[0]
	}
	if v := md.Get("x-smp-hops"); len(v) > 0 {
		r.hops = v[0]
	}
	if err != nil {
		st := status.Convert(err)
		r.code, r.body = st.Code().String(), []byte(st.Message())
	}
	return r
}

// metric returns the sum of the samples of name whose labels include all
// of labels ("k=v" strings), from the service's /metrics; -1 if none.
func metric(tb testing.TB, a Addrs, name string, labels ...string) float64 {
	tb.Helper()
	resp, err := http.Get("http://" + a.HTTP + "/metrics")
	if err != nil {
		tb.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sum, found := 0.0, false
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			if !strings.Contains(series, k+`="`+v+`"`) {
				continue next
			}
		}
		f, err := strconv.ParseFloat(value, 64)
		if err != nil {
			tb.Fatalf("metric line %q: %v", line, err)
		}
		sum, found = sum+f, true
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if !found {
		return -1
	}
	return sum
}
