package app

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/h1wire/h1wiretest"
)

// TestH1FastPathAndFallback: on one keep-alive connection, requests the fast path
// takes and requests it hands to net/http (which then keeps the connection) are all
// answered as ServeHTTP answers them.
func TestH1FastPathAndFallback(t *testing.T) {
	a := start(t, Config{Name: "svc-1", HTTPAddr: "127.0.0.1:0", ResponseSize: 5})
	rc := h1wiretest.Dial(t, a.HTTP)
	check := func(name, req, method string, wantCode int, wantBody string) {
		t.Helper()
		resp, body := rc.RoundTrip(t, req, method)
		if resp.StatusCode != wantCode || body != wantBody {
			t.Errorf("%s: reply %d %q, want %d %q", name, resp.StatusCode, body, wantCode, wantBody)
		}
		if wantCode == 200 && !strings.HasPrefix(req, "GET /healthz") && !strings.HasPrefix(req, "GET /metrics") &&
			(resp.Header.Get("X-Smp-Service") != "svc-1" || resp.Header.Get("X-Smp-Hops") != "1" ||
				resp.Header.Get("Date") == "" || resp.ContentLength != 5) {
			t.Errorf("%s: headers %v, length %d", name, resp.Header, resp.ContentLength)
		}
	}
	check("GET", "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "GET", 200, "abcde")
	check("POST with a body", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz", "POST", 200, "abcde")
	check("HEAD", "HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n", "HEAD", 200, "")
	check("healthz", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "GET", 200, "ok\n")
	check("chunked body (net/http)", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n", "POST", 200, "abcde")
	check("after net/http took the connection", "GET /b HTTP/1.1\r\nHost: x\r\n\r\n", "GET", 200, "abcde")

	rc = h1wiretest.Dial(t, a.HTTP)
	check("GET", "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "GET", 200, "abcde")
	resp, body := rc.RoundTrip(t, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
	if resp.StatusCode != 200 || !strings.Contains(body, "smp_app_requests_total") {
		t.Errorf("/metrics after a fast-path request: %d", resp.StatusCode)
	}
	rc = h1wiretest.Dial(t, a.HTTP)
	check("HTTP/1.0 (net/http)", "GET /a HTTP/1.0\r\nHost: x\r\n\r\n", "GET", 200, "abcde")
	rc = h1wiretest.Dial(t, a.HTTP)
	check("missing Host (net/http)", "GET /a HTTP/1.1\r\n\r\n", "GET", 400, "400 Bad Request: missing required Host header")

	rc = h1wiretest.Dial(t, a.HTTP)
	resp, _ = rc.RoundTrip(t, "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "GET")
	if !resp.Close {
		t.Error("a request with Connection: close got a reply without it")
	}
	if _, err := rc.R.ReadByte(); err != io.EOF {
		t.Errorf("connection still open after Connection: close: %v", err)
	}
	// Every request but /healthz, /metrics and the one without Host.
	if got := metric(t, a, "smp_app_requests_total", "protocol=http1", "code=200"); got != 8 {
		t.Errorf("counted %v requests with 200, want 8", got)
	}
}

// TestH1CallerGoneIs499: a caller that goes away while its request is served is
// counted as 499 and gets no reply.
func TestH1CallerGoneIs499(t *testing.T) {
	a := start(t, Config{Name: "svc-1", HTTPAddr: "127.0.0.1:0", Delay: 100 * time.Millisecond})
	rc := h1wiretest.Dial(t, a.HTTP)
	rc.Send(t, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
	rc.Conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for metric(t, a, "smp_app_requests_total", "protocol=http1", "code=499") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no 499 counted; 200s: %v", metric(t, a, "smp_app_requests_total", "protocol=http1", "code=200"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestH1Caller: the HTTP/1.1 caller reuses its connections, sends a pooled GET again
// on a new connection when the upstream had closed it, reads chunked and
// close-delimited bodies, and quotes a failing upstream's message.
func TestH1Caller(t *testing.T) {
	up := h1wiretest.StartUpstream(t, func(r *http.Request, _ string, w *bufio.Writer) bool {
		switch r.URL.Path {
		case "/chunked":
			w.WriteString("HTTP/1.1 200 OK\r\nX-Smp-Hops: 4\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n")
		case "/close-delimited":
			w.WriteString("HTTP/1.1 200 OK\r\nX-Smp-Hops: 2\r\n\r\nuntil close")
			return true
		case "/quietly-closed":
			// Keep-alive as far as the caller can tell, then closed.
			w.WriteString("HTTP/1.1 200 OK\r\nX-Smp-Hops: 1\r\nContent-Length: 0\r\n\r\n")
			return true
		case "/fail":
			w.WriteString("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 12\r\n\r\nno\nluck here")
		default:
			w.WriteString("HTTP/1.1 200 OK\r\nX-Smp-Hops: 1\r\nContent-Length: 2\r\n\r\nok")
		}
		return false
	})
	a := start(t, Config{Name: "svc-1", HTTPAddr: "127.0.0.1:0", Upstreams: []Upstream{{Name: "up", Addr: up.Addr}}})
	c := newClient(t, HTTP1)
	for _, tc := range []struct {
		path, code, hops, body string
	}{
		{"/x", "200", "2", ""},
		{"/x", "200", "2", ""},
		{"/chunked", "200", "5", ""},
		{"/close-delimited", "200", "3", ""},
		{"/quietly-closed", "200", "2", ""},
		{"/x", "200", "2", ""}, // on a new connection: the pooled one was closed
		{"/fail", "502", "1", "svc-1: upstream up (" + up.Addr + "): answered 503: no luck here\n"},
	} {
		r := c.do(t, a, tc.path)
		if r.code != tc.code || r.hops != tc.hops || (tc.body != "" && string(r.body) != tc.body) {
			t.Errorf("%s: reply %s hops %s %q, want %s hops %s %q", tc.path, r.code, r.hops, r.body, tc.code, tc.hops, tc.body)
		}
		time.Sleep(10 * time.Millisecond) // the upstream's close reaches the pool
	}
	// /x, /x, /chunked and /close-delimited on the first connection, /quietly-closed on
	// a second, and /x (sent again once the pooled second one failed) and /fail on a
	// third.
	if n := up.Conns.Load(); n != 3 {
		t.Errorf("the upstream saw %d connections, want 3", n)
	}
	if got := metric(t, a, "smp_app_upstream_calls_total", "upstream=up", "outcome=ok"); got != 6 {
		t.Errorf("counted %v ok calls, want 6", got)
	}
	if got := metric(t, a, "smp_app_upstream_calls_total", "upstream=up", "outcome=status"); got != 1 {
		t.Errorf("counted %v failed calls, want 1", got)
	}
}

// TestRespHead: what the HTTP/1.1 caller reads of a response head. An HTTP/1.0 reply
// closes the connection unless it says keep-alive; a 1xx or a malformed head is not
// taken.
func TestRespHead(t *testing.T) {
	for _, tc := range []struct {
		raw    string
		ok     bool
		status int
		length int64
		close  bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Smp-Hops: 3\r\n\r\nok", true, 200, 2, false},
		{"HTTP/1.1 503 Nope\r\nConnection: close\r\n\r\n", true, 503, -1, true},
		{"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", true, 200, 2, true},
		{"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", true, 200, 2, false},
		{"HTTP/1.1 100 Continue\r\n\r\n", false, 0, 0, false},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false, 0, 0, false},
		{"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", false, 0, 0, false},
	} {
		var r respHead
		// The head ends the buffer, as it can in the connection's reader.
		raw := []byte(tc.raw)[:len(tc.raw):len(tc.raw)]
		ok := r.parse(raw[:bytes.Index(raw, []byte("\r\n\r\n"))+4])
		if ok != tc.ok || ok && (r.status != tc.status || r.contentLength != tc.length || r.close != tc.close) {
			t.Errorf("%q: ok %v, status %d, length %d, close %v", tc.raw, ok, r.status, r.contentLength, r.close)
		}
	}
	var r respHead
	if !r.parse([]byte("HTTP/1.1 200 OK\r\nX-Smp-Hops: 3\r\n\r\n")) || string(r.hops) != "3" {
		t.Errorf("hops %q", r.hops)
	}
}
