package kube

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/internal/platform/kube/kubetest"
	"github.com/service-mesh-performance/smp/result"
)

// TestInventory lists what smp certify reads of the test cluster: the three kwok nodes
// with their capacity and system information, and the proxy containers of ProxyPods'
// pods (injected sidecars with the resources their annotations asked for, a native
// sidecar, no entry for the app containers or the pod without a proxy). kwok's nodes
// serve no /metrics/cadvisor, so the node proxy read fails, naming the path.
func TestInventory(t *testing.T) {
	e := needCluster(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	inv, err := NewInventory(Access{Kubeconfig: e.cl.Kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Context() != "smp-test" {
		t.Errorf("context %q, want smp-test (the kubeconfig's current one)", inv.Context())
	}
	nodes, err := inv.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
		want := result.Node{Name: n.Name, InstanceType: "m5.large", Cores: 8, CPUMillis: 8000, MemoryBytes: 32 << 30, KernelVersion: "6.1.0-test",
			OSImage: "Debian GNU/Linux 12 (bookworm)", ContainerRuntime: "containerd://1.7.24", KubeletVersion: kubetest.Version, Arch: "amd64"}
		n.Labels = nil
		if !reflect.DeepEqual(n, want) {
			t.Errorf("node %+v\nwant %+v", n, want)
		}
	}
	if want := []string{kubetest.NodeA, kubetest.NodeB, kubetest.NodeLoad}; !slices.Equal(names, want) {
		t.Errorf("nodes %v, want %v", names, want)
	}

	ns := fmt.Sprintf("inventory-%d", time.Now().UnixNano())
	defer func() { _ = e.c.core.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) }()
	if err := e.cl.ProxyPods(ctx, ns); err != nil {
		t.Fatal(err)
	}
	all, err := inv.Proxies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []platform.ProxyContainer
	for _, p := range all {
		if p.Namespace != ns {
			continue
		}
		if p.Node != kubetest.NodeA && p.Node != kubetest.NodeB {
			t.Errorf("%s/%s on node %q, want an app node", p.Pod, p.Container, p.Node)
		}
		p.Node = ""
		got = append(got, p)
	}
	want := []platform.ProxyContainer{
		{Namespace: ns, Pod: "guaranteed", Container: "linkerd-proxy", CPURequestMillis: 250, CPULimitMillis: 250, MemoryRequestBytes: 32 << 20, MemoryLimitBytes: 32 << 20},
		{Namespace: ns, Pod: "limited", Container: "istio-proxy", CPURequestMillis: 100, CPULimitMillis: 500, MemoryRequestBytes: 64 << 20, MemoryLimitBytes: 128 << 20},
		{Namespace: ns, Pod: "native", Container: "kuma-sidecar", CPURequestMillis: 200},
	}
	if !slices.Equal(got, want) {
		t.Errorf("proxies of %s:\n got %+v\nwant %+v", ns, got, want)
	}
	// The fake ztunnel DaemonSet's container is a per-node proxy (istio-proxy).
	if !slices.ContainsFunc(all, func(p platform.ProxyContainer) bool {
		return p.Namespace == "istio-system" && strings.HasPrefix(p.Pod, "ztunnel-")
	}) {
		t.Errorf("no ztunnel proxy among %d proxies", len(all))
	}

	_, err = inv.CAdvisorMetrics(ctx, kubetest.NodeA)
	if err == nil || !strings.Contains(err.Error(), "/api/v1/nodes/node-a/proxy/metrics/cadvisor") {
		t.Errorf("cAdvisor of a kwok node: err = %v, want a failure naming the node proxy path", err)
	}
	t.Logf("kwok node's cAdvisor: %v", err)
}

func TestProxyContainerNames(t *testing.T) {
	want := []string{"cilium-envoy", "consul-dataplane", "consul-sidecar", "envoy-sidecar", "istio-proxy", "kuma-sidecar", "linkerd-proxy", "smp-proxy"}
	if got := ProxyContainerNames(); !slices.Equal(got, want) {
		t.Errorf("ProxyContainerNames() = %v, want %v", got, want)
	}
}
