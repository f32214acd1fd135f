package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/service-mesh-performance/smp/result"
)

// EndpointConfig configures the collectors that read each proxy's own endpoint
// (linkerd-proxy, Envoy admin) and cAdvisor. Zero values mean the defaults.
type EndpointConfig struct {
	// Interval between reads. Default: 1s. At least 100ms.
	Interval time.Duration
	// Retention: the longest window Collect can answer. Default: 1h.
	Retention time.Duration
	// Port replaces the port of each target's URL (the plan's collector port). 0 keeps it.
	Port int
	// URL is the source's address (cAdvisor only: its base URL, or its /metrics or the
	// kubelet's /metrics/cadvisor for the Prometheus form).
	URL string
	// BearerTokenFile holds a token sent with every request (a kubelet wants one).
	BearerTokenFile string
	// Client makes the requests. Default: a client without proxy settings.
	Client *http.Client
	// NodeURL, when set, is where cAdvisor's Prometheus form of each node is read (the
	// API server's node proxy: …/api/v1/nodes/<node>/proxy/metrics/cadvisor, with a
	// Client holding the cluster's credentials); URL is then not used, and targets are
	// read from the node they run on. cAdvisor only.
	NodeURL func(node string) string
}

func (c EndpointConfig) withDefaults() EndpointConfig {
	if c.Interval == 0 {
		c.Interval = defaultInterval
	}
	if c.Retention == 0 {
		c.Retention = defaultRetention
	}
	return c
}

// Validate reports every problem with a (defaulted) configuration.
func (c EndpointConfig) Validate() error {
	var errs []error
	if c.Interval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("interval %v is below 100ms", c.Interval))
	}
	if c.Retention < c.Interval {
		errs = append(errs, fmt.Errorf("retention %v is shorter than the interval %v", c.Retention, c.Interval))
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d is out of range", c.Port))
	}
	return errors.Join(errs...)
}

// LinkerdProxy reads linkerd-proxy's admin metrics (:4191/metrics, meshes.md §8): CPU
// from process_cpu_seconds_total, memory from process_resident_memory_bytes (RSS of the
// proxy process alone, not its container), request and TLS counters, and the
// response_latency_ms histogram per direction as the proxy's own latency.
type LinkerdProxy struct {
	cfg EndpointConfig
	src httpSource
	s   *sampler

	notes Notes
}

var (
	_ Collector = (*LinkerdProxy)(nil)
	_ Noter     = (*LinkerdProxy)(nil)
)

// NewLinkerdProxy returns a linkerd-proxy collector; it fails on an invalid
// configuration.
func NewLinkerdProxy(cfg EndpointConfig) (*LinkerdProxy, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("linkerd-proxy: %w", err)
	}
	l := &LinkerdProxy{cfg: cfg, src: newHTTPSource(cfg.Client, cfg.BearerTokenFile)}
	l.s = newSampler(samplerConfig{name: "linkerd-proxy", interval: cfg.Interval, retention: cfg.Retention,
		memoryMetric: "rss", fetch: l.fetch, skip: urlMissing,
		describe: func(t Target) string {
			u, _ := withPort(t.MetricsURL, cfg.Port)
			return "GET " + u + ": process_cpu_seconds_total, process_resident_memory_bytes, response_latency_ms by direction"
		}})
	return l, nil
}

// urlMissing says why a target without a metrics URL is not read.
func urlMissing(t Target) string {
	if t.MetricsURL == "" {
		return "no metrics URL for this component"
	}
	return ""
}

// Name returns "linkerd-proxy".
func (l *LinkerdProxy) Name() string { return "linkerd-proxy" }

// Start begins reading the proxies among targets (role proxy) every Interval.
func (l *LinkerdProxy) Start(ctx context.Context, targets []Target) error {
	return l.s.start(ctx, proxiesOf(targets))
}

// Stop ends reading; it is idempotent.
func (l *LinkerdProxy) Stop() {
	l.s.stop()
	l.src.client.CloseIdleConnections()
}

// Collect returns one Resource per proxy over the window (see the package
// documentation for the window semantics) and keeps the latency for Notes.
func (l *LinkerdProxy) Collect(ctx context.Context, w Window) ([]result.Resource, error) {
	res, hists, err := l.s.collect(ctx, w)
	if err != nil {
		return nil, err
	}
	l.notes = Notes{ProxyLatency: latencyFrom("linkerd-proxy", hists, nil, func(comp, name string) string {
		return "increase of " + name + " buckets between the first and last read in the window"
	})}
	return res, nil
}

// Notes returns the proxies' response latency over the last Collect's window.
func (l *LinkerdProxy) Notes() Notes { return l.notes }

func (l *LinkerdProxy) fetch(ctx context.Context, targets []Target) ([]point, []error) {
	return fetchEach(ctx, targets, func(ctx context.Context, t Target) (point, error) {
		u, err := withPort(t.MetricsURL, l.cfg.Port)
		if err != nil {
			return point{}, err
		}
		t0 := time.Now()
		body, err := l.src.get(ctx, u, textAccept)
		if err != nil {
			return point{}, err
		}
		return parseLinkerdMetrics(body, midpoint(t0))
	})
}

// parseLinkerdMetrics extracts what the collector keeps from one /metrics body.
func parseLinkerdMetrics(body []byte, at time.Time) (point, error) {
	fams, err := parseExposition(bytes.NewReader(body))
	if err != nil {
		return point{}, err
	}
	p := newPoint(at)
	if v, ok := sumFamily(fams, "process_cpu_seconds_total", nil); ok {
		p.cpu = v
	}
	if v, ok := sumFamily(fams, "process_resident_memory_bytes", nil); ok {
		p.mem = v
	}
	if fams["process_cpu_seconds_total"] == nil && fams["process_resident_memory_bytes"] == nil {
		return point{}, fmt.Errorf("no process_cpu_seconds_total or process_resident_memory_bytes: not a linkerd-proxy metrics endpoint")
	}
	p.counters = map[string]float64{}
	for _, c := range []struct {
		key, family string
		keep        func(map[string]string) bool
	}{
		{"request_total", "request_total", nil},
		{"request_total{tls=\"true\"}", "request_total", func(l map[string]string) bool { return l["tls"] == "true" }},
		{"response_total{classification=\"failure\"}", "response_total", func(l map[string]string) bool { return l["classification"] == "failure" }},
		{"tcp_open_total", "tcp_open_total", nil},
	} {
		if v, ok := sumFamily(fams, c.family, c.keep); ok {
			p.counters[c.key] = v
		}
	}
	p.gauges = map[string]float64{}
	if v, ok := sumFamily(fams, "tcp_open_connections", nil); ok {
		p.gauges["tcp_open_connections"] = v
	}
	p.hists = map[string]hist{}
	for _, dir := range []string{"inbound", "outbound"} {
		h, ok, _ := sumHistFamily(fams, "response_latency_ms", func(l map[string]string) bool { return l["direction"] == dir })
		if ok {
			p.hists["response_latency_ms direction="+dir] = h
		}
	}
	return p, nil
}

// proxiesOf keeps the targets whose role is proxy.
func proxiesOf(targets []Target) []Target {
	var out []Target
	for _, t := range targets {
		if t.Role == result.RoleProxy {
			out = append(out, t)
		}
	}
	return out
}
