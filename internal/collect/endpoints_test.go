package collect_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	"github.com/service-mesh-performance/smp/internal/collect"
	"github.com/service-mesh-performance/smp/result"
)

// The endpoint collectors are tested against response bodies in the documented output
// formats of programs that cannot run here: Envoy's admin endpoints (no envoy binary),
// linkerd2-proxy's /metrics (no proxy outside a cluster), cAdvisor's REST API v2.0 and
// Prometheus form and the kubelet's /metrics/cadvisor (the cAdvisor command's module is
// not served by the module proxy, and there is no kubelet). The bodies in testdata were
// written from those formats (field names, label sets, HELP texts, units, the way Envoy
// writes uint64 as JSON strings), not captured from a running program. They are
// templates whose counters advance while the test runs:
//
//	{{c BASE RATE}}   an integer counter: BASE + RATE × seconds since the server started
//	{{f BASE RATE}}   the same as a float (CPU seconds)
//	{{ns BASE RATE}}  the same in integer nanoseconds (cAdvisor's cpu.usage.total)
//	{{ms}} {{ts}}     now, in milliseconds since the epoch or RFC 3339 (sample timestamps)

// fixtureServer serves testdata templates by path, rendered at each request.
type fixtureServer struct {
	srv   *httptest.Server
	t0    time.Time
	fail  atomic.Bool // answer 500 to everything
	reads atomic.Int64
}

func serveFixtures(t *testing.T, files map[string]string) *fixtureServer {
	t.Helper()
	fs := &fixtureServer{t0: time.Now()}
	texts := map[string]string{}
	for path, file := range files {
		data, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := template.New(file).Funcs(fs.funcs(time.Now())).Parse(string(data)); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		texts[path] = string(data)
	}
	fs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.reads.Add(1)
		if fs.fail.Load() {
			http.Error(w, "upstream connect error or disconnect/reset before headers", http.StatusInternalServerError)
			return
		}
		key := r.URL.Path
		if r.URL.RawQuery != "" {
			key += "?" + r.URL.RawQuery
		}
		text, ok := texts[key]
		if !ok {
			http.NotFound(w, r)
			return
		}
		// One instant for the whole body, so that a snapshot is consistent (a histogram's
		// buckets read at one time) however slowly it renders.
		// Rendered before writing: a template error is the fixture's fault and fails the
		// test, while a failed write only means the collector gave up on a slow read (its
		// per-read timeout is one interval), which the sample counts account for.
		tm := template.Must(template.New(key).Funcs(fs.funcs(time.Now())).Parse(text))
		var body bytes.Buffer
		if err := tm.Execute(&body, nil); err != nil {
			t.Errorf("render %s: %v", key, err)
			return
		}
		_, _ = w.Write(body.Bytes())
	}))
	t.Cleanup(fs.srv.Close)
	return fs
}

func (fs *fixtureServer) funcs(now time.Time) template.FuncMap {
	el := now.Sub(fs.t0).Seconds()
	return template.FuncMap{
		"c":  func(base, rate float64) string { return fmt.Sprintf("%d", int64(base+rate*el)) },
		"f":  func(base, rate float64) string { return fmt.Sprintf("%.6f", base+rate*el) },
		"ns": func(base, rate float64) string { return fmt.Sprintf("%d", int64((base+rate*el)*1e9)) },
		"ms": func() string { return fmt.Sprintf("%d", now.UnixMilli()) },
		"ts": func() string { return now.UTC().Format(time.RFC3339Nano) },
	}
}

// window starts now and lasts d; Collect waits for its end.
func newWindow(d time.Duration) collect.Window {
	now := time.Now()
	return collect.Window{Start: now, End: now.Add(d)}
}

const endpointInterval = 100 * time.Millisecond

