package sidecar

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/h1wire/h1wiretest"
)

// okReply answers 200 with a fixed body and a hop-by-hop header that must not reach
// the client.
func okReply(r *http.Request, body string, w *bufio.Writer) bool {
	msg := "hello " + r.URL.Path
	fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nKeep-Alive: timeout=5\r\nConnection: X-Hop\r\nX-Hop: 1\r\nX-End: 1\r\n\r\n%s", len(msg), msg)
	return false
}

// h1Sidecar is an outbound-only builtin sidecar (mtls off, HTTP1) in front of target.
func h1Sidecar(t *testing.T, target string) Addrs {
	t.Helper()
	return inProcess(t, Config{Name: "client-proxy", Outbounds: []Outbound{{Listen: "127.0.0.1:0", Upstream: target}},
		Protocol: HTTP1, MTLS: Off, AdminListen: "127.0.0.1:0"})
}

// TestH1Forwarding: the fast path passes end-to-end headers (Host included) and drops
// hop-by-hop ones both ways, including those Connection names, and reuses one
// upstream connection for a keep-alive client.
func TestH1Forwarding(t *testing.T) {
	up := h1wiretest.StartUpstream(t, okReply)
	a := h1Sidecar(t, up.Addr)
	rc := h1wiretest.Dial(t, a.Outbounds[0])
	for i := range 3 {
		rc.Send(t, "GET /p/"+fmt.Sprint(i)+"?q=1 HTTP/1.1\r\nHost: svc-1:80\r\nX-Smp-Hops: 2\r\ntraceparent: 00-abc-def-01\r\n"+
			"Connection: keep-alive, X-Drop\r\nX-Drop: 1\r\nKeep-Alive: 300\r\nProxy-Connection: keep-alive\r\nTe: gzip\r\n\r\n")
		resp, body := rc.Read(t, "GET")
		if resp.StatusCode != 200 || body != fmt.Sprintf("hello /p/%d", i) {
			t.Fatalf("reply %d %q", resp.StatusCode, body)
		}
		for _, h := range []string{"Keep-Alive", "X-Hop", "Connection"} {
			if v := resp.Header.Get(h); v != "" {
				t.Errorf("response header %s: %q reached the client", h, v)
			}
		}
		if resp.Header.Get("X-End") != "1" {
			t.Errorf("end-to-end response header lost: %v", resp.Header)
		}
		r, _ := up.Last(t)
		if r.Host != "svc-1:80" || r.RequestURI != fmt.Sprintf("/p/%d?q=1", i) {
			t.Errorf("upstream got Host %q, URI %q", r.Host, r.RequestURI)
		}
		if r.Header.Get("X-Smp-Hops") != "2" || r.Header.Get("Traceparent") != "00-abc-def-01" {
			t.Errorf("end-to-end request headers lost: %v", r.Header)
		}
		for _, h := range []string{"X-Drop", "Keep-Alive", "Proxy-Connection", "Te"} {
			if v := r.Header.Get(h); v != "" {
				t.Errorf("request header %s: %q reached the upstream", h, v)
			}
		}
	}
	if n := up.Conns.Load(); n != 1 {
		t.Errorf("the upstream saw %d connections for 3 keep-alive requests, want 1", n)
	}
}

