package mesh

import "github.com/service-mesh-performance/smp/spec"

// Profiles returns every profile, built anew on each call (callers may modify it): the
// local kinds first, then the Kubernetes meshes. Every mesh type spec lets a plan run has
// exactly one profile per data-plane mode it allows.
func Profiles() []Profile {
	return append(localProfiles(), kubernetesProfiles()...)
}

// appLatency is the sample app's own request histogram (internal/app/metrics.go:
// smp_app_request_duration_seconds, per service, from the request's arrival to its reply,
// upstream calls included). On the local platform it is the data plane's view of latency
// for every arm, the baseline included.
func appLatency() LatencyMetric {
	return LatencyMetric{Metric: "smp_app_request_duration_seconds", Seconds: true, Role: "app",
		What: "each service of the sample app, from the request's arrival to its reply (upstream calls included)"}
}

// envoyLatency is Envoy's per-cluster upstream request time (meshes.md §8: "Per cluster:
// cluster.<c>.upstream_rq_time (histogram)"; Prometheus name envoy_cluster_upstream_rq_time).
func envoyLatency() LatencyMetric {
	return LatencyMetric{Metric: "envoy_cluster_upstream_rq_time", Role: "proxy", NamespaceLabel: "namespace",
		What: "Envoy, from the upstream request to the upstream's response (cluster.*.upstream_rq_time)"}
}

func localProfiles() []Profile {
	const src = "local platform: internal/platform/local and internal/sidecar (doc.go: what each kind serves)"
	local := func(m spec.MeshType, dp spec.DataPlane, metrics []Endpoint, latency ...LatencyMetric) Profile {
		p := Profile{Mesh: m, DataPlane: dp, Platform: Local, Metrics: metrics,
			Latency: append([]LatencyMetric{appLatency()}, latency...), Source: src}
		if m != spec.MeshNone {
			// Local sidecars are processes named <service>-proxy and client-proxy; ports are
			// picked free at deploy time, so Port is 0 and the platform hands over URLs.
			p.Proxy = Proxy{Containers: []string{"client-proxy", "<service>-proxy"}, ContainerRegex: ".+-proxy"}
			p.Notes = []string{"strict mTLS is configured by smp itself (sidecar.Spec.MTLS); there are no objects to apply"}
		}
		return p
	}
	return []Profile{
		local(spec.MeshNone, "", nil),
		local(spec.MeshBuiltin, spec.DataPlaneSidecar, []Endpoint{{Name: "builtin", Path: "/metrics"}}),
		local(spec.MeshEnvoy, spec.DataPlaneSidecar, []Endpoint{{Name: "envoy", Path: "/stats/prometheus"}}, envoyLatency()),
		local(spec.MeshHAProxy, spec.DataPlaneSidecar, []Endpoint{{Name: "haproxy", Path: "/metrics"}}),
		// nginx serves stub_status only: no Prometheus endpoint (internal/sidecar/kind.go).
		local(spec.MeshNginx, spec.DataPlaneSidecar, nil),
	}
}

// istioL4 is Istio's protocol selection: a Service port named tcp or tcp-*, or with
// appProtocol tcp, is proxied as opaque TCP; any other port is sniffed (Istio's
// documentation, "Protocol Selection").
func istioL4() *L4 {
	return &L4{PortNamePrefix: "tcp-", AppProtocol: "tcp",
		Purpose: "Istio proxies a port named tcp-* (or with appProtocol tcp) as opaque TCP instead of sniffing its first bytes for HTTP"}
}

func kubernetesProfiles() []Profile {
	return []Profile{
		{
			Mesh: spec.MeshNone, Platform: Kubernetes,
			Latency: nil,
			Notes:   []string{"the baseline: no proxy; node CPU is still measured, so that meshes can be compared with it"},
			Source:  "meshes.md §9 (node CPU as the difference from baseline)",
		},
		builtinKube(),
		istioSidecar(),
		istioAmbient(),
		linkerd(),
		consul(),
		kuma(),
		cilium(),
	}
}

// istioStrict is the namespace-wide PeerAuthentication in STRICT mode (meshes.md §7,
// Istio: "A PeerAuthentication called default with spec.mtls.mode: STRICT, placed in the
// root namespace (istio-system) or in the app namespace"). apiVersion security.istio.io/v1
// is served from Istio 1.22 on (not in the reference: Istio's API reference; older
// releases read v1beta1).
func istioStrict() []Object {
	return []Object{{APIVersion: "security.istio.io/v1", Kind: "PeerAuthentication", Name: "default", Namespace: AppNamespace,
		Fields:  map[string]any{"spec": map[string]any{"mtls": map[string]any{"mode": "STRICT"}}},
		Purpose: "reject plaintext to every workload of the namespace; auto-mTLS makes clients use mTLS"}}
}

