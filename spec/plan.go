package spec

// APIVersion is the plan format this package reads and writes.
const APIVersion = "smp.dev/v1alpha1"

// Plan is a test plan: which configurations (arms) to compare, what load to apply, what
// to measure, where, how often, and what counts as a pass.
//
// (For Go users: zero values mean "default". WithDefaults fills them in; the defaults are
// also in each field's `default` tag, and a test keeps the two in step. Fields whose zero
// value is meaningful and differs from the default, such as rate 0 = closed loop, are
// pointers.)
type Plan struct {
	// Version of the plan format.
	APIVersion string `json:"api_version,omitempty" default:"smp.dev/v1alpha1" alias:"apiVersion"`
	// Version of the SMP spec the plan follows (SMP's smp_version). Recorded, not interpreted.
	SMPVersion string `json:"smp_version,omitempty" alias:"smpVersion"`
	// Identifier of the test (SMP's id). The result document links to it.
	ID string `json:"id,omitempty"`
	// Name of the test; used in result file names. Default: the plan's file name.
	Name string `json:"name,omitempty"`
	// What the test is for, in a sentence.
	Description string `json:"description,omitempty"`
	// Free-form labels, copied into the result (and onto Kubernetes objects).
	Labels map[string]string `json:"labels,omitempty"`
	// The configurations to compare. A string is a shorthand for {mesh: <string>}.
	// Default: a single baseline arm.
	Arms []Arm `json:"arms,omitempty"`
	// Name of the arm the others are compared with. Default: the first arm whose mesh is none.
	Baseline string `json:"baseline,omitempty"`
	// The load and the application it is applied to.
	Workload Workload `json:"workload,omitzero"`
	// What is measured and how it is summarised.
	Metrics Metrics `json:"metrics,omitzero"`
	// Where the system under test runs, and what the environment is expected to be.
	Environment Environment `json:"environment,omitzero"`
	// How many times each arm is measured, each time deployed afresh, for
	// workload.duration, interleaved with the other arms. Two or more give every
	// difference an interval and a verdict (five tell a 25% change of p50 from noise
	// where three often cannot); with one, an arm's figures have no spread between runs
	// to be judged against, and get no verdict.
	Repetitions int `json:"repetitions,omitempty" default:"5"`
	// Order of trials across arms.
	Order Order `json:"order,omitempty" default:"interleaved"`
	// Seed for everything random in the plan (random order, arrival processes).
	Seed int64 `json:"seed,omitempty" default:"1"`
	// Pass/fail conditions, e.g. "latency.p99 < 25ms" or "overhead.latency.p99 < 5ms".
	// A string is a shorthand for {condition: <string>}.
	SLO []SLO `json:"slo,omitempty"`
	// Where results are written.
	Output Output `json:"output,omitzero"`

	src     *source  // positions of the decoded fields; nil for plans built in code
	secrets []string // what ${env:…} and ${file:…} references resolved to (Secrets)
}

// Arm is one configuration of the system under test.
type Arm struct {
	// Name of the arm (a DNS label: lower case, digits, '-'). Default: "baseline" for mesh
	// none, else the mesh type.
	Name string `json:"name,omitempty"`
	// What is in the data path. SMP's mesh enum is accepted by name or number (ISTIO, 3).
	Mesh MeshType `json:"mesh,omitempty" default:"none" alias:"type"`
	// Version of the mesh, as installed (Kubernetes) or as found on PATH (local).
	Version string `json:"version,omitempty"`
	// Where the proxies run. Default: node for cilium, sidecar otherwise; none with an
	// external app (smp did not deploy it, so only what the plan says is recorded).
	DataPlane DataPlane `json:"data_plane,omitempty" alias:"mode"`
	// How sidecars are injected (Kubernetes). Default: namespace.
	Injection Injection `json:"injection,omitempty"`
	// mTLS between proxies. Default: strict for meshes, off for none; with an external app,
	// none for meshes (smp did not configure it, so only what the plan says is recorded).
	MTLS MTLSMode `json:"mtls,omitempty"`
	// Worker threads per proxy (Envoy --concurrency, HAProxy nbthread, nginx
	// worker_processes, builtin GOMAXPROCS). 0 leaves the proxy's own default, which is
	// recorded in the result.
	ProxyConcurrency int `json:"proxy_concurrency,omitempty"`
	// Where this arm is reached when nothing is deployed (overrides workload.endpoint_urls);
	// may hold ${env:NAME} or ${file:PATH} references.
	EndpointURLs []string `json:"endpoint_urls,omitempty"`
	// Labels for this arm (SMP ServiceMesh.labels); added to the arm's namespace on Kubernetes.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations (SMP ServiceMesh.annotations); added to the arm's namespace on Kubernetes.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Mesh-specific settings, recorded in the result (e.g. {profile: ambient}).
	Settings map[string]string `json:"settings,omitempty"`
}

