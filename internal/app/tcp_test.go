package app

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// tcpChain starts svc-n … svc-1, each relaying its TCP connections to the next one's,
// svc-n echoing.
func tcpChain(tb testing.TB, n int) []Addrs {
	tb.Helper()
	addrs := make([]Addrs, n)
	for i := n - 1; i >= 0; i-- {
		c := Config{Name: fmt.Sprintf("svc-%d", i+1), HTTPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", UpstreamProtocol: TCP}
		if i < n-1 {
			c.Upstreams = []Upstream{{Name: fmt.Sprintf("svc-%d", i+2), Addr: addrs[i+1].TCP}}
		}
		addrs[i] = start(tb, c)
	}
	return addrs
}

// metricValue reads one sample of a service's /metrics (0 when it is absent).
func metricValue(tb testing.TB, a Addrs, series string) float64 {
	tb.Helper()
	resp, err := http.Get("http://" + a.HTTP + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, series+" ") {
			var v float64
			fmt.Sscan(strings.TrimPrefix(l, series+" "), &v)
			return v
		}
	}
	return 0
}

// TestTCPEchoChain: a message sent to svc-1 crosses svc-2 and svc-3 and comes back
// whole, on several connections at once; every service counts the bytes it carried.
func TestTCPEchoChain(t *testing.T) {
	addrs := tcpChain(t, 3)
	const conns, messages, size = 4, 50, 1000
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for k := range conns {
		wg.Go(func() {
			c, err := net.Dial("tcp", addrs[0].TCP)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			msg := bytes.Repeat([]byte{byte('a' + k)}, size)
			got := make([]byte, size)
			for range messages {
				if _, err := c.Write(msg); err != nil {
					errs <- err
					return
				}
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.ReadFull(c, got); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, msg) {
					errs <- fmt.Errorf("connection %d: echo differs", k)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every service counts bytes before it passes them on, so the counts are complete
	// once the clients have their echoes.
	want := float64(conns * messages * size)
	for i, a := range addrs {
		name := fmt.Sprintf("svc-%d", i+1)
		for _, dir := range []string{"in", "out"} {
			if got := metricValue(t, a, `smp_app_tcp_bytes_total{direction="`+dir+`",service="`+name+`"}`); got != want {
				t.Errorf("%s carried %v bytes %s, want %v", name, got, dir, want)
			}
		}
		if got := metricValue(t, a, `smp_app_tcp_connections_total{service="`+name+`"}`); got != conns {
			t.Errorf("%s accepted %v connections, want %d", name, got, conns)
		}
	}
}

// TestTCPRelayToADeadUpstream: a relay that cannot reach its upstream closes the caller's
// connection (the caller sees EOF, not a hang) and counts the failure.
func TestTCPRelayToADeadUpstream(t *testing.T) {
	a := start(t, Config{Name: "svc-1", HTTPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", UpstreamProtocol: TCP,
		Upstreams: []Upstream{{Name: "svc-2", Addr: deadAddr(t)}}})
	c, err := net.Dial("tcp", a.TCP)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Nothing is written first: a close with unread bytes in the relay's socket is a reset,
	// not an EOF, and whether the bytes arrived before the close is a race.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 5)); err != io.EOF {
		t.Errorf("read %d bytes, %v; want EOF", n, err)
	}
	if got := metricValue(t, a, `smp_app_tcp_upstream_connections_total{outcome="error",service="svc-1"}`); got != 1 {
		t.Errorf("failed upstream connections %v, want 1", got)
	}
}

func TestTCPConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Name: "a", HTTPAddr: "127.0.0.1:0", UpstreamProtocol: TCP, Upstreams: []Upstream{{Addr: "127.0.0.1:1"}}}, "needs tcp_addr"},
		{Config{Name: "a", HTTPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", UpstreamProtocol: TCP,
			Upstreams: []Upstream{{Name: "x", Addr: "127.0.0.1:1"}, {Name: "y", Addr: "127.0.0.1:2"}}}, "one upstream"},
		{Config{Name: "a", HTTPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", Upstreams: []Upstream{{Addr: "127.0.0.1:1"}}}, "must be tcp"},
	} {
		if err := tc.c.withDefaults().Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want %q", err, tc.want)
		}
	}
}
