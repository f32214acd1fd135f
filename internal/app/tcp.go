package app

import (
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/service-mesh-performance/smp/internal/rawio"
)

// tcpServer serves TCPAddr: an echo at the end of a chain (every byte read is written
// back, as fortio's tcp-echo does), a relay elsewhere: each connection gets its own
// connection to the upstream's TCP address and bytes flow both ways, so that a message
// crosses every service and comes back from the last one. A relay has one upstream (a
// byte stream cannot fan out). Connections do their I/O with raw system calls, as every
// connection of the app does (rawio), and bytes are counted before they are written on,
// so that once a caller has its echo every service on the way has counted it.
type tcpServer struct {
	name    string
	ln      net.Listener
	up      *Upstream // nil: echo
	timeout time.Duration
	m       *tcpMetrics

	wg    sync.WaitGroup
	conns rawio.ConnSet // every accepted and upstream connection, closed by shutdown
}

// tcpMetrics count what the TCP listener carried.
type tcpMetrics struct {
	conns           prometheus.Counter
	in, out         prometheus.Counter // bytes from and to callers
	upOK, upErr     prometheus.Counter // upstream dials
	upDialDurations prometheus.Observer
}

func newTCPMetrics(c Config, reg prometheus.Registerer) *tcpMetrics {
	service := prometheus.Labels{"service": c.Name}
	conns := prometheus.NewCounter(prometheus.CounterOpts{Name: "smp_app_tcp_connections_total", ConstLabels: service,
		Help: "TCP connections accepted on the TCP echo listener."})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smp_app_tcp_bytes_total", ConstLabels: service,
		Help: "Bytes carried on the TCP echo listener, by direction (in: from callers; out: to them)."}, []string{"direction"})
	reg.MustRegister(conns, bytes)
	m := &tcpMetrics{conns: conns, in: bytes.WithLabelValues("in"), out: bytes.WithLabelValues("out")}
	if len(c.Upstreams) > 0 {
		calls := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smp_app_tcp_upstream_connections_total", ConstLabels: service,
			Help: "Connections to the upstream, by outcome (ok; error: the dial failed, the caller's connection is closed)."}, []string{"outcome"})
		dial := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "smp_app_tcp_upstream_dial_seconds", ConstLabels: service,
			Help: "Time to open a connection to the upstream.", Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16)})
		reg.MustRegister(calls, dial)
		m.upOK, m.upErr, m.upDialDurations = calls.WithLabelValues(outcomeOK), calls.WithLabelValues(outcomeError), dial
	}
	return m
}

func newTCPServer(c Config, ln net.Listener, m *tcpMetrics) *tcpServer {
	s := &tcpServer{name: c.Name, ln: ln, timeout: c.UpstreamTimeout, m: m}
	if len(c.Upstreams) > 0 {
		up := c.Upstreams[0]
		s.up = &up
	}
	return s
}

// serve accepts until the listener is closed (by shutdown).
func (s *tcpServer) serve() error {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return err
		}
		if !s.conns.Add(c) {
			c.Close()
			continue
		}
		s.m.conns.Inc()
		s.wg.Go(func() {
			defer s.conns.Remove(c)
			defer c.Close()
			if s.up == nil {
				s.echo(c)
			} else {
				s.relay(c)
			}
		})
	}
}

func (s *tcpServer) echo(c net.Conn) {
	rawio.Pipe(c, c, func(n int) {
		s.m.in.Add(float64(n))
		s.m.out.Add(float64(n))
	})
}

// relay connects c to the upstream and copies both ways until both sides are done. The
// first side to end half-closes the other, as a TCP proxy does.
func (s *tcpServer) relay(c net.Conn) {
	start := time.Now()
	d := net.Dialer{Timeout: s.timeout}
	raw, err := d.Dial("tcp", s.up.Addr)
	if err != nil {
		s.m.upErr.Inc()
		return
	}
	up := rawio.Wrap(raw)
	s.m.upOK.Inc()
	s.m.upDialDurations.Observe(time.Since(start).Seconds())
	if !s.conns.Add(up) {
		up.Close()
		return
	}
	defer s.conns.Remove(up)
	defer up.Close()
	rawio.Relay(c, up, func(n int) { s.m.in.Add(float64(n)) }, func(n int) { s.m.out.Add(float64(n)) })
}

// shutdown stops accepting and closes every connection: a TCP echo has no request to
// let finish, and a stopping service is the end of a trial.
func (s *tcpServer) shutdown() {
	s.conns.CloseAll()
	_ = s.ln.Close()
	s.wg.Wait()
}
