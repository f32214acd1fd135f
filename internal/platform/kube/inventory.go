package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/service-mesh-performance/smp/internal/mesh"
	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/result"
)

var _ platform.Inventory = (*Inventory)(nil)

// Inventory is platform.Inventory over a live cluster: what smp certify checks of it (its
// nodes, the proxy containers of the meshes' data planes with their resources, and each
// node's cAdvisor metrics). It creates nothing.
type Inventory struct {
	c       *clients
	context string
}

// NewInventory connects to the cluster a describes (an explicit kubeconfig, else
// $KUBECONFIG, else ~/.kube/config, else in cluster; the context named, else the current
// one). Nothing is asked of the cluster yet.
func NewInventory(a Access) (*Inventory, error) {
	cfg, name, err := a.RESTConfig()
	if err != nil {
		return nil, err
	}
	return NewInventoryFor(cfg, name)
}

// NewInventoryFor uses cfg as it is (tests, or a caller that has a config already);
// contextName is only reported back by Context.
func NewInventoryFor(cfg *rest.Config, contextName string) (*Inventory, error) {
	c, err := newClients(cfg)
	if err != nil {
		return nil, err
	}
	return &Inventory{c: c, context: contextName}, nil
}

// Context is the kubeconfig context in use ("" in cluster or with an explicit config).
func (inv *Inventory) Context() string { return inv.context }

// Host is the API server's address, for messages.
func (inv *Inventory) Host() string { return inv.c.cfg.Host }

// Nodes lists every node with its capacity and system information, by name.
func (inv *Inventory) Nodes(ctx context.Context) ([]result.Node, error) {
	return listNodes(ctx, inv.c)
}

func listNodes(ctx context.Context, c *clients) ([]result.Node, error) {
	var out []result.Node
	opts := metav1.ListOptions{Limit: 500}
	for {
		list, err := c.core.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		for i := range list.Items {
			out = append(out, nodeOf(&list.Items[i]))
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Proxies lists the proxy containers of every pod that is not finished, in every
// namespace: the sidecars and waypoints of the meshes smp knows (their profiles'
// container names, native sidecars included) and the meshes' per-node proxies (ztunnel,
// cilium-envoy). Sorted by namespace, pod and container.
func (inv *Inventory) Proxies(ctx context.Context) ([]platform.ProxyContainer, error) {
	names := ProxyContainerNames()
	var out []platform.ProxyContainer
	opts := metav1.ListOptions{Limit: 500}
	for {
		list, err := inv.c.core.CoreV1().Pods(metav1.NamespaceAll).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("list pods in every namespace: %w", err)
		}
		for i := range list.Items {
			pod := &list.Items[i]
			if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
				continue
			}
			for _, c := range proxyContainers(pod, names) {
				out = append(out, platform.ProxyContainer{Namespace: pod.Namespace, Pod: pod.Name, Container: c.Name, Node: pod.Spec.NodeName,
					CPURequestMillis: c.Resources.Requests.Cpu().MilliValue(), CPULimitMillis: c.Resources.Limits.Cpu().MilliValue(),
					MemoryRequestBytes: c.Resources.Requests.Memory().Value(), MemoryLimitBytes: c.Resources.Limits.Memory().Value()})
			}
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Pod != b.Pod {
			return a.Pod < b.Pod
		}
		return a.Container < b.Container
	})
	return out, nil
}

// ProxyContainerNames are the container names Proxies looks for: every Kubernetes
// profile's proxy containers and its per-node proxies, sorted, without repeats.
func ProxyContainerNames() []string {
	var out []string
	for _, p := range mesh.KubernetesProfiles() {
		out = append(out, p.Proxy.Containers...)
		for _, nc := range p.NodeComponents {
			if nc.Proxy {
				out = append(out, nc.Container)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// CAdvisorMetrics reads a node's kubelet /metrics/cadvisor (cAdvisor's Prometheus form)
// through the API server's node proxy, which needs get on nodes/proxy. Nodes whose
// kubelet the API server cannot reach, or that serve no such path (virtual nodes), fail
// here.
func (inv *Inventory) CAdvisorMetrics(ctx context.Context, node string) ([]byte, error) {
	res := inv.c.core.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", node, "proxy", "metrics", "cadvisor").Do(ctx)
	body, err := res.Raw()
	if err != nil {
		code := 0
		res.StatusCode(&code)
		return nil, fmt.Errorf("read /api/v1/nodes/%s/proxy/metrics/cadvisor: %w", node, describeProxyError(code, err))
	}
	return body, nil
}

// describeProxyError makes client-go's error for an answer that is not the API server's
// (the kubelet's, passed on by the node proxy: "the server rejected our request for an
// unknown reason") say what came back: the status and the start of the body.
func describeProxyError(code int, err error) error {
	var st apierrors.APIStatus
	if code == 0 || !errors.As(err, &st) || st.Status().Details == nil {
		return err
	}
	msg, raw := "", false
	for _, c := range st.Status().Details.Causes {
		if c.Type == metav1.CauseTypeUnexpectedServerResponse {
			msg, raw = strings.Join(strings.Fields(c.Message), " "), true
		}
	}
	if !raw {
		return err // the API server's own answer (forbidden, node not found) says it all
	}
	if len(msg) > 120 {
		msg = msg[:120] + "…"
	}
	if msg == "" {
		return fmt.Errorf("HTTP %d (%w)", code, err)
	}
	return fmt.Errorf("HTTP %d: %s", code, msg)
}