// Workload is the load and the application it is applied to.
type Workload struct {
	// The application under test. A string is a shorthand for {kind: <string>}.
	App App `json:"app,omitzero"`
	// What the load generator speaks. SMP's enum is accepted (PROTOCOL_HTTP, 1).
	Protocol Protocol `json:"protocol,omitempty" default:"http/1.1"`
	// Total requests per second across all connections (SMP's rps). 0 = closed loop: each
	// connection sends its next request as soon as the previous one completes.
	Rate *float64 `json:"rate,omitempty" default:"1000" alias:"rps,qps"`
	// The arrival process of an open-loop run. A string is a shorthand for {pattern: <string>}.
	Arrival Arrival `json:"arrival,omitzero"`
	// Connections the load generator opens (SMP's connections).
	Connections int `json:"connections,omitempty" default:"16" alias:"concurrency"`
	// Concurrent streams per connection (HTTP/2 and gRPC).
	Streams int `json:"streams,omitempty" default:"1"`
	// Requests that may be due but not yet sent; beyond it, scheduled requests are skipped
	// and counted as overflow so memory cannot grow without bound.
	MaxInflight int `json:"max_inflight,omitempty" default:"10000"`
	// The highest share of failed requests (overflow included) a trial may have and still
	// count as a measurement, as a fraction (0.1 = 10%). A trial above it, or in which no
	// request succeeded, fails the run: smp exits 1 and says which. SLO conditions on
	// error_rate are the finer gate (exit 3).
	ErrorCeiling *float64 `json:"error_ceiling,omitempty" default:"0.1"`
	// Accept an open-loop trial that did not hold its rate (requests skipped as overflow,
	// sent late, or fewer than asked). By default such a run measured something other than
	// what was asked: smp says which trial and why, and exits 4.
	AllowRateMiss bool `json:"allow_rate_miss,omitempty"`
	// How long the measured phase lasts (SMP's duration).
	Duration Duration `json:"duration,omitempty" default:"30s"`
	// A phase before measurement with the same schedule; its samples are kept apart.
	Warmup *Duration `json:"warmup,omitempty" default:"5s"`
	// Time allowed for one request before it counts as a timeout.
	Timeout Duration `json:"timeout,omitempty" default:"10s"`
	// Reuse connections. false opens a new TCP (and TLS) connection per request, which
	// measures the handshake cost.
	KeepAlive *bool `json:"keep_alive,omitempty" default:"true" alias:"keepalive"`
	// HTTP method. Default: POST when there is a body, else GET.
	Method string `json:"method,omitempty"`
	// Request path on the application's entry service (ignored with endpoint_urls, whose
	// URLs carry their own path).
	Path string `json:"path,omitempty" default:"/"`
	// Request headers. A value may take a secret from the environment or a file:
	// "Bearer ${env:API_TOKEN}", "${file:secrets/key}" (docs/plan.md#secrets). Secret
	// values (Authorization, Cookie, tokens, keys, referenced values) are redacted from
	// results and output.
	Headers map[string]string `json:"headers,omitempty"`
	// Request cookies (SMP's cookies). Values may be ${env:NAME} or ${file:PATH}
	// references; all are redacted from results and output.
	Cookies map[string]string `json:"cookies,omitempty"`
	// Request body.
	Body string `json:"body,omitempty"`
	// File whose content is the request body (relative to the plan).
	BodyFile string `json:"body_file,omitempty"`
	// Content-Type of the body (SMP's content_type).
	ContentType string `json:"content_type,omitempty"`
	// Size of a generated request body, when body and body_file are empty.
	RequestSize Size `json:"request_size,omitempty" alias:"payload_size"`
	// Target URLs when the application is already running somewhere (SMP's endpoint_urls).
	// Setting them makes app.kind external: smp deploys nothing. A URL may take its
	// userinfo or a token from ${env:NAME} or ${file:PATH}; userinfo and token
	// parameters are redacted from results and output.
	EndpointURLs []string `json:"endpoint_urls,omitempty" alias:"endpoint_url,url,urls"`
	// The load generator (SMP's load_generator).
	LoadGenerator Generator `json:"load_generator,omitempty" default:"builtin" alias:"generator"`
	// Generator-specific options as JSON, passed through (SMP's additional_options).
	AdditionalOptions string `json:"additional_options,omitempty"`
	// Load agents to spread the load over. 0 runs the generator inside smp itself.
	// Default: the number of agent_urls.
	Agents int `json:"agents,omitempty"`
	// Running load agents (`smp agent`) to spread the load over, as host:port or
	// https://host:port. Without them smp starts the agents itself: in its own process
	// on the local platform, as pods on Kubernetes.
	AgentURLs []string `json:"agent_urls,omitempty"`
	// Folder written by `smp agent certs` holding what smp authenticates to agent_urls
	// with (ca.pem, smp-controller.pem, smp-controller-key.pem, and token when the
	// agents require one). Relative to the plan.
	AgentCerts string `json:"agent_certs,omitempty"`
	// How long the load agents may take, before each trial, to have one request of their
	// share succeed: a Service routes some time after its pods are ready (kube-proxy or
	// the mesh programs the node later), and a trial should not measure that. Each attempt
	// waits up to timeout. Past it the trial fails with what the last request met. Only
	// with agents, where it defaults to 2m.
	ReachTimeout Duration `json:"reach_timeout,omitempty"`
	// The load generator is part of the mesh (SMP's internal): on mesh arms its requests go
	// through a client-side proxy, as a meshed client's would. Default: true, false with
	// entry gateway (SMP's "internal: false" is a client that enters through the gateway).
	Internal *bool `json:"internal,omitempty"`
	// Where the load enters the system under test: directly at the first service, or
	// through an ingress gateway in front of it, on every arm. A string is a shorthand
	// for {via: <string>}.
	Entry Entry `json:"entry,omitzero"`
	// TLS towards the target (for https and h2, or a TLS-terminating endpoint).
	TLS TLS `json:"tls,omitzero"`
	// gRPC settings.
	GRPC GRPC `json:"grpc,omitzero"`
	// A weighted mix of requests; when set it replaces method/path/body for each request.
	Mix []Request `json:"mix,omitempty"`
	// Search for the highest rate each arm sustains within an SLO, instead of measuring
	// it once at workload.rate (also `smp run --find-max`).
	FindMax FindMax `json:"find_max,omitzero"`
}

