package collect_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"
)

// The fake node below serves what a Kubernetes node serves to Prometheus, with counters
// that advance at known rates so that a test can check the collector's figures:
//
//   - /metrics/cadvisor: the kubelet's cAdvisor endpoint. The format follows a real
//     kubelet's output (testdata/kubelet-metrics-cadvisor.txt is such a snapshot, written
//     from the kubelet's documented /metrics/cadvisor format, not captured here: there is
//     no kubelet on this machine): cAdvisor's HELP texts, the labels container, cpu, id,
//     image, name, namespace, pod, and a millisecond timestamp on every sample. It
//     includes the traps meshes.md §9 names: the pod aggregate (container=""), the pause
//     container (container="POD"), and a container cgroup without an image.
//   - /metrics/node: node_exporter's node_cpu_seconds_total and memory gauges.
//   - /stats/prometheus: Istio's standard metrics as a sidecar's merged endpoint serves
//     them: istio_request_duration_milliseconds, reporter destination and source.

const (
	mib = 1 << 20
	gib = 1 << 30
	ns  = "smp-istio"
)

// fakeContainer is one cAdvisor series family member with a known CPU rate (cores) and
// working set (bytes, growing at memSlope bytes per second).
type fakeContainer struct {
	namespace, pod, container, image, id string
	cores                                float64
	mem, memSlope                        float64
}

func fakeContainers() []fakeContainer {
	pod := func(ns, pod string) string {
		return fmt.Sprintf("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice", strings.ReplaceAll(pod, "-", "_"))
	}
	ctr := func(ns, p, id string) string { return pod(ns, p) + "/cri-containerd-" + id + ".scope" }
	const (
		svc1     = "svc-1-6d4cf56db6-9xk2p"
		svc2     = "svc-2-7c9b5d8f4-x7q2m"
		istiod   = "istiod-5f4d8b7c9-abcde"
		ingress  = "istio-ingressgateway-7b6d9c-qwert"
		ztunnel  = "ztunnel-8xk2p"
		proxyImg = "docker.io/istio/proxyv2:1.24.0"
		appImg   = "ghcr.io/service-mesh-performance/smp:v0.1.0"
		pause    = "registry.k8s.io/pause:3.9"
	)
	return []fakeContainer{
		{ns, svc1, "istio-proxy", proxyImg, ctr(ns, svc1, "a1"), 0.25, 50 * mib, 1 * mib},
		{ns, svc1, "app", appImg, ctr(ns, svc1, "a2"), 0.5, 30 * mib, 0},
		{ns, svc1, "POD", pause, ctr(ns, svc1, "a0"), 0.001, 0.5 * mib, 0},
		// A cgroup with the container's name but no image: not a running container.
		{ns, svc1, "istio-proxy", "", ctr(ns, svc1, "a9"), 0.3, 20 * mib, 0},
		{ns, svc2, "istio-proxy", proxyImg, ctr(ns, svc2, "b1"), 0.12, 40 * mib, 0},
		{ns, svc2, "app", appImg, ctr(ns, svc2, "b2"), 0.2, 30 * mib, 0},
		{ns, svc2, "POD", pause, ctr(ns, svc2, "b0"), 0.001, 0.5 * mib, 0},
		{"istio-system", istiod, "discovery", "docker.io/istio/pilot:1.24.0", ctr("istio-system", istiod, "c1"), 0.1, 80 * mib, 0},
		{"istio-system", ingress, "istio-proxy", proxyImg, ctr("istio-system", ingress, "d1"), 0.07, 45 * mib, 0},
		{"istio-system", ztunnel, "istio-proxy", "docker.io/istio/ztunnel:1.24.0", ctr("istio-system", ztunnel, "e1"), 0.05, 12 * mib, 0},
	}
}

// fakeNode serves the three endpoints; every value is a function of the time since start.
type fakeNode struct {
	t0  time.Time
	srv *httptest.Server
}

func startFakeNode(t *testing.T) *fakeNode {
	t.Helper()
	n := &fakeNode{t0: time.Now().Truncate(time.Millisecond)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics/cadvisor", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		fmt.Fprint(w, n.cadvisor(time.Now()))
	})
	mux.HandleFunc("GET /metrics/node", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		fmt.Fprint(w, n.node(time.Now()))
	})
	mux.HandleFunc("GET /stats/prometheus", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		fmt.Fprint(w, n.istio(time.Now()))
	})
	n.srv = httptest.NewServer(mux)
	t.Cleanup(n.srv.Close)
	return n
}

