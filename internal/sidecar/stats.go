package sidecar

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// listenerStats are one listener's counters. Hot-path updates are single atomic adds;
// /stats and /metrics read them without stopping traffic.
type listenerStats struct {
	name, direction, listen, target string

	requests          atomic.Int64
	bytesIn, bytesOut atomic.Int64 // downstream bytes on the wire (TLS records included)
	active            atomic.Int64
	connections       atomic.Int64
	handshakes        atomic.Int64 // downstream TLS handshakes completed (inbound)
	handshakeErrors   atomic.Int64
	plaintext         atomic.Int64 // plaintext connections accepted (permissive, off)
	plaintextRefused  atomic.Int64 // plaintext connections refused (strict)
	upstreamTLS       atomic.Int64 // TLS handshakes made towards the upstream (outbound)
	errors            atomic.Int64 // requests answered by the sidecar itself (502, gRPC UNAVAILABLE)
}

// ListenerStats is one listener in the builtin sidecar's /stats document.
type ListenerStats struct {
	Name string `json:"name"`
	// Direction is "inbound" (towards the local application) or "outbound" (towards
	// an upstream sidecar).
	Direction string `json:"direction"`
	Listen    string `json:"listen"`
	Target    string `json:"target"`
	// RequestsTotal counts HTTP requests (gRPC calls) received.
	RequestsTotal int64 `json:"requests_total"`
	// ReceivedBytesTotal and SentBytesTotal count downstream bytes on the wire, TLS
	// records included.
	ReceivedBytesTotal int64 `json:"received_bytes_total"`
	SentBytesTotal     int64 `json:"sent_bytes_total"`
	ActiveConnections  int64 `json:"active_connections"`
	ConnectionsTotal   int64 `json:"connections_total"`
	// TLSHandshakesTotal counts completed downstream handshakes (mTLS accepted);
	// TLSHandshakeErrorsTotal those that failed (no or a foreign client certificate).
	TLSHandshakesTotal      int64 `json:"tls_handshakes_total"`
	TLSHandshakeErrorsTotal int64 `json:"tls_handshake_errors_total"`
	// PlaintextConnectionsTotal counts plaintext connections accepted (permissive, off);
	// PlaintextRefusedTotal those refused (strict).
	PlaintextConnectionsTotal int64 `json:"plaintext_connections_total"`
	PlaintextRefusedTotal     int64 `json:"plaintext_refused_total"`
	// UpstreamTLSHandshakesTotal counts handshakes made towards the upstream, resumed
	// sessions included.
	UpstreamTLSHandshakesTotal int64 `json:"upstream_tls_handshakes_total"`
	// ErrorsTotal counts requests the sidecar answered itself because the upstream or
	// application failed (502, or gRPC UNAVAILABLE).
	ErrorsTotal int64 `json:"errors_total"`
}

// StatsDocument is what the builtin sidecar serves on /stats.
type StatsDocument struct {
	Name     string   `json:"name"`
	Protocol Protocol `json:"protocol"`
	MTLS     MTLSMode `json:"mtls"`
	// Concurrency is GOMAXPROCS at the time of the request.
	Concurrency   int             `json:"concurrency"`
	UptimeSeconds float64         `json:"uptime_seconds"`
	Listeners     []ListenerStats `json:"listeners"`
}

func (l *listenerStats) snapshot() ListenerStats {
	return ListenerStats{
		Name:                       l.name,
		Direction:                  l.direction,
		Listen:                     l.listen,
		Target:                     l.target,
		RequestsTotal:              l.requests.Load(),
		ReceivedBytesTotal:         l.bytesIn.Load(),
		SentBytesTotal:             l.bytesOut.Load(),
		ActiveConnections:          l.active.Load(),
		ConnectionsTotal:           l.connections.Load(),
		TLSHandshakesTotal:         l.handshakes.Load(),
		TLSHandshakeErrorsTotal:    l.handshakeErrors.Load(),
		PlaintextConnectionsTotal:  l.plaintext.Load(),
		PlaintextRefusedTotal:      l.plaintextRefused.Load(),
		UpstreamTLSHandshakesTotal: l.upstreamTLS.Load(),
		ErrorsTotal:                l.errors.Load(),
	}
}

