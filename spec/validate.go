package spec

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validate checks a plan (normally after WithDefaults) and returns every problem as Errors.
// It checks the plan on its own; whether the machine has the binaries or the cluster has
// the mesh is checked when the plan runs.
func (p *Plan) Validate() error {
	v := &validator{p: p}
	v.plan()
	return v.errs.err()
}

type validator struct {
	p    *Plan
	errs Errors
}

func (v *validator) errorf(path, fix, format string, args ...any) {
	v.errs = append(v.errs, v.p.Errorf(path, fix, format, args...))
}

var (
	dnsLabel      = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	labelValue    = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	labelName     = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	dnsSubdomain  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	cpuQuantity   = regexp.MustCompile(`^([0-9]+m|[0-9]*\.?[0-9]+)$`)
	cpuSet        = regexp.MustCompile(`^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$`)
	headerToken   = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	versionSemver = regexp.MustCompile(`^(>=|<=|>|<|=|~|\^)?\s*v?[0-9]+(\.[0-9]+){0,2}$`)
)

// Bounds of what a plan can ask for.
const (
	// MaxRate is the highest request rate a plan may ask for, in requests per second: at
	// 10M rps requests are 100ns apart, which is as fine as smp's pacing goes (and far
	// beyond what one generator sends; agents share a rate).
	MaxRate = 10_000_000
	// MaxDuration is the longest measured phase (and warm-up, and step): a trial of more
	// than a day is several trials (repetitions), each with its own result.
	MaxDuration = Duration(24 * time.Hour)
	// MaxTimeout is the longest request timeout: latencies are recorded up to 1h, and
	// values above are clamped.
	MaxTimeout = Duration(time.Hour)
)

func (v *validator) rateBound(path string, rate float64) {
	if rate > MaxRate {
		v.errorf(path, fmt.Sprintf("use at most %d rps, or spread the load over agents", MaxRate),
			"rate %g rps is above the %d rps smp can pace", rate, MaxRate)
	}
}

func (v *validator) durationBound(path string, d, limit Duration, why string) {
	if d > limit {
		v.errorf(path, fmt.Sprintf("use at most %s; %s", limit, why), "%s is longer than %s", d, limit)
	}
}

func (v *validator) plan() {
	p := v.p
	if p.Repetitions < 1 || p.Repetitions > 1000 {
		v.errorf("repetitions", "use 1 to 1000", "repetitions must be between 1 and 1000, got %d", p.Repetitions)
	}
	v.labels("labels", p.Labels)
	v.arms()
	v.workload()
	v.metrics()
	v.environment()
	v.slos()
	if strings.ContainsAny(p.Name, "/\\\x00") {
		v.errorf("name", "use letters, digits, '-', '_' and '.'", "name %q would not make a file name", p.Name)
	}
}

func (v *validator) labels(path string, m map[string]string) {
	for _, k := range sortedKeys(m) {
		name := k
		if i := strings.LastIndexByte(k, '/'); i >= 0 {
			prefix := k[:i]
			name = k[i+1:]
			if len(prefix) > 253 || !dnsSubdomain.MatchString(prefix) {
				v.errorf(path+"."+k, "use a DNS subdomain before '/', e.g. example.com/team", "label prefix %q is not a DNS subdomain", prefix)
				continue
			}
		}
		if len(name) > 63 || !labelName.MatchString(name) {
			v.errorf(path+"."+k, "use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", "label key %q is not a valid Kubernetes label key", k)
		}
		if val := m[k]; len(val) > 63 || !labelValue.MatchString(val) {
			v.errorf(path+"."+k, "use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", "label value %q is not a valid Kubernetes label value", val)
		}
	}
}

func (v *validator) arms() {
	p := v.p
	platform := p.Environment.Platform
	external := p.Workload.App.Kind == AppExternal
	names := map[string]int{}
	for i, a := range p.Arms {
		at := fmt.Sprintf("arms[%d]", i)
		if !dnsLabel.MatchString(a.Name) || len(a.Name) > 40 {
			v.errorf(at+".name", "use lower-case letters, digits and '-' (at most 40), e.g. istio-strict",
				"arm name %q is not a DNS label (it names namespaces and files)", a.Name)
		}
		if j, dup := names[a.Name]; dup {
			v.errorf(at+".name", fmt.Sprintf("give arms[%d] and arms[%d] different names", j, i),
				"two arms are named %q", a.Name)
		}
		names[a.Name] = i
		v.labels(at+".labels", a.Labels)
		if !external {
			v.armOnPlatform(at, a, platform)
		} else if len(p.Workload.EndpointURLs) == 0 && len(a.EndpointURLs) == 0 {
			v.errorf(at+".endpoint_urls", "give this arm endpoint_urls, or set workload.endpoint_urls for all arms",
				"arm %q has no URL to send load to", a.Name)
		}
		if len(a.EndpointURLs) > 0 && !external {
			v.errorf(at+".endpoint_urls", "remove endpoint_urls, or set workload.app: external",
				"endpoint_urls on an arm only apply to an external app, but app.kind is %s", p.Workload.App.Kind)
		}
		for j, u := range a.EndpointURLs {
			v.url(fmt.Sprintf("%s.endpoint_urls[%d]", at, j), u)
		}
		if a.ProxyConcurrency < 0 {
			v.errorf(at+".proxy_concurrency", "use 0 for the proxy's default, or a positive number", "proxy_concurrency must not be negative")
		}
		if a.Mesh.IsBaseline() {
			if a.MTLS != MTLSOff {
				v.errorf(at+".mtls", "remove mtls, or pick a mesh for this arm", "a baseline arm has no proxies to do mTLS")
			}
			if a.DataPlane != "" {
				v.errorf(at+".data_plane", "remove data_plane, or pick a mesh for this arm", "a baseline arm has no data plane")
			}
			if a.ProxyConcurrency != 0 {
				v.errorf(at+".proxy_concurrency", "remove proxy_concurrency, or pick a mesh for this arm", "a baseline arm has no proxies")
			}
		}
	}
	if p.Baseline != "" {
		if _, ok := names[p.Baseline]; !ok {
			v.errorf("baseline", "use one of: "+strings.Join(armNames(p.Arms), ", "), "no arm is named %q", p.Baseline)
		}
	}
}

