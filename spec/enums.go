package spec

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// An enum is a string type whose values are listed in a table. Values are matched without
// regard to case, '_' or '-', so SMP's proto names (ISTIO, APP_MESH, PROTOCOL_GRPC) and
// our own (istio, app-mesh, grpc) both decode. The two enums that SMP defines also decode
// from SMP's integers, using today's numbering (reference/spec.md §3, §4).
type enumValue struct {
	name    string
	aliases []string
	smp     int32 // SMP proto number; 0 means none (0 is INVALID in both SMP enums)
	doc     string
}

type enumTable struct {
	what   string // "mesh type", used in error messages
	values []enumValue
	// zero is the value SMP's number 0 stands for, if any: INVALID_MESH doubles as "no
	// mesh" in SMP files, while PROTOCOL_INVALID means nothing.
	zero string
}

func normalizeEnum(s string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "_", "-")
}

// lookup returns the canonical value for s.
func (t *enumTable) lookup(s string) (string, bool) {
	n := normalizeEnum(s)
	for _, v := range t.values {
		if normalizeEnum(v.name) == n {
			return v.name, true
		}
		for _, a := range v.aliases {
			if normalizeEnum(a) == n {
				return v.name, true
			}
		}
	}
	return "", false
}

// byNumber returns the canonical value for an SMP enum number.
func (t *enumTable) byNumber(n int64) (string, bool) {
	if n == 0 && t.zero != "" {
		return t.zero, true
	}
	for _, v := range t.values {
		if v.smp != 0 && int64(v.smp) == n {
			return v.name, true
		}
	}
	return "", false
}

func (t *enumTable) names() []string {
	out := make([]string, len(t.values))
	for i, v := range t.values {
		out[i] = v.name
	}
	return out
}

// allNames lists canonical names and aliases, for "did you mean" suggestions.
func (t *enumTable) allNames() []string {
	var out []string
	for _, v := range t.values {
		out = append(out, v.name)
		out = append(out, v.aliases...)
	}
	return out
}

func (t *enumTable) numbers() map[int32]string {
	m := map[int32]string{}
	if t.zero != "" {
		m[0] = t.zero
	}
	for _, v := range t.values {
		if v.smp != 0 {
			m[v.smp] = v.name
		}
	}
	return m
}

// enumType is implemented by every enum in this package. The decoder and the schema
// generator both go through it, so they cannot disagree about what a value may be.
type enumType interface {
	enum() *enumTable
}

// EnumInfo describes an enum for tools outside this package (schema generation, shell
// completion): canonical values, accepted aliases, SMP numbers and a line of help per value.
type EnumInfo struct {
	Values  []string
	Aliases map[string][]string
	Numbers map[int32]string
	Docs    map[string]string
}

// Enum returns the description of an enum value's type, or false when v is not an enum.
func Enum(v any) (EnumInfo, bool) {
	e, ok := v.(enumType)
	if !ok {
		return EnumInfo{}, false
	}
	t := e.enum()
	info := EnumInfo{Values: t.names(), Aliases: map[string][]string{}, Numbers: t.numbers(), Docs: map[string]string{}}
	for _, v := range t.values {
		if len(v.aliases) > 0 {
			info.Aliases[v.name] = append([]string(nil), v.aliases...)
		}
		info.Docs[v.name] = v.doc
	}
	return info, true
}

// MeshType names what is in the data path of an arm.
type MeshType string

// Mesh types. On the local platform smp runs the sidecar proxies itself (builtin, envoy,
// haproxy, nginx); on Kubernetes it measures a mesh that is already installed.
const (
	MeshNone             MeshType = "none"
	MeshBuiltin          MeshType = "builtin"
	MeshEnvoy            MeshType = "envoy"
	MeshHAProxy          MeshType = "haproxy"
	MeshNginx            MeshType = "nginx"
	MeshIstio            MeshType = "istio"
	MeshLinkerd          MeshType = "linkerd"
	MeshConsul           MeshType = "consul"
	MeshKuma             MeshType = "kuma"
	MeshCilium           MeshType = "cilium"
	MeshTraefik          MeshType = "traefik-mesh"
	MeshOSM              MeshType = "open-service-mesh"
	MeshNginxServiceMesh MeshType = "nginx-service-mesh"
	MeshAppMesh          MeshType = "app-mesh"
	MeshOctarine         MeshType = "octarine"
	MeshNSM              MeshType = "network-service-mesh"
	MeshTanzu            MeshType = "tanzu"
)

