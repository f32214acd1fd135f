package engine

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

// TestH2PollerNapRule: a poller naps only in closed loop, once it has
// measured the server's pace, and only when the requests in flight keep the
// server busy for h2PollBacklog naps (timer slack included).
func TestH2PollerNapRule(t *testing.T) {
	need := h2PollBacklog * (h2PollNap + h2TimerSlack) // the backlog, in time
	for _, tc := range []struct {
		streams int
		perResp time.Duration
		want    bool
	}{
		{0, time.Millisecond, false},             // open loop
		{160, 0, false},                          // pace not measured yet
		{160, need / 160, true},                  // exactly the backlog
		{160, need/160 - time.Nanosecond, false}, // just short of it
		{1, need, true},                          // one slow stream
		{10, 5 * time.Microsecond, false},        // a fast server, few streams
	} {
		p := &h2Poller{streams: tc.streams, perResp: tc.perResp}
		if got := p.mayNap(); got != tc.want {
			t.Errorf("streams %d, %v per response: mayNap %v, want %v", tc.streams, tc.perResp, got, tc.want)
		}
	}
	p := &h2Poller{}
	for range h2PaceWindow - 1 {
		p.count(1)
	}
	if p.perResp != 0 {
		t.Fatalf("pace measured after %d of %d responses", h2PaceWindow-1, h2PaceWindow)
	}
	p.count(1)
	if p.perResp <= 0 {
		t.Fatalf("pace not measured after %d responses", h2PaceWindow)
	}
}

// goroutinesIn counts the goroutines of this process whose stack has fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), fn+"(")
}

// TestH2PollerReadsPlainLinks: over plain TCP the links of a run are read by
// pollers (one per P at most), not by a goroutine each; over TLS each link
// keeps its reader. Counted in the process's goroutines while the server
// answers (not parallel: other tests' runs would be counted too). Every
// request succeeds either way, and nothing of the pollers is left after
// the run: no goroutine, no descriptor.
func TestH2PollerReadsPlainLinks(t *testing.T) {
	const conns, streams = 4, 5
	var mu sync.Mutex
	var pollers, readers []int
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if len(pollers) < 3 {
			pollers = append(pollers, goroutinesIn("engine.(*h2Poller).run"))
			readers = append(readers, goroutinesIn("engine.(*h2Link).readLoop"))
		}
		mu.Unlock()
		io.WriteString(w, "ok")
	})
	s := httptest.NewServer(h2c.NewHandler(h, &http2.Server{}))
	defer s.Close()
	fds := pollerFDs(t)
	res := mustRun(t, Config{Target: s.URL, Protocol: H2C, Connections: conns, Streams: streams, Duration: 200 * time.Millisecond})
	m := res.Measure
	if m.Requests == 0 || m.Succeeded != m.Requests {
		t.Fatalf("requests %d ok %d errors %v", m.Requests, m.Succeeded, m.Errors)
	}
	want := min(runtime.GOMAXPROCS(0), conns)
	for i := range pollers {
		if pollers[i] != want || readers[i] != 0 {
			t.Errorf("h2c: %d pollers and %d link readers while serving, want %d and 0", pollers[i], readers[i], want)
		}
	}
	s.CloseClientConnections()
	if n := goroutinesIn("engine.(*h2Poller).run"); n != 0 {
		t.Errorf("%d pollers left after the run", n)
	}
	if after := pollerFDs(t); after != fds {
		t.Errorf("%d epoll and eventfd descriptors open after the run, %d before", after, fds)
	}

	pollers, readers = nil, nil
	ts := httptest.NewUnstartedServer(h)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	defer ts.Close()
	res = mustRun(t, Config{Target: ts.URL, Protocol: H2, Connections: conns, Streams: streams, Duration: 200 * time.Millisecond,
		TLS: &TLS{Config: &tls.Config{RootCAs: ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}}})
	if m := res.Measure; m.Requests == 0 || m.Succeeded != m.Requests {
		t.Fatalf("h2: requests %d ok %d errors %v", m.Requests, m.Succeeded, m.Errors)
	}
	for i := range pollers {
		if pollers[i] != 0 || readers[i] != conns {
			t.Errorf("h2 over TLS: %d pollers and %d link readers while serving, want 0 and %d", pollers[i], readers[i], conns)
		}
	}
}

// pollerFDs counts this process's epoll and eventfd descriptors (the
// runtime's netpoller has one of each; a poller, one more of each).
func pollerFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("reading /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil &&
			(l == "anon_inode:[eventpoll]" || l == "anon_inode:[eventfd]") {
			n++
		}
	}
	return n
}

// TestH2PollerFailsLinksClosedHere: a connection the engine closes itself
// (here: the run is cancelled while every stream waits on a server that
// never answers) leaves the epoll set without an event, so the poller is
// told: every waiting request ends at once, not at its deadline.
func TestH2PollerFailsLinksClosedHere(t *testing.T) {
	t.Parallel()
	got := make(chan struct{}, 64)
	srv := rawH2Server(t, nil, func(fr *http2.Framer, id uint32, n int) bool {
		select {
		case got <- struct{}{}:
		default:
		}
		return true // never answers
	})
	ctx, cancel := context.WithCancel(context.Background())
	type out struct {
		res *Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := Run(ctx, Config{Target: srv.URL(), Protocol: H2C, Connections: 2, Streams: 4, Duration: time.Hour,
			Timeout: time.Hour})
		done <- out{res, err}
	}()
	for range 8 { // every stream is open on the server
		<-got
	}
	cancel()
	select {
	case o := <-done:
		if o.err != nil && o.res == nil {
			t.Fatalf("Run: %v", o.err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the cancelled run still waits on its streams after a minute (their deadline is an hour)")
	}
}
