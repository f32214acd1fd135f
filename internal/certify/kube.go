package certify

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/result"
)

// KubeSource is what certify needs from a cluster. ClusterSource implements it over the
// live cluster (a platform.Inventory, with the kubelets' cAdvisor counters read through
// the API server's node proxy); FileSource reads saved kubectl output.
type KubeSource interface {
	// Nodes lists the nodes the run may use.
	Nodes(ctx context.Context) ([]result.Node, error)
	// Proxies lists the proxy containers of the meshed workloads, with their resources
	// and, when known, their CPU throttling.
	Proxies(ctx context.Context) ([]ProxyContainer, error)
}

// ProxyContainer is one proxy container with its resources (0 = not set) and, when a
// cAdvisor source saw it, its CFS counters' increase over the observation
// (container_cpu_cfs_periods_total, container_cpu_cfs_throttled_periods_total).
type ProxyContainer struct {
	platform.ProxyContainer
	Periods, ThrottledPeriods float64
	HasThrottling             bool
	// NoThrottling says why HasThrottling is false, when the source knows (the node's
	// cAdvisor could not be read, no CPU limit, idle during the observation).
	NoThrottling string
}

// KubeChecks runs the cluster checks against src. An error from src makes the
// corresponding checks "skip" with the reason; none is returned.
func KubeChecks(ctx context.Context, src KubeSource) []result.Check {
	var out []result.Check
	nodes, err := src.Nodes(ctx)
	if err != nil {
		out = append(out, check("kube.nodes", result.VerdictSkip, "", "alike", "list nodes: "+err.Error()))
	} else {
		out = append(out, NodeHomogeneity(nodes))
	}
	proxies, err := src.Proxies(ctx)
	if err != nil {
		out = append(out,
			check("kube.proxy_resources", result.VerdictSkip, "", "", "list proxies: "+err.Error()),
			check("kube.proxy_throttling", result.VerdictSkip, "", "", "list proxies: "+err.Error()))
	} else {
		out = append(out, ProxyResources(proxies), ProxyThrottling(proxies))
	}
	return out
}

// NodeHomogeneity checks that every node has the same shape: the same instance type,
// CPUs, memory, kernel, OS, runtime, kubelet and architecture. Arms are deployed where the
// scheduler puts them; on unlike nodes a difference between arms can be a difference
// between nodes.
func NodeHomogeneity(nodes []result.Node) result.Check {
	const name, want = "kube.nodes", "alike"
	if len(nodes) == 0 {
		return stable(check(name, result.VerdictFail, "0 nodes", want, "no node to run on"))
	}
	shapes := map[string][]string{}
	for _, n := range nodes {
		s := fmt.Sprintf("%s %dm %s kernel %s %s %s kubelet %s %s", orDash(n.InstanceType), n.CPUMillis, bytesText(n.MemoryBytes),
			orDash(n.KernelVersion), orDash(n.OSImage), orDash(n.ContainerRuntime), orDash(n.KubeletVersion), orDash(n.Arch))
		shapes[s] = append(shapes[s], n.Name)
	}
	keys := make([]string, 0, len(shapes))
	for k := range shapes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 1 {
		return stable(check(name, result.VerdictPass, fmt.Sprintf("%d × %s", len(nodes), keys[0]), want, "every node has the same shape"))
	}
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %s", strings.Join(shapes[k], ","), k))
	}
	return stable(check(name, result.VerdictWarn, strings.Join(parts, "; "), want,
		"nodes differ: pin the application and the load generator with node selectors (environment.kubernetes) to nodes of one shape"))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ProxyResources checks proxies' CPU requests against their limits. A CPU limit is a
// CFS quota: a proxy that bursts above it is paused until the next 100ms period, which
// shows up as tail latency that depends on the load, not on the mesh (istio/istio#8938,
// #23470). Equal request and limit (Guaranteed) or no limit at all pass; a limit above the
// request, or no request, warns.
func ProxyResources(ps []ProxyContainer) result.Check {
	const name, want = "kube.proxy_resources", "CPU limit = request, or no limit"
	if len(ps) == 0 {
		return check(name, result.VerdictSkip, "no proxies", want, "no meshed workload found")
	}
	var bad []string
	for _, p := range ps {
		switch {
		case p.CPULimitMillis == 0:
		case p.CPURequestMillis == 0:
			bad = append(bad, fmt.Sprintf("%s/%s: limit %dm, no request", p.Pod, p.Container, p.CPULimitMillis))
		case p.CPULimitMillis != p.CPURequestMillis:
			bad = append(bad, fmt.Sprintf("%s/%s: request %dm < limit %dm", p.Pod, p.Container, p.CPURequestMillis, p.CPULimitMillis))
		}
	}
	if len(bad) == 0 {
		return stable(check(name, result.VerdictPass, fmt.Sprintf("%d proxies", len(ps)), want, "no proxy can be throttled above what it was promised"))
	}
	sort.Strings(bad)
	return stable(check(name, result.VerdictWarn, strings.Join(bad, "; "), want,
		"proxies with a CPU limit above their request get throttled in bursts: set requests equal to limits, or remove the limits, on every arm alike"))
}

