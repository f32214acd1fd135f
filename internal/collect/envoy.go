package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/service-mesh-performance/smp/result"
)

// EnvoyAdmin reads each Envoy proxy's admin endpoint (meshes.md §8): /memory (TCMalloc:
// allocated is the memory figure, heap_size and total_physical_bytes beside it),
// /stats?format=json (server, cluster, HTTP and TLS counters and gauges), /stats/prometheus
// (the upstream_rq_time and downstream_rq_time histograms, whose increase over the window
// is the proxy's own latency), /server_info (version, concurrency, state) and /clusters
// (upstream hosts and how many are healthy).
//
// Envoy reports no CPU: its Resources carry memory and Stats only, and the experiment
// keeps them beside the figures of a collector that measures CPU, never in their place.
type EnvoyAdmin struct {
	cfg EndpointConfig
	src httpSource
	s   *sampler

	notes Notes
}

var (
	_ Collector = (*EnvoyAdmin)(nil)
	_ Noter     = (*EnvoyAdmin)(nil)
)

// NewEnvoyAdmin returns an Envoy admin collector; it fails on an invalid configuration.
func NewEnvoyAdmin(cfg EndpointConfig) (*EnvoyAdmin, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("envoy-admin: %w", err)
	}
	e := &EnvoyAdmin{cfg: cfg, src: newHTTPSource(cfg.Client, cfg.BearerTokenFile)}
	e.s = newSampler(samplerConfig{name: "envoy-admin", interval: cfg.Interval, retention: cfg.Retention,
		memoryMetric: "allocated", fetch: e.fetch,
		skip: func(t Target) string {
			if t.AdminURL == "" {
				return "no admin URL for this proxy"
			}
			return ""
		},
		describe: func(t Target) string {
			return "GET " + e.base(t) + "/memory, /stats?format=json, /stats/prometheus, /server_info, /clusters (no CPU: Envoy does not report it)"
		}})
	return e, nil
}

// Name returns "envoy-admin".
func (e *EnvoyAdmin) Name() string { return "envoy-admin" }

// Start begins reading the proxies among targets (role proxy) every Interval.
func (e *EnvoyAdmin) Start(ctx context.Context, targets []Target) error {
	return e.s.start(ctx, proxiesOf(targets))
}

// Stop ends reading; it is idempotent.
func (e *EnvoyAdmin) Stop() {
	e.s.stop()
	e.src.client.CloseIdleConnections()
}

// Collect returns one Resource per proxy over the window: memory and Stats (counters as
// increases over the window, gauges as their last value).
func (e *EnvoyAdmin) Collect(ctx context.Context, w Window) ([]result.Resource, error) {
	res, hists, err := e.s.collect(ctx, w)
	if err != nil {
		return nil, err
	}
	e.notes = Notes{ProxyLatency: latencyFrom("envoy-admin", hists, nil, func(comp, name string) string {
		return "increase of " + name + "_bucket (/stats/prometheus) between the first and last read in the window"
	})}
	return res, nil
}

// Notes returns the proxies' own latency over the last Collect's window.
func (e *EnvoyAdmin) Notes() Notes { return e.notes }

// base is the admin endpoint's scheme://host, with the configured port.
func (e *EnvoyAdmin) base(t Target) string {
	u, err := withPort(trimURL(t.AdminURL), e.cfg.Port)
	if err != nil {
		return trimURL(t.AdminURL)
	}
	return strings.TrimSuffix(u, "/")
}

func (e *EnvoyAdmin) fetch(ctx context.Context, targets []Target) ([]point, []error) {
	return fetchEach(ctx, targets, func(ctx context.Context, t Target) (point, error) {
		base := e.base(t)
		t0 := time.Now()
		var bodies [5][]byte
		for i, path := range []string{"/stats?format=json", "/memory", "/stats/prometheus", "/server_info", "/clusters"} {
			accept := ""
			if i == 2 {
				accept = textAccept
			}
			b, err := e.src.get(ctx, base+path, accept)
			if err != nil {
				return point{}, err
			}
			bodies[i] = b
		}
		return parseEnvoyAdmin(midpoint(t0), bodies[0], bodies[1], bodies[2], bodies[3], bodies[4])
	})
}