func (n *fakeNode) host() string { return strings.TrimPrefix(n.srv.URL, "http://") }

// cadvisor renders /metrics/cadvisor at now: CPU counters at rate × elapsed, working sets
// at mem + slope × elapsed, the pod aggregates as the sums of their containers. Samples
// carry now as their timestamp, as the kubelet stamps each with its cAdvisor read.
func (n *fakeNode) cadvisor(now time.Time) string {
	now = now.Truncate(time.Millisecond)
	el := now.Sub(n.t0).Seconds()
	ts := now.UnixMilli()
	var b strings.Builder
	type agg struct{ cpu, mem float64 }
	pods := map[[2]string]*agg{}
	line := func(metric string, c fakeContainer, v float64) {
		fmt.Fprintf(&b, "%s{container=%q,cpu=\"total\",id=%q,image=%q,name=%q,namespace=%q,pod=%q} %s %d\n",
			metric, c.container, c.id, c.image, nameOf(c), c.namespace, c.pod, fmtVal(v), ts)
	}
	memLine := func(metric string, c fakeContainer, v float64) {
		fmt.Fprintf(&b, "%s{container=%q,id=%q,image=%q,name=%q,namespace=%q,pod=%q} %s %d\n",
			metric, c.container, c.id, c.image, nameOf(c), c.namespace, c.pod, fmtVal(v), ts)
	}
	cs := fakeContainers()
	b.WriteString("# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.\n")
	b.WriteString("# TYPE container_cpu_usage_seconds_total counter\n")
	for _, c := range cs {
		line("container_cpu_usage_seconds_total", c, c.cores*el)
		if c.image != "" {
			k := [2]string{c.namespace, c.pod}
			if pods[k] == nil {
				pods[k] = &agg{}
			}
			pods[k].cpu += c.cores * el
			pods[k].mem += c.mem + c.memSlope*el
		}
	}
	keys := make([][2]string, 0, len(pods))
	for k := range pods {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][1] < keys[j][1] })
	for _, k := range keys {
		// The pod's own cgroup: container="" and image="".
		fmt.Fprintf(&b, "container_cpu_usage_seconds_total{container=\"\",cpu=\"total\",id=%q,image=\"\",name=\"\",namespace=%q,pod=%q} %s %d\n",
			"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"+strings.ReplaceAll(k[1], "-", "_")+".slice", k[0], k[1], fmtVal(pods[k].cpu), ts)
	}
	// The node's root cgroup: no namespace, pod or container.
	fmt.Fprintf(&b, "container_cpu_usage_seconds_total{container=\"\",cpu=\"total\",id=\"/\",image=\"\",name=\"\",namespace=\"\",pod=\"\"} %s %d\n", fmtVal(1.7*el), ts)
	b.WriteString("# HELP container_memory_working_set_bytes Current working set in bytes.\n")
	b.WriteString("# TYPE container_memory_working_set_bytes gauge\n")
	for _, c := range cs {
		memLine("container_memory_working_set_bytes", c, c.mem+c.memSlope*el)
	}
	for _, k := range keys {
		fmt.Fprintf(&b, "container_memory_working_set_bytes{container=\"\",id=%q,image=\"\",name=\"\",namespace=%q,pod=%q} %s %d\n",
			"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"+strings.ReplaceAll(k[1], "-", "_")+".slice", k[0], k[1], fmtVal(pods[k].mem), ts)
	}
	b.WriteString("# HELP container_memory_usage_bytes Current memory usage in bytes, including all memory regardless of when it was accessed\n")
	b.WriteString("# TYPE container_memory_usage_bytes gauge\n")
	for _, c := range cs {
		memLine("container_memory_usage_bytes", c, 1.5*(c.mem+c.memSlope*el))
	}
	return b.String()
}

func nameOf(c fakeContainer) string {
	if c.image == "" {
		return ""
	}
	return strings.TrimSuffix(strings.TrimPrefix(c.id[strings.LastIndex(c.id, "/")+1:], "cri-containerd-"), ".scope")
}

func fmtVal(v float64) string { return fmt.Sprintf("%.9g", v) }

// Node CPU rates by mode (cores); busy = everything but idle = 0.4 cores.
func nodeModes() map[string]float64 {
	return map[string]float64{"user": 0.3, "system": 0.08, "softirq": 0.02, "idle": 1.6}
}

const (
	nodeMemTotal     = 8 * gib
	nodeMemAvailable = 6 * gib
)