var meshTypes = &enumTable{what: "mesh type", zero: "none", values: []enumValue{
	{name: "none", aliases: []string{"baseline", "no-mesh", "invalid-mesh"}, doc: "no mesh: the baseline"},
	{name: "builtin", aliases: []string{"smp"}, doc: "local: smp's reference sidecar (Go, mTLS)"},
	{name: "envoy", doc: "local: Envoy sidecars (needs an envoy binary on PATH)"},
	{name: "haproxy", doc: "local: HAProxy sidecars"},
	{name: "nginx", doc: "local: nginx sidecars"},
	{name: "istio", smp: 3, doc: "Kubernetes: Istio (sidecar or ambient)"},
	{name: "linkerd", smp: 5, doc: "Kubernetes: Linkerd"},
	{name: "consul", smp: 2, doc: "Kubernetes: Consul service mesh"},
	{name: "kuma", smp: 4, aliases: []string{"kong-mesh"}, doc: "Kubernetes: Kuma / Kong Mesh"},
	{name: "cilium", smp: 12, aliases: []string{"cilium-service-mesh"}, doc: "Kubernetes: Cilium service mesh (node proxy)"},
	{name: "traefik-mesh", smp: 6, aliases: []string{"maesh", "traefik"}, doc: "Kubernetes: Traefik Mesh"},
	{name: "open-service-mesh", smp: 10, aliases: []string{"osm"}, doc: "Kubernetes: Open Service Mesh"},
	{name: "nginx-service-mesh", smp: 11, aliases: []string{"nsm-nginx"}, doc: "Kubernetes: NGINX Service Mesh"},
	{name: "app-mesh", smp: 1, aliases: []string{"appmesh", "aws-app-mesh"}, doc: "AWS App Mesh"},
	{name: "octarine", smp: 7, doc: "SMP enum value; metadata only"},
	{name: "network-service-mesh", smp: 8, doc: "SMP enum value; metadata only"},
	{name: "tanzu", smp: 9, doc: "SMP enum value; metadata only"},
}}

func (MeshType) enum() *enumTable { return meshTypes }

// IsBaseline reports whether the arm has no mesh in the path.
func (m MeshType) IsBaseline() bool { return m == MeshNone || m == "" }

// LocalMeshes are the mesh types the local platform can run.
var localMeshes = []MeshType{MeshNone, MeshBuiltin, MeshEnvoy, MeshHAProxy, MeshNginx}

// kubernetesMeshes are the mesh types smp can measure on a cluster: its own sidecar
// (which it adds to the pods itself) and the meshes it detects.
var kubernetesMeshes = []MeshType{MeshNone, MeshBuiltin, MeshIstio, MeshLinkerd, MeshConsul, MeshKuma, MeshCilium}

// Protocol is what the load generator speaks to the target.
type Protocol string

// Protocols.
const (
	ProtocolHTTP1 Protocol = "http/1.1"
	ProtocolH2    Protocol = "h2"
	ProtocolH2C   Protocol = "h2c"
	ProtocolGRPC  Protocol = "grpc"
	ProtocolTCP   Protocol = "tcp"
)

var protocols = &enumTable{what: "protocol", values: []enumValue{
	{name: "http/1.1", aliases: []string{"http", "http1", "http/1", "protocol-http"}, smp: 1, doc: "HTTP/1.1, plaintext or TLS"},
	{name: "h2", aliases: []string{"http2", "http/2", "h2-tls"}, doc: "HTTP/2 over TLS (ALPN)"},
	{name: "h2c", doc: "HTTP/2 over cleartext (prior knowledge)"},
	{name: "grpc", aliases: []string{"protocol-grpc"}, smp: 4, doc: "gRPC unary calls"},
	{name: "tcp", aliases: []string{"protocol-tcp"}, smp: 2, doc: "TCP echo"},
}}