// TestH1Bodies: request and response bodies in every framing, streamed both ways.
func TestH1Bodies(t *testing.T) {
	up := h1wiretest.StartUpstream(t, func(r *http.Request, body string, w *bufio.Writer) bool {
		switch r.URL.Path {
		case "/chunked":
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"+
				"5\r\necho:\r\n%x\r\n%s\r\n0\r\nX-Sum: %d\r\n\r\n", len(body), body, len(body))
		case "/eof":
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close")
			return true
		case "/empty":
			fmt.Fprintf(w, "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n")
		default:
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		}
		return false
	})
	a := h1Sidecar(t, up.Addr)

	t.Run("content-length", func(t *testing.T) {
		rc := h1wiretest.Dial(t, a.Outbounds[0])
		big := strings.Repeat("x", 3*h1BufferSize+7)
		rc.Send(t, fmt.Sprintf("POST /cl HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", len(big), big))
		if resp, body := rc.Read(t, "POST"); resp.StatusCode != 200 || body != big {
			t.Errorf("reply %d, %d bytes, want %d", resp.StatusCode, len(body), len(big))
		}
	})
	t.Run("chunked both ways with trailers", func(t *testing.T) {
		rc := h1wiretest.Dial(t, a.Outbounds[0])
		rc.Send(t, "POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Req: t\r\n\r\n")
		resp, body := rc.Read(t, "POST")
		if resp.StatusCode != 200 || body != "echo:abcde" || resp.Trailer.Get("X-Sum") != "5" {
			t.Errorf("reply %d %q, trailer %v", resp.StatusCode, body, resp.Trailer)
		}
		r, got := up.Last(t)
		if got != "abcde" || r.Trailer.Get("X-Req") != "t" {
			t.Errorf("upstream got %q, trailer %v", got, r.Trailer)
		}
	})
	t.Run("expect 100-continue", func(t *testing.T) {
		rc := h1wiretest.Dial(t, a.Outbounds[0])
		rc.Send(t, "PUT /cl HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
		line, err := rc.R.ReadString('\n')
		if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("first line %q, %v; want a 100 Continue before the body is sent", line, err)
		}
		if blank, _ := rc.R.ReadString('\n'); blank != "\r\n" {
			t.Fatalf("100 Continue ends with %q", blank)
		}
		rc.Send(t, "body")
		if resp, body := rc.Read(t, "PUT"); resp.StatusCode != 200 || body != "body" {
			t.Errorf("reply %d %q", resp.StatusCode, body)
		}
	})
	t.Run("HEAD and 204 have no body", func(t *testing.T) {
		rc := h1wiretest.Dial(t, a.Outbounds[0])
		rc.Send(t, "HEAD /cl HTTP/1.1\r\nHost: a\r\n\r\n")
		if resp, body := rc.Read(t, "HEAD"); resp.StatusCode != 200 || body != "" {
			t.Errorf("HEAD: %d %q", resp.StatusCode, body)
		}
		rc.Send(t, "GET /empty HTTP/1.1\r\nHost: a\r\n\r\n")
		if resp, _ := rc.Read(t, "GET"); resp.StatusCode != 204 || resp.Header.Get("X-A") != "1" {
			t.Errorf("204: %d %v", resp.StatusCode, resp.Header)
		}
		// The connection is still in step: one more request on it.
		rc.Send(t, "GET /cl HTTP/1.1\r\nHost: a\r\n\r\n")
		if resp, _ := rc.Read(t, "GET"); resp.StatusCode != 200 {
			t.Errorf("after HEAD and 204: %d", resp.StatusCode)
		}
	})
	t.Run("body until close", func(t *testing.T) {
		rc := h1wiretest.Dial(t, a.Outbounds[0])
		rc.Send(t, "GET /eof HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, body := rc.Read(t, "GET")
		if resp.StatusCode != 200 || body != "until close" || !resp.Close {
			t.Errorf("reply %d %q close=%v", resp.StatusCode, body, resp.Close)
		}
		if _, err := rc.R.ReadByte(); err != io.EOF {
			t.Errorf("the client's connection stays open after a body delimited by close: %v", err)
		}
	})
	t.Run("pipelined", func(t *testing.T) {
		rc := h1wiretest.Dial(t, a.Outbounds[0])
		rc.Send(t, "GET /cl HTTP/1.1\r\nHost: a\r\n\r\nPOST /cl HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET /empty HTTP/1.1\r\nHost: a\r\n\r\n")
		for i, want := range []int{200, 200, 204} {
			if resp, _ := rc.Read(t, "GET"); resp.StatusCode != want {
				t.Errorf("reply %d: %d, want %d", i, resp.StatusCode, want)
			}
		}
	})
}