// Entry is where the load enters the system under test. Through a gateway, every arm gets
// the same kind of ingress proxy in front of its first service, the baseline too (without
// a mesh behind it), so that the difference between arms stays the mesh's cost; the load
// generator is outside the mesh (internal: false), as a real client of the gateway is.
type Entry struct {
	// direct: the load generator sends to the first service (through its own client
	// sidecar on mesh arms, when internal). gateway: it sends to an ingress gateway, which
	// forwards to the first service (with the mesh's mTLS on mesh arms).
	Via EntryVia `json:"via,omitempty" default:"direct"`
	// Local platform: the proxy that runs the gateway (builtin, haproxy, nginx, envoy).
	// Default: each mesh arm's own proxy, and for the baseline the proxy the mesh arms
	// share (builtin when there is no mesh arm); set it when mesh arms use different ones.
	Proxy MeshType `json:"proxy,omitempty"`
	// Kubernetes: the ingress gateway's Service, as namespace/name:port (e.g.
	// istio-system/istio-ingressgateway:80); smp routes its host to each arm's first
	// service (an Istio Gateway and VirtualService). One of service and gateway is needed.
	Service string `json:"service,omitempty"`
	// Kubernetes: a Gateway API Gateway, as namespace/name; smp attaches an HTTPRoute
	// (TCPRoute for protocol tcp) to it for each arm's first service and sends to the
	// Gateway's address.
	Gateway string `json:"gateway,omitempty"`
}