// envoyGauges are the stats that are gauges (the rest of what is kept are counters);
// /stats?format=json does not say which is which.
func envoyGauges() map[string]bool {
	return map[string]bool{
		"server.memory_allocated": true, "server.memory_heap_size": true, "server.memory_physical_size": true,
		"server.concurrency": true, "server.uptime": true, "server.total_connections": true,
		"server.days_until_first_cert_expiring": true, "server.live": true,
		"cluster.*.upstream_cx_active": true, "http.*.downstream_cx_active": true, "cluster_manager.active_clusters": true,
	}
}

// envoyStatKey maps a stat name to the key it is kept under, or "" to drop it: server.*
// and cluster_manager.* as they are; per-cluster, per-HTTP-connection-manager and
// per-listener stats (whose middle part is a name that may contain dots) summed under
// "cluster.*.<stat>", "http.*.<stat>", "listener.*.<stat>" (meshes.md §8's list).
func envoyStatKey(name string) string {
	switch name {
	case "server.memory_allocated", "server.memory_heap_size", "server.memory_physical_size", "server.concurrency",
		"server.uptime", "server.total_connections", "server.days_until_first_cert_expiring", "server.live",
		"cluster_manager.active_clusters":
		return name
	}
	scopes := []struct {
		prefix string
		stats  []string
	}{
		{"cluster.", []string{"upstream_cx_total", "upstream_cx_active", "upstream_cx_connect_fail", "upstream_rq_total",
			"upstream_rq_pending_overflow", "upstream_rq_retry", "upstream_rq_timeout", "ssl.handshake", "ssl.connection_error",
			"ssl.session_reused", "ssl.no_certificate"}},
		{"http.", []string{"downstream_cx_total", "downstream_cx_active", "downstream_cx_ssl_total", "downstream_rq_total",
			"downstream_rq_2xx", "downstream_rq_4xx", "downstream_rq_5xx"}},
		{"listener.", []string{"ssl.handshake", "ssl.connection_error", "ssl.session_reused", "ssl.no_certificate",
			"downstream_cx_total"}},
	}
	for _, sc := range scopes {
		if !strings.HasPrefix(name, sc.prefix) {
			continue
		}
		for _, st := range sc.stats {
			if strings.HasSuffix(name, "."+st) && len(name) > len(sc.prefix)+len(st)+1 {
				mid := name[len(sc.prefix) : len(name)-len(st)-1]
				// listener.admin.* and cluster.<c>.ssl.ciphers.* stay out: the first is
				// smp's own reads, the second would match a longer suffix.
				if sc.prefix == "listener." && mid == "admin" {
					return ""
				}
				return sc.prefix + "*." + st
			}
		}
	}
	return ""
}