func (Protocol) enum() *enumTable { return protocols }

// Topology is how the sample app's services call each other.
type Topology string

// Topologies.
const (
	TopologyChain  Topology = "chain"
	TopologyFanout Topology = "fanout"
	// The shapes: smp's own services in the call graph, protocols and payload sizes of
	// an application mesh people know (internal/app's Shape holds the graphs).
	TopologyBookinfoShape  Topology = "bookinfo-shape"
	TopologyEmojivotoShape Topology = "emojivoto-shape"
)

var topologies = &enumTable{what: "topology", values: []enumValue{
	{name: "chain", doc: "service 1 calls 2, 2 calls 3, … (like productpage → reviews → ratings)"},
	{name: "fanout", aliases: []string{"fan-out"}, doc: "service 1 calls every other service in parallel"},
	{name: "bookinfo-shape", doc: "smp's services in bookinfo's graph and sizes: svc-page calls svc-facts, then svc-opinions → svc-stars; HTTP/1.1 (not the bookinfo images)"},
	{name: "emojivoto-shape", doc: "smp's services in emojivoto's graph: svc-front (HTTP/1.1 in) calls svc-glyphs, then svc-ballot, over gRPC (not the emojivoto images)"},
}}

func (Topology) enum() *enumTable { return topologies }

// ShapeServices is the number of services of a shape topology, 0 for chain and
// fanout, whose count the plan gives.
func (t Topology) ShapeServices() int {
	switch t {
	case TopologyBookinfoShape:
		return 4
	case TopologyEmojivotoShape:
		return 3
	}
	return 0
}

// DataPlane is where a mesh's proxies run.
type DataPlane string

// Data-plane modes.
const (
	DataPlaneSidecar DataPlane = "sidecar"
	DataPlaneAmbient DataPlane = "ambient"
	DataPlaneNode    DataPlane = "node"
)

var dataPlanes = &enumTable{what: "data-plane mode", values: []enumValue{
	{name: "sidecar", doc: "a proxy beside every workload"},
	{name: "ambient", aliases: []string{"sidecarless", "ztunnel"}, doc: "Istio ambient: per-node ztunnel plus optional waypoints"},
	{name: "node", aliases: []string{"node-proxy", "ebpf"}, doc: "a per-node proxy (Cilium)"},
}}

func (DataPlane) enum() *enumTable { return dataPlanes }

// Injection is how sidecars get into pods.
type Injection string

// Injection modes.
const (
	InjectionNamespace Injection = "namespace"
	InjectionPod       Injection = "pod"
	InjectionManual    Injection = "manual"
)

var injections = &enumTable{what: "injection mode", values: []enumValue{
	{name: "namespace", doc: "label or annotate the namespace"},
	{name: "pod", doc: "label or annotate each pod template"},
	{name: "manual", doc: "the manifests already contain the proxy; smp only verifies it"},
}}

func (Injection) enum() *enumTable { return injections }

// MTLSMode is the mutual-TLS policy between proxies.
type MTLSMode string

// mTLS modes.
const (
	MTLSStrict     MTLSMode = "strict"
	MTLSPermissive MTLSMode = "permissive"
	MTLSOff        MTLSMode = "off"
)

var mtlsModes = &enumTable{what: "mTLS mode", values: []enumValue{
	{name: "strict", doc: "only mTLS between proxies"},
	{name: "permissive", doc: "mTLS and plaintext both accepted"},
	{name: "off", aliases: []string{"disable", "disabled", "none", "plaintext"}, doc: "plaintext between proxies"},
}}

func (MTLSMode) enum() *enumTable { return mtlsModes }

// Pattern is the arrival process of an open-loop workload.
type Pattern string