func armNames(arms []Arm) []string {
	out := make([]string, len(arms))
	for i, a := range arms {
		out[i] = a.Name
	}
	return out
}

func meshList(ms []MeshType) string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

func (v *validator) armOnPlatform(at string, a Arm, platform Platform) {
	switch platform {
	case PlatformLocal:
		if !slices.Contains(localMeshes, a.Mesh) {
			v.errorf(at+".mesh", "on the local platform use one of: "+meshList(localMeshes)+"; or set environment.platform: kubernetes",
				"mesh %s runs on Kubernetes, not on the local platform", a.Mesh)
		}
		if a.DataPlane != "" && a.DataPlane != DataPlaneSidecar {
			v.errorf(at+".data_plane", "use sidecar (or remove data_plane) on the local platform",
				"the local platform runs sidecars only, not %s", a.DataPlane)
		}
		if a.Injection != "" {
			v.errorf(at+".injection", "remove injection: the local platform starts its sidecars itself",
				"injection applies to Kubernetes only")
		}
		if !a.Mesh.IsBaseline() && v.p.Workload.Protocol == ProtocolH2 {
			v.errorf("workload.protocol", "use protocol h2c: on the local platform the sidecars carry h2c from the apps and add mTLS between themselves",
				"protocol h2 (HTTP/2 over TLS from the client) does not combine with local sidecars (arm %s)", a.Name)
		}
		if !a.Mesh.IsBaseline() && v.p.Workload.Internal != nil && !*v.p.Workload.Internal && v.p.Workload.Entry.Via != EntryGateway {
			v.errorf("workload.internal", "remove internal: false on the local platform",
				"on the local platform the load generator always sends through a client sidecar (arm %s)", a.Name)
		}
	case PlatformKubernetes:
		if !slices.Contains(kubernetesMeshes, a.Mesh) {
			fix := "on Kubernetes use one of: " + meshList(kubernetesMeshes)
			if slices.Contains(localMeshes, a.Mesh) {
				fix += "; or set environment.platform: local"
			}
			v.errorf(at+".mesh", fix, "smp has no Kubernetes profile for mesh %s", a.Mesh)
		}
		switch a.DataPlane {
		case DataPlaneAmbient:
			if a.Mesh != MeshIstio {
				v.errorf(at+".data_plane", "ambient is Istio's mode; use sidecar for "+string(a.Mesh), "mesh %s has no ambient mode", a.Mesh)
			}
		case DataPlaneNode:
			if a.Mesh != MeshCilium {
				v.errorf(at+".data_plane", "node proxies are Cilium's mode; use sidecar for "+string(a.Mesh), "mesh %s has no node-proxy mode", a.Mesh)
			}
		case DataPlaneSidecar:
			if a.Mesh == MeshCilium {
				v.errorf(at+".data_plane", "use data_plane: node for cilium", "cilium has no sidecars")
			}
		}
		if a.Injection != "" && a.DataPlane != DataPlaneSidecar {
			v.errorf(at+".injection", "remove injection", "injection applies to sidecar data planes only")
		}
	}
}