// counters sums a stats document into the Counters every Kind reports.
func (d StatsDocument) counters() Counters {
	var c Counters
	for _, l := range d.Listeners {
		c.Requests += l.RequestsTotal
		c.BytesIn += l.ReceivedBytesTotal
		c.BytesOut += l.SentBytesTotal
		c.ActiveConnections += l.ActiveConnections
		c.Handshakes += l.TLSHandshakesTotal
		c.Errors += l.ErrorsTotal + l.TLSHandshakeErrorsTotal + l.PlaintextRefusedTotal
	}
	return c
}

// countingConn counts a downstream connection's bytes and its lifetime.
type countingConn struct {
	net.Conn
	st   *listenerStats
	once sync.Once
}

func (s *listenerStats) track(c net.Conn) *countingConn {
	s.active.Add(1)
	s.connections.Add(1)
	return &countingConn{Conn: c, st: s}
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.st.bytesIn.Add(int64(n))
	}
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if n > 0 {
		c.st.bytesOut.Add(int64(n))
	}
	return n, err
}

func (c *countingConn) Close() error {
	c.once.Do(func() { c.st.active.Add(-1) })
	return c.Conn.Close()
}

// collector exposes the listeners' counters to Prometheus at scrape time, so the hot
// path pays nothing for /metrics.
type collector struct {
	info      *prometheus.Desc
	counters  []counterDesc
	active    *prometheus.Desc
	name      string
	protocol  Protocol
	mtls      MTLSMode
	listeners []*listenerStats
	started   time.Time
}

type counterDesc struct {
	desc *prometheus.Desc
	get  func(*listenerStats) int64
}

func newCollector(name string, protocol Protocol, mtls MTLSMode, listeners []*listenerStats) *collector {
	labels := []string{"listener", "direction"}
	c := func(metric, help string, get func(*listenerStats) int64) counterDesc {
		return counterDesc{prometheus.NewDesc("smp_sidecar_"+metric, help, labels, nil), get}
	}
	return &collector{
		info: prometheus.NewDesc("smp_sidecar_info", "The builtin sidecar's configuration (value 1).",
			[]string{"name", "protocol", "mtls"}, nil),
		active: prometheus.NewDesc("smp_sidecar_active_connections", "Downstream connections open now.", labels, nil),
		counters: []counterDesc{
			c("requests_total", "HTTP requests (gRPC calls) received.", func(l *listenerStats) int64 { return l.requests.Load() }),
			c("received_bytes_total", "Downstream bytes received on the wire.", func(l *listenerStats) int64 { return l.bytesIn.Load() }),
			c("sent_bytes_total", "Downstream bytes sent on the wire.", func(l *listenerStats) int64 { return l.bytesOut.Load() }),
			c("connections_total", "Downstream connections accepted.", func(l *listenerStats) int64 { return l.connections.Load() }),
			c("tls_handshakes_total", "Downstream TLS handshakes completed.", func(l *listenerStats) int64 { return l.handshakes.Load() }),
			c("tls_handshake_errors_total", "Downstream TLS handshakes that failed.", func(l *listenerStats) int64 { return l.handshakeErrors.Load() }),
			c("plaintext_connections_total", "Plaintext downstream connections accepted.", func(l *listenerStats) int64 { return l.plaintext.Load() }),
			c("plaintext_refused_total", "Plaintext downstream connections refused by strict mTLS.", func(l *listenerStats) int64 { return l.plaintextRefused.Load() }),
			c("upstream_tls_handshakes_total", "TLS handshakes made towards the upstream.", func(l *listenerStats) int64 { return l.upstreamTLS.Load() }),
			c("errors_total", "Requests answered by the sidecar because the upstream failed.", func(l *listenerStats) int64 { return l.errors.Load() }),
		},
		name:      name,
		protocol:  protocol,
		mtls:      mtls,
		listeners: listeners,
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.info
	ch <- c.active
	for _, d := range c.counters {
		ch <- d.desc
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, c.name, string(c.protocol), string(c.mtls))
	for _, l := range c.listeners {
		ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(l.active.Load()), l.name, l.direction)
		for _, d := range c.counters {
			ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(d.get(l)), l.name, l.direction)
		}
	}
}