// Arrival patterns.
const (
	PatternConstant  Pattern = "constant"
	PatternPoisson   Pattern = "poisson"
	PatternUniform   Pattern = "uniform"
	PatternRamp      Pattern = "ramp"
	PatternStep      Pattern = "step"
	PatternRealWorld Pattern = "realworld"
)

var patterns = &enumTable{what: "arrival pattern", values: []enumValue{
	{name: "constant", doc: "evenly spaced requests at the rate"},
	{name: "poisson", aliases: []string{"exponential"}, doc: "exponential gaps with mean 1/rate"},
	{name: "uniform", aliases: []string{"jitter"}, doc: "even spacing with ±jitter uniform noise"},
	{name: "ramp", aliases: []string{"linear"}, doc: "rate rises linearly from from_rate to rate over ramp"},
	{name: "step", aliases: []string{"steps"}, doc: "a list of {rate, duration} steps"},
	{name: "realworld", aliases: []string{"real-world"}, doc: "randomized but reproducible (seeded) traffic"},
}}

func (Pattern) enum() *enumTable { return patterns }

// Generator is the load generator that drives a trial.
type Generator string

// Load generators.
const (
	GeneratorBuiltin   Generator = "builtin"
	GeneratorFortio    Generator = "fortio"
	GeneratorWrk2      Generator = "wrk2"
	GeneratorWrk       Generator = "wrk"
	GeneratorNighthawk Generator = "nighthawk"
)

var generators = &enumTable{what: "load generator", values: []enumValue{
	{name: "builtin", aliases: []string{"smp"}, doc: "smp's engine: open loop, coordinated-omission correct"},
	{name: "fortio", doc: "fortio, as a library (latency from the actual send)"},
	{name: "wrk2", doc: "wrk2 binary: constant rate, corrected latency, HTTP/1.1 only"},
	{name: "wrk", doc: "wrk binary: closed loop, HTTP/1.1 only"},
	{name: "nighthawk", aliases: []string{"nighthawk-client"}, doc: "nighthawk_client binary"},
}}

func (Generator) enum() *enumTable { return generators }

// Platform is where the system under test runs.
type Platform string

// Platforms.
const (
	PlatformLocal      Platform = "local"
	PlatformKubernetes Platform = "kubernetes"
)

var platforms = &enumTable{what: "platform", values: []enumValue{
	{name: "local", doc: "processes on loopback on this machine; no cluster needed"},
	{name: "kubernetes", aliases: []string{"k8s", "kube"}, doc: "a Kubernetes cluster with the mesh installed"},
}}

func (Platform) enum() *enumTable { return platforms }

// CollectorType is a source of resource and proxy metrics.
type CollectorType string

// Collector types.
const (
	CollectorProcfs       CollectorType = "procfs"
	CollectorPrometheus   CollectorType = "prometheus"
	CollectorEnvoyAdmin   CollectorType = "envoy-admin"
	CollectorCAdvisor     CollectorType = "cadvisor"
	CollectorLinkerdProxy CollectorType = "linkerd-proxy"
)

var collectorTypes = &enumTable{what: "collector", values: []enumValue{
	{name: "procfs", aliases: []string{"proc"}, doc: "CPU and memory of local processes from /proc"},
	{name: "prometheus", aliases: []string{"prom"}, doc: "PromQL queries against a Prometheus server"},
	{name: "envoy-admin", aliases: []string{"envoy"}, doc: "Envoy admin endpoint (/stats, /memory, /server_info)"},
	{name: "cadvisor", doc: "cAdvisor REST API or its Prometheus form"},
	{name: "linkerd-proxy", aliases: []string{"linkerd"}, doc: "linkerd-proxy's /metrics"},
}}

func (CollectorType) enum() *enumTable { return collectorTypes }

// AppKind is the application under test.
type AppKind string

// Applications.
const (
	AppBuiltin   AppKind = "builtin"
	AppBookinfo  AppKind = "bookinfo"
	AppEmojivoto AppKind = "emojivoto"
	AppFortio    AppKind = "fortio"
	AppExternal  AppKind = "external"
)