// istioControlPlane is istiod in istio-system (meshes.md §9 query set: control plane on
// namespace=~"istio-system"; §6: "istiod"; the Deployment's name is istiod, its container
// discovery, as in istio/tools' prom.py "discovery|istio-proxy").
func istioControlPlane() ControlPlane {
	return ControlPlane{Namespaces: []string{"istio-system"}, Workloads: []Workload{{"Deployment", "istiod"}}}
}

// The builtin sidecar on Kubernetes: its container's name and its admin port (/metrics,
// /stats, /ready), the same in every pod.
const (
	BuiltinProxyContainer = "smp-proxy"
	BuiltinAdminPort      = 15000
)

// builtinKube is smp's own sidecar on a cluster: internal/platform/kube adds it to the
// pods it deploys (no injector, no control plane, no objects to apply: the run's CA is a
// Secret per workload). It is the floor a real mesh is compared with: what a minimal
// mTLS proxy costs on that cluster.
func builtinKube() Profile {
	return Profile{
		Mesh: spec.MeshBuiltin, DataPlane: spec.DataPlaneSidecar, Platform: Kubernetes,
		Proxy:     Proxy{Containers: []string{BuiltinProxyContainer}, ContainerRegex: BuiltinProxyContainer},
		Metrics:   []Endpoint{{Name: "builtin", Port: BuiltinAdminPort, Path: "/metrics"}},
		AdminPort: BuiltinAdminPort,
		PromQL:    PromQL{ProxyContainer: BuiltinProxyContainer},
		Notes: []string{"smp adds the sidecar to the pods it deploys itself (no injector); strict mTLS comes from a CA made for the run, " +
			"one Secret per workload, so there are no mesh objects to apply"},
		Source: "internal/platform/kube (builtinmesh.go) and internal/sidecar",
	}
}

func istioSidecar() Profile {
	return Profile{
		Mesh: spec.MeshIstio, DataPlane: spec.DataPlaneSidecar, Platform: Kubernetes,
		Proxy: Proxy{Containers: []string{"istio-proxy"}, ContainerRegex: "istio-proxy",
			InitContainers: []string{"istio-init", "istio-validation"}},
		Injection: Injection{
			Namespace: &Key{Kind: Label, Name: "istio-injection", Value: "enabled", Disabled: "disabled"},
			Pod:       &Key{Kind: Label, Name: "sidecar.istio.io/inject", Value: "true", Disabled: "false"},
			Notes: []string{"or the revision label istio.io/rev=<rev> on the namespace",
				"sidecar.istio.io/inject is now a label; it used to be an annotation",
				"injection happens at pod creation: re-roll pods after labelling"},
		},
		ControlPlane: istioControlPlane(),
		Metrics: []Endpoint{{Name: "envoy", Port: 15090, Path: "/stats/prometheus"},
			{Name: "merged", Port: 15020, Path: "/stats/prometheus"}},
		AdminPort:  15000,
		StrictMTLS: istioStrict(),
		PromQL:     PromQL{ProxyContainer: "istio-proxy", ControlPlaneNamespace: "istio-system", ControlPlanePod: "istiod-.*"},
		Latency: []LatencyMetric{
			{Metric: "istio_request_duration_milliseconds", Matchers: `reporter="destination"`, Role: "proxy", NamespaceLabel: "destination_workload_namespace",
				What: "the destination sidecar, from the request to the response (istio_request_duration_milliseconds, reporter=destination)"},
			envoyLatency(),
		},
		L4: istioL4(),
		Notes: []string{"Istio trims Envoy stats to cluster_manager, listener_manager, server and cluster.xds-grpc by default: " +
			"upstream_rq_time, upstream_cx_* and ssl.* need proxyStatsMatcher (meshes.md §8)"},
		Source: "meshes.md §7 Istio (sidecar), §8 Envoy, §9",
	}
}

