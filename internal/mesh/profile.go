package mesh

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/service-mesh-performance/smp/spec"
)

// Platform is where a profile's mesh runs.
type Platform string

// Platforms.
const (
	// Local: smp starts the proxies itself as processes on loopback.
	Local Platform = "local"
	// Kubernetes: the mesh is installed on a cluster; smp injects and measures it.
	Kubernetes Platform = "kubernetes"
)

// Profile is everything smp needs to know about one mesh in one data-plane mode.
// Empty fields mean "does not apply" (the baseline has no proxy; Cilium injects nothing).
type Profile struct {
	Mesh      spec.MeshType
	DataPlane spec.DataPlane
	Platform  Platform
	// Proxy describes the per-workload proxy (none for ambient's ztunnel, Cilium and the
	// baseline).
	Proxy Proxy
	// Injection says how workloads get their proxy (or join the data plane).
	Injection Injection
	// ControlPlane is where the mesh's control plane runs.
	ControlPlane ControlPlane
	// NodeComponents are per-node parts of the data plane (DaemonSets: ztunnel,
	// cilium-agent, cilium-envoy) whose work no application pod is charged for.
	NodeComponents []NodeComponent
	// Metrics are the proxy's Prometheus endpoints, the default first.
	Metrics []Endpoint
	// AdminPort is the proxy's admin API (Envoy admin; linkerd-proxy's admin server).
	// 0: none, or chosen at run time (local sidecars).
	AdminPort int
	// StrictMTLS lists the objects that make proxy-to-proxy traffic strict mTLS, in the
	// order to apply them; StrictMTLSHelm lists Helm values it needs at install time.
	StrictMTLS     []Object
	StrictMTLSHelm map[string]string
	// PromQL are the selectors of the Prometheus collector's default queries.
	PromQL PromQL
	// Latency lists the histograms the data plane reports latency in, a cross-check of
	// the client's figures.
	Latency []LatencyMetric
	// L4 says how a port that carries opaque TCP (protocol tcp) is marked for the mesh;
	// nil when the mesh needs nothing (it proxies a port it knows nothing about as TCP).
	L4 *L4
	// Notes are caveats a reader of the results needs (what the figures miss).
	Notes []string
	// Source cites where the facts come from.
	Source string
}

// Proxy is the per-workload proxy.
type Proxy struct {
	// Containers are the proxy container's names (more than one across versions: Consul's
	// consul-dataplane, formerly envoy-sidecar and consul-sidecar).
	Containers []string
	// ContainerRegex matches any of them; PromQL anchors it (=~ matches the whole value).
	ContainerRegex string
	// InitContainers are the init containers injection adds (or their CNI variant).
	InitContainers []string
}

// KeyKind is whether an injection key is a label or an annotation.
type KeyKind string

// Key kinds.
const (
	Label      KeyKind = "label"
	Annotation KeyKind = "annotation"
)

// Key is one label or annotation that switches injection on (Value) or off (Disabled).
type Key struct {
	Kind     KeyKind
	Name     string
	Value    string
	Disabled string
}

// Injection says where the injection key goes. Nil means the level has no key (Consul
// has no namespace key; Cilium injects nothing).
type Injection struct {
	// Namespace is set on the namespace object.
	Namespace *Key
	// Pod is set on the pod template (a per-pod override or the only way).
	Pod *Key
	// Notes: alternatives and caveats (revision labels, re-rolling pods).
	Notes []string
}

// ControlPlane is where a mesh's control plane runs.
type ControlPlane struct {
	// Namespaces it is installed in by default.
	Namespaces []string
	// Workloads are its Deployments, StatefulSets and DaemonSets.
	Workloads []Workload
}

// Workload is a Kubernetes workload by kind and name.
type Workload struct {
	Kind, Name string
}

// NodeComponent is a per-node data-plane component.
type NodeComponent struct {
	// Workload is its DaemonSet; Namespace where it runs.
	Workload  Workload
	Namespace string
	// Container is its main container's name.
	Container string
	// Proxy: the container forwards the applications' traffic (ztunnel, cilium-envoy), as
	// a sidecar does, so its CPU limit can throttle requests; an agent (cilium-agent)
	// programs the data path instead.
	Proxy bool
	// Metrics is where it serves Prometheus metrics.
	Metrics Endpoint
}

// Endpoint is an HTTP endpoint on a port of the proxy (or component).
type Endpoint struct {
	// Name says what it serves, e.g. "envoy" or "merged".
	Name string
	Port int
	Path string
}

// Object is a Kubernetes object as plain data, for internal/platform/kube to build.
type Object struct {
	APIVersion, Kind, Name string
	// Namespace: "" for a cluster-scoped object, AppNamespace for the arm's namespace, or
	// a fixed namespace (the mesh's root namespace).
	Namespace string
	// Patch: merge Fields into the existing object (a namespace annotation) rather than
	// creating it.
	Patch bool
	// Fields are the object's content besides apiVersion, kind and metadata.name and
	// .namespace: usually {"spec": …}; for a patch, {"metadata": {"annotations": …}}.
	Fields map[string]any
	// Purpose says why the object is needed.
	Purpose string
}