var appKinds = &enumTable{what: "app", values: []enumValue{
	{name: "builtin", aliases: []string{"smp"}, doc: "smp's sample app: N services in a chain or fan-out"},
	{name: "bookinfo", doc: "Kubernetes: Istio's bookinfo (entry productpage)"},
	{name: "emojivoto", doc: "Kubernetes: Linkerd's emojivoto (entry web-svc)"},
	{name: "fortio", doc: "a fortio echo server (two-pod micro benchmark)"},
	{name: "external", doc: "nothing is deployed; load goes to endpoint_urls"},
}}

func (AppKind) enum() *enumTable { return appKinds }

// Order is how trials of different arms follow each other.
type Order string

// Trial orders.
const (
	OrderInterleaved Order = "interleaved"
	OrderSequential  Order = "sequential"
	OrderRandom      Order = "random"
)

var orders = &enumTable{what: "order", values: []enumValue{
	{name: "interleaved", doc: "baseline, A, B, baseline, A, B, … so drift hits every arm alike"},
	{name: "sequential", aliases: []string{"blocked"}, doc: "all repetitions of one arm, then the next"},
	{name: "random", aliases: []string{"shuffled", "randomized"}, doc: "each round in a seeded random order"},
}}

func (Order) enum() *enumTable { return orders }

// EntryVia is how the load reaches the first service.
type EntryVia string

// Entry paths.
const (
	EntryDirect  EntryVia = "direct"
	EntryGateway EntryVia = "gateway"
)

var entryVias = &enumTable{what: "entry", values: []enumValue{
	{name: "direct", aliases: []string{"sidecar"}, doc: "the load generator sends to the first service (through its client sidecar on mesh arms)"},
	{name: "gateway", aliases: []string{"ingress", "ingress-gateway"}, doc: "through an ingress gateway in front of the first service, on every arm"},
}}

func (EntryVia) enum() *enumTable { return entryVias }

// BucketScheme is how canonical histogram bucket boundaries are chosen.
type BucketScheme string

// Bucket schemes.
const (
	BucketsExplicit BucketScheme = "explicit"
	BucketsLog      BucketScheme = "log"
)

var bucketSchemes = &enumTable{what: "bucket scheme", values: []enumValue{
	{name: "explicit", doc: "the boundaries listed in bounds"},
	{name: "log", aliases: []string{"logarithmic", "exponential"}, doc: "per_decade boundaries per decade from..to"},
}}

func (BucketScheme) enum() *enumTable { return bucketSchemes }

// GRPCMethod is what a gRPC workload calls.
type GRPCMethod string

// gRPC methods.
const (
	GRPCHealth GRPCMethod = "health"
	GRPCEcho   GRPCMethod = "echo"
)

var grpcMethods = &enumTable{what: "gRPC method", values: []enumValue{
	{name: "health", aliases: []string{"grpc.health.v1.Health/Check", "check"}, doc: "grpc.health.v1.Health/Check (any server)"},
	{name: "echo", aliases: []string{"smp.echo.v1.Echo/Echo"}, doc: "the sample app's echo method (payload sizes apply)"},
}}

func (GRPCMethod) enum() *enumTable { return grpcMethods }

// sortedKeys is used wherever map iteration order would make output unstable.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ParseEnum reads value as a value of v's enum type (v is any value of that type, e.g.
// spec.MeshType("")) with the same rules as the plan decoder: any case, aliases, SMP names
// and numbers. It returns the canonical value.
func ParseEnum(v any, value string) (string, error) {
	e, ok := v.(enumType)
	if !ok {
		return "", fmt.Errorf("%T is not an enum", v)
	}
	t := e.enum()
	if name, ok := t.lookup(value); ok {
		return name, nil
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64); err == nil {
		if name, ok := t.byNumber(n); ok {
			return name, nil
		}
	}
	if s := suggest(value, t.allNames()); s != "" {
		if c, ok := t.lookup(s); ok {
			s = c
		}
		return "", fmt.Errorf("unknown %s %q; did you mean %q?", t.what, value, s)
	}
	return "", fmt.Errorf("unknown %s %q", t.what, value)
}