// crowdedNotes drops from an endpoint collector's Error the notes a crowded machine
// causes (reads that timed out, samples that cover part of the window), when other work
// did crowd the test process off the CPU (crowded), and logs them: the collector is
// right to say so, and the figures it still has are checked.
func crowdedNotes(t *testing.T, errText string, crowd func() (bool, string)) string {
	t.Helper()
	if errText == "" {
		return ""
	}
	busy, why := crowd()
	if !busy {
		return errText
	}
	var kept []string
	for _, note := range strings.Split(errText, "; ") {
		if strings.HasPrefix(note, "samples cover ") || strings.Contains(note, "context deadline exceeded") {
			t.Logf("note of a crowded machine (%s): %s", why, note)
			continue
		}
		kept = append(kept, note)
	}
	return strings.Join(kept, "; ")
}

func startCollector(t *testing.T, c collect.Collector, targets ...collect.Target) {
	t.Helper()
	if err := c.Start(context.Background(), targets); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
}

// within checks that a counter's increase over a window of d, read from samples inside
// it every interval, is rate × the covered time: at most d, and at least d less an
// interval at each end and one more for a late read on a busy machine (counters are
// whole numbers: ±1).
func within(got, rate float64, d time.Duration) bool {
	lo := rate*(d-3*endpointInterval).Seconds()*0.95 - 1
	hi := rate*d.Seconds()*1.05 + 1
	return got >= lo && got <= hi
}