// Throttling thresholds: the share of CFS periods in which a proxy was throttled. Each
// throttled period can add up to 100ms to a request; 1% of periods already shows in a
// p99, 10% means the limit, not the mesh, sets the latency.
const throttlePass, throttleWarn = 0.01, 0.10

// ProxyThrottling checks the share of CFS periods in which each proxy was throttled.
func ProxyThrottling(ps []ProxyContainer) result.Check {
	const name = "kube.proxy_throttling"
	want := "≤ " + pct(throttlePass) + " of periods"
	worst, at, seen := 0.0, "", 0
	for _, p := range ps {
		if !p.HasThrottling || p.Periods <= 0 {
			continue
		}
		seen++
		if s := p.ThrottledPeriods / p.Periods; s > worst || at == "" {
			worst, at = s, p.Pod+"/"+p.Container
		}
	}
	if seen == 0 {
		reason := "no cAdvisor throttling counters for the proxies (none have CPU limits, or no cAdvisor source)"
		if why := notes(ps); why != "" {
			reason = "no throttling counters: " + why
		}
		return check(name, result.VerdictSkip, "", want, reason)
	}
	value := fmt.Sprintf("%s (worst: %s)", pct(worst), at)
	switch {
	case worst > throttleWarn:
		return check(name, result.VerdictFail, value, want, "a proxy is throttled in many CFS periods: its CPU limit sets the latency; raise or remove it")
	case worst > throttlePass:
		return check(name, result.VerdictWarn, value, want, "a proxy is sometimes throttled: tails include CFS pauses")
	}
	return check(name, result.VerdictPass, value, want, "no proxy was held back by its CPU limit")
}

// notes are the proxies' distinct NoThrottling reasons, the most frequent first, at most
// three of them: those of the proxies with a CPU limit when there are any (why a proxy
// that can be throttled has no figure is what matters; that the others cannot be, not).
func notes(ps []ProxyContainer) string {
	limited := slices.ContainsFunc(ps, func(p ProxyContainer) bool { return p.CPULimitMillis > 0 && p.NoThrottling != "" })
	count := map[string]int{}
	for _, p := range ps {
		if p.NoThrottling != "" && (!limited || p.CPULimitMillis > 0) {
			count[p.NoThrottling]++
		}
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if count[keys[i]] != count[keys[j]] {
			return count[keys[i]] > count[keys[j]]
		}
		return keys[i] < keys[j]
	})
	if len(keys) > 3 {
		keys = append(keys[:3], fmt.Sprintf("%d more", len(keys)-3))
	}
	return strings.Join(keys, "; ")
}

// defaultProxyContainers matches the proxy containers of the meshes smp knows (the mesh
// profiles in internal/mesh name the same ones).
func defaultProxyContainers() *regexp.Regexp {
	return regexp.MustCompile(`^(istio-proxy|linkerd-proxy|envoy-sidecar|consul-dataplane|kuma-sidecar|cilium-envoy)$`)
}

// FileSource is a KubeSource over saved kubectl output: NodesFile from `kubectl get
// nodes -o json` and PodsFile from `kubectl get pods -A -o json`. It has no throttling
// counters. Either file may be empty, making its checks "skip".
type FileSource struct {
	NodesFile, PodsFile string
	// Proxy matches proxy container names. Default: the known meshes' proxies.
	Proxy *regexp.Regexp
}

// Nodes implements KubeSource.
func (s FileSource) Nodes(context.Context) ([]result.Node, error) {
	if s.NodesFile == "" {
		return nil, fmt.Errorf("no node list (smp certify --nodes, from kubectl get nodes -o json)")
	}
	data, err := os.ReadFile(s.NodesFile)
	if err != nil {
		return nil, err
	}
	return ParseNodeList(data)
}

// Proxies implements KubeSource.
func (s FileSource) Proxies(context.Context) ([]ProxyContainer, error) {
	if s.PodsFile == "" {
		return nil, fmt.Errorf("no pod list (smp certify --pods, from kubectl get pods -A -o json)")
	}
	data, err := os.ReadFile(s.PodsFile)
	if err != nil {
		return nil, err
	}
	re := s.Proxy
	if re == nil {
		re = defaultProxyContainers()
	}
	ps, err := ParsePodList(data, re)
	for i := range ps {
		ps[i].NoThrottling = "saved kubectl output has none (without --nodes and --pods, smp certify reads them from the live cluster)"
	}
	return ps, err
}