func (v *validator) workload() {
	w := &v.p.Workload
	g := w.LoadGenerator
	rate := 0.0
	if w.Rate != nil {
		rate = *w.Rate
	}
	if rate < 0 {
		v.errorf("workload.rate", "use 0 for closed loop or a positive rate", "rate must not be negative, got %g rps", rate)
	}
	v.rateBound("workload.rate", rate)
	if w.Connections < 1 || w.Connections > 100000 {
		v.errorf("workload.connections", "use 1 to 100000", "connections must be between 1 and 100000, got %d", w.Connections)
	}
	if w.Streams < 1 || w.Streams > 10000 {
		v.errorf("workload.streams", "use 1 to 10000", "streams must be between 1 and 10000, got %d", w.Streams)
	} else if w.Streams > 1 && w.Protocol != ProtocolH2 && w.Protocol != ProtocolH2C && w.Protocol != ProtocolGRPC {
		v.errorf("workload.streams", "set protocol: h2, h2c or grpc, or streams: 1",
			"%s has one request per connection at a time; streams apply to HTTP/2 and gRPC", w.Protocol)
	}
	if c := w.ErrorCeiling; c != nil && !(*c >= 0 && *c <= 1) {
		v.errorf("workload.error_ceiling", "use a fraction between 0 and 1, e.g. 0.1 for 10%", "error_ceiling must be between 0 and 1, got %g", *c)
	}
	if w.MaxInflight < 1 {
		v.errorf("workload.max_inflight", "use a positive number, e.g. 10000", "max_inflight must be positive, got %d", w.MaxInflight)
	}
	if w.Duration.D() < 100*time.Millisecond {
		v.errorf("workload.duration", "use at least 100ms, e.g. 30s", "duration %s is too short to measure", w.Duration)
	}
	v.durationBound("workload.duration", w.Duration, MaxDuration, "use repetitions for longer runs")
	if w.Warmup != nil {
		v.durationBound("workload.warmup", *w.Warmup, MaxDuration, "a warm-up of minutes is enough to reach a steady state")
	}
	v.durationBound("workload.timeout", w.Timeout, MaxTimeout, "latencies are recorded up to 1h (values above are clamped)")
	if w.KeepAlive != nil && !*w.KeepAlive && w.Protocol != ProtocolHTTP1 && w.Protocol != ProtocolTCP {
		v.errorf("workload.keep_alive", "use protocol http/1.1 or tcp to measure handshakes, or keep_alive: true",
			"keep_alive false applies to HTTP/1.1 and TCP; %s multiplexes requests over one connection", w.Protocol)
	}
	if w.Protocol == ProtocolTCP {
		v.tcp()
	}
	if w.Timeout.D() <= 0 {
		v.errorf("workload.timeout", "use a positive duration, e.g. 10s", "timeout must be positive")
	}
	if w.Body != "" && w.BodyFile != "" {
		v.errorf("workload.body_file", "keep either body or body_file", "body and body_file are both set")
	}
	if w.RequestSize > 0 && (w.Body != "" || w.BodyFile != "") {
		v.errorf("workload.request_size", "keep either request_size (a generated body) or body", "request_size and a body are both set")
	}
	if w.Method != "" && !headerToken.MatchString(w.Method) {
		v.errorf("workload.method", "use an HTTP method such as GET or POST", "%q is not an HTTP method", w.Method)
	}
	if w.Path != "" && !strings.HasPrefix(w.Path, "/") {
		v.errorf("workload.path", "start the path with '/', e.g. /productpage", "path %q does not start with '/'", w.Path)
	}
	for _, k := range sortedKeys(w.Headers) {
		if !headerToken.MatchString(k) {
			v.errorf("workload.headers."+k, "use a header name without spaces or ':'", "%q is not a valid header name", k)
		}
		if strings.ContainsAny(w.Headers[k], "\r\n") {
			v.errorf("workload.headers."+k, "remove the line break", "header value contains a line break")
		}
	}
	for i, u := range w.EndpointURLs {
		v.url(fmt.Sprintf("workload.endpoint_urls[%d]", i), u)
	}
	if w.App.Kind == AppExternal && len(w.EndpointURLs) == 0 && !v.armsHaveURLs() {
		v.errorf("workload.endpoint_urls", "list the URL(s) to load, e.g. endpoint_urls: [http://host:8080/]",
			"app.kind is external but there is nothing to send load to")
	}
	if w.App.Kind != AppExternal && len(w.EndpointURLs) > 0 {
		v.errorf("workload.endpoint_urls", "remove endpoint_urls to load the deployed app, or remove app (it becomes external)",
			"endpoint_urls point at an external target, but app.kind is %s", w.App.Kind)
	}
	v.app()
	v.entry()
	v.arrival(rate)
	v.generator(g, rate)
	if w.Agents < 0 {
		v.errorf("workload.agents", "use 0 to run the load in smp itself, or a positive number", "agents must not be negative")
	}
	if w.Agents > 0 && g != GeneratorBuiltin {
		v.errorf("workload.agents", "use load_generator: builtin with agents", "agents run smp's own engine, not %s", g)
	}
	v.agents()
	if w.TLS.CertFile != "" && w.TLS.KeyFile == "" || w.TLS.CertFile == "" && w.TLS.KeyFile != "" {
		v.errorf("workload.tls", "set both cert_file and key_file for a client certificate", "a client certificate needs both cert_file and key_file")
	}
	if w.Protocol != ProtocolGRPC && (w.GRPC.Method != "" || w.GRPC.Service != "") {
		v.errorf("workload.grpc", "set protocol: grpc, or remove grpc", "grpc settings apply to protocol grpc only")
	}
	if w.GRPC.Method == GRPCEcho && w.App.Kind != AppBuiltin && w.App.Kind != AppExternal {
		v.errorf("workload.grpc.method", "use method: health for "+string(w.App.Kind), "the echo method exists only in smp's builtin app, not in %s", w.App.Kind)
	}
	for i, r := range w.Mix {
		at := fmt.Sprintf("workload.mix[%d]", i)
		if r.Weight < 0 {
			v.errorf(at+".weight", "use a positive weight", "weight must not be negative")
		}
		if !strings.HasPrefix(r.Path, "/") {
			v.errorf(at+".path", "start the path with '/'", "path %q does not start with '/'", r.Path)
		}
		if r.Method != "" && !headerToken.MatchString(r.Method) {
			v.errorf(at+".method", "use an HTTP method such as GET or POST", "%q is not an HTTP method", r.Method)
		}
	}
	for i, r := range w.Mix {
		if r.RequestSize > 0 && r.Body != "" {
			v.errorf(fmt.Sprintf("workload.mix[%d].request_size", i), "keep either request_size (a generated body) or body",
				"a mix entry has both request_size and a body")
		}
	}
	v.findMax()
	if w.AdditionalOptions != "" && g == GeneratorBuiltin {
		v.errorf("workload.additional_options", "remove additional_options, or choose a generator that takes them (fortio, nighthawk)",
			"the builtin generator takes no additional options")
	}
}

// agents checks where the load agents are and how smp reaches them.
func (v *validator) agents() {
	w := &v.p.Workload
	for i, a := range w.AgentURLs {
		if !agentAddress(a) {
			v.errorf(fmt.Sprintf("workload.agent_urls[%d]", i), "write host:port or https://host:port, e.g. 10.0.0.3:7070",
				"%q is not an agent address", a)
		}
	}
	if len(w.AgentURLs) > 0 && w.Agents != len(w.AgentURLs) {
		v.errorf("workload.agents", "remove agents (it defaults to the number of agent_urls), or list that many agent_urls",
			"agents is %d but %d agent_urls are listed", w.Agents, len(w.AgentURLs))
	}
	if len(w.AgentURLs) > 0 && w.AgentCerts == "" {
		v.errorf("workload.agent_urls", "set agent_certs to the folder `smp agent certs` wrote",
			"agent_urls need agent_certs: agents take orders only from a controller that authenticates")
	}
	if w.AgentCerts != "" && len(w.AgentURLs) == 0 {
		v.errorf("workload.agent_certs", "list the agents in agent_urls, or remove agent_certs",
			"agent_certs are for agent_urls, and none are listed")
	}
	if w.ReachTimeout != 0 && w.Agents == 0 { // the parser refuses a negative duration
		v.errorf("workload.reach_timeout", "set agents, or remove reach_timeout",
			"reach_timeout is how long load agents wait for the target, and there are none")
	}
	v.durationBound("workload.reach_timeout", w.ReachTimeout, MaxDuration, "a Service that does not route within minutes will not")
	if w.Agents > 0 && w.Connections < w.Agents {
		v.errorf("workload.connections", fmt.Sprintf("use at least %d connections, or fewer agents", w.Agents),
			"each of the %d agents needs a connection of its own, and connections is %d", w.Agents, w.Connections)
	}
}