// FindMax is a capacity search: for each arm, short open-loop steps at rising rates
// (doubling from start_rate until a step breaks the SLO, then bisecting between the last
// good and the first bad rate) find the highest rate that holds the SLO. A step breaks it
// when its p99 latency is above p99, more than max_error_rate of its requests fail, or
// the load generator could not send the rate (requests skipped, or under 95% sent).
// Defaults apply when enabled.
type FindMax struct {
	// Run the search.
	Enabled bool `json:"enabled,omitempty"`
	// Highest p99 latency a step may have. Default 25ms.
	P99 Duration `json:"p99,omitempty"`
	// Highest share of failed requests a step may have, as a fraction (0.001 = 0.1%).
	// Default 0.001.
	MaxErrorRate *float64 `json:"max_error_rate,omitempty"`
	// First rate tried, requests per second. Default 100.
	StartRate float64 `json:"start_rate,omitempty"`
	// Highest rate tried; the search reports "at least" this when it still holds.
	// Default 1000000.
	MaxRate float64 `json:"max_rate,omitempty"`
	// The search stops when the highest good and the lowest bad rate are this close,
	// relative to the good one. Default 0.02.
	Precision float64 `json:"precision,omitempty"`
	// Measured length of each step. Default 5s.
	StepDuration Duration `json:"step_duration,omitempty"`
	// Warm-up before each step, at the step's rate. Default 1s.
	StepWarmup *Duration `json:"step_warmup,omitempty"`
}

// App is the application under test.
type App struct {
	// Which application. Default: external when endpoint_urls are set, else builtin.
	Kind AppKind `json:"kind,omitempty" alias:"name"`
	// Number of services of the builtin app.
	Services int `json:"services,omitempty" default:"3"`
	// How the builtin app's services call each other.
	Topology Topology `json:"topology,omitempty" default:"chain"`
	// Bytes each builtin service returns (0: an empty body).
	ResponseSize *Size `json:"response_size,omitempty" default:"1KiB"`
	// CPU time each builtin service burns per request (simulated work).
	CPUTime Duration `json:"cpu_time,omitempty"`
	// Delay each builtin service adds per request (simulated I/O wait).
	Delay Duration `json:"delay,omitempty"`
	// Pods per service (Kubernetes).
	Replicas int `json:"replicas,omitempty" default:"1"`
	// Resource requests and limits per application container (Kubernetes).
	Resources Resources `json:"resources,omitzero"`
}

// ResponseBytes is ResponseSize in bytes (0 when unset: an app other than builtin).
func (a App) ResponseBytes() int64 {
	if a.ResponseSize == nil {
		return 0
	}
	return int64(*a.ResponseSize)
}

// Resources are Kubernetes resource requests and limits.
type Resources struct {
	Requests ResourceList `json:"requests,omitzero"`
	Limits   ResourceList `json:"limits,omitzero"`
}

// ResourceList is an amount of CPU and memory.
type ResourceList struct {
	// CPU in Kubernetes notation: "500m" or "0.5".
	CPU string `json:"cpu,omitempty"`
	// Memory: "64Mi", "256MiB", "1G".
	Memory Size `json:"memory,omitempty"`
}