// node renders node_exporter's /metrics at now. Unlike node_exporter, it stamps its
// counters with now, as cadvisor does: Prometheus stamps an unstamped sample with the
// scrape's start, and a handler that ran late by δ on a loaded machine would make the
// window's rate off by the difference of two δs over the window (60 ms over 3 s is 2%),
// noise from the scrape rather than from the collector's query, which the 3% tolerance
// is there to check (it tells 400 mcores from the 380 of a query without softirq).
func (n *fakeNode) node(now time.Time) string {
	now = now.Truncate(time.Millisecond)
	el := now.Sub(n.t0).Seconds()
	ts := now.UnixMilli()
	var b strings.Builder
	b.WriteString("# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n# TYPE node_cpu_seconds_total counter\n")
	modes := nodeModes()
	for _, cpu := range []string{"0", "1"} {
		for _, m := range []string{"idle", "softirq", "system", "user"} {
			fmt.Fprintf(&b, "node_cpu_seconds_total{cpu=%q,mode=%q} %s %d\n", cpu, m, fmtVal(modes[m]/2*el), ts)
		}
	}
	fmt.Fprintf(&b, "# HELP node_memory_MemAvailable_bytes Memory information field MemAvailable_bytes.\n# TYPE node_memory_MemAvailable_bytes gauge\nnode_memory_MemAvailable_bytes %d\n", nodeMemAvailable)
	fmt.Fprintf(&b, "# HELP node_memory_MemTotal_bytes Memory information field MemTotal_bytes.\n# TYPE node_memory_MemTotal_bytes gauge\nnode_memory_MemTotal_bytes %d\n", nodeMemTotal)
	return b.String()
}

// Istio's destination histogram: per second, 50 requests take 1–2 ms and 50 take 2–5 ms,
// so p50 = 2 ms and p99 = 2 + 3 × 49/50 = 4.94 ms (histogram_quantile interpolates
// linearly). The source reporter's requests all take under 1 ms: a query that mixed
// them in would halve the figures.
const istioRate = 100.0

// istio renders the sidecars' merged metrics at now, stamped with now like node's, so
// that the window's request count is the rate × the window, not the scrape's jitter.
func (n *fakeNode) istio(now time.Time) string {
	now = now.Truncate(time.Millisecond)
	el := now.Sub(n.t0).Seconds()
	ts := now.UnixMilli()
	var b strings.Builder
	b.WriteString("# HELP istio_request_duration_milliseconds Request duration in milliseconds.\n# TYPE istio_request_duration_milliseconds histogram\n")
	buckets := []struct {
		le   string
		dest float64
	}{{"1", 0}, {"2", 50}, {"5", 100}, {"10", 100}, {"+Inf", 100}}
	for _, rep := range []string{"destination", "source"} {
		lbl := fmt.Sprintf(`connection_security_policy="mutual_tls",destination_workload="svc-1",destination_workload_namespace=%q,reporter=%q,response_code="200"`, ns, rep)
		for _, bk := range buckets {
			v := bk.dest
			if rep == "source" {
				v = istioRate
			}
			fmt.Fprintf(&b, "istio_request_duration_milliseconds_bucket{%s,le=%q} %s %d\n", lbl, bk.le, fmtVal(v*el), ts)
		}
		fmt.Fprintf(&b, "istio_request_duration_milliseconds_sum{%s} %s %d\n", lbl, fmtVal(300*el), ts)
		fmt.Fprintf(&b, "istio_request_duration_milliseconds_count{%s} %s %d\n", lbl, fmtVal(istioRate*el), ts)
	}
	return b.String()
}

// scrapeConfigs are the Prometheus jobs that scrape the fake node: the kubelet job as
// kube-prometheus labels it (job="kubelet", metrics_path="/metrics/cadvisor"), the same
// endpoint scraped a second time by a differently named job (the double counting of
// istio/tools#175), node_exporter, and the sidecars' merged metrics.
func (n *fakeNode) scrapeConfigs() string {
	h := n.host()
	return fmt.Sprintf(`  - job_name: kubelet
    metrics_path: /metrics/cadvisor
    static_configs: [{targets: [%q]}]
    relabel_configs:
      - {source_labels: [__metrics_path__], target_label: metrics_path}
  - job_name: kubernetes-cadvisor-duplicate
    metrics_path: /metrics/cadvisor
    static_configs: [{targets: [%q]}]
  - job_name: node-exporter
    metrics_path: /metrics/node
    static_configs: [{targets: [%q]}]
  - job_name: istio-proxies
    metrics_path: /stats/prometheus
    static_configs: [{targets: [%q]}]
`, h, h, h, h)
}
