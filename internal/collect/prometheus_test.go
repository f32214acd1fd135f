package collect_test

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/collect"
	"github.com/service-mesh-performance/smp/internal/mesh"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// kubeTargets are the containers the Kubernetes platform would hand over for the fake
// node's application pods.
func kubeTargets() []collect.Target {
	t := func(comp string, role result.Role, pod, ctr string) collect.Target {
		return collect.Target{Name: comp, Role: role, Service: strings.SplitN(comp, "-", 3)[0] + "-" + strings.SplitN(comp, "-", 3)[1],
			Namespace: ns, Pod: pod, Container: ctr}
	}
	return []collect.Target{
		{Name: "load-generator", Role: "load_generator", PID: 1},
		t("svc-1-proxy", "proxy", "svc-1-6d4cf56db6-9xk2p", "istio-proxy"),
		t("svc-1-app", "app", "svc-1-6d4cf56db6-9xk2p", "app"),
		t("svc-2-proxy", "proxy", "svc-2-7c9b5d8f4-x7q2m", "istio-proxy"),
		t("svc-2-app", "app", "svc-2-7c9b5d8f4-x7q2m", "app"),
	}
}

func byComponent(res []result.Resource) map[string]result.Resource {
	m := map[string]result.Resource{}
	for _, r := range res {
		m[r.Component] = r
	}
	return m
}

func near(got, want, rel float64) bool { return math.Abs(got-want) <= rel*math.Abs(want) }

// collectWindow starts c, waits for nothing but the window itself (Collect waits until
// the window is over and Prometheus has ingested past it), and returns the resources.
func collectWindow(t *testing.T, c collect.Collector, w collect.Window) []result.Resource {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := c.Collect(ctx, w)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	return res
}