// TestH1Streaming: a response whose body comes in parts reaches the client part by
// part, not when the upstream is done.
func TestH1Streaming(t *testing.T) {
	next := make(chan struct{})
	up := h1wiretest.StartUpstream(t, func(r *http.Request, _ string, w *bufio.Writer) bool {
		fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst,\r\n")
		_ = w.Flush()
		<-next
		fmt.Fprintf(w, "4\r\nlast\r\n0\r\n\r\n")
		return false
	})
	a := h1Sidecar(t, up.Addr)
	rc := h1wiretest.Dial(t, a.Outbounds[0])
	rc.Send(t, "GET /s HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(rc.R, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first," {
		t.Fatalf("first part %q, %v", first, err)
	}
	close(next)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "last" {
		t.Errorf("rest %q, %v", rest, err)
	}
}

// TestH1UpstreamClosesIdle: a pooled connection that the upstream closed while it was
// idle costs the next request nothing: it is sent again on a new connection.
func TestH1UpstreamClosesIdle(t *testing.T) {
	up := h1wiretest.StartUpstream(t, func(r *http.Request, body string, w *bufio.Writer) bool {
		okReply(r, body, w)
		return true // closes without saying so
	})
	a := h1Sidecar(t, up.Addr)
	rc := h1wiretest.Dial(t, a.Outbounds[0])
	for i := range 3 {
		rc.Send(t, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
		if resp, _ := rc.Read(t, "GET"); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond) // the close reaches the pooled connection
	}
	c, err := ReadCounters(context.Background(), nil, Builtin, "http://"+a.Admin+"/stats")
	if err != nil {
		t.Fatal(err)
	}
	if c.Errors != 0 || c.Requests != 3 {
		t.Errorf("counters %+v, want 3 requests and no error", c)
	}
}

// TestH1Errors: a dead upstream is a 502 (gRPC: UNAVAILABLE in headers) counted as an
// error, and the client's connection stays usable.
func TestH1Errors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	a := h1Sidecar(t, dead)
	rc := h1wiretest.Dial(t, a.Outbounds[0])
	rc.Send(t, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body := rc.Read(t, "GET")
	if resp.StatusCode != http.StatusBadGateway || body != "sidecar: upstream unavailable\n" {
		t.Errorf("reply %d %q", resp.StatusCode, body)
	}
	rc.Send(t, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Type: application/grpc\r\nContent-Length: 0\r\n\r\n")
	resp, _ = rc.Read(t, "POST")
	if resp.StatusCode != 200 || resp.Header.Get("Grpc-Status") != "14" {
		t.Errorf("gRPC reply %d %v", resp.StatusCode, resp.Header)
	}
	c, err := ReadCounters(context.Background(), nil, Builtin, "http://"+a.Admin+"/stats")
	if err != nil {
		t.Fatal(err)
	}
	if c.Errors != 2 || c.Requests != 2 {
		t.Errorf("counters %+v, want 2 requests and 2 errors", c)
	}
}

// TestH1FallsBackToNetHTTP: what the fast path does not take is served by net/http on
// the same connection: HTTP/1.0, an absolute-form target, a head larger than the
// buffer, h2c with prior knowledge, and requests after them.
func TestH1FallsBackToNetHTTP(t *testing.T) {
	app := startApp(t, HTTP1)
	a := h1Sidecar(t, app.addr)
	cases := []struct{ name, req string }{
		{"HTTP/1.0", "GET /hello HTTP/1.0\r\nHost: a\r\n\r\n"},
		{"absolute form", "GET http://a/hello HTTP/1.1\r\nHost: a\r\n\r\n"},
		{"large head", "GET /hello HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("b", h1BufferSize) + "\r\n\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := h1wiretest.Dial(t, a.Outbounds[0])
			rc.Send(t, tc.req)
			if resp, body := rc.Read(t, "GET"); resp.StatusCode != 200 || body != "hello over HTTP/1 /hello" {
				t.Errorf("reply %d %q", resp.StatusCode, body)
			}
		})
	}
	t.Run("h2c prior knowledge", func(t *testing.T) {
		if err := callOnce(context.Background(), H2C, a.Outbounds[0], nil); err != nil {
			t.Error(err)
		}
	})
	c, err := ReadCounters(context.Background(), nil, Builtin, "http://"+a.Admin+"/stats")
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len(cases) + 1); c.Requests != want || c.Errors != 0 {
		t.Errorf("counters %+v, want %d requests and no error", c, want)
	}
}

// TestH1RefusesControlCharacters: a control character in the target or a bare CR in a
// header value is never passed to the upstream (where a CR could end the line early):
// the fast path leaves the head to net/http, which answers 400.
func TestH1RefusesControlCharacters(t *testing.T) {
	up := h1wiretest.StartUpstream(t, okReply)
	a := h1Sidecar(t, up.Addr)
	for _, req := range []string{
		"GET /x HTTP/1.1\r\nHost: a\r\nX-A: 1\rX-Injected: 1\r\n\r\n",
		"GET /x\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		rc := h1wiretest.Dial(t, a.Outbounds[0])
		rc.Send(t, req)
		if resp, _ := rc.Read(t, "GET"); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: reply %d, want 400", req, resp.StatusCode)
		}
	}
	if n := up.Conns.Load(); n != 0 {
		t.Errorf("the upstream saw %d connections", n)
	}
}

// TestH1ShutdownClosesIdleConnections: Run returns promptly with a keep-alive client
// connected, and the client sees its connection closed.
func TestH1ShutdownClosesIdleConnections(t *testing.T) {
	up := h1wiretest.StartUpstream(t, okReply)
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan Addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Name: "p", Outbounds: []Outbound{{Listen: "127.0.0.1:0", Upstream: up.Addr}},
			Protocol: HTTP1, MTLS: Off, AdminListen: "127.0.0.1:0"}, func(a Addrs) { addrs <- a })
	}()
	a := <-addrs
	rc := h1wiretest.Dial(t, a.Outbounds[0])
	rc.Send(t, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, _ := rc.Read(t, "GET"); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	start := time.Now()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > shutdownTimeout/2 {
		t.Errorf("Run took %v to stop with an idle keep-alive connection", d)
	}
	if _, err := rc.R.ReadByte(); err == nil {
		t.Error("the idle client connection is still open")
	}
}
