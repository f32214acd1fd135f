package sidecar

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// echoApp is a TCP echo server (the application behind a TCP sidecar) that counts the
// bytes it echoed.
type echoApp struct {
	addr   string
	echoed atomic.Int64
}

func startEcho(t *testing.T) *echoApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoApp{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						e.echoed.Add(int64(n))
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return e
}

// exchange sends n messages of size bytes on c and checks every echo.
func exchange(c net.Conn, n, size int) error {
	got := make([]byte, size)
	for i := range n {
		msg := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(msg); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, got); err != nil {
			return err
		}
		if !bytes.Equal(got, msg) {
			return fmt.Errorf("message %d: the echo differs", i)
		}
	}
	return nil
}

// TestTCPTwoHop is TestTwoHopPath for protocol tcp: client → sidecar A (outbound) →
// sidecar B (inbound) → echo app, each sidecar a real process, for every kind that runs
// here and every mTLS mode. Messages come back whole; while the client's connection is
// open both sidecars show it among their active connections, and afterwards every
// sidecar that counts bytes counted them; B's inbound enforces the mTLS mode.
func TestTCPTwoHop(t *testing.T) {
	for _, k := range []Kind{Builtin, HAProxy, Nginx} {
		t.Run(string(k), func(t *testing.T) {
			t.Parallel()
			tool := needTool(t, k)
			for _, m := range []MTLSMode{Strict, Permissive, Off} {
				t.Run(string(m), func(t *testing.T) {
					if err := k.Supports(TCP, m, tool); err != nil {
						if integration() {
							t.Fatalf("SMP_INTEGRATION=1: %v", err)
						}
						t.Skip(err)
					}
					testTCPTwoHop(t, k, tool, m)
				})
			}
		})
	}
}

func testTCPTwoHop(t *testing.T, k Kind, tool Tool, m MTLSMode) {
	app := startEcho(t)
	pki := newRunPKI(t, "client", "svc-1")
	b := launch(t, k, tool, pki.spec(Spec{Name: "svc-1-proxy", Inbound: &Inbound{Listen: "127.0.0.1:0", App: app.addr},
		Protocol: TCP, MTLS: m, Concurrency: 1, AdminListen: "127.0.0.1:0"}, "svc-1"))
	a := launch(t, k, tool, pki.spec(Spec{Name: "client-proxy", Protocol: TCP, MTLS: m, Concurrency: 1, AdminListen: "127.0.0.1:0",
		Outbounds: []Outbound{{Listen: "127.0.0.1:0", Upstream: b.Addrs.Inbound, UpstreamID: pki.ids["svc-1"].ID}}}, "client"))

	c, err := net.Dial("tcp", a.Addrs.Outbounds[0])
	if err != nil {
		t.Fatal(err)
	}
	const n, size = 20, 1000
	if err := exchange(c, n, size); err != nil {
		c.Close()
		t.Fatalf("through A → B → echo: %v", err)
	}
	// While the connection is open every proxy shows it; haproxy and the builtin count
	// it as carried at once, the builtin its bytes too (haproxy counts a TCP session's
	// bytes when it ends; nginx's stub_status has neither for streams).
	for name, sc := range map[string]*Sidecar{"A": a, "B": b} {
		got := counters(t, sc)
		if got.ActiveConnections < 1 {
			t.Errorf("sidecar %s shows no active connection while the client's is open: %+v", name, got)
		}
		if k != Nginx && got.Requests < 1 {
			t.Errorf("sidecar %s counted no connection carried: %+v", name, got)
		}
		if k == Builtin && (got.BytesIn < n*size || got.BytesOut < n*size) {
			t.Errorf("sidecar %s counted %d bytes in, %d out; want at least %d each way", name, got.BytesIn, got.BytesOut, n*size)
		}
	}
	c.Close()
	if got := app.echoed.Load(); got != n*size {
		t.Errorf("the app echoed %d bytes, want %d", got, n*size)
	}
	checkTCPInbound(t, pki, b, app, m)
}

// checkTCPInbound connects to B's inbound port directly: plaintext, mTLS with the run's
// CA, a certificate from another CA, TLS without a certificate. The app's byte count is
// the ground truth.
func checkTCPInbound(t *testing.T, pki *runPKI, b *Sidecar, app *echoApp, m MTLSMode) {
	t.Helper()
	for _, at := range []struct {
		name   string
		cfg    *tls.Config // nil: plaintext
		accept bool
	}{
		{"plaintext", nil, m != Strict},
		{"mTLS with the run's CA", tcpTLS(pki.clientTLS("client", false)), m != Off},
		{"a certificate from another CA", tcpTLS(pki.foreignTLS(t, false)), false},
		{"TLS without a client certificate", tcpTLS(pki.noCertTLS(false)), false},
	} {
		before := app.echoed.Load()
		var c net.Conn
		var err error
		if at.cfg == nil {
			c, err = net.DialTimeout("tcp", b.Addrs.Inbound, 5*time.Second)
		} else {
			c, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", b.Addrs.Inbound, at.cfg)
		}
		if err == nil {
			err = exchange(c, 1, 100)
			c.Close()
		}
		reached := app.echoed.Load() > before
		switch {
		case at.accept && (err != nil || !reached):
			t.Errorf("mtls %s: %s was refused, want accepted: %v", m, at.name, err)
		case m == Off && at.cfg != nil:
			// With mtls off the port is plain L4: a TLS client's bytes reach the app like
			// any others (and come back, so its handshake fails): nothing to refuse.
			if err == nil {
				t.Errorf("mtls off: %s completed a TLS handshake with a plaintext port", at.name)
			}
		case !at.accept && (err == nil || reached):
			t.Errorf("mtls %s: %s reached the app, want refused (err %v)", m, at.name, err)
		}
	}
}

// tcpTLS is a test client TLS config without ALPN, as a TCP client has none to offer.
func tcpTLS(c *tls.Config) *tls.Config {
	c = c.Clone()
	c.NextProtos = nil
	return c
}