// parseEnvoyAdmin builds one point from the bodies of the five admin endpoints. Their
// formats (Envoy's documented admin output):
//   - /stats?format=json: {"stats": [{"name": …, "value": <number>}, …, {"histograms": …}]};
//     text readouts have string values and are skipped;
//   - /memory: admin.v3.Memory as JSON, uint64 fields as decimal strings;
//   - /stats/prometheus: the text exposition format, names envoy_ + dots→underscores;
//   - /server_info: admin.v3.ServerInfo as JSON (version, state,
//     command_line_options.concurrency);
//   - /clusters: text lines "<cluster>::<host>::<stat>::<value>", health in health_flags.
func parseEnvoyAdmin(at time.Time, statsJSON, memoryJSON, promText, serverInfo, clusters []byte) (point, error) {
	p := newPoint(at)
	p.counters, p.gauges = map[string]float64{}, map[string]float64{}
	gauges := envoyGauges()

	var stats struct {
		Stats []struct {
			Name  string          `json:"name"`
			Value json.RawMessage `json:"value"`
		} `json:"stats"`
	}
	if err := json.Unmarshal(statsJSON, &stats); err != nil {
		return point{}, fmt.Errorf("envoy /stats?format=json: %w", err)
	}
	for _, s := range stats.Stats {
		key := envoyStatKey(s.Name)
		if key == "" || len(s.Value) == 0 || s.Value[0] == '"' {
			continue
		}
		v, err := strconv.ParseFloat(string(s.Value), 64)
		if err != nil {
			continue
		}
		if gauges[key] {
			p.gauges[key] += v
		} else {
			p.counters[key] += v
		}
	}

	var mem map[string]json.RawMessage
	if err := json.Unmarshal(memoryJSON, &mem); err != nil {
		return point{}, fmt.Errorf("envoy /memory: %w", err)
	}
	num := func(k string) (float64, bool) {
		raw, ok := mem[k]
		if !ok {
			return 0, false
		}
		v, err := strconv.ParseFloat(strings.Trim(string(raw), `"`), 64)
		return v, err == nil
	}
	if v, ok := num("allocated"); ok {
		p.mem = v
	} else {
		return point{}, fmt.Errorf("envoy /memory: no allocated field")
	}
	p.other = map[string]float64{}
	for _, k := range []string{"heap_size", "total_physical_bytes"} {
		if v, ok := num(k); ok {
			p.other[k] = v
		}
	}

	fams, err := parseExposition(bytes.NewReader(promText))
	if err != nil {
		return point{}, fmt.Errorf("envoy /stats/prometheus: %w", err)
	}
	p.hists = map[string]hist{}
	notXDS := func(l map[string]string) bool { return l["envoy_cluster_name"] != "xds-grpc" }
	if h, ok, _ := sumHistFamily(fams, "envoy_cluster_upstream_rq_time", notXDS); ok {
		p.hists["envoy_cluster_upstream_rq_time"] = h
	}
	if h, ok, _ := sumHistFamily(fams, "envoy_http_downstream_rq_time", func(l map[string]string) bool {
		return l["envoy_http_conn_manager_prefix"] != "admin"
	}); ok {
		p.hists["envoy_http_downstream_rq_time"] = h
	}

	var info struct {
		Version            string `json:"version"`
		State              string `json:"state"`
		CommandLineOptions struct {
			Concurrency json.Number `json:"concurrency"`
		} `json:"command_line_options"`
	}
	if err := json.Unmarshal(serverInfo, &info); err != nil {
		return point{}, fmt.Errorf("envoy /server_info: %w", err)
	}
	parts := []string{"envoy " + info.Version}
	if c, err := info.CommandLineOptions.Concurrency.Float64(); err == nil {
		p.gauges["server_info.concurrency"] = c
		parts = append(parts, "concurrency "+info.CommandLineOptions.Concurrency.String())
	}
	if info.State != "" {
		parts = append(parts, "state "+info.State)
	}
	p.info = strings.Join(parts, ", ")

	hosts, healthy := parseEnvoyClusters(clusters)
	p.gauges["clusters.hosts"], p.gauges["clusters.hosts_healthy"] = float64(hosts), float64(healthy)
	return p, nil
}

// parseEnvoyClusters counts the upstream hosts in /clusters' text output and those whose
// health_flags say healthy. Lines that are not "<cluster>::<host>::<stat>::<value>"
// (cluster-wide settings have three parts) are skipped.
func parseEnvoyClusters(body []byte) (hosts, healthy int) {
	for _, line := range strings.Split(string(body), "\n") {
		parts := strings.Split(strings.TrimSpace(line), "::")
		if len(parts) != 4 || parts[2] != "health_flags" {
			continue
		}
		hosts++
		if parts[3] == "healthy" {
			healthy++
		}
	}
	return hosts, healthy
}