// Arrival is the arrival process of an open-loop workload.
type Arrival struct {
	// The process.
	Pattern Pattern `json:"pattern,omitempty" default:"constant"`
	// Seed of the random processes. Default: the plan's seed.
	Seed int64 `json:"seed,omitempty"`
	// For uniform: each request moves by up to ±jitter of one gap from its even slot
	// (0 < jitter ≤ 0.5, so requests never swap order). Default 0.1.
	Jitter float64 `json:"jitter,omitempty"`
	// For ramp: the starting rate; the rate rises linearly to workload.rate.
	FromRate float64 `json:"from_rate,omitempty"`
	// For ramp: how long the rise takes. Default: the whole duration.
	Ramp Duration `json:"ramp,omitempty"`
	// For step: the rate in successive periods; the last one holds until the end.
	Steps []Step `json:"steps,omitempty"`
	// For realworld: how the rate moves around workload.rate (its mean over the measured
	// phase), how body sizes spread and how clients reconnect. Defaults apply with
	// pattern realworld.
	RealWorld RealWorld `json:"realworld,omitzero" alias:"real_world"`
}

// RealWorld is randomized but reproducible traffic: Poisson arrivals whose rate follows a
// smooth curve drawn from the seed (a diurnal swing, bursts and a slow wander, normalised
// so that its mean over the measured phase is workload.rate), requests drawn from
// workload.mix by weight, body sizes drawn around request_size, and connections that
// reconnect after a random number of requests. The same seed gives the same schedule; the
// result records a digest of it (docs/realworld.md).
type RealWorld struct {
	// Rate multiplier at the peak of a burst; 1 = no bursts. Default 3.
	BurstFactor float64 `json:"burst_factor,omitempty"`
	// Mean time between the starts of bursts (they start at random). Default 15s.
	BurstEvery Duration `json:"burst_every,omitempty"`
	// How long a burst lasts, rising and falling smoothly. Default 2s.
	BurstLength Duration `json:"burst_length,omitempty"`
	// One compressed day: the rate swings once around its mean over this period, from a
	// phase drawn from the seed. Default: workload.duration.
	DiurnalPeriod Duration `json:"diurnal_period,omitempty"`
	// Size of the diurnal swing, from 0 (none) to below 1: 0.5 moves the rate between 0.5×
	// and 1.5× of its mean. Default 0.5.
	DiurnalAmplitude *float64 `json:"diurnal_amplitude,omitempty"`
	// Slow random wander of the rate: σ of a log-normal with a 10s correlation time; 0 =
	// none. Default 0.1.
	Noise *float64 `json:"noise,omitempty"`
	// Spread of generated body sizes: σ of the log-normal whose median is request_size
	// (0.5: the middle 80% of bodies lie within 0.53× and 1.9× of it); 0 = all the same.
	// Default 0.5.
	SizeSpread *float64 `json:"size_spread,omitempty"`
	// Mean number of requests a connection carries before the client closes it and opens
	// another (geometric); 0 = connections last the whole run. Default: 100 for http/1.1
	// with keep-alive, 0 otherwise.
	Churn *float64 `json:"churn,omitempty"`
}

// Step is one period of a step arrival pattern.
type Step struct {
	// Requests per second in this period.
	Rate float64 `json:"rate"`
	// Length of the period.
	Duration Duration `json:"duration"`
}

// Request is one entry of a weighted request mix.
type Request struct {
	// Relative weight; requests are drawn in proportion to it.
	Weight float64 `json:"weight,omitempty" default:"1"`
	// HTTP method. Default: POST when the entry has a body, else the workload's.
	Method string `json:"method,omitempty"`
	// Request path.
	Path string `json:"path,omitempty" default:"/"`
	// Headers added to the workload's; values may be ${env:NAME} or ${file:PATH}.
	Headers map[string]string `json:"headers,omitempty"`
	// Request body.
	Body string `json:"body,omitempty"`
	// Size of a generated request body.
	RequestSize Size `json:"request_size,omitempty"`
}