// TestPrometheusKubernetes runs the collector against a real Prometheus that scrapes the
// fake node (cAdvisor series with known rates, scraped twice under two job names, plus
// node_exporter and Istio's metrics), with the Istio profiles, and checks every figure
// against the rate the node was built with. Any trap that leaked in would show: the
// duplicate job doubles every CPU figure, the pod aggregate adds the app's CPU to the
// proxy's, the image-less cgroup adds 300 mcores to svc-1-proxy, the ingress gateway's
// istio-proxy would join the control plane, and the source reporter halves the latency.
func TestPrometheusKubernetes(t *testing.T) {
	node := startFakeNode(t)
	prom := startPrometheus(t, node.scrapeConfigs())
	prom.waitSeries(t, `count by (job) (up == 1)`, 4, 1, 30*time.Second)
	// The window opens once each job has a few samples behind it.
	prom.waitSeries(t, `count_over_time(container_memory_working_set_bytes{job="kubelet",container="app"}[10s])`, 2, 3, 30*time.Second)

	sidecar, _ := mesh.For(mesh.Kubernetes, spec.MeshIstio, spec.DataPlaneSidecar)
	ambient, _ := mesh.For(mesh.Kubernetes, spec.MeshIstio, spec.DataPlaneAmbient)
	const win = 3 * time.Second
	start := time.Now()
	w := collect.Window{Start: start, End: start.Add(win)}
	newColl := func(p mesh.Profile) *collect.Prometheus {
		c, err := collect.NewPrometheus(collect.PrometheusConfig{URL: prom.URL, Interval: scrapeInterval, Profile: p})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(context.Background(), kubeTargets()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Stop)
		return c
	}
	sc, am := newColl(sidecar), newColl(ambient)
	res := byComponent(collectWindow(t, sc, w))
	kubelet := coverage(t, prom, `container_cpu_usage_seconds_total{job="kubelet", id="/"}`, 1.7, w)
	istioCover := coverage(t, prom, `istio_request_duration_milliseconds_count{job="istio-proxies", reporter="source"}`, istioRate, w)
	nodeCover := coverage(t, prom, `node_cpu_seconds_total{job="node-exporter", cpu="0", mode="idle"}`, 0.8, w)
	// The samples the kubelet job's scrapes left in the window, read from a series the
	// collector does not use: every series of one scrape has as many.
	scraped := prom.queryAt(t, `count_over_time(container_cpu_usage_seconds_total{job="kubelet", id="/"}[3s])`, w.End)
	if len(scraped) != 1 || int(scraped[0].Value) < 2 {
		t.Fatalf("the kubelet job's samples in the window: %v", scraped)
	}

	for comp, want := range map[string]float64{"svc-1-proxy": 250, "svc-2-proxy": 120, "svc-1-app": 500, "svc-2-app": 200,
		"istio-system/istiod-5f4d8b7c9-abcde/discovery": 100} {
		r, ok := res[comp]
		if !ok {
			t.Errorf("%s: not reported (got %v)", comp, keys(res))
			continue
		}
		if r.Error != "" || !near(r.CPUMcoresAvg, want*kubelet, 0.005) || r.CPUMcoresMax < r.CPUMcoresAvg || !near(r.CPUMcoresMax, want, 0.1) {
			t.Errorf("%s: CPU %.1f mcores (peak %.1f, error %q), want %.0f × the window's coverage %.3f", comp, r.CPUMcoresAvg, r.CPUMcoresMax, r.Error, want, kubelet)
		}
		if r.Samples != int(scraped[0].Value) {
			t.Errorf("%s: %d samples over %v at %v; the kubelet job's scrapes left %v", comp, r.Samples, win, scrapeInterval, scraped[0].Value)
		}
		if r.MemoryMetric != "working_set" || r.Source != "prometheus" {
			t.Errorf("%s: memory metric %q, source %q", comp, r.MemoryMetric, r.Source)
		}
	}
	if r := res["istio-system/istiod-5f4d8b7c9-abcde/discovery"]; r.Role != result.RoleControlPlane || !near(float64(r.MemoryBytesAvg), 80*mib, 0.001) {
		t.Errorf("istiod: role %q memory %d", r.Role, r.MemoryBytesAvg)
	}
	for comp := range res {
		if strings.Contains(comp, "ingressgateway") || strings.Contains(comp, "ztunnel") || strings.Contains(comp, "POD") || strings.HasSuffix(comp, "/") {
			t.Errorf("%s reported with the sidecar profile", comp)
		}
	}
	// Memory: svc-1's proxy grows by 1 MiB/s; the window's mean is its value at the mean
	// time of the window's samples, its peak the value at the last of them. When the
	// kubelet job's scrapes took those samples is read from the root cgroup's CPU counter
	// of the same scrapes (1.7 × the seconds since the node started, at each sample's
	// time), so that a late scrape on a loaded machine moves the expected figures with
	// the real ones.
	r1 := res["svc-1-proxy"]
	at := func(q string) float64 {
		v := prom.queryAt(t, q, w.End)
		if len(v) != 1 {
			t.Fatalf("%s: %v, want one series", q, v)
		}
		return float64(v[0].Value)
	}
	root := `container_cpu_usage_seconds_total{job="kubelet", id="/"}`
	meanEl, lastEl := at("avg_over_time("+root+"[3s])")/1.7, at(root)/1.7
	if last := node.t0.Add(time.Duration(lastEl * float64(time.Second))); last.After(w.End) || last.Before(w.Start) {
		t.Fatalf("the kubelet job's last sample in the window at %v, outside %v–%v", last, w.Start, w.End)
	}
	mid, end := 50*mib+1*mib*meanEl, 50*mib+1*mib*lastEl
	if math.Abs(float64(r1.MemoryBytesAvg)-mid) > 0.01*mib || math.Abs(float64(r1.MemoryBytesMax)-end) > 0.01*mib {
		t.Errorf("svc-1-proxy memory avg %.3f MiB max %.3f MiB, want %.3f and %.3f", float64(r1.MemoryBytesAvg)/mib, float64(r1.MemoryBytesMax)/mib, mid/mib, end/mib)
	}
	if r := res["svc-2-proxy"]; r.MemoryBytesAvg != 40*mib || r.MemoryBytesMax != 40*mib {
		t.Errorf("svc-2-proxy memory %d / %d, want 40 MiB", r.MemoryBytesAvg, r.MemoryBytesMax)
	}
	// One job, the kubelet's, and the query recorded as sent.
	q := r1.Query
	for _, want := range []string{`job="kubelet", metrics_path="/metrics/cadvisor"`, `container!="POD"`, `container!=""`, `image!=""`,
		`container=~"istio-proxy"`, `namespace=~"smp-istio"`, "[3s]", "at " + w.End.UTC().Format("2006-01-02T15:04:05")} {
		if !strings.Contains(q, want) {
			t.Errorf("svc-1-proxy query lacks %q:\n%s", want, q)
		}
	}
	if strings.Contains(q, "duplicate") {
		t.Errorf("the duplicate job is in the query: %s", q)
	}
	notes := sc.Notes()
	if !containsAll(notes.Warnings, "2 scrape jobs", "kubernetes-cadvisor-duplicate") {
		t.Errorf("no warning about the second cAdvisor job: %q", notes.Warnings)
	}
	// The node: 0.4 busy cores, 2 GiB in use.
	var nodes []result.Resource
	for _, r := range res {
		if r.Role == result.RoleNode {
			nodes = append(nodes, r)
		}
	}
	if len(nodes) != 1 || !near(nodes[0].CPUMcoresAvg, 400*nodeCover, 0.005) || nodes[0].MemoryBytesAvg != nodeMemTotal-nodeMemAvailable {
		t.Errorf("nodes: %+v, want one with 400 mcores × the window's coverage %.3f and 2 GiB", nodes, nodeCover)
	}
	// The data plane's latency: the destination reporter only.
	if len(notes.ProxyLatency) != 2 {
		t.Fatalf("proxy latency: %+v, want istio's and envoy's", notes.ProxyLatency)
	}
	pl := notes.ProxyLatency[0]
	if pl.Error != "" || !near(pl.P50MS, 2, 0.02) || !near(pl.P99MS, 4.94, 0.02) || !near(pl.Count, istioRate*win.Seconds()*istioCover, 0.005) ||
		!strings.Contains(pl.Query, `reporter="destination"`) || !strings.Contains(pl.Query, `destination_workload_namespace=~"smp-istio"`) {
		t.Errorf("istio latency %+v, want p50 2 ms, p99 4.94 ms over %.0f requests", pl, istioRate*win.Seconds()*istioCover)
	}
	if env := notes.ProxyLatency[1]; env.Error == "" || !strings.Contains(env.Name, "envoy_cluster_upstream_rq_time") {
		t.Errorf("envoy latency (not served by the fake node): %+v, want an error", env)
	}
	// The load generator has nothing Prometheus can find it by.
	if lg := res["load-generator"]; !strings.Contains(lg.Error, "nothing to find") {
		t.Errorf("load generator: %+v", lg)
	}

	// Ambient: the same window, and ztunnel is measured as a node-level proxy.
	amb := byComponent(collectWindow(t, am, w))
	z, ok := amb["istio-system/ztunnel-8xk2p/istio-proxy"]
	if !ok || z.Role != result.RoleProxy || !near(z.CPUMcoresAvg, 50*kubelet, 0.005) || z.MemoryBytesAvg != 12*mib {
		t.Errorf("ztunnel: %+v (found %v), want 50 mcores × %.3f", z, ok, kubelet)
	}
	if _, ok := amb["istio-system/istio-ingressgateway-7b6d9c-qwert/istio-proxy"]; ok {
		t.Error("the ingress gateway counted as ztunnel")
	}
	if r := amb["svc-1-proxy"]; !near(r.CPUMcoresAvg, 250*kubelet, 0.005) {
		t.Errorf("ambient svc-1-proxy %.1f: %+v", r.CPUMcoresAvg, r)
	}
}

