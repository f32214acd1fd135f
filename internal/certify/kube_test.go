package certify

import (
	"context"
	"strings"
	"testing"

	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/result"
)

func TestKubeFromFiles(t *testing.T) {
	checks := KubeChecks(context.Background(), FileSource{NodesFile: "testdata/kube/nodes.json", PodsFile: "testdata/kube/pods.json"})
	got := map[string]result.Check{}
	for _, c := range checks {
		got[c.Name] = c
	}
	n := got["kube.nodes"]
	if n.Verdict != result.VerdictWarn || !strings.Contains(n.Value, "ip-10-0-2-40.ec2.internal: m6i.2xlarge 8000m 30.9GiB") ||
		!strings.Contains(n.Value, "ip-10-0-1-11.ec2.internal,ip-10-0-1-12.ec2.internal: m6i.xlarge 4000m 15.3GiB") {
		t.Errorf("nodes: %+v", n)
	}
	r := got["kube.proxy_resources"]
	// svc-1's istio-proxy: 100m < 2000m; svc-2's: 1 = 1000m (fine); linkerd-proxy: request, no limit (fine).
	if r.Verdict != result.VerdictWarn || r.Value != "svc-1-6d8f7b9c4-x2x9l/istio-proxy: request 100m < limit 2000m" {
		t.Errorf("proxy resources: %+v", r)
	}
	if th := got["kube.proxy_throttling"]; th.Verdict != result.VerdictSkip || !strings.Contains(th.Reason, "saved kubectl output has none") {
		t.Errorf("kubectl output has no throttling counters: %+v", th)
	}
}

func TestKubeSourceErrors(t *testing.T) {
	checks := KubeChecks(context.Background(), FileSource{})
	if len(checks) != 3 {
		t.Fatalf("%d checks", len(checks))
	}
	for _, c := range checks {
		if c.Verdict != result.VerdictSkip || !strings.Contains(c.Reason, "kubectl get") {
			t.Errorf("%+v", c)
		}
	}
	if _, err := ParseNodeList([]byte(`{"kind":"PodList","items":[]}`)); err == nil {
		t.Error("a pod list read as nodes")
	}
	if _, err := ParseNodeList([]byte(`{"kind":"List","items":[{"metadata":{"name":"n"},"status":{"capacity":{"cpu":"x"}}}]}`)); err == nil {
		t.Error("a bad CPU quantity was accepted")
	}
}

func TestNodeHomogeneity(t *testing.T) {
	a := result.Node{Name: "a", InstanceType: "m6i.xlarge", CPUMillis: 4000, MemoryBytes: 16 << 30, KernelVersion: "6.1"}
	b := a
	b.Name = "b"
	if c := NodeHomogeneity([]result.Node{a, b}); c.Verdict != result.VerdictPass || !strings.HasPrefix(c.Value, "2 × m6i.xlarge") || !c.Stable {
		t.Errorf("alike: %+v", c)
	}
	b.KernelVersion = "6.2"
	if c := NodeHomogeneity([]result.Node{a, b}); c.Verdict != result.VerdictWarn {
		t.Errorf("kernels differ: %+v", c)
	}
	if c := NodeHomogeneity(nil); c.Verdict != result.VerdictFail {
		t.Errorf("no nodes: %+v", c)
	}
}

// proxy is a proxy container of pod with a CPU limit (0: none) and a note on why it
// has no throttling figure.
func proxy(pod string, limitMillis int64, noThrottling string) ProxyContainer {
	return ProxyContainer{ProxyContainer: platform.ProxyContainer{Pod: pod, Container: "c", CPULimitMillis: limitMillis}, NoThrottling: noThrottling}
}

func TestProxyThrottling(t *testing.T) {
	p := func(periods, throttled float64) ProxyContainer {
		return ProxyContainer{ProxyContainer: platform.ProxyContainer{Pod: "p", Container: "istio-proxy"}, Periods: periods, ThrottledPeriods: throttled, HasThrottling: true}
	}
	for _, tc := range []struct {
		ps   []ProxyContainer
		want result.Verdict
	}{
		{[]ProxyContainer{p(1000, 5)}, result.VerdictPass},
		{[]ProxyContainer{p(1000, 5), p(1000, 50)}, result.VerdictWarn},
		{[]ProxyContainer{p(1000, 200)}, result.VerdictFail},
		{[]ProxyContainer{proxy("p", 0, "")}, result.VerdictSkip},
	} {
		if c := ProxyThrottling(tc.ps); c.Verdict != tc.want {
			t.Errorf("%+v: %s (%s), want %s", tc.ps, c.Verdict, c.Value, tc.want)
		}
	}
	// Without counters, the skip says why, from the source's notes: the most frequent
	// first, each once, those of the proxies with a CPU limit when there are any.
	why := []ProxyContainer{proxy("a", 500, "node n1: HTTP 400"), proxy("b", 0, "no CPU limit"),
		proxy("c", 500, "node n1: HTTP 400"), proxy("d", 500, "idle"), proxy("e", 0, "no CPU limit"), proxy("f", 0, "no CPU limit")}
	if c := ProxyThrottling(why); c.Verdict != result.VerdictSkip || c.Reason != "no throttling counters: node n1: HTTP 400; idle" {
		t.Errorf("notes: %s, reason %q", c.Verdict, c.Reason)
	}
	if c := ProxyThrottling(why[4:]); c.Reason != "no throttling counters: no CPU limit" {
		t.Errorf("no proxy with a limit: reason %q", c.Reason)
	}
	if c := ProxyResources([]ProxyContainer{proxy("p", 500, "")}); c.Verdict != result.VerdictWarn || !strings.Contains(c.Value, "no request") {
		t.Errorf("limit without request: %+v", c)
	}
}

func TestQuantities(t *testing.T) {
	for in, want := range map[string]int64{"4": 4000, "500m": 500, "1.5": 1500, "": 0} {
		if got, err := CPUMillis(in); err != nil || got != want {
			t.Errorf("CPUMillis(%q) = %d, %v", in, got, err)
		}
	}
	for in, want := range map[string]int64{"16092592Ki": 16092592 << 10, "512Mi": 512 << 20, "1G": 1e9, "1e9": 1e9, "": 0} {
		if got, err := MemoryBytes(in); err != nil || got != want {
			t.Errorf("MemoryBytes(%q) = %d, %v", in, got, err)
		}
	}
	if _, err := MemoryBytes("lots"); err == nil {
		t.Error("MemoryBytes accepted garbage")
	}
}
