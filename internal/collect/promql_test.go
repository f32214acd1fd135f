package collect

import (
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/mesh"
	"github.com/service-mesh-performance/smp/spec"
)

func TestHistQuantile(t *testing.T) {
	inf := math.Inf(1)
	h := hist{le: []float64{1, 2, 5, inf}, cum: []float64{0, 50, 100, 100}}
	for _, c := range []struct{ q, want float64 }{{0.5, 2}, {0.99, 4.94}, {0.25, 1.5}, {1, 5}} {
		if got := h.quantile(c.q); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("q%v = %v, want %v", c.q, got, c.want)
		}
	}
	// A rank in the +Inf bucket gives the highest finite bound, as histogram_quantile does.
	tail := hist{le: []float64{1, 2, inf}, cum: []float64{10, 10, 100}}
	if got := tail.quantile(0.5); got != 2 {
		t.Errorf("+Inf bucket: %v, want 2", got)
	}
	// The first bucket starts at 0.
	if got := (hist{le: []float64{4, inf}, cum: []float64{10, 10}}).quantile(0.5); got != 2 {
		t.Errorf("first bucket: %v, want 2", got)
	}
	if got := (hist{le: []float64{1, inf}, cum: []float64{0, 0}}).quantile(0.5); !math.IsNaN(got) {
		t.Errorf("empty: %v, want NaN", got)
	}
	later := hist{le: h.le, cum: []float64{5, 80, 150, 150}}
	d, ok := later.sub(h)
	if !ok || d.count() != 50 || d.cum[0] != 5 {
		t.Errorf("sub: %+v %v", d, ok)
	}
	if _, ok := h.sub(later); ok {
		t.Error("a histogram that went down (a restart) was subtracted")
	}
	if _, ok := h.sub(hist{le: []float64{1, inf}, cum: []float64{0, 0}}); ok {
		t.Error("histograms with different buckets were subtracted")
	}
}

func TestExpandAndQuote(t *testing.T) {
	got := expand(`a{$node_job x=~"$node_pods"} $node $window`, map[string]string{"node": "N", "node_job": `job="j",`, "node_pods": "p.*", "window": "3s"})
	if got != `a{job="j", x=~"p.*"} N 3s` {
		t.Errorf("expand: %s", got)
	}
	re := promRegex([]string{"127.0.0.1:8080", "", "127.0.0.1:8080", "a+b"})
	if re != `127\\.0\\.0\\.1:8080|a\\+b` {
		t.Errorf("promRegex: %s", re)
	}
	// What PromQL unquotes must be the RE2 that matches the literal and nothing else.
	unq := strings.ReplaceAll(re, `\\`, `\`)
	r := regexp.MustCompile("^(?:" + unq + ")$")
	if !r.MatchString("127.0.0.1:8080") || r.MatchString("127x0.0.1:8080") || !r.MatchString("a+b") {
		t.Errorf("regex %s does not match the literals alone", unq)
	}
	if promString(`a"b\c`) != `"a\"b\\c"` {
		t.Errorf("promString: %s", promString(`a"b\c`))
	}
	for d, want := range map[time.Duration]string{30 * time.Second: "30s", 1500 * time.Millisecond: "1s500ms", 90 * time.Second: "1m30s",
		1234567 * time.Microsecond: "1s234ms", 0: "1ms"} {
		if got := promDuration(d); got != want {
			t.Errorf("promDuration(%v) = %s, want %s", d, got, want)
		}
	}
}

// TestDefaultQueriesExpandCompletely: with every profile's variables, no default query
// keeps a $variable, and every container query excludes the traps.
func TestDefaultQueriesExpandCompletely(t *testing.T) {
	leftover := regexp.MustCompile(`\$[a-z_]+`)
	for _, p := range mesh.Profiles() {
		vars := profileVars(p)
		for _, k := range []string{"window", "step", "rate_window", "peak_range", "cadvisor_job", "node_job", "process_job",
			"namespaces", "instances", "metric", "matchers", "by"} {
			vars[k] = "X"
		}
		for name, q := range DefaultQueries() {
			e := expand(q, vars)
			if m := leftover.FindString(e); m != "" {
				t.Errorf("%s / %s: %s left in %s", p.Name(), name, m, e)
			}
			if strings.Contains(q, "container_") && !strings.Contains(q, containerSelector) && name != "cadvisor_jobs" {
				t.Errorf("%s does not exclude the cAdvisor traps: %s", name, q)
			}
		}
	}
	if _, ok := DefaultQueries()["proxy_cpu"]; !ok {
		t.Error("no proxy_cpu query")
	}
}

func TestEnvoyStatKey(t *testing.T) {
	for name, want := range map[string]string{
		"cluster.outbound|8080||svc-2.smp.svc.cluster.local.upstream_cx_total": "cluster.*.upstream_cx_total",
		"cluster.outbound|8080||svc-2.smp.svc.cluster.local.ssl.handshake":     "cluster.*.ssl.handshake",
		"cluster.x.ssl.ciphers.TLS_AES_128_GCM_SHA256":                         "",
		"listener.0.0.0.0_15006.ssl.handshake":                                 "listener.*.ssl.handshake",
		"listener.admin.downstream_cx_total":                                   "",
		"http.inbound_0.0.0.0_8080.downstream_cx_ssl_total":                    "http.*.downstream_cx_ssl_total",
		"server.memory_allocated":                                              "server.memory_allocated",
		"server.version":                                                       "",
		"cluster.upstream_cx_total":                                            "",
	} {
		if got := envoyStatKey(name); got != want {
			t.Errorf("envoyStatKey(%q) = %q, want %q", name, got, want)
		}
	}
	hosts, healthy := parseEnvoyClusters([]byte("c::default_priority::max_connections::1\nc::10.0.0.1:80::health_flags::healthy\nc::10.0.0.2:80::health_flags::/failed_active_hc\nc::added_via_api::true\n"))
	if hosts != 2 || healthy != 1 {
		t.Errorf("clusters: %d hosts, %d healthy", hosts, healthy)
	}
}

func TestParsersRejectOtherEndpoints(t *testing.T) {
	now := time.Now()
	if _, err := parseLinkerdMetrics([]byte("# TYPE up gauge\nup 1\n"), now); err == nil {
		t.Error("linkerd: an endpoint without process metrics was accepted")
	}
	if _, err := parseCAdvisorMetrics([]byte("# TYPE up gauge\nup 1\n"), now); err == nil {
		t.Error("cadvisor: an endpoint without container series was accepted")
	}
	if _, err := parseLinkerdMetrics([]byte("process_cpu_seconds_total{ 1\n"), now); err == nil {
		t.Error("linkerd: malformed text was accepted")
	}
	if _, err := parseEnvoyAdmin(now, []byte(`{"stats":[]}`), []byte(`{"heap_size":"1"}`), nil, []byte(`{}`), nil); err == nil {
		t.Error("envoy: /memory without allocated was accepted")
	}
}

func TestPrometheusProfileDefault(t *testing.T) {
	p, err := NewPrometheus(PrometheusConfig{URL: "http://127.0.0.1:9"})
	if err != nil {
		t.Fatal(err)
	}
	if p.cfg.Profile.Mesh != spec.MeshNone || p.cfg.Profile.Platform != mesh.Kubernetes || p.cfg.Interval != time.Second {
		t.Errorf("defaults: %+v", p.cfg)
	}
}
