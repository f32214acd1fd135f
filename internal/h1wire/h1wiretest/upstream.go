package h1wiretest

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
)

// Upstream is an HTTP/1.1 server on a raw listener whose reply function sees each
// request, parsed by net/http with its body read, and writes the reply's bytes itself,
// so that a test controls framing exactly. It counts connections and keeps the
// requests.
type Upstream struct {
	Addr  string
	Conns atomic.Int64 // connections accepted

	mu     sync.Mutex
	reqs   []*http.Request
	bodies []string
}

// StartUpstream serves on a loopback port until the test ends. reply writes the reply
// to r (whose body is body) to w, which is flushed after it; the connection is closed
// when reply returns true.
func StartUpstream(t testing.TB, reply func(r *http.Request, body string, w *bufio.Writer) (closeConn bool)) *Upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &Upstream{Addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.Conns.Add(1)
			wg.Go(func() { u.serve(c, reply) })
		}
	})
	return u
}

func (u *Upstream) serve(c net.Conn, reply func(r *http.Request, body string, w *bufio.Writer) bool) {
	defer c.Close()
	br, bw := bufio.NewReader(c), bufio.NewWriter(c)
	for {
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		u.mu.Lock()
		u.reqs, u.bodies = append(u.reqs, r), append(u.bodies, string(b))
		u.mu.Unlock()
		closeConn := reply(r, string(b), bw)
		if bw.Flush() != nil || closeConn {
			return
		}
	}
}

// Last is the last request the upstream received, and its body.
func (u *Upstream) Last(t testing.TB) (*http.Request, string) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("the upstream got no request")
	}
	return u.reqs[len(u.reqs)-1], u.bodies[len(u.bodies)-1]
}
