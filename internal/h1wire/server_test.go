package h1wire

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/h1wire/h1wiretest"
)

// testHandler answers GET /... with the path as its body, keeps the connection unless
// the path is /close, leaves /fallback to net/http, and blocks /slow until release is
// closed.
type testHandler struct {
	release chan struct{}
	busy    chan struct{} // receives when /slow starts
}

func (h *testHandler) Handle(c *Conn, head []byte) Next {
	_, target, _, ok := RequestLine(head)
	if !ok || string(target) == "/fallback" {
		return Fallback
	}
	path := string(target)
	c.R.Discard(len(head))
	if path == "/slow" {
		h.busy <- struct{}{}
		<-h.release
	}
	c.W.WriteString("HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(path)) + "\r\n\r\n" + path)
	if c.W.Flush() != nil || path == "/close" {
		return Close
	}
	return KeepAlive
}

// testServer runs a Server on loopback, with net/http (answering "net/http <path>")
// behind its fallback.
func testServer(t *testing.T, bufferSize int) (*Server, *testHandler, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fallback := NewHandOff(ln.Addr())
	s := NewServer(fallback, bufferSize, time.Minute)
	h := &testHandler{release: make(chan struct{}), busy: make(chan struct{}, 1)}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "net/http "+r.URL.Path)
	})}
	var wg sync.WaitGroup
	wg.Go(func() { hs.Serve(fallback) })
	wg.Go(func() {
		Accept(context.Background(), ln, slog.New(slog.DiscardHandler), func(c net.Conn) {
			wg.Go(func() { s.Serve(c, h) })
		})
	})
	t.Cleanup(func() {
		ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.Shutdown(ctx)
		hs.Shutdown(ctx)
		fallback.Close()
		wg.Wait()
	})
	return s, h, ln.Addr().String()
}

// get sends a GET for path, with extra header lines, and returns the reply's body.
func get(t *testing.T, c *h1wiretest.Client, path, extra string) string {
	t.Helper()
	_, body := c.RoundTrip(t, "GET "+path+" HTTP/1.1\r\nHost: x\r\n"+extra+"\r\n", "GET")
	return body
}

// TestServerKeepAliveAndFallback: one connection serves requests through the Handler
// until one is left to net/http, which then keeps the connection with the bytes that
// were buffered; a head too large for the buffer goes to net/http too.
func TestServerKeepAliveAndFallback(t *testing.T) {
	_, _, addr := testServer(t, 256)
	cl := h1wiretest.Dial(t, addr)
	for _, path := range []string{"/a", "/b"} {
		if got := get(t, cl, path, ""); got != path {
			t.Fatalf("GET %s = %q", path, got)
		}
	}
	if got := get(t, cl, "/fallback", ""); got != "net/http /fallback" {
		t.Fatalf("GET /fallback = %q", got)
	}
	if got := get(t, cl, "/after", ""); got != "net/http /after" {
		t.Errorf("after the hand-over, GET /after = %q", got)
	}
	cl = h1wiretest.Dial(t, addr)
	if got := get(t, cl, "/big", "X-Big: "+strings.Repeat("b", 300)+"\r\n"); got != "net/http /big" {
		t.Errorf("a head over the buffer: %q", got)
	}
	cl = h1wiretest.Dial(t, addr)
	if got := get(t, cl, "/close", ""); got != "/close" {
		t.Fatalf("GET /close = %q", got)
	}
	if _, err := cl.R.ReadByte(); err != io.EOF {
		t.Errorf("after Close the connection reads %v, want EOF", err)
	}
}

// TestServerShutdown: idle connections are closed at once, a busy one finishes its
// request first, and one still busy when ctx ends is closed under it.
func TestServerShutdown(t *testing.T) {
	s, h, addr := testServer(t, 1024)
	idle, busy := h1wiretest.Dial(t, addr), h1wiretest.Dial(t, addr)
	if got := get(t, idle, "/a", ""); got != "/a" {
		t.Fatal(got)
	}
	io.WriteString(busy.Conn, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-h.busy
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	if _, err := idle.R.ReadByte(); err != io.EOF {
		t.Errorf("the idle connection reads %v, want EOF", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	default:
	}
	if !s.Closing() {
		t.Error("Closing is false during Shutdown")
	}
	close(h.release)
	resp, err := http.ReadResponse(busy.R, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the busy request: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if _, err := h1wiretest.Dial(t, addr).R.ReadByte(); err == nil {
		t.Error("a connection after Shutdown was served")
	}

	s2, h2, addr2 := testServer(t, 1024)
	stuck := h1wiretest.Dial(t, addr2)
	io.WriteString(stuck.Conn, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-h2.busy
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s2.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown with a done ctx = %v", err)
	}
	if _, err := stuck.R.ReadByte(); err == nil {
		t.Error("the stuck connection was not closed")
	}
	close(h2.release)
}

// flakyListener fails its first Accepts with a temporary error (EMFILE), as a process
// out of descriptors does.
type flakyListener struct {
	net.Listener
	failures int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failures > 0 {
		l.failures--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestAccept retries temporary failures, returns nil once the listener is closed, and
// returns any other failure.
func TestAccept(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan net.Conn, 1)
	done := make(chan error, 1)
	go func() {
		done <- Accept(context.Background(), &flakyListener{Listener: ln, failures: 2}, slog.New(slog.DiscardHandler),
			func(c net.Conn) { got <- c })
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case c := <-got:
		c.Close()
	case err := <-done:
		t.Fatalf("Accept gave up on a temporary failure: %v", err)
	}
	ln.Close()
	if err := <-done; err != nil {
		t.Errorf("Accept after Close = %v", err)
	}
	boom := errors.New("boom")
	if err := Accept(context.Background(), failingListener{ln, boom}, slog.New(slog.DiscardHandler), nil); !errors.Is(err, boom) {
		t.Errorf("Accept = %v, want %v", err, boom)
	}
}

type failingListener struct {
	net.Listener
	err error
}

func (l failingListener) Accept() (net.Conn, error) { return nil, l.err }