func istioAmbient() Profile {
	return Profile{
		Mesh: spec.MeshIstio, DataPlane: spec.DataPlaneAmbient, Platform: Kubernetes,
		// Waypoints (L7) run in the application's namespace with container istio-proxy.
		Proxy: Proxy{Containers: []string{"istio-proxy"}, ContainerRegex: "istio-proxy"},
		Injection: Injection{
			Namespace: &Key{Kind: Label, Name: "istio.io/dataplane-mode", Value: "ambient", Disabled: "none"},
			Notes: []string{"L7: istioctl waypoint apply -n <ns> --enroll-namespace (sets istio.io/use-waypoint=waypoint)",
				"no sidecar: pods need no re-roll"},
		},
		ControlPlane: istioControlPlane(),
		NodeComponents: []NodeComponent{{Workload: Workload{"DaemonSet", "ztunnel"}, Namespace: "istio-system",
			Container: "istio-proxy", Proxy: true, Metrics: Endpoint{Name: "ztunnel", Port: 15020, Path: "/metrics"}}},
		Metrics: []Endpoint{{Name: "waypoint-envoy", Port: 15090, Path: "/stats/prometheus"},
			{Name: "waypoint-merged", Port: 15020, Path: "/stats/prometheus"}},
		AdminPort:  15000,
		StrictMTLS: istioStrict(),
		PromQL: PromQL{ProxyContainer: "istio-proxy", ControlPlaneNamespace: "istio-system", ControlPlanePod: "istiod-.*",
			NodeNamespace: "istio-system", NodePod: "ztunnel-.*", NodeContainer: "istio-proxy", NodeCPU: true},
		Latency: []LatencyMetric{{Metric: "istio_request_duration_milliseconds", Matchers: `reporter="destination"`, Role: "proxy", NamespaceLabel: "destination_workload_namespace",
			What: "waypoints (L7 only; ztunnel reports TCP metrics, no request latency)"}},
		// ztunnel is L4 whatever the port; waypoints (L7) read the same protocol selection.
		L4: istioL4(),
		Notes: []string{"HBONE is always mTLS; node CPU is charged to the mesh as a whole rather than to pods (meshes.md §7)",
			"figures from a debug ztunnel build are invalid (istio/istio#49829)"},
		Source: "meshes.md §7 Istio (ambient), §9, §11.10",
	}
}

func linkerd() Profile {
	return Profile{
		Mesh: spec.MeshLinkerd, DataPlane: spec.DataPlaneSidecar, Platform: Kubernetes,
		Proxy: Proxy{Containers: []string{"linkerd-proxy"}, ContainerRegex: "linkerd-proxy",
			InitContainers: []string{"linkerd-init", "linkerd-network-validator"}},
		Injection: Injection{
			Namespace: &Key{Kind: Annotation, Name: "linkerd.io/inject", Value: "enabled", Disabled: "disabled"},
			Pod:       &Key{Kind: Annotation, Name: "linkerd.io/inject", Value: "enabled", Disabled: "disabled"},
			Notes:     []string{"an annotation, not a label", "injection happens at pod creation: re-roll pods after annotating"},
		},
		// The Deployments' names are not in the reference; they are those of Linkerd's
		// control-plane chart (linkerd-destination, linkerd-identity, linkerd-proxy-injector).
		ControlPlane: ControlPlane{Namespaces: []string{"linkerd"}, Workloads: []Workload{
			{"Deployment", "linkerd-destination"}, {"Deployment", "linkerd-identity"}, {"Deployment", "linkerd-proxy-injector"}}},
		Metrics:   []Endpoint{{Name: "linkerd-proxy", Port: 4191, Path: "/metrics"}},
		AdminPort: 4191,
		StrictMTLS: []Object{{APIVersion: "v1", Kind: "Namespace", Name: AppNamespace, Patch: true,
			Fields: map[string]any{"metadata": map[string]any{"annotations": map[string]any{
				"config.linkerd.io/default-inbound-policy": "all-authenticated"}}},
			Purpose: "mTLS is on for all meshed TCP by default; this refuses unauthenticated (plaintext) inbound traffic (Linkerd 2.11+)"}},
		PromQL: PromQL{ProxyContainer: "linkerd-proxy", ControlPlaneNamespace: "linkerd", ControlPlanePod: ".+"},
		Latency: []LatencyMetric{{Metric: "response_latency_ms", Matchers: `direction="inbound"`, Role: "proxy", NamespaceLabel: "namespace",
			What: "the inbound linkerd-proxy, to the response's first byte (response_latency_ms, direction=inbound)"}},
		// Linkerd's documentation, "Protocol Detection and Opaque Ports".
		L4: &L4{AppProtocol: "tcp",
			PodAnnotations:     map[string]string{"config.linkerd.io/opaque-ports": PortPlaceholder},
			ServiceAnnotations: map[string]string{"config.linkerd.io/opaque-ports": PortPlaceholder},
			Purpose: "linkerd-proxy detects each connection's protocol by its first bytes; an opaque port is proxied as TCP (still mTLS) " +
				"without detection, which a client-first stream would otherwise wait on"},
		Notes: []string{"the control plane is meshed too: its linkerd-proxy containers are left out of control-plane queries",
			"confirm mTLS with tls=\"true\" on the proxy's metrics (meshes.md §11.5)"},
		Source: "meshes.md §7 Linkerd, §8 linkerd2-proxy, §3",
	}
}

