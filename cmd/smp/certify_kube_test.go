package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/service-mesh-performance/smp/internal/certify"
	"github.com/service-mesh-performance/smp/internal/platform/kube"
	"github.com/service-mesh-performance/smp/internal/platform/kube/kubetest"
	"github.com/service-mesh-performance/smp/result"
)

// fakeInventory serves proxies and, per node, one cAdvisor body per read (the last one
// again once they run out), or an error.
type fakeInventory struct {
	proxies []kube.ProxyContainer
	bodies  map[string][]string
	fail    map[string]error
	mu      sync.Mutex
	reads   map[string]int
}

func (f *fakeInventory) Nodes(context.Context) ([]kube.Node, error) { return nil, nil }
func (f *fakeInventory) Proxies(context.Context) ([]kube.ProxyContainer, error) {
	return f.proxies, nil
}

func (f *fakeInventory) CAdvisorMetrics(_ context.Context, node string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads[node]++
	if err := f.fail[node]; err != nil {
		return nil, err
	}
	b := f.bodies[node]
	return []byte(b[min(f.reads[node], len(b))-1]), nil
}

// cadvisorBody is a kubelet /metrics/cadvisor body with CFS counters for containers of
// namespace ns: pod → [periods, throttled periods].
func cadvisorBody(ns string, cfs map[string][2]int) string {
	var b strings.Builder
	b.WriteString("# TYPE container_cpu_usage_seconds_total counter\n")
	for pod := range cfs {
		fmt.Fprintf(&b, "container_cpu_usage_seconds_total{container=\"istio-proxy\",cpu=\"total\",image=\"istio/proxyv2:1.24.2\",namespace=%q,pod=%q} 12.5\n", ns, pod)
	}
	for _, m := range []struct {
		name string
		i    int
	}{{"container_cpu_cfs_periods_total", 0}, {"container_cpu_cfs_throttled_periods_total", 1}} {
		fmt.Fprintf(&b, "# TYPE %s counter\n", m.name)
		for pod, v := range cfs {
			fmt.Fprintf(&b, "%s{container=\"istio-proxy\",image=\"istio/proxyv2:1.24.2\",namespace=%q,pod=%q} %d\n", m.name, ns, pod, v[m.i])
		}
	}
	return b.String()
}