// AppNamespace stands for the arm's application namespace in Object.Namespace.
const AppNamespace = "$APP_NAMESPACE"

// PromQL are the label regexes the Prometheus collector's default queries use. Every
// regex is RE2 as PromQL reads it: =~ anchors it at both ends.
type PromQL struct {
	// ProxyContainer matches the per-workload proxy containers ("" when there are none).
	ProxyContainer string
	// ControlPlaneNamespace and ControlPlanePod select the control plane's containers
	// (minus ProxyContainer: Linkerd meshes its own control plane).
	ControlPlaneNamespace string
	ControlPlanePod       string
	// NodeNamespace, NodePod and NodeContainer select the per-node data-plane components
	// (ztunnel, cilium-agent, cilium-envoy); "" when there are none.
	NodeNamespace string
	NodePod       string
	NodeContainer string
	// NodeCPU: node CPU is part of the mesh's cost (eBPF or per-node proxies: the work is
	// billed to no application pod), so a missing node_cpu_seconds_total is worth a warning.
	NodeCPU bool
}

// L4 marks a port as opaque TCP for a mesh that would otherwise detect or assume a
// protocol on it: a sidecar that sniffs a client-first stream waits for bytes it can
// classify before it forwards them, and one that assumes HTTP breaks the stream.
type L4 struct {
	// PortNamePrefix: the Service port's name starts with it (Istio reads the protocol
	// from the name: tcp, tcp-*).
	PortNamePrefix string
	// AppProtocol is the Service port's appProtocol (Kubernetes' field, which Istio and
	// Gateway API implementations read).
	AppProtocol string
	// PodAnnotations and ServiceAnnotations go on the workload's pod template and its
	// Service; PortPlaceholder in a key or value stands for the port number.
	PodAnnotations, ServiceAnnotations map[string]string
	// Purpose says why.
	Purpose string
}

// PortPlaceholder stands for the port number in L4's annotations.
const PortPlaceholder = "{port}"

// Annotations returns annotations with PortPlaceholder replaced by port.
func (l *L4) Annotations(annotations map[string]string, port int) map[string]string {
	if l == nil || len(annotations) == 0 {
		return nil
	}
	p := strconv.Itoa(port)
	out := make(map[string]string, len(annotations))
	for k, v := range annotations {
		out[strings.ReplaceAll(k, PortPlaceholder, p)] = strings.ReplaceAll(v, PortPlaceholder, p)
	}
	return out
}

// LatencyMetric is a latency histogram the data plane exposes in Prometheus form.
type LatencyMetric struct {
	// Metric is the histogram's base name (without _bucket).
	Metric string
	// Matchers are extra label matchers, e.g. `reporter="destination"`.
	Matchers string
	// NamespaceLabel is the label that holds the measured workload's namespace on this
	// metric (Istio: destination_workload_namespace; the others: namespace, as Linkerd
	// sets it and Prometheus's Kubernetes discovery usually adds it); "" when the series
	// are selected by instance instead (local platform).
	NamespaceLabel string
	// Seconds: the buckets' le is in seconds; otherwise in milliseconds.
	Seconds bool
	// Role of the components that expose it ("proxy", or "app" for the local platform's
	// sample app), for queries per component.
	Role string
	// What says what it times.
	What string
}

// For returns the profile of a mesh type in a data-plane mode on a platform ("" mode
// picks the mesh's default: node for Cilium, sidecar for the others, nothing for the
// baseline; "" mesh is the baseline). A combination smp does not run returns false.
func For(pf Platform, m spec.MeshType, dp spec.DataPlane) (Profile, bool) {
	if m == "" {
		m = spec.MeshNone
	}
	if dp == "" {
		dp = DefaultDataPlane(m)
	}
	for _, p := range Profiles() {
		if p.Platform == pf && p.Mesh == m && p.DataPlane == dp {
			return p, true
		}
	}
	return Profile{}, false
}

// DefaultDataPlane is the mode a mesh runs in when the plan does not say (spec's
// default): none for the baseline, node for Cilium, sidecar otherwise.
func DefaultDataPlane(m spec.MeshType) spec.DataPlane {
	switch m {
	case spec.MeshNone, "":
		return ""
	case spec.MeshCilium:
		return spec.DataPlaneNode
	}
	return spec.DataPlaneSidecar
}

// Name is "istio (ambient)" or "linkerd": the mesh and, when it has one, its mode.
func (p Profile) Name() string {
	if p.DataPlane == "" {
		return string(p.Mesh)
	}
	return fmt.Sprintf("%s (%s)", p.Mesh, p.DataPlane)
}