func TestEnvoyAdmin(t *testing.T) {
	envoy := serveFixtures(t, map[string]string{
		"/stats?format=json": "envoy/stats.json.tmpl",
		"/memory":            "envoy/memory.json.tmpl",
		"/stats/prometheus":  "envoy/stats_prometheus.txt.tmpl",
		"/server_info":       "envoy/server_info.json.tmpl",
		"/clusters":          "envoy/clusters.txt.tmpl",
	})
	broken := serveFixtures(t, nil)
	broken.fail.Store(true)
	e, err := collect.NewEnvoyAdmin(collect.EndpointConfig{Interval: endpointInterval, Retention: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	startCollector(t, e,
		collect.Target{Name: "svc-1-proxy", Role: "proxy", AdminURL: envoy.srv.URL + "/stats"},
		collect.Target{Name: "svc-2-proxy", Role: "proxy", AdminURL: broken.srv.URL},
		collect.Target{Name: "svc-3-proxy", Role: "proxy"},
		collect.Target{Name: "svc-1", Role: "app", AdminURL: envoy.srv.URL})
	const d = 1500 * time.Millisecond
	w := newWindow(d)
	crowd := crowded(w)
	res, err := e.Collect(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 {
		t.Fatalf("%d resources, want the 3 proxies (not the app): %+v", len(res), res)
	}
	r := res[0]
	r.Error = crowdedNotes(t, r.Error, crowd)
	if r.Error != "" || r.Source != "envoy-admin" || r.MemoryMetric != "allocated" || r.MemoryBytesAvg != 8651232 || r.MemoryBytesMax != 8651232 ||
		r.CPUMcoresAvg != 0 {
		t.Errorf("svc-1-proxy: %+v", r)
	}
	enoughSamples(t, "svc-1-proxy", r.Samples, 12, crowd)
	if len(r.OtherMemory) != 2 || r.OtherMemory[0] != (result.Memory{Metric: "heap_size", AvgBytes: 16777216, MaxBytes: 16777216}) ||
		r.OtherMemory[1].Metric != "total_physical_bytes" || r.OtherMemory[1].AvgBytes != 19333120 {
		t.Errorf("other memory %+v", r.OtherMemory)
	}
	for key, rate := range map[string]float64{
		"cluster.*.upstream_cx_total": 5, "cluster.*.upstream_rq_total": 400, "cluster.*.ssl.handshake": 3,
		"http.*.downstream_cx_ssl_total": 2, "http.*.downstream_cx_total": 2, "http.*.downstream_rq_2xx": 200 + 5,
		"listener.*.ssl.handshake": 2,
	} {
		if !within(r.Stats[key], rate, d) {
			t.Errorf("%s increased by %v over %v, want about %v/s", key, r.Stats[key], d, rate)
		}
	}
	for key, want := range map[string]float64{"server.concurrency": 2, "server_info.concurrency": 2, "server.memory_heap_size": 16777216,
		"cluster.*.upstream_cx_active": 4, "cluster_manager.active_clusters": 27, "clusters.hosts": 3, "clusters.hosts_healthy": 2} {
		if r.Stats[key] != want {
			t.Errorf("%s = %v, want %v", key, r.Stats[key], want)
		}
	}
	if _, ok := r.Stats["listener.*.downstream_cx_total"]; ok {
		t.Error("the admin listener's own connections were counted")
	}
	if !strings.Contains(r.Query, "envoy 6c72b2179f5a58988b920a55b0be8346de3f7b35/1.32.2/Clean/RELEASE/BoringSSL, concurrency 2, state LIVE") ||
		!strings.Contains(r.Query, envoy.srv.URL+"/memory") {
		t.Errorf("query %q", r.Query)
	}
	if !strings.Contains(res[1].Error, "500 Internal Server Error") || res[1].Samples != 0 {
		t.Errorf("broken endpoint: %+v", res[1])
	}
	if !strings.Contains(res[2].Error, "no admin URL") {
		t.Errorf("proxy without admin URL: %+v", res[2])
	}
	// Latency from the histograms' increase: upstream 20/s in (0.5, 1] and 180/s in (1, 5]
	// (the xds-grpc cluster left out), downstream 100/s in (1, 5] and 100/s in (5, 10] (the
	// admin listener left out).
	lat := e.Notes().ProxyLatency
	if len(lat) != 2 {
		t.Fatalf("latency %+v", lat)
	}
	for _, c := range []struct {
		name     string
		p50, p99 float64
	}{
		{"envoy_cluster_upstream_rq_time", 1 + 4*80.0/180, 1 + 4*178.0/180},
		{"envoy_http_downstream_rq_time", 5, 5 + 5*98.0/100},
	} {
		var got *result.ProxyLatency
		for i := range lat {
			if lat[i].Name == c.name {
				got = &lat[i]
			}
		}
		if got == nil || got.Component != "svc-1-proxy" || got.Source != "envoy-admin" || math.Abs(got.P50MS-c.p50) > 0.05 || math.Abs(got.P99MS-c.p99) > 0.05 ||
			!within(got.Count, 200, d) {
			t.Errorf("%s: %+v, want p50 %.3f p99 %.3f", c.name, got, c.p50, c.p99)
		}
	}
}

func TestLinkerdProxy(t *testing.T) {
	proxy := serveFixtures(t, map[string]string{"/metrics": "linkerd/metrics.txt.tmpl"})
	l, err := collect.NewLinkerdProxy(collect.EndpointConfig{Interval: endpointInterval, Retention: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// The plan's port replaces the target's: the target says :1, the fixture listens elsewhere.
	port := proxy.srv.Listener.Addr().String()[strings.LastIndex(proxy.srv.Listener.Addr().String(), ":")+1:]
	lp, err := collect.NewLinkerdProxy(collect.EndpointConfig{Interval: endpointInterval, Retention: time.Minute, Port: atoi(t, port)})
	if err != nil {
		t.Fatal(err)
	}
	startCollector(t, l, collect.Target{Name: "svc-1-proxy", Role: "proxy", MetricsURL: proxy.srv.URL + "/metrics"})
	startCollector(t, lp, collect.Target{Name: "svc-1-proxy", Role: "proxy", MetricsURL: "http://127.0.0.1:1/metrics"})
	const d = 1500 * time.Millisecond
	w := newWindow(d)
	crowd := crowded(w)
	for _, c := range []*collect.LinkerdProxy{l, lp} {
		res, err := c.Collect(context.Background(), w)
		if err != nil {
			t.Fatal(err)
		}
		r := res[0]
		r.Error = crowdedNotes(t, r.Error, crowd)
		if r.Error != "" || r.MemoryMetric != "rss" || r.MemoryBytesAvg != 14987264 || math.Abs(r.CPUMcoresAvg-150) > 15 || r.CPUMcoresMax < r.CPUMcoresAvg {
			t.Errorf("linkerd-proxy: %+v, want 150 mcores and 14987264 bytes", r)
		}
		enoughSamples(t, "linkerd-proxy", r.Samples, 12, crowd)
		if !within(r.Stats["request_total"], 201, d) || !within(r.Stats[`request_total{tls="true"}`], 200, d) ||
			!within(r.Stats[`response_total{classification="failure"}`], 1, d) || r.Stats["tcp_open_connections"] != 16 {
			t.Errorf("stats %v", r.Stats)
		}
		lat := c.Notes().ProxyLatency
		want := map[string][2]float64{"response_latency_ms direction=inbound": {2, 2.98}, "response_latency_ms direction=outbound": {4.5, 4.99}}
		if len(lat) != 2 {
			t.Fatalf("latency %+v", lat)
		}
		for _, pl := range lat {
			w, ok := want[pl.Name]
			if !ok || math.Abs(pl.P50MS-w[0]) > 0.02 || math.Abs(pl.P99MS-w[1]) > 0.02 || !within(pl.Count, 100, d) {
				t.Errorf("%s: %+v, want p50 %v p99 %v", pl.Name, pl, w[0], w[1])
			}
		}
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCAdvisor reads the same linkerd-proxy container through the three forms: the
// kubelet's /metrics/cadvisor, a standalone cAdvisor's /metrics (container_label_*
// labels) and cAdvisor's REST API v2.0; and a bare Docker container by name.
func TestCAdvisor(t *testing.T) {
	src := serveFixtures(t, map[string]string{
		"/metrics/cadvisor": "cadvisor/kubelet-metrics-cadvisor.txt.tmpl",
		"/metrics":          "cadvisor/cadvisor-metrics.txt.tmpl",
		"/api/v2.0/spec?type=docker&recursive=true":          "cadvisor/v2-spec.json.tmpl",
		"/api/v2.0/stats?type=docker&recursive=true&count=1": "cadvisor/v2-stats.json.tmpl",
	})
	proxy := collect.Target{Name: "svc-1-proxy", Role: "proxy", Namespace: "smp-linkerd", Pod: "svc-1-6d4cf56db6-9xk2p", Container: "linkerd-proxy"}
	app := collect.Target{Name: "svc-1", Role: "app", Namespace: "smp-linkerd", Pod: "svc-1-6d4cf56db6-9xk2p", Container: "app"}
	pause := collect.Target{Name: "pause", Role: "app", Namespace: "smp-linkerd", Pod: "svc-1-6d4cf56db6-9xk2p", Container: "POD"}
	bare := collect.Target{Name: "echo", Role: "app", Container: "echo-server"}
	lg := collect.Target{Name: "load-generator", Role: "load_generator", PID: 1}
	const d = 1500 * time.Millisecond
	for _, c := range []struct {
		url     string
		targets []collect.Target
		want    map[string][2]float64 // mcores, working set
		missing []string              // components that must be reported with an error
	}{
		{src.srv.URL + "/metrics/cadvisor", []collect.Target{proxy, app, pause, lg},
			map[string][2]float64{"svc-1-proxy": {150, 14987264}, "svc-1": {400, 31457280}}, []string{"pause", "load-generator"}},
		{src.srv.URL + "/metrics", []collect.Target{proxy, bare},
			map[string][2]float64{"svc-1-proxy": {150, 14987264}, "echo": {70, 7340032}}, nil},
		{src.srv.URL, []collect.Target{proxy, bare, app},
			map[string][2]float64{"svc-1-proxy": {150, 14987264}, "echo": {70, 7340032}}, []string{"svc-1"}},
	} {
		t.Run(strings.TrimPrefix(c.url, src.srv.URL), func(t *testing.T) {
			cv, err := collect.NewCAdvisor(collect.EndpointConfig{URL: c.url, Interval: endpointInterval, Retention: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			startCollector(t, cv, c.targets...)
			res, err := cv.Collect(context.Background(), newWindow(d))
			if err != nil {
				t.Fatal(err)
			}
			got := byComponent(res)
			for comp, want := range c.want {
				r := got[comp]
				if r.Error != "" || math.Abs(r.CPUMcoresAvg-want[0]) > 0.08*want[0] || float64(r.MemoryBytesAvg) != want[1] ||
					r.MemoryMetric != "working_set" || r.Samples < 8 {
					t.Errorf("%s: %+v, want %.0f mcores and %.0f bytes", comp, r, want[0], want[1])
				}
			}
			for _, comp := range c.missing {
				if r, ok := got[comp]; !ok || r.Error == "" || r.CPUMcoresAvg != 0 {
					t.Errorf("%s: %+v, want an error and no figures", comp, r)
				}
			}
			// The kubelet's form and the REST API also give usage (with cache) and RSS.
			if p := got["svc-1-proxy"]; c.url != src.srv.URL+"/metrics" &&
				(len(p.OtherMemory) != 2 || p.OtherMemory[0] != (result.Memory{Metric: "rss", AvgBytes: 13107200, MaxBytes: 13107200}) ||
					p.OtherMemory[1] != (result.Memory{Metric: "usage", AvgBytes: 20971520, MaxBytes: 20971520})) {
				t.Errorf("other memory of the proxy: %+v", p.OtherMemory)
			}
		})
	}
	if _, err := collect.NewCAdvisor(collect.EndpointConfig{}); err == nil || !strings.Contains(err.Error(), "needs the URL") {
		t.Errorf("no URL: %v", err)
	}

	// Each target read from its own node (the API server's node proxy on Kubernetes):
	// node-a's kubelet has the proxy; node-b's answers 404, which its target reports; a
	// target without a node is not read.
	t.Run("per node", func(t *testing.T) {
		nodeURL := func(node string) string {
			if node == "node-a" {
				return src.srv.URL + "/metrics/cadvisor"
			}
			return src.srv.URL + "/api/v1/nodes/" + node + "/proxy/metrics/cadvisor"
		}
		cv, err := collect.NewCAdvisor(collect.EndpointConfig{NodeURL: nodeURL, Interval: endpointInterval, Retention: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		onA, onB, nowhere := proxy, app, app
		onA.Node, onB.Node, nowhere.Name = "node-a", "node-b", "svc-1-elsewhere"
		startCollector(t, cv, onA, onB, nowhere)
		res, err := cv.Collect(context.Background(), newWindow(d))
		if err != nil {
			t.Fatal(err)
		}
		got := byComponent(res)
		if r := got["svc-1-proxy"]; r.Error != "" || math.Abs(r.CPUMcoresAvg-150) > 12 || r.MemoryBytesAvg != 14987264 ||
			!strings.Contains(r.Query, nodeURL("node-a")) {
			t.Errorf("the proxy on node-a: %+v, want 150 mcores and 14987264 bytes read from %s", r, nodeURL("node-a"))
		}
		if r := got["svc-1"]; r.Error == "" || !strings.Contains(r.Error, "/api/v1/nodes/node-b/proxy/metrics/cadvisor") || r.CPUMcoresAvg != 0 {
			t.Errorf("the app on node-b: %+v, want an error naming node-b's URL", r)
		}
		if r := got["svc-1-elsewhere"]; r.Error == "" || !strings.Contains(r.Error, "no node") {
			t.Errorf("a target without a node: %+v, want an error saying so", r)
		}
	})
}