// TLS configures the client side of TLS towards the target.
type TLS struct {
	// Use TLS even when the URL says http (h2 always uses TLS).
	Enabled bool `json:"enabled,omitempty"`
	// CA bundle to verify the server with (SMP's ssl_certificate).
	CAFile string `json:"ca_file,omitempty"`
	// Client certificate for mTLS.
	CertFile string `json:"cert_file,omitempty"`
	// Client key for mTLS.
	KeyFile string `json:"key_file,omitempty"`
	// Server name to send and verify. Default: the URL's host.
	ServerName string `json:"server_name,omitempty"`
	// Do not verify the server certificate.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty" alias:"insecure"`
}

// GRPC configures gRPC workloads.
type GRPC struct {
	// What to call. Default: echo for the builtin app, health otherwise.
	Method GRPCMethod `json:"method,omitempty"`
	// Service name for health checks ("" asks about the server as a whole).
	Service string `json:"service,omitempty"`
}

// Metrics says what is measured and how it is summarised.
type Metrics struct {
	// Latency percentiles to report.
	Percentiles []float64 `json:"percentiles,omitempty" default:"[50, 90, 95, 99, 99.9]"`
	// Canonical histogram buckets for display and export. A list is a shorthand for
	// {scheme: explicit, bounds: <list>}.
	Buckets Buckets `json:"buckets,omitzero"`
	// Resolution of time series and resource sampling.
	Interval Duration `json:"interval,omitempty" default:"1s"`
	// Where resource usage and proxy metrics come from. A string is a shorthand for
	// {type: <string>}. Default: procfs on the local platform, none on Kubernetes.
	Collectors []Collector `json:"collectors,omitempty"`
}

// Buckets are canonical histogram bucket boundaries.
type Buckets struct {
	// How the boundaries are chosen.
	Scheme BucketScheme `json:"scheme,omitempty" default:"log"`
	// Upper bounds of the buckets (explicit scheme), ascending.
	Bounds []Duration `json:"bounds,omitempty"`
	// Lowest boundary (log scheme).
	From Duration `json:"from,omitempty" default:"10us"`
	// Highest boundary (log scheme).
	To Duration `json:"to,omitempty" default:"10s"`
	// Boundaries per decade (log scheme).
	PerDecade int `json:"per_decade,omitempty" default:"5"`
}

// Collector is one source of resource usage and proxy metrics.
type Collector struct {
	// The kind of source.
	Type CollectorType `json:"type"`
	// Sampling interval. Default: metrics.interval.
	Interval Duration `json:"interval,omitempty"`
	// Base URL of the source (Prometheus server, cAdvisor, Envoy admin); may take
	// userinfo from ${env:NAME} or ${file:PATH}. cadvisor on Kubernetes without a url:
	// each node's kubelet (/metrics/cadvisor) through the API server's node proxy, with
	// smp's credentials.
	URL string `json:"url,omitempty"`
	// Port of a per-proxy endpoint (Envoy admin, linkerd-proxy admin). Default: the mesh's.
	Port int `json:"port,omitempty"`
	// PromQL queries by name, replacing the mesh profile's defaults (prometheus).
	Queries map[string]string `json:"queries,omitempty"`
	// Scrape job whose series are used, to avoid counting cAdvisor twice (prometheus).
	// Default: detected.
	Job string `json:"job,omitempty"`
	// File holding a bearer token sent to the source.
	BearerTokenFile string `json:"bearer_token_file,omitempty"`
	// File smp writes each trial's scrape targets into, in Prometheus's file_sd format
	// (prometheus, local platform): the local platform picks its ports at run time, so
	// the Prometheus server finds them through a file_sd_configs entry that reads this
	// file.
	TargetsFile string `json:"targets_file,omitempty"`
}