// coverage is the share of window w that Prometheus's rate() credits to the samples of
// one scrape job, read from sel, a series of that job that grows at cores (or requests
// a second) and that the collector must not count (the node's root cgroup, an idle CPU,
// Istio's source reporter). rate() extrapolates
// to the window's edges only from a sample within 1.1 intervals of them: a scrape that
// came late or failed at an edge (a loaded machine: one was 50 ms late in a CI run)
// makes it read every series of that scrape low by the same factor, 5% for that one.
// The figures are checked against rate × coverage to within 0.5%, not against the rate
// with a tolerance wide enough for the scrapes' timing that would also let a query's
// real mistake through (the node's 380 mcores without softirq against 400).
func coverage(t *testing.T, prom *promServer, sel string, cores float64, w collect.Window) float64 {
	t.Helper()
	v := prom.queryAt(t, "rate("+sel+"["+strconv.Itoa(int(w.End.Sub(w.Start).Seconds()))+"s])", w.End)
	if len(v) != 1 {
		t.Fatalf("rate(%s): %v, want one series", sel, v)
	}
	c := float64(v[0].Value) / cores
	t.Logf("%s: rate %.4f/s of %g/s: the scrapes cover %.3f of the window", sel, float64(v[0].Value), cores, c)
	if c < 0.5 || c > 1.0005 {
		t.Fatalf("rate(%s) = %.4f/s, want at most %g and at least half of it", sel, float64(v[0].Value), cores)
	}
	return c
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func containsAll(list []string, subs ...string) bool {
	for _, l := range list {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(l, s)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestPrometheusJobOverride: the plan's job replaces detection, with no warning about
// several jobs, and a job that has no series is reported.
func TestPrometheusJobOverride(t *testing.T) {
	node := startFakeNode(t)
	prom := startPrometheus(t, node.scrapeConfigs())
	prom.waitSeries(t, `count_over_time(container_memory_working_set_bytes{job="kubernetes-cadvisor-duplicate",container="app"}[10s])`, 2, 3, 30*time.Second)
	p, _ := mesh.For(mesh.Kubernetes, spec.MeshIstio, "")
	start := time.Now()
	w := collect.Window{Start: start, End: start.Add(2 * time.Second)}
	for _, c := range []struct {
		job      string
		wantCPU  float64
		wantWarn string
	}{
		{"kubernetes-cadvisor-duplicate", 250, ""},
		{"no-such-job", 0, `no cAdvisor series from job "no-such-job"`},
	} {
		coll, err := collect.NewPrometheus(collect.PrometheusConfig{URL: prom.URL, Interval: scrapeInterval, Profile: p, Job: c.job})
		if err != nil {
			t.Fatal(err)
		}
		if err := coll.Start(context.Background(), kubeTargets()); err != nil {
			t.Fatal(err)
		}
		r := byComponent(collectWindow(t, coll, w))["svc-1-proxy"]
		coll.Stop()
		if c.wantCPU > 0 {
			cover := coverage(t, prom, `container_cpu_usage_seconds_total{job="`+c.job+`", id="/"}`, 1.7, w)
			if r.Error != "" || !near(r.CPUMcoresAvg, c.wantCPU*cover, 0.005) || !strings.Contains(r.Query, `job="`+c.job+`"`) {
				t.Errorf("job %s: %.1f mcores (want %.0f × the window's coverage %.3f), error %q, query %s", c.job, r.CPUMcoresAvg, c.wantCPU, cover, r.Error, r.Query)
			}
		}
		if c.wantCPU == 0 && (r.Error == "" || r.CPUMcoresAvg != 0) {
			t.Errorf("job %s: %+v, want no figures and an error", c.job, r)
		}
		warns := strings.Join(coll.Notes().Warnings, "\n")
		if c.wantWarn != "" && !strings.Contains(warns, c.wantWarn) || c.wantWarn == "" && strings.Contains(warns, "scrape jobs") {
			t.Errorf("job %s: warnings %q", c.job, warns)
		}
	}
}

// TestPrometheusFailures: a server that is not there and a query that Prometheus rejects
// both end as errors in the resources, never as a failed Collect.
func TestPrometheusFailures(t *testing.T) {
	p, _ := mesh.For(mesh.Kubernetes, spec.MeshIstio, "")
	start := time.Now().Add(-time.Minute)
	w := collect.Window{Start: start, End: start.Add(30 * time.Second)}

	down, err := collect.NewPrometheus(collect.PrometheusConfig{URL: "http://127.0.0.1:" + strconv.Itoa(freePort(t)), Profile: p})
	if err != nil {
		t.Fatal(err)
	}
	if err := down.Start(context.Background(), kubeTargets()); err != nil {
		t.Fatal(err)
	}
	defer down.Stop()
	res := collectWindow(t, down, w)
	if len(res) != len(kubeTargets()) {
		t.Fatalf("%d resources for %d targets", len(res), len(kubeTargets()))
	}
	for _, r := range res {
		if !strings.Contains(r.Error, "did not answer") || r.Source != "prometheus" {
			t.Errorf("%s: error %q", r.Component, r.Error)
		}
	}
	if !containsAll(down.Notes().Warnings, "did not answer") {
		t.Errorf("warnings %q", down.Notes().Warnings)
	}

	node := startFakeNode(t)
	prom := startPrometheus(t, node.scrapeConfigs())
	prom.waitSeries(t, `count_over_time(container_memory_working_set_bytes{job="kubelet",container="app"}[10s])`, 2, 3, 30*time.Second)
	bad, err := collect.NewPrometheus(collect.PrometheusConfig{URL: prom.URL, Interval: scrapeInterval, Profile: p,
		Queries: map[string]string{"proxy_cpu": "sum by (namespace, pod, container) (rate(oops[$window]"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Start(context.Background(), kubeTargets()); err != nil {
		t.Fatal(err)
	}
	defer bad.Stop()
	now := time.Now()
	bw := collect.Window{Start: now, End: now.Add(2 * time.Second)}
	got := byComponent(collectWindow(t, bad, bw))
	if r := got["svc-1-proxy"]; !strings.Contains(r.Error, "query proxy_cpu") || r.MemoryBytesAvg == 0 || !strings.Contains(r.Query, "rate(oops[2s]") {
		t.Errorf("svc-1-proxy with a broken CPU query: error %q, memory %d, query %s", r.Error, r.MemoryBytesAvg, r.Query)
	}
	// A loaded machine's late scrapes are the only note svc-1-app may carry (see coverage).
	cover := coverage(t, prom, `container_cpu_usage_seconds_total{job="kubelet", id="/"}`, 1.7, bw)
	if r := got["svc-1-app"]; (r.Error != "" && !strings.Contains(r.Error, "scrapes failed or came late")) || !near(r.CPUMcoresAvg, 500*cover, 0.005) {
		t.Errorf("svc-1-app unaffected by another group's query: %+v, want 500 mcores × the window's coverage %.3f", r, cover)
	}

	if _, err := collect.NewPrometheus(collect.PrometheusConfig{URL: prom.URL, Queries: map[string]string{"proxy_cpuu": "1"}}); err == nil ||
		!strings.Contains(err.Error(), `query "proxy_cpuu" is not one smp runs`) {
		t.Errorf("unknown query name: %v", err)
	}
	if _, err := collect.NewPrometheus(collect.PrometheusConfig{URL: "prometheus:9090"}); err == nil {
		t.Error("a URL without scheme was accepted")
	}
	if _, err := bad.Collect(context.Background(), collect.Window{Start: now, End: now.Add(-time.Second)}); err == nil {
		t.Error("a reversed window was accepted")
	}
}
