package certify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/result"
)

// fakeInventory serves proxies and, per node, one cAdvisor body per read (the last one
// again once they run out), or an error.
type fakeInventory struct {
	proxies []platform.ProxyContainer
	bodies  map[string][]string
	fail    map[string]error
	mu      sync.Mutex
	reads   map[string]int
}

func (f *fakeInventory) Nodes(context.Context) ([]result.Node, error) { return nil, nil }
func (f *fakeInventory) Proxies(context.Context) ([]platform.ProxyContainer, error) {
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

// TestClusterSourceThrottling: the proxies' throttling is the increase of their CFS counters
// between the two reads of their node's cAdvisor; a proxy without a limit, an idle one,
// one restarted in between, one on a node whose read failed, and one the kubelet has no
// counters for each say why they have no figure. With observe 0 the counters since the
// containers started are used, read once.
func TestClusterSourceThrottling(t *testing.T) {
	limited := func(pod, node string) platform.ProxyContainer {
		return platform.ProxyContainer{Namespace: "ns", Pod: pod, Container: "istio-proxy", Node: node, CPURequestMillis: 100, CPULimitMillis: 500}
	}
	inv := &fakeInventory{
		proxies: []platform.ProxyContainer{limited("busy", "n1"), limited("idle", "n1"), limited("restarted", "n1"), limited("unknown", "n1"),
			limited("far", "n2"), {Namespace: "ns", Pod: "free", Container: "istio-proxy", Node: "n1", CPURequestMillis: 100},
			limited("pending", "")},
		bodies: map[string][]string{"n1": {
			cadvisorBody("ns", map[string][2]int{"busy": {1000, 10}, "idle": {500, 0}, "restarted": {900, 90}}),
			cadvisorBody("ns", map[string][2]int{"busy": {1100, 30}, "idle": {500, 0}, "restarted": {20, 1}}),
		}},
		fail:  map[string]error{"n2": fmt.Errorf("read /api/v1/nodes/n2/proxy/metrics/cadvisor: %w", errors.New("HTTP 400: unknown"))},
		reads: map[string]int{},
	}
	src := &ClusterSource{Inventory: inv, Observe: time.Millisecond}
	ps, err := src.Proxies(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ProxyContainer{}
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
	if c := ProxyThrottling(ps); c.Verdict != result.VerdictFail || c.Value != "20.0% (worst: busy/istio-proxy)" {
		t.Errorf("check: %s %q", c.Verdict, c.Value)
	}
	if inv.reads["n1"] != 2 || inv.reads["n2"] != 2 {
		t.Errorf("reads %v, want two of each node", inv.reads)
	}

	// observe 0: one read, the counters since start.
	inv.reads = map[string]int{}
	ps, err = (&ClusterSource{Inventory: inv}).Proxies(context.Background())
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
	if _, err := (&ClusterSource{Inventory: inv, Observe: time.Hour}).Proxies(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