// agentAddress reports whether s is host:port or https://host:port (with nothing after
// the port but an optional '/').
func agentAddress(s string) bool {
	rest, ok := strings.CutPrefix(s, "https://")
	if !ok && strings.Contains(s, "://") {
		return false
	}
	rest = strings.TrimSuffix(rest, "/")
	host, port, err := net.SplitHostPort(rest)
	if err != nil || host == "" || strings.ContainsAny(host, "/?#@") {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n < 65536
}

func (v *validator) armsHaveURLs() bool {
	for _, a := range v.p.Arms {
		if len(a.EndpointURLs) == 0 {
			return false
		}
	}
	return len(v.p.Arms) > 0
}

func (v *validator) url(path, raw string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		v.errorf(path, "write a full URL such as http://host:8080/path", "%q is not a URL with a host", raw)
		return
	}
	switch u.Scheme {
	case "http", "https", "h2c", "h2", "grpc", "grpcs", "tcp":
	default:
		v.errorf(path, "use http://, https://, h2c://, grpc://, grpcs:// or tcp://", "unsupported URL scheme %q", u.Scheme)
		return
	}
	want := map[string][]Protocol{
		"http": {ProtocolHTTP1, ProtocolH2C}, "https": {ProtocolHTTP1, ProtocolH2},
		"h2c": {ProtocolH2C}, "h2": {ProtocolH2}, "grpc": {ProtocolGRPC}, "grpcs": {ProtocolGRPC}, "tcp": {ProtocolTCP},
	}[u.Scheme]
	if pr := v.p.Workload.Protocol; !slices.Contains(want, pr) {
		v.errorf(path, fmt.Sprintf("set workload.protocol to %s, or change the URL's scheme", want[0]),
			"a %s:// URL does not fit protocol %s", u.Scheme, pr)
	}
}

// localProxies are the proxies the local platform runs, as sidecars and as gateways.
var localProxies = []MeshType{MeshBuiltin, MeshHAProxy, MeshNginx, MeshEnvoy}

// entry checks workload.entry: a gateway of one kind for every arm locally, a gateway
// that exists on Kubernetes.
func (v *validator) entry() {
	w := &v.p.Workload
	e := w.Entry
	if e.Via != EntryGateway {
		for field, set := range map[string]bool{"proxy": e.Proxy != "", "service": e.Service != "", "gateway": e.Gateway != ""} {
			if set {
				v.errorf("workload.entry."+field, "set entry: {via: gateway}, or remove it", "%s applies to entry via gateway", field)
			}
		}
		return
	}
	if w.Internal != nil && *w.Internal {
		v.errorf("workload.internal", "remove internal: true: a client of the gateway is outside the mesh",
			"entry via gateway sends the load from outside the mesh, so it cannot be internal")
	}
	if w.App.Kind == AppExternal {
		v.errorf("workload.entry", "point endpoint_urls at your gateway, and remove entry",
			"entry via gateway puts a gateway in front of an app smp deploys; an external app is reached at its endpoint_urls")
	}
	if w.Protocol == ProtocolH2 {
		v.errorf("workload.protocol", "use protocol h2c with entry via gateway", "smp routes plaintext through the gateway, not h2 over TLS")
	}
	switch v.p.Environment.Platform {
	case PlatformLocal:
		for field, set := range map[string]bool{"service": e.Service != "", "gateway": e.Gateway != ""} {
			if set {
				v.errorf("workload.entry."+field, "remove it; locally set entry.proxy (builtin, haproxy, nginx or envoy)",
					"%s names a Kubernetes gateway; on the local platform smp starts the gateway itself", field)
			}
		}
		if e.Proxy != "" && !slices.Contains(localProxies, e.Proxy) {
			v.errorf("workload.entry.proxy", "use one of: "+meshList(localProxies), "%s is not a proxy the local platform runs", e.Proxy)
		}
		if e.Proxy == "" {
			if kinds := v.meshKinds(); len(kinds) > 1 {
				v.errorf("workload.entry", "set entry: {via: gateway, proxy: <one of them>}: every arm, the baseline too, then gets that gateway",
					"the mesh arms use %s: the baseline's gateway would have to be one of them", meshList(kinds))
			}
		}
	case PlatformKubernetes:
		if e.Proxy != "" {
			v.errorf("workload.entry.proxy", "remove it; on Kubernetes name the gateway with entry.service or entry.gateway",
				"proxy chooses the gateway smp starts on the local platform")
		}
		switch {
		case e.Service == "" && e.Gateway == "":
			v.errorf("workload.entry", "set entry.service: istio-system/istio-ingressgateway:80, or entry.gateway: <namespace>/<Gateway>",
				"entry via gateway on Kubernetes needs the gateway to send through")
		case e.Service != "" && e.Gateway != "":
			v.errorf("workload.entry.gateway", "keep either service or gateway", "entry.service and entry.gateway are both set")
		case e.Service != "" && !gatewayService.MatchString(e.Service):
			v.errorf("workload.entry.service", "write namespace/name:port, e.g. istio-system/istio-ingressgateway:80",
				"%q is not a Service as namespace/name:port", e.Service)
		case e.Gateway != "" && !gatewayName.MatchString(e.Gateway):
			v.errorf("workload.entry.gateway", "write namespace/name, e.g. gateway-system/smp", "%q is not a Gateway as namespace/name", e.Gateway)
		}
	}
}