func consul() Profile {
	return Profile{
		Mesh: spec.MeshConsul, DataPlane: spec.DataPlaneSidecar, Platform: Kubernetes,
		Proxy: Proxy{Containers: []string{"consul-dataplane", "envoy-sidecar", "consul-sidecar"},
			ContainerRegex: "consul-dataplane|envoy-sidecar|consul-sidecar",
			InitContainers: []string{"consul-connect-inject-init"}},
		Injection: Injection{
			Pod: &Key{Kind: Annotation, Name: "consul.hashicorp.com/connect-inject", Value: "true", Disabled: "false"},
			Notes: []string{"no namespace key: inject everywhere with Helm connectInject.default=true",
				"transparent proxy via consul.hashicorp.com/transparent-proxy"},
		},
		// The workload names are not in the reference; they are those of the consul-k8s Helm
		// chart with the release named consul (consul-server, consul-connect-injector).
		ControlPlane: ControlPlane{Namespaces: []string{"consul"}, Workloads: []Workload{
			{"StatefulSet", "consul-server"}, {"Deployment", "consul-connect-injector"}}},
		Metrics: []Endpoint{{Name: "envoy", Port: 20200, Path: "/metrics"},
			{Name: "merged", Port: 20100, Path: "/metrics"}},
		AdminPort: 19000,
		StrictMTLS: []Object{
			{APIVersion: "consul.hashicorp.com/v1alpha1", Kind: "ServiceIntentions", Name: "smp-allow-all", Namespace: AppNamespace,
				Fields: map[string]any{"spec": map[string]any{
					"destination": map[string]any{"name": "*"},
					"sources":     []any{map[string]any{"name": "*", "action": "allow"}}}},
				Purpose: "proxy-to-proxy traffic is always mTLS and MutualTLSMode defaults to strict; with ACLs the default is deny, so the services must be allowed to talk"},
		},
		PromQL: PromQL{ProxyContainer: "consul-dataplane|envoy-sidecar|consul-sidecar",
			ControlPlaneNamespace: "consul", ControlPlanePod: ".+"},
		Latency: []LatencyMetric{envoyLatency()},
		Source:  "meshes.md §7 Consul, §8 Envoy, §5 (consul-dataplane queries)",
	}
}

