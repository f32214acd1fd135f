package app

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
)

// TestSequentialUpstreams: with Sequential, the second upstream is called only once
// the first has answered, on every request (bookinfo's productpage calls details,
// then reviews).
func TestSequentialUpstreams(t *testing.T) {
	var mu sync.Mutex
	var log []string
	record := func(s string) { mu.Lock(); log = append(log, s); mu.Unlock() }
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		record("first called")
		record("first answers")
	}))
	defer first.Close()
	second := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		record("second called")
	}))
	defer second.Close()
	root := start(t, Config{Name: "svc-page", HTTPAddr: "127.0.0.1:0", Sequential: true,
		Upstreams: []Upstream{{Name: "first", Addr: first.Listener.Addr().String()}, {Name: "second", Addr: second.Listener.Addr().String()}}})
	c := newClient(t, HTTP1)
	const n = 10
	for range n {
		if r := c.do(t, root, "/"); !r.ok {
			t.Fatalf("reply %s: %s", r.code, r.body)
		}
	}
	var want []string
	for range n {
		want = append(want, "first called", "first answers", "second called")
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(log, want) {
		t.Errorf("calls in this order:\n%q\nwant each request's first call answered before its second:\n%q", log, want)
	}
}

// TestShapes checks the shapes' graphs: names of smp's own, upstreams that exist and
// come after their caller (so the platforms can start a graph from its end), and the
// protocols each service is called over matching what its callers speak.
func TestShapes(t *testing.T) {
	upstreamNames := []string{"productpage", "details", "reviews", "ratings", "web", "emoji", "voting", "web-svc", "emoji-svc", "voting-svc"}
	for _, name := range []string{ShapeBookinfo, ShapeEmojivoto} {
		svcs, ok := Shape(name)
		if !ok || len(svcs) == 0 {
			t.Fatalf("Shape(%q) = %v, %v", name, svcs, ok)
		}
		if svcs[0].Serves != HTTP1 {
			t.Errorf("%s: the entry serves %s, want http1 (both real apps are entered over HTTP/1.1)", name, svcs[0].Serves)
		}
		for i, s := range svcs {
			if slices.Contains(upstreamNames, s.Name) {
				t.Errorf("%s: service %q has the real application's name", name, s.Name)
			}
			for _, u := range s.Upstreams {
				if u <= i || u >= len(svcs) {
					t.Errorf("%s: %s calls service %d, which is not after it in the shape", name, s.Name, u)
					continue
				}
				if svcs[u].Serves != s.UpstreamProtocol {
					t.Errorf("%s: %s calls %s over %s, which serves %s", name, s.Name, svcs[u].Name, s.UpstreamProtocol, svcs[u].Serves)
				}
			}
		}
	}
	if _, ok := Shape("chain"); ok {
		t.Error(`Shape("chain") is not a shape`)
	}
}