// ParseNodeList reads a v1 NodeList (kubectl get nodes -o json).
func ParseNodeList(data []byte) ([]result.Node, error) {
	var list struct {
		Kind  string `json:"kind"`
		Items []struct {
			Metadata struct {
				Name   string            `json:"name"`
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
			Status struct {
				Capacity map[string]string `json:"capacity"`
				NodeInfo struct {
					KernelVersion           string `json:"kernelVersion"`
					OSImage                 string `json:"osImage"`
					ContainerRuntimeVersion string `json:"containerRuntimeVersion"`
					KubeletVersion          string `json:"kubeletVersion"`
					Architecture            string `json:"architecture"`
				} `json:"nodeInfo"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("node list: %w", err)
	}
	if list.Kind != "List" && list.Kind != "NodeList" {
		return nil, fmt.Errorf("node list: kind %q, want NodeList (kubectl get nodes -o json)", list.Kind)
	}
	var out []result.Node
	for _, it := range list.Items {
		cpu, err := CPUMillis(it.Status.Capacity["cpu"])
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", it.Metadata.Name, err)
		}
		mem, err := MemoryBytes(it.Status.Capacity["memory"])
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", it.Metadata.Name, err)
		}
		it2 := it.Status.NodeInfo
		instance := it.Metadata.Labels["node.kubernetes.io/instance-type"]
		if instance == "" {
			instance = it.Metadata.Labels["beta.kubernetes.io/instance-type"]
		}
		out = append(out, result.Node{Name: it.Metadata.Name, InstanceType: instance, Cores: int((cpu + 999) / 1000), CPUMillis: cpu, MemoryBytes: mem,
			KernelVersion: it2.KernelVersion, OSImage: it2.OSImage, ContainerRuntime: it2.ContainerRuntimeVersion,
			KubeletVersion: it2.KubeletVersion, Arch: it2.Architecture})
	}
	return out, nil
}

// ParsePodList reads a v1 PodList (kubectl get pods -A -o json) and returns the
// containers whose names match proxy, with their requests and limits.
func ParsePodList(data []byte, proxy *regexp.Regexp) ([]ProxyContainer, error) {
	type container struct {
		Name      string `json:"name"`
		Resources struct {
			Requests map[string]string `json:"requests"`
			Limits   map[string]string `json:"limits"`
		} `json:"resources"`
	}
	var list struct {
		Kind  string `json:"kind"`
		Items []struct {
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
			Spec struct {
				NodeName       string      `json:"nodeName"`
				Containers     []container `json:"containers"`
				InitContainers []container `json:"initContainers"` // native sidecars (restartPolicy Always)
			} `json:"spec"`
		} `json:"items"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("pod list: %w", err)
	}
	if list.Kind != "List" && list.Kind != "PodList" {
		return nil, fmt.Errorf("pod list: kind %q, want PodList (kubectl get pods -A -o json)", list.Kind)
	}
	var out []ProxyContainer
	for _, p := range list.Items {
		for _, c := range append(p.Spec.Containers, p.Spec.InitContainers...) {
			if !proxy.MatchString(c.Name) {
				continue
			}
			pc := ProxyContainer{ProxyContainer: platform.ProxyContainer{Namespace: p.Metadata.Namespace, Pod: p.Metadata.Name,
				Container: c.Name, Node: p.Spec.NodeName}}
			var err error
			for _, q := range []struct {
				dst *int64
				src string
				f   func(string) (int64, error)
			}{
				{&pc.CPURequestMillis, c.Resources.Requests["cpu"], CPUMillis}, {&pc.CPULimitMillis, c.Resources.Limits["cpu"], CPUMillis},
				{&pc.MemoryRequestBytes, c.Resources.Requests["memory"], MemoryBytes}, {&pc.MemoryLimitBytes, c.Resources.Limits["memory"], MemoryBytes},
			} {
				if q.src == "" {
					continue
				}
				if *q.dst, err = q.f(q.src); err != nil {
					return nil, fmt.Errorf("pod %s/%s container %s: %w", p.Metadata.Namespace, p.Metadata.Name, c.Name, err)
				}
			}
			out = append(out, pc)
		}
	}
	return out, nil
}

// CPUMillis parses a Kubernetes CPU quantity ("2", "500m", "1.5") into millicores.
func CPUMillis(q string) (int64, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return 0, nil
	}
	if m, ok := strings.CutSuffix(q, "m"); ok {
		return strconv.ParseInt(m, 10, 64)
	}
	f, err := strconv.ParseFloat(q, 64)
	if err != nil {
		return 0, fmt.Errorf("CPU quantity %q: %w", q, err)
	}
	return int64(f*1000 + 0.5), nil
}

// MemoryBytes parses a Kubernetes memory quantity ("16318144Ki", "512Mi", "1G", "1e9").
func MemoryBytes(q string) (int64, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return 0, nil
	}
	mult := map[string]float64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40,
		"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
	for _, suf := range []string{"Ki", "Mi", "Gi", "Ti", "k", "K", "M", "G", "T"} {
		if num, ok := strings.CutSuffix(q, suf); ok {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("memory quantity %q: %w", q, err)
			}
			return int64(f * mult[suf]), nil
		}
	}
	f, err := strconv.ParseFloat(q, 64)
	if err != nil {
		return 0, fmt.Errorf("memory quantity %q: %w", q, err)
	}
	return int64(f), nil
}