func kuma() Profile {
	return Profile{
		Mesh: spec.MeshKuma, DataPlane: spec.DataPlaneSidecar, Platform: Kubernetes,
		Proxy: Proxy{Containers: []string{"kuma-sidecar"}, ContainerRegex: "kuma-sidecar",
			InitContainers: []string{"kuma-init"}},
		Injection: Injection{
			Namespace: &Key{Kind: Label, Name: "kuma.io/sidecar-injection", Value: "enabled", Disabled: "disabled"},
			Pod:       &Key{Kind: Label, Name: "kuma.io/sidecar-injection", Value: "enabled", Disabled: "disabled"},
			Notes:     []string{"earlier releases read the same key as an annotation", "kuma.io/mesh: <name> is optional"},
		},
		// The Deployment's name is not in the reference; it is that of Kuma's Helm chart.
		ControlPlane: ControlPlane{Namespaces: []string{"kuma-system"}, Workloads: []Workload{{"Deployment", "kuma-control-plane"}}},
		Metrics:      []Endpoint{{Name: "kuma-dp", Port: 5670, Path: "/metrics"}},
		AdminPort:    9901,
		StrictMTLS: []Object{
			{APIVersion: "kuma.io/v1alpha1", Kind: "Mesh", Name: "default",
				Fields: map[string]any{"spec": map[string]any{"mtls": map[string]any{
					"enabledBackend": "ca-1",
					"backends":       []any{map[string]any{"name": "ca-1", "type": "builtin", "mode": "STRICT"}}}}},
				Purpose: "mTLS with a builtin CA in STRICT mode"},
			{APIVersion: "kuma.io/v1alpha1", Kind: "MeshTrafficPermission", Name: "smp-allow-all", Namespace: "kuma-system",
				Fields: map[string]any{"spec": map[string]any{
					"targetRef": map[string]any{"kind": "Mesh"},
					"from": []any{map[string]any{"targetRef": map[string]any{"kind": "Mesh"},
						"default": map[string]any{"action": "Allow"}}}}},
				Purpose: "with mTLS on, traffic needs a MeshTrafficPermission allowing it"},
		},
		PromQL: PromQL{ProxyContainer: "kuma-sidecar", ControlPlaneNamespace: "kuma-system", ControlPlanePod: ".+"},
		// Kuma treats a port as TCP unless told otherwise; the annotation says so explicitly
		// (Kuma's documentation, "Protocol support").
		L4: &L4{AppProtocol: "tcp", ServiceAnnotations: map[string]string{PortPlaceholder + ".service.kuma.io/protocol": "tcp"},
			Purpose: "Kuma's default protocol is tcp; the Service annotation pins it, so that a mesh-wide default cannot make the port HTTP"},
		Latency: []LatencyMetric{envoyLatency()},
		Notes:   []string{"the :5670/metrics endpoint needs MeshMetric (2.6+) or Mesh.spec.metrics"},
		Source:  "meshes.md §7 Kuma / Kong Mesh, §8 Envoy",
	}
}

func cilium() Profile {
	return Profile{
		Mesh: spec.MeshCilium, DataPlane: spec.DataPlaneNode, Platform: Kubernetes,
		Injection: Injection{Notes: []string{"nothing is injected: Cilium is the CNI; cilium-envoy handles L7 when a policy or Gateway API resource asks for it"}},
		// cilium-operator is Cilium's cluster-wide controller (not in the reference's §7,
		// named in §9's control-plane list); SPIRE runs beside it when mutual
		// authentication is on (§9: "spire-*"; Cilium's chart installs it in cilium-spire).
		ControlPlane: ControlPlane{Namespaces: []string{"kube-system", "cilium-spire"}, Workloads: []Workload{
			{"Deployment", "cilium-operator"}, {"StatefulSet", "spire-server"}}},
		NodeComponents: []NodeComponent{
			{Workload: Workload{"DaemonSet", "cilium"}, Namespace: "kube-system", Container: "cilium-agent",
				Metrics: Endpoint{Name: "cilium-agent", Port: 9962, Path: "/metrics"}},
			{Workload: Workload{"DaemonSet", "cilium-envoy"}, Namespace: "kube-system", Container: "cilium-envoy", Proxy: true,
				Metrics: Endpoint{Name: "cilium-envoy", Port: 9964, Path: "/metrics"}},
		},
		Metrics: []Endpoint{{Name: "hubble", Port: 9965, Path: "/metrics"}},
		StrictMTLS: []Object{{APIVersion: "cilium.io/v2", Kind: "CiliumNetworkPolicy", Name: "smp-mutual-auth", Namespace: AppNamespace,
			Fields: map[string]any{"spec": map[string]any{
				"endpointSelector": map[string]any{},
				"ingress": []any{map[string]any{
					"fromEndpoints":  []any{map[string]any{}},
					"authentication": map[string]any{"mode": "required"}}}}},
			Purpose: "require SPIRE mutual authentication for ingress to every endpoint of the namespace"}},
		StrictMTLSHelm: map[string]string{
			"authentication.mutual.spire.enabled":         "true",
			"authentication.mutual.spire.install.enabled": "true",
			"encryption.enabled":                          "true",
			"encryption.type":                             "wireguard",
		},
		PromQL: PromQL{ControlPlaneNamespace: "kube-system|cilium-spire", ControlPlanePod: "cilium-operator-.*|spire-.*",
			NodeNamespace: "kube-system", NodePod: "cilium-.*", NodeContainer: "cilium-agent|cilium-envoy", NodeCPU: true},
		Notes: []string{"eBPF work in the kernel belongs to no pod's cgroup: node CPU is the measure (meshes.md §7, §11.10)",
			"SPIRE authentication alone does not encrypt; WireGuard does"},
		Source: "meshes.md §7 Cilium, §5 (LiveWyer, Cilium CNI benchmark), §9",
	}
}
