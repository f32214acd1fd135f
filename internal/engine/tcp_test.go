package engine

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// echoServer is a TCP echo server (what fortio's tcp-echo and smp's sample app do) that
// counts the bytes it echoed; serve, when set, replaces the echo for one connection.
type echoServer struct {
	*rawServer
	echoed atomic.Int64
}

func newEchoServer(t testing.TB) *echoServer {
	e := &echoServer{}
	e.rawServer = newRawServer(t, func(c net.Conn, _ <-chan struct{}) {
		n, _ := io.Copy(c, c)
		e.echoed.Add(n)
	})
	return e
}

func (s *rawServer) tcpURL() string { return "tcp://" + s.ln.Addr().String() }

func TestTCPEchoClosedLoop(t *testing.T) {
	srv := newEchoServer(t)
	res := mustRun(t, Config{Target: srv.tcpURL(), Protocol: TCP, PayloadSize: 100, Connections: 4, Duration: 300 * time.Millisecond})
	m := res.Measure
	if m.Requests == 0 || m.Succeeded != m.Requests || m.Failed != 0 {
		t.Fatalf("requests %d ok %d failed %d errors %v, want all ok", m.Requests, m.Succeeded, m.Failed, m.Errors)
	}
	if m.Status["tcp:OK"] != m.Requests || len(m.Status) != 1 {
		t.Errorf("status %v, want every request tcp:OK", m.Status)
	}
	if m.BytesSent != 100*m.Requests || m.BytesReceived != m.BytesSent {
		t.Errorf("sent %d received %d bytes for %d messages of 100 bytes", m.BytesSent, m.BytesReceived, m.Requests)
	}
	srv.Close() // the echo counts are final once every connection has ended
	if got := srv.echoed.Load(); got != m.BytesReceived {
		t.Errorf("server echoed %d bytes, engine received %d", got, m.BytesReceived)
	}
	if res.Connections != 4 || !res.ClosedLoop {
		t.Errorf("connections %d closed loop %v, want 4 true", res.Connections, res.ClosedLoop)
	}
	if m.Connect != nil {
		t.Error("keep-alive on recorded connection phases")
	}
}

func TestTCPDefaultMessageIs1KiB(t *testing.T) {
	srv := newEchoServer(t)
	res := mustRun(t, Config{Target: srv.tcpURL(), Protocol: TCP, Rate: 200, Duration: 200 * time.Millisecond})
	if m := res.Measure; m.Succeeded == 0 || m.BytesSent != 1024*m.Requests {
		t.Errorf("ok %d, sent %d bytes for %d messages, want 1024 each", m.Succeeded, m.BytesSent, m.Requests)
	}
}

// TestTCPStallShowsInCorrectedLatency is the wrk2 experiment over TCP: the echo server
// stops for 1s; messages due meanwhile wait for a connection and are charged from their
// intended time, while the service time of the rest stays the server's.
func TestTCPStallShowsInCorrectedLatency(t *testing.T) {
	const (
		rate  = 1000.0
		stall = time.Second
	)
	var (
		mu       sync.Mutex
		count    int
		stallEnd time.Time
	)
	srv := newRawServer(t, func(c net.Conn, _ <-chan struct{}) {
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			mu.Lock()
			count++
			if count == int(rate) { // one second into the run
				stallEnd = time.Now().Add(stall)
			}
			wait := time.Until(stallEnd)
			mu.Unlock()
			if wait > 0 {
				time.Sleep(wait) // the stall itself, not synchronisation
			}
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
	res := mustRun(t, Config{Target: srv.tcpURL(), Protocol: TCP, PayloadSize: 64, Rate: rate, Connections: 4, Duration: 3 * time.Second})
	m := res.Measure
	if m.Failed != 0 {
		t.Fatalf("failed %d (%v), want 0", m.Failed, m.Errors)
	}
	lat99, svc99 := m.Latency.Percentile(99), m.Service.Percentile(99)
	t.Logf("latency p99 %v max %v; service p99 %v max %v", lat99, m.Latency.Max(), svc99, m.Service.Max())
	if lat99 < stall/2 {
		t.Errorf("corrected p99 %v, want ≥ %v: the stall must show", lat99, stall/2)
	}
	if svc99 > stall/10 || svc99*5 > lat99 {
		t.Errorf("service p99 %v, want < %v and ≪ corrected p99 %v", svc99, stall/10, lat99)
	}
	if res.RateHeld {
		t.Errorf("RateHeld after a 1s stall; reason %q", res.RateReason)
	}
}

// TestTCPConnectionRate is keep-alive off: connect, exchange, close for every message,
// each with its connect and first-byte times.
func TestTCPConnectionRate(t *testing.T) {
	srv := newEchoServer(t)
	res := mustRun(t, Config{Target: srv.tcpURL(), Protocol: TCP, PayloadSize: 32, Rate: 200, Connections: 2,
		Duration: 400 * time.Millisecond, KeepAlive: boolp(false)})
	m := res.Measure
	if m.Requests < 60 || m.Succeeded != m.Requests {
		t.Fatalf("requests %d ok %d (%v)", m.Requests, m.Succeeded, m.Errors)
	}
	if got := srv.accepted.Load(); got != res.Connections || res.Connections != m.Requests {
		t.Errorf("server accepted %d connections, engine opened %d, for %d messages: want equal", got, res.Connections, m.Requests)
	}
	if m.Connect == nil || m.Connect.Count() != m.Requests || m.FirstByte.Count() != m.Requests || m.TLSHandshake.Count() != 0 {
		t.Fatalf("phases: connect %v first byte %v tls %v, want %d, %d, 0", m.Connect, m.FirstByte, m.TLSHandshake, m.Requests, m.Requests)
	}
	if m.Connect.Max() > m.Latency.Max() || m.FirstByte.Max() > m.Latency.Max() {
		t.Errorf("a phase (connect max %v, first byte max %v) outlasts the whole exchange (max %v)", m.Connect.Max(), m.FirstByte.Max(), m.Latency.Max())
	}
}

func TestTCPOverMTLS(t *testing.T) {
	pki := newTestPKI(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pki.server},
		ClientCAs: pki.pool, ClientAuth: tls.RequireAndVerifyClientCert})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { defer c.Close(); io.Copy(c, c) })
		}
	})
	url := "tcp://" + ln.Addr().String()
	res := mustRun(t, Config{Target: url, Protocol: TCP, PayloadSize: 512, Rate: 100, Duration: 300 * time.Millisecond, KeepAlive: boolp(false),
		TLS: &TLS{CAFile: pki.caFile, CertFile: pki.clientCert, KeyFile: pki.clientKey}})
	m := res.Measure
	if m.Requests < 20 || m.Succeeded != m.Requests || m.TLSHandshake.Count() != m.Requests {
		t.Errorf("ok %d of %d, %d handshakes (%v)", m.Succeeded, m.Requests, m.TLSHandshake.Count(), m.Errors)
	}
	res = mustRun(t, Config{Target: url, Protocol: TCP, Rate: 50, Duration: 200 * time.Millisecond, TLS: &TLS{CAFile: pki.caFile}})
	if m := res.Measure; m.Requests == 0 || m.Succeeded != 0 || m.Errors[ClassTLS]+m.Errors[ClassReset]+m.Errors[ClassClosed] != m.Requests {
		t.Errorf("without a client certificate: requests %d ok %d errors %v, want all refused by the handshake", m.Requests, m.Succeeded, m.Errors)
	}
}