var (
	gatewayService = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9]*[a-z0-9])?:[0-9]{1,5}$`)
	gatewayName    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
)

// meshKinds are the distinct meshes of the plan's mesh arms, in order.
func (v *validator) meshKinds() []MeshType {
	var out []MeshType
	for _, a := range v.p.Arms {
		if !a.Mesh.IsBaseline() && !slices.Contains(out, a.Mesh) {
			out = append(out, a.Mesh)
		}
	}
	return out
}

// tcp checks a TCP echo workload: a message of bytes and nothing of HTTP.
func (v *validator) tcp() {
	w := &v.p.Workload
	const fix = "remove it: a TCP echo sends request_size (or body) bytes and reads them back"
	for field, set := range map[string]bool{"method": w.Method != "", "headers": len(w.Headers) > 0,
		"cookies": len(w.Cookies) > 0, "content_type": w.ContentType != "", "mix": len(w.Mix) > 0} {
		if set {
			v.errorf("workload."+field, fix, "%s applies to HTTP, not to protocol tcp", field)
		}
	}
	if w.RequestSize > 64<<20 {
		v.errorf("workload.request_size", "use at most 64MiB", "a TCP message of %s is larger than 64MiB", w.RequestSize)
	}
	a := w.App
	switch {
	case a.Kind == AppBuiltin:
		if a.Topology == TopologyFanout && a.Services > 1 {
			v.errorf("workload.app.topology", "use topology: chain with protocol tcp",
				"a TCP stream is relayed along a chain; it cannot fan out (the services would need framing)")
		}
		for field, set := range map[string]bool{"cpu_time": a.CPUTime != 0, "delay": a.Delay != 0} {
			if set {
				v.errorf("workload.app."+field, "remove it with protocol tcp",
					"%s is work per request; a TCP echo relays bytes without framing them into requests", field)
			}
		}
		if v.p.Environment.Platform == PlatformKubernetes && w.Agents == 0 {
			v.errorf("workload.agents", "set workload.agents: 1 (or more) with protocol tcp on Kubernetes",
				"on Kubernetes TCP load runs in smp agent pods (fortio's server in the load pod speaks HTTP)")
		}
	case a.Kind != AppExternal:
		v.errorf("workload.protocol", "use app: builtin, or load a TCP echo server through endpoint_urls: [tcp://host:port]",
			"the %s app serves no TCP echo", a.Kind)
	}
}

// shape checks a shape topology: its services, sizes and protocols are the shape's.
func (v *validator) shape() {
	w := &v.p.Workload
	a := &w.App
	n := a.Topology.ShapeServices()
	if n == 0 {
		return
	}
	const fix = "remove %s: the %s brings its own; or use topology: chain"
	// services: N equal to the shape's own count is what a plan's JSON form says
	// (smp writes the defaults out), so it is accepted; any other count is an error.
	if a.Services != n {
		v.errorf("workload.app.services", fmt.Sprintf(fix, "services", a.Topology),
			"the %s has %d services in its own graph, not %d", a.Topology, n, a.Services)
	}
	if a.ResponseSize != nil {
		v.errorf("workload.app.response_size", fmt.Sprintf(fix, "response_size", a.Topology),
			"the %s's services answer with the sizes of the application it is shaped like", a.Topology)
	}
	if w.Protocol != ProtocolHTTP1 {
		v.errorf("workload.protocol", "use protocol: http/1.1 (the shape's own services speak what they speak inside)",
			"the %s is entered over HTTP/1.1, like the application it is shaped like, not %s", a.Topology, w.Protocol)
	}
}

func (v *validator) app() {
	a := &v.p.Workload.App
	if a.Kind == AppBuiltin {
		// Locally every service is a process (and a sidecar) on this machine; a cluster
		// spreads Deployments over its nodes.
		most := 64
		if v.p.Environment.Platform == PlatformKubernetes {
			most = 500
		}
		if a.Services < 1 || a.Services > most {
			v.errorf("workload.app.services", fmt.Sprintf("use 1 to %d", most), "services must be between 1 and %d on the %s platform, got %d",
				most, v.p.Environment.Platform, a.Services)
		}
		if a.ResponseSize != nil && *a.ResponseSize > 64<<20 {
			v.errorf("workload.app.response_size", "use at most 64MiB", "response_size %s is larger than 64MiB", *a.ResponseSize)
		}
		v.shape()
	} else if a.Kind != AppExternal {
		if v.p.Environment.Platform == PlatformLocal {
			v.errorf("workload.app.kind", "use app: builtin on the local platform, or set environment.platform: kubernetes",
				"app %s runs on Kubernetes only", a.Kind)
		}
	}
	// Every app smp deploys on a cluster serves plaintext (a mesh adds mTLS between pods),
	// and no TLS listener stands in front of it there as locally (svc-1's on the
	// baseline): h2 from the load generator would meet a plaintext port in every trial.
	// (With entry via gateway, entry says so.)
	if w := v.p.Workload; a.Kind != AppExternal && v.p.Environment.Platform == PlatformKubernetes && w.Protocol == ProtocolH2 &&
		w.Entry.Via != EntryGateway {
		v.errorf("workload.protocol", "use protocol h2c: the applications smp deploys on a cluster serve HTTP/2 in cleartext, and a mesh adds its mTLS between pods",
			"protocol h2 (HTTP/2 over TLS from the load generator) needs a TLS entry, which smp deploys on the local platform only")
	}
	if a.Kind != AppBuiltin {
		for field, set := range map[string]bool{"services": a.Services != 0, "topology": a.Topology != "",
			"response_size": a.ResponseSize != nil, "cpu_time": a.CPUTime != 0, "delay": a.Delay != 0} {
			if set {
				v.errorf("workload.app."+field, "remove it, or use app: builtin", "%s applies to the builtin app only, not %s", field, a.Kind)
			}
		}
	}
	if a.Replicas < 0 || a.Replicas > 1000 {
		v.errorf("workload.app.replicas", "use 1 to 1000", "replicas must be between 1 and 1000")
	}
	if a.Replicas > 1 && v.p.Environment.Platform == PlatformLocal {
		v.errorf("workload.app.replicas", "remove replicas on the local platform", "the local platform runs one process per service")
	}
	for _, rl := range []struct {
		path string
		l    ResourceList
	}{{"workload.app.resources.requests", a.Resources.Requests}, {"workload.app.resources.limits", a.Resources.Limits}} {
		if rl.l.CPU != "" && !cpuQuantity.MatchString(rl.l.CPU) {
			v.errorf(rl.path+".cpu", "write millicores (500m) or cores (0.5)", "%q is not a CPU quantity", rl.l.CPU)
		}
	}
}

func (v *validator) arrival(rate float64) {
	a := &v.p.Workload.Arrival
	if rate == 0 && a.Pattern != PatternConstant && a.Pattern != PatternStep {
		v.errorf("workload.arrival.pattern", "set workload.rate, or use pattern: constant for closed loop",
			"pattern %s needs a rate; rate 0 is closed loop", a.Pattern)
	}
	switch a.Pattern {
	case PatternUniform:
		if a.Jitter <= 0 || a.Jitter > 0.5 {
			v.errorf("workload.arrival.jitter", "use a fraction up to 0.5, such as 0.1 (±10% of a gap)", "jitter must be in (0, 0.5], got %g", a.Jitter)
		}
	case PatternRamp:
		if a.FromRate < 0 {
			v.errorf("workload.arrival.from_rate", "use 0 or a positive rate", "from_rate must not be negative")
		}
		v.rateBound("workload.arrival.from_rate", a.FromRate)
		if a.Ramp > v.p.Workload.Duration {
			v.errorf("workload.arrival.ramp", "make the ramp at most as long as the duration", "ramp %s is longer than the duration %s", a.Ramp, v.p.Workload.Duration)
		}
	case PatternStep:
		if len(a.Steps) == 0 {
			v.errorf("workload.arrival.steps", "list steps, e.g. steps: [{rate: 100, duration: 10s}, {rate: 200, duration: 10s}]",
				"pattern step needs steps")
		}
		for i, s := range a.Steps {
			at := fmt.Sprintf("workload.arrival.steps[%d]", i)
			if s.Rate <= 0 {
				v.errorf(at+".rate", "use a positive rate", "a step's rate must be positive")
			}
			if s.Duration <= 0 {
				v.errorf(at+".duration", "give the step a duration, e.g. 10s", "a step needs a duration")
			}
			v.rateBound(at+".rate", s.Rate)
			v.durationBound(at+".duration", s.Duration, MaxDuration, "split it into shorter steps")
		}
	}
	if a.Pattern != PatternUniform && a.Jitter != 0 {
		v.errorf("workload.arrival.jitter", "remove jitter, or use pattern: uniform", "jitter applies to pattern uniform only")
	}
	if a.Pattern != PatternRamp && (a.FromRate != 0 || a.Ramp != 0) {
		v.errorf("workload.arrival", "remove from_rate and ramp, or use pattern: ramp", "from_rate and ramp apply to pattern ramp only")
	}
	if a.Pattern != PatternStep && len(a.Steps) > 0 {
		v.errorf("workload.arrival.steps", "remove steps, or use pattern: step", "steps apply to pattern step only")
	}
	v.realWorld()
}

func (v *validator) realWorld() {
	w := &v.p.Workload
	r := &w.Arrival.RealWorld
	at := "workload.arrival.realworld"
	if w.Arrival.Pattern != PatternRealWorld {
		if *r != (RealWorld{}) {
			v.errorf(at, "remove realworld, or use pattern: realworld", "realworld settings apply to pattern realworld only")
		}
		return
	}
	if r.BurstFactor != 0 && (r.BurstFactor < 1 || r.BurstFactor > 100) {
		v.errorf(at+".burst_factor", "use 1 (no bursts) to 100, e.g. 3", "burst_factor must be between 1 and 100, got %g", r.BurstFactor)
	}
	if f := r.DiurnalAmplitude; f != nil && (*f < 0 || *f >= 1) {
		v.errorf(at+".diurnal_amplitude", "use 0 (no swing) up to 0.9, e.g. 0.5", "diurnal_amplitude must be in [0, 1), got %g", *f)
	}
	if f := r.Noise; f != nil && (*f < 0 || *f > 2) {
		v.errorf(at+".noise", "use 0 (none) to 2, e.g. 0.1", "noise must be between 0 and 2, got %g", *f)
	}
	if f := r.SizeSpread; f != nil && (*f < 0 || *f > 3) {
		v.errorf(at+".size_spread", "use 0 (all bodies request_size) to 3, e.g. 0.5", "size_spread must be between 0 and 3, got %g", *f)
	}
	if f := r.Churn; f != nil && *f != 0 {
		switch {
		case *f < 0:
			v.errorf(at+".churn", "use 0 (keep connections) or a mean number of requests, e.g. 100", "churn must not be negative")
		case w.Protocol != ProtocolHTTP1:
			v.errorf(at+".churn", "use churn: 0 with "+string(w.Protocol)+", or protocol http/1.1",
				"churn applies to HTTP/1.1 connections; %s multiplexes one connection", w.Protocol)
		case w.KeepAlive != nil && !*w.KeepAlive:
			v.errorf(at+".churn", "remove churn, or set keep_alive: true", "churn needs keep_alive: without it every request opens its own connection")
		}
	}
}

// findMax checks the capacity search.
func (v *validator) findMax() {
	w := &v.p.Workload
	f := &w.FindMax
	at := "workload.find_max"
	if !f.Enabled {
		return // settings wait for enabled: true or smp run --find-max
	}
	if e := f.MaxErrorRate; e != nil && (*e < 0 || *e >= 1) {
		v.errorf(at+".max_error_rate", "write a fraction, e.g. 0.001 for 0.1%", "max_error_rate must be in [0, 1), got %g", *e)
	}
	if f.StartRate < 0 {
		v.errorf(at+".start_rate", "use a positive rate, e.g. 100", "start_rate must not be negative")
	}
	if f.MaxRate != 0 && f.MaxRate < f.StartRate {
		v.errorf(at+".max_rate", "make max_rate at least start_rate", "max_rate %g rps is below start_rate %g rps", f.MaxRate, f.StartRate)
	}
	v.rateBound(at+".start_rate", f.StartRate)
	v.rateBound(at+".max_rate", f.MaxRate)
	v.durationBound(at+".step_duration", f.StepDuration, MaxDuration, "a step of minutes is enough")
	if f.Precision != 0 && (f.Precision < 0 || f.Precision > 0.5) {
		v.errorf(at+".precision", "use a fraction up to 0.5, e.g. 0.02 (2%)", "precision must be in (0, 0.5], got %g", f.Precision)
	}
	if f.StepDuration != 0 && f.StepDuration.D() < 100*time.Millisecond {
		v.errorf(at+".step_duration", "use at least 100ms, e.g. 5s", "step_duration %s is too short to measure", f.StepDuration)
	}
	switch w.Arrival.Pattern {
	case PatternRamp, PatternStep:
		v.errorf("workload.arrival.pattern", "use constant, poisson, uniform or realworld with find_max",
			"find_max sets the rate of each step itself; pattern %s sets it too", w.Arrival.Pattern)
	}
	if w.LoadGenerator == GeneratorWrk {
		v.errorf(at, "use load_generator: builtin (or wrk2) to search for a rate", "find_max needs a generator that holds a rate; wrk is closed loop")
	}
}

// generator checks what each load generator can do (reference/loadgen.md).
func (v *validator) generator(g Generator, rate float64) {
	w := &v.p.Workload
	at := "workload.load_generator"
	switch g {
	case GeneratorWrk, GeneratorWrk2:
		if w.Protocol != ProtocolHTTP1 {
			v.errorf(at, "use load_generator: builtin or fortio for "+string(w.Protocol), "%s speaks HTTP/1.1 only, not %s", g, w.Protocol)
		}
		if g == GeneratorWrk && rate > 0 {
			v.errorf(at, "use wrk2 (or builtin) for a fixed rate, or set rate: 0", "wrk is closed loop only; it cannot hold rate %g", rate)
		}
		if g == GeneratorWrk2 && rate == 0 {
			v.errorf(at, "set a rate, or use wrk for closed loop", "wrk2 needs a rate (-R)")
		}
	case GeneratorNighthawk:
		if w.Protocol == ProtocolGRPC || w.Protocol == ProtocolTCP {
			v.errorf(at, "use builtin or fortio for "+string(w.Protocol), "nighthawk has no %s load mode", w.Protocol)
		}
		if rate == 0 {
			v.errorf(at, "set a rate; nighthawk has no max mode", "nighthawk needs a rate")
		}
	case GeneratorFortio:
		if w.Protocol == ProtocolH2C {
			v.errorf(at, "use protocol h2 or the builtin generator", "fortio does not speak h2c with prior knowledge")
		}
	}
	// fortio (-jitter) and nighthawk (--jitter-uniform) can jitter a constant rate; the
	// generators check the jitter they can produce.
	jitters := g == GeneratorFortio || g == GeneratorNighthawk
	if g != GeneratorBuiltin && w.Arrival.Pattern != PatternConstant && !(jitters && w.Arrival.Pattern == PatternUniform) {
		v.errorf("workload.arrival.pattern", "use pattern: constant with "+string(g)+", or load_generator: builtin",
			"%s cannot produce %s arrivals", g, w.Arrival.Pattern)
	}
}

func (v *validator) metrics() {
	m := &v.p.Metrics
	prev := 0.0
	for i, q := range m.Percentiles {
		at := fmt.Sprintf("metrics.percentiles[%d]", i)
		if q <= 0 || q >= 100 {
			v.errorf(at, "use a number above 0 and below 100, e.g. 99.99 (the maximum is always reported)",
				"percentile %g is out of range: percentiles lie strictly between 0 and 100", q)
		} else if q <= prev {
			v.errorf(at, "list percentiles in increasing order without repeats", "percentile %g follows %g", q, prev)
		}
		prev = q
	}
	if m.Interval.D() < 10*time.Millisecond {
		v.errorf("metrics.interval", "use at least 10ms, e.g. 1s", "interval %s is too short", m.Interval)
	}
	b := &m.Buckets
	switch b.Scheme {
	case BucketsExplicit:
		if len(b.Bounds) == 0 {
			v.errorf("metrics.buckets.bounds", "list the bucket upper bounds, e.g. [1ms, 5ms, 25ms]", "scheme explicit needs bounds")
		}
		for i := range b.Bounds {
			if b.Bounds[i] <= 0 {
				v.errorf(fmt.Sprintf("metrics.buckets.bounds[%d]", i), "use positive durations", "a bucket bound must be positive")
			} else if i > 0 && b.Bounds[i] <= b.Bounds[i-1] {
				v.errorf(fmt.Sprintf("metrics.buckets.bounds[%d]", i), "list bounds in increasing order",
					"bound %s does not increase over %s", b.Bounds[i], b.Bounds[i-1])
			}
		}
	case BucketsLog:
		if len(b.Bounds) > 0 {
			v.errorf("metrics.buckets.bounds", "remove bounds, or use scheme: explicit", "bounds apply to the explicit scheme")
		}
		if b.From < Duration(time.Microsecond) || b.To <= b.From {
			v.errorf("metrics.buckets", "use from ≥ 1us and to > from, e.g. {from: 10us, to: 10s}",
				"log buckets need 1us ≤ from < to, got from %s to %s", b.From, b.To)
		}
		if b.PerDecade < 1 || b.PerDecade > 100 {
			v.errorf("metrics.buckets.per_decade", "use 1 to 100", "per_decade must be between 1 and 100")
		}
	}
	seen := map[CollectorType]int{}
	for i, c := range m.Collectors {
		at := fmt.Sprintf("metrics.collectors[%d]", i)
		if c.Type == "" {
			v.errorf(at+".type", "set type: procfs, prometheus, envoy-admin, cadvisor or linkerd-proxy", "a collector needs a type")
			continue
		}
		if j, dup := seen[c.Type]; dup {
			v.errorf(at+".type", fmt.Sprintf("merge it with metrics.collectors[%d]", j), "collector %s is listed twice", c.Type)
		}
		seen[c.Type] = i
		if c.URL != "" {
			if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.errorf(at+".url", "write an http(s) URL, e.g. http://prometheus:9090", "%q is not an http(s) URL", c.URL)
			}
		}
		switch c.Type {
		case CollectorPrometheus:
			if c.URL == "" {
				v.errorf(at+".url", "set url: http://<prometheus>:9090", "the prometheus collector needs the server's URL")
			}
		case CollectorProcfs:
			// On Kubernetes, procfs sees only the containers of a node that is this
			// machine (scripts/kube-node): a cross-check beside a cluster-wide source.
			if v.p.Environment.Platform != PlatformLocal && !slices.ContainsFunc(m.Collectors, func(o Collector) bool {
				return o.Type == CollectorCAdvisor || o.Type == CollectorPrometheus
			}) {
				v.errorf(at+".type", "use prometheus or cadvisor on Kubernetes (procfs can only cross-check them)",
					"procfs reads local processes; it cannot see pods on other machines")
			}
		}
		if len(c.Queries) > 0 && c.Type != CollectorPrometheus {
			v.errorf(at+".queries", "remove queries, or use type: prometheus", "queries apply to the prometheus collector")
		}
		if c.TargetsFile != "" && c.Type != CollectorPrometheus {
			v.errorf(at+".targets_file", "remove targets_file, or use type: prometheus", "targets_file applies to the prometheus collector")
		}
		if c.Port < 0 || c.Port > 65535 {
			v.errorf(at+".port", "use a TCP port number", "port %d is out of range", c.Port)
		}
	}
}

func (v *validator) environment() {
	e := &v.p.Environment
	if e.Platform != PlatformKubernetes {
		if e.Kubeconfig != "" {
			v.errorf("environment.kubeconfig", "remove it, or set environment.platform: kubernetes", "kubeconfig applies to the kubernetes platform")
		}
		if e.Context != "" {
			v.errorf("environment.context", "remove it, or set environment.platform: kubernetes", "context applies to the kubernetes platform")
		}
		if e.Expect.Nodes > 1 {
			v.errorf("environment.expect.nodes", "remove it, or set environment.platform: kubernetes", "the local platform is one machine")
		}
	} else {
		if e.CPUs.LoadGenerator != "" || e.CPUs.System != "" {
			v.errorf("environment.cpus", "use environment.kubernetes.load_node_selector to separate load and app on Kubernetes",
				"CPU sets apply to the local platform")
		}
		if p := e.Kubernetes.NamespacePrefix; !dnsLabel.MatchString(p) || len(p) > 20 {
			v.errorf("environment.kubernetes.namespace_prefix", "use lower-case letters, digits and '-' (at most 20)", "%q cannot prefix a namespace name", p)
		}
	}
	for _, c := range []struct{ path, set string }{{"environment.cpus.load_generator", e.CPUs.LoadGenerator}, {"environment.cpus.system", e.CPUs.System}} {
		if c.set != "" && !cpuSet.MatchString(c.set) {
			v.errorf(c.path, "write a CPU list like 0, 1-3 or 0,2", "%q is not a CPU list", c.set)
		}
	}
	if kv := e.Expect.KubernetesVersion; kv != "" && !versionSemver.MatchString(kv) {
		v.errorf("environment.expect.kubernetes_version", "write a version or a constraint like >=1.30", "%q is not a version constraint", kv)
	}
	if e.Expect.Cores < 0 || e.Expect.Nodes < 0 {
		v.errorf("environment.expect", "use positive numbers", "expectations must not be negative")
	}
}

func (v *validator) slos() {
	names := map[string]bool{}
	for _, a := range v.p.Arms {
		names[a.Name] = true
	}
	for i, s := range v.p.SLO {
		at := fmt.Sprintf("slo[%d]", i)
		c, err := s.Parse()
		if err != nil {
			v.errorf(at+".condition", "write it like \"latency.p99 < 25ms\" or \"error_rate < 0.1%\"", "%v", err)
			continue
		}
		if c.Overhead && v.p.Baseline == "" {
			v.errorf(at+".condition", "add a baseline arm (mesh: none) or set baseline: <arm>", "an overhead condition needs a baseline arm")
		}
		for j, a := range s.Arms {
			if !names[a] {
				v.errorf(fmt.Sprintf("%s.arms[%d]", at, j), "use one of: "+strings.Join(armNames(v.p.Arms), ", "), "no arm is named %q", a)
			}
		}
	}
}