// TestLiveSourceThrottling: the proxies' throttling is the increase of their CFS counters
// between the two reads of their node's cAdvisor; a proxy without a limit, an idle one,
// one restarted in between, one on a node whose read failed, and one the kubelet has no
// counters for each say why they have no figure. With observe 0 the counters since the
// containers started are used, read once.
func TestLiveSourceThrottling(t *testing.T) {
	limited := func(pod, node string) kube.ProxyContainer {
		return kube.ProxyContainer{Namespace: "ns", Pod: pod, Container: "istio-proxy", Node: node, CPURequestMillis: 100, CPULimitMillis: 500}
	}
	inv := &fakeInventory{
		proxies: []kube.ProxyContainer{limited("busy", "n1"), limited("idle", "n1"), limited("restarted", "n1"), limited("unknown", "n1"),
			limited("far", "n2"), {Namespace: "ns", Pod: "free", Container: "istio-proxy", Node: "n1", CPURequestMillis: 100},
			limited("pending", "")},
		bodies: map[string][]string{"n1": {
			cadvisorBody("ns", map[string][2]int{"busy": {1000, 10}, "idle": {500, 0}, "restarted": {900, 90}}),
			cadvisorBody("ns", map[string][2]int{"busy": {1100, 30}, "idle": {500, 0}, "restarted": {20, 1}}),
		}},
		fail:  map[string]error{"n2": fmt.Errorf("read /api/v1/nodes/n2/proxy/metrics/cadvisor: %w", errors.New("HTTP 400: unknown"))},
		reads: map[string]int{},
	}
	src := liveSource{inv: inv, observe: time.Millisecond}
	ps, err := src.Proxies(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]certify.ProxyContainer{}
	for _, p := range ps {
		got[p.Pod] = p
	}
	if b := got["busy"]; !b.HasThrottling || b.Periods != 100 || b.ThrottledPeriods != 20 || b.CPULimitMillis != 500 || b.Node != "n1" {
		t.Errorf("busy: %+v, want 100 periods, 20 throttled over the observation", b)
	}
	for pod, why := range map[string]string{
		"idle": "idle during the observation", "restarted": "restarted during the observation", "unknown": "no CFS counters for unknown/istio-proxy",
		"far": "node proxy (/api/v1/nodes/NODE/proxy/metrics/cadvisor) failed on n2: HTTP 400: unknown", "free": "no CPU limit", "pending": "not scheduled",
	} {
		if p := got[pod]; p.HasThrottling || !strings.Contains(p.NoThrottling, why) {
			t.Errorf("%s: throttling %v, note %q; want %q", pod, p.HasThrottling, p.NoThrottling, why)
		}
	}
	if c := certify.ProxyThrottling(ps); c.Verdict != result.VerdictFail || c.Value != "20.0% (worst: busy/istio-proxy)" {
		t.Errorf("check: %s %q", c.Verdict, c.Value)
	}
	if inv.reads["n1"] != 2 || inv.reads["n2"] != 2 {
		t.Errorf("reads %v, want two of each node", inv.reads)
	}

	// observe 0: one read, the counters since start.
	inv.reads = map[string]int{}
	ps, err = liveSource{inv: inv}.Proxies(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Pod == "restarted" && (!p.HasThrottling || p.Periods != 900 || p.ThrottledPeriods != 90) {
			t.Errorf("observe 0: %+v, want the first read's counters", p)
		}
	}
	if inv.reads["n1"] != 1 {
		t.Errorf("observe 0: %d reads of n1, want 1", inv.reads["n1"])
	}

	// A cancelled observation is an error, not a figure.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (liveSource{inv: inv, observe: time.Hour}).Proxies(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestCertifyKube: smp certify --platform kubernetes checks the live test cluster: its
// three kwok nodes are alike, the proxies injected with a CPU limit above their request
// are named, and since kwok's nodes serve no /metrics/cadvisor through the node proxy, the
// throttling check is skipped with that reason.
func TestCertifyKube(t *testing.T) {
	cl := testCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := fmt.Sprintf("certify-%d", time.Now().UnixNano())
	t.Cleanup(func() { _ = cl.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	if err := cl.ProxyPods(ctx, ns); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cert.json")
	code, stdout, stderr := smpIn(ctx, "certify", "--platform", "kubernetes", "--calibrate", "none", "--interval", "100ms",
		"--kubeconfig", cl.Kubeconfig, "-o", path)
	c, err := result.LoadCertificate(path)
	if err != nil {
		t.Fatalf("exit %d, no certificate: %v\n%s", code, err, stderr)
	}
	if want := map[bool]int{true: exitFailure, false: exitOK}[c.Verdict == result.VerdictFail]; code != want || c.Platform != "kubernetes" {
		t.Errorf("platform %s, verdict %s, exit %d; want kubernetes, exit %d\n%s", c.Platform, c.Verdict, code, want, stderr)
	}
	if n := c.Host.Nodes; len(n) != 3 || n[0].Name != kubetest.NodeA || n[2].Cores != 8 || n[2].Labels["smp.dev/role"] != "load" {
		t.Errorf("host.nodes %+v, want the fixture's three nodes", n)
	}
	if !strings.Contains(stderr, "checking the cluster at https://127.0.0.1:") || !strings.Contains(stderr, "(context smp-test)") {
		t.Errorf("stderr does not say which cluster:\n%s", stderr)
	}
	checks := map[string]result.Check{}
	for _, ch := range c.Checks {
		checks[ch.Name] = ch
	}
	nodes := checks["kube.nodes"]
	if want := "3 × m5.large 8000m "; nodes.Verdict != result.VerdictPass || !strings.HasPrefix(nodes.Value, want) ||
		!strings.Contains(nodes.Value, "kernel 6.1.0-test") || !strings.Contains(nodes.Value, "kubelet "+kubetest.Version) {
		t.Errorf("kube.nodes: %s %q, want pass %q… (the fixture's nodes)", nodes.Verdict, nodes.Value, want)
	}
	res := checks["kube.proxy_resources"]
	if res.Verdict != result.VerdictWarn || !strings.Contains(res.Value, "limited/istio-proxy: request 100m < limit 500m") ||
		strings.Contains(res.Value, "guaranteed/") || strings.Contains(res.Value, "native/") {
		t.Errorf("kube.proxy_resources: %s %q, want warn naming limited/istio-proxy only of %s's pods", res.Verdict, res.Value, ns)
	}
	thr := checks["kube.proxy_throttling"]
	// One reason for the nodes of the limited proxies (node-a, node-b or both, as the
	// scheduler placed them): kwok's kubelet server answers 400 "unknown".
	const prefix, suffix = "no throttling counters: the API server's node proxy (/api/v1/nodes/NODE/proxy/metrics/cadvisor) failed on node-", ": HTTP 400: unknown"
	if thr.Verdict != result.VerdictSkip || !strings.HasPrefix(thr.Reason, prefix) || !strings.HasSuffix(thr.Reason, suffix) || strings.Contains(thr.Reason, ";") {
		t.Errorf("kube.proxy_throttling: %s %q, want skip %q…%q", thr.Verdict, thr.Reason, prefix, suffix)
	}
	if !strings.Contains(stdout, "kube.proxy_resources") {
		t.Errorf("stdout does not list the cluster checks:\n%s", stdout)
	}
	t.Logf("kube.nodes %s: %s\nkube.proxy_resources %s: %s\nkube.proxy_throttling %s: %s", nodes.Verdict, nodes.Value, res.Verdict, res.Value, thr.Verdict, thr.Reason)

	// A context the kubeconfig does not have is an error, and no certificate.
	other := filepath.Join(t.TempDir(), "other.json")
	if code, _, stderr := smpIn(ctx, "certify", "--platform", "kubernetes", "--calibrate", "none", "--interval", "100ms",
		"--kubeconfig", cl.Kubeconfig, "--context", "nope", "-o", other); code != exitFailure || !strings.Contains(stderr, "context nope") {
		t.Errorf("--context nope: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(other); err == nil {
		t.Error("--context nope wrote a certificate")
	}
}