func TestTCPFailures(t *testing.T) {
	t.Run("wrong echo", func(t *testing.T) {
		srv := newRawServer(t, func(c net.Conn, _ <-chan struct{}) {
			buf := make([]byte, 16)
			for {
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				buf[3] ^= 0xff
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		})
		res := mustRun(t, Config{Target: srv.tcpURL(), Protocol: TCP, PayloadSize: 16, Rate: 100, Duration: 200 * time.Millisecond})
		if m := res.Measure; m.Requests == 0 || m.Errors[ClassProtocol] != m.Requests || m.Succeeded != 0 {
			t.Errorf("requests %d ok %d errors %v, want every one a protocol error", m.Requests, m.Succeeded, m.Errors)
		}
	})
	t.Run("short echo then close", func(t *testing.T) {
		srv := newRawServer(t, func(c net.Conn, _ <-chan struct{}) {
			buf := make([]byte, 16)
			if _, err := io.ReadFull(c, buf); err == nil {
				c.Write(buf[:5])
			}
		})
		res := mustRun(t, Config{Target: srv.tcpURL(), Protocol: TCP, PayloadSize: 16, Rate: 100, Duration: 200 * time.Millisecond})
		if m := res.Measure; m.Requests == 0 || m.Errors[ClassClosed] != m.Requests {
			t.Errorf("requests %d errors %v, want every one closed mid-echo", m.Requests, m.Errors)
		}
	})
	t.Run("nothing listening", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		res := mustRun(t, Config{Target: "tcp://" + addr, Protocol: TCP, Rate: 50, Duration: 200 * time.Millisecond})
		if m := res.Measure; m.Requests == 0 || m.Errors[ClassRefused] != m.Requests {
			t.Errorf("requests %d errors %v, want all refused", m.Requests, m.Errors)
		}
	})
	t.Run("dead kept connection is replaced", func(t *testing.T) {
		// One echo per connection, then close: the next message finds a dead socket and
		// is retried on a new one rather than counted as an error.
		srv := newRawServer(t, func(c net.Conn, _ <-chan struct{}) {
			buf := make([]byte, 16)
			if _, err := io.ReadFull(c, buf); err == nil {
				c.Write(buf)
			}
		})
		res := mustRun(t, Config{Target: srv.tcpURL(), Protocol: TCP, PayloadSize: 16, Rate: 50, Duration: 400 * time.Millisecond})
		m := res.Measure
		if m.Failed != 0 || m.Succeeded < 15 {
			t.Fatalf("ok %d failed %d (%v), want all ok", m.Succeeded, m.Failed, m.Errors)
		}
		if res.Reconnects < m.Succeeded-2 {
			t.Errorf("reconnects %d for %d messages, want one per message after the first", res.Reconnects, m.Succeeded)
		}
	})
}

func TestTCPValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"no port", Config{Target: "tcp://127.0.0.1", Protocol: TCP}, "needs a port"},
		{"http target", Config{Target: "http://127.0.0.1:80/", Protocol: TCP}, "tcp://host:port"},
		{"tcp scheme over http", Config{Target: "tcp://127.0.0.1:80"}, "scheme tcp is for protocol tcp"},
		{"headers", Config{Target: "tcp://127.0.0.1:80", Protocol: TCP, Headers: []string{"A: b"}}, "no method or headers"},
		{"mix", Config{Target: "tcp://127.0.0.1:80", Protocol: TCP, Requests: []Request{{Weight: 1}}}, "request mix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.withDefaults().Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	ok := Config{Target: "127.0.0.1:8078", Protocol: TCP, KeepAlive: boolp(false)}.withDefaults()
	if err := ok.Validate(); err != nil {
		t.Errorf("host:port with keep-alive off: %v", err)
	}
}