// Environment is where the system under test runs and what it is expected to be.
type Environment struct {
	// Where the application and proxies run.
	Platform Platform `json:"platform,omitempty" default:"local"`
	// kubeconfig file (Kubernetes). Default: $KUBECONFIG, else ~/.kube/config, else in-cluster.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// kubeconfig context (Kubernetes). Default: the current context.
	Context string `json:"context,omitempty"`
	// CPU sets for the load generator and the system under test (local). Default: split
	// the machine's CPUs between them when there are at least two.
	CPUs CPUPlacement `json:"cpus,omitzero"`
	// Settings for the Kubernetes platform.
	Kubernetes Kubernetes `json:"kubernetes,omitzero"`
	// What the environment should be. smp run compares it with the environment it finds
	// and records each mismatch as a warning of the result, with the expected and the
	// observed value; the run goes on.
	Expect Expectations `json:"expect,omitzero"`
}

// CPUPlacement pins processes to CPU sets ("0", "1-3", "0,2").
type CPUPlacement struct {
	// CPUs of the load generator.
	LoadGenerator string `json:"load_generator,omitempty"`
	// CPUs of the application and its proxies.
	System string `json:"system,omitempty"`
}

// Kubernetes holds settings of the Kubernetes platform.
type Kubernetes struct {
	// Prefix of the namespaces smp creates (one per arm).
	NamespacePrefix string `json:"namespace_prefix,omitempty" default:"smp"`
	// Image of smp itself (sample app and load agents). Default: the image of this version.
	Image string `json:"image,omitempty"`
	// Node labels the application must run on.
	NodeSelector map[string]string `json:"node_selector,omitempty"`
	// Node labels of a dedicated load node (tainted smp.dev/role=load:NoSchedule).
	LoadNodeSelector map[string]string `json:"load_node_selector,omitempty"`
	// Keep the load generator off the application's nodes.
	AntiAffinity *bool `json:"anti_affinity,omitempty" default:"true"`
	// Keep what was deployed after the run, for inspection.
	Keep bool `json:"keep,omitempty"`
}

// Expectations are what the environment should be. A mismatch is a warning of the
// result, not an error: the run goes on.
type Expectations struct {
	// Minimum CPU cores: of this machine, or of every node on Kubernetes.
	Cores int `json:"cores,omitempty"`
	// Minimum memory: of this machine, or of every node on Kubernetes, as the kernel
	// reports it (MemTotal, node capacity): a little less than the RAM installed.
	Memory Size `json:"memory,omitempty"`
	// Number of nodes the cluster lists (Kubernetes), exactly.
	Nodes int `json:"nodes,omitempty"`
	// Kubernetes version constraint, e.g. ">=1.30", "1.31" (any 1.31.x), "~1.31.2" or
	// "^1.30"; a distribution's suffix (-eks-…, +k3s1) does not count.
	KubernetesVersion string `json:"kubernetes_version,omitempty"`
}

// SLO is one pass/fail condition.
type SLO struct {
	// The condition: "<metric> <op> <value>", e.g. "latency.p99 < 25ms",
	// "overhead.latency.p99 < 5ms", "error_rate < 0.1%".
	Condition string `json:"condition"`
	// Arms it applies to. Default: all arms (overhead conditions: all but the baseline).
	Arms []string `json:"arms,omitempty"`
}

// Output says where results are written.
type Output struct {
	// Folder for result documents.
	Dir string `json:"dir,omitempty" default:"results"`
	// Also write a self-contained HTML report next to the result.
	HTML bool `json:"html,omitempty"`
}

// shorthand is implemented by struct types that may be written as a scalar (or a list):
// the scalar fills one field. Arms: "- istio"; collectors: "- procfs".
type shorthand interface {
	shorthandField() string
}

func (Arm) shorthandField() string       { return "mesh" }
func (App) shorthandField() string       { return "kind" }
func (Arrival) shorthandField() string   { return "pattern" }
func (Entry) shorthandField() string     { return "via" }
func (Buckets) shorthandField() string   { return "bounds" }
func (Collector) shorthandField() string { return "type" }
func (SLO) shorthandField() string       { return "condition" }

// ShorthandField reports which field a scalar written in place of a v fills ("" if none).
// The schema generator uses it to describe the shorthand forms.
func ShorthandField(v any) string {
	if s, ok := v.(shorthand); ok {
		return s.shorthandField()
	}
	return ""
}
