package result

import (
	"fmt"
	"time"

	"github.com/service-mesh-performance/smp/spec"
)

// APIVersion is the version of the result document format this package writes. Readers
// accept this version only; a newer document asks for a newer smp.
const APIVersion = "smp.dev/v1alpha1"

// Kind is the document's kind field, so that a result is never mistaken for a plan.
const Kind = "Result"

// HistogramEncoding names how Histogram.Data is encoded: HdrHistogram's V2 compressed
// form (the "HISTFAAA…" strings that the Java, C, Go and JavaScript HdrHistogram libraries
// read), base64, with values in Histogram.Unit.
const HistogramEncoding = "hdrhistogram-v2-compressed-base64"

// Document is the result of one `smp run` (or `smp load`): the plan as run, the
// environment, every trial with its full latency histogram, and the analysis.
//
// Units are in field names (_ms, _rps, _mcores, _bytes). Times are UTC.
type Document struct {
	APIVersion string            `json:"api_version"`
	Kind       string            `json:"kind"`
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Labels     map[string]string `json:"labels,omitempty"`
	// Status of the run as a whole.
	Status    Status    `json:"status"`
	StartTime time.Time `json:"start_time"`
	EndTime   time.Time `json:"end_time"`
	// Plan is the plan as run: defaults applied, command-line overrides included.
	Plan        *spec.Plan  `json:"plan,omitempty"`
	Environment Environment `json:"environment"`
	// Tools that produced the numbers, with versions (smp, load generators, proxies).
	Tools    []Tool    `json:"tools,omitempty"`
	Trials   []Trial   `json:"trials"`
	Analysis *Analysis `json:"analysis,omitempty"`
	// Certificate is the `smp certify` certificate of the environment the run used (smp
	// run --certificate, or the newest in the results folder); absent when uncertified.
	Certificate *Certificate `json:"certificate,omitempty"`
	// Warnings about the run as a whole (e.g. environment different from expectations).
	Warnings []string `json:"warnings,omitempty"`
	// Errors that ended or prevented trials.
	Errors []string `json:"errors,omitempty"`
	// Imported is set when smp did not measure this document but read it from another
	// tool's result (an SMP PerformanceTestResult, a fortio JSON result): what it was and
	// what it lacks. Nothing is written back to the file it came from.
	Imported *Import `json:"imported,omitempty"`
}

// Import describes a document read from another tool's result.
type Import struct {
	// Format is what was read: "smp" (SMP PerformanceTestResult) or "fortio" (fortio's
	// result JSON, also as Meshery stores it).
	Format string `json:"format"`
	// Lacks lists what the source does not hold that an smp result does, in words.
	Lacks []string `json:"lacks,omitempty"`
	// Notes say how it was read (units, fingerprints of known exporters).
	Notes []string `json:"notes,omitempty"`
}

// Status says how far a run or trial got.
type Status string

// Statuses.
const (
	// StatusComplete: everything ran as planned (errors from the target are still counted
	// in the trials; they are measurements, not failures of the run).
	StatusComplete Status = "complete"
	// StatusPartial: something ran short (a trial failed, an agent was lost); the numbers
	// that exist are valid for what they cover.
	StatusPartial Status = "partial"
	// StatusInterrupted: the run was stopped (Ctrl-C); what was measured is kept.
	StatusInterrupted Status = "interrupted"
	// StatusFailed: nothing usable was measured.
	StatusFailed Status = "failed"
)

// Tool is a program that took part in the run.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Role: "smp", "load_generator", "proxy", "app".
	Role string `json:"role,omitempty"`
	Path string `json:"path,omitempty"`
}

// Environment is where the run happened, captured at run time.
type Environment struct {
	// ID is a hash of the fields that make numbers comparable (platform, CPU model, cores,
	// memory, kernel, Kubernetes version and nodes), so equal IDs mean "same environment".
	ID          string `json:"id"`
	Platform    string `json:"platform"`
	Hostname    string `json:"hostname,omitempty"`
	OS          string `json:"os"`
	Arch        string `json:"arch"`
	Kernel      string `json:"kernel,omitempty"`
	CPUModel    string `json:"cpu_model,omitempty"`
	Cores       int    `json:"cores"`
	MemoryBytes int64  `json:"memory_bytes,omitempty"`
	GoVersion   string `json:"go_version,omitempty"`
	// CPU sets used for the load generator and the system under test (local platform).
	LoadGeneratorCPUs string `json:"load_generator_cpus,omitempty"`
	SystemCPUs        string `json:"system_cpus,omitempty"`
	// Kubernetes is set on the kubernetes platform.
	Kubernetes *KubernetesEnvironment `json:"kubernetes,omitempty"`
}

// KubernetesEnvironment describes a cluster.
type KubernetesEnvironment struct {
	Version string `json:"version"`
	Context string `json:"context,omitempty"`
	Nodes   []Node `json:"nodes,omitempty"`
	// Meshes detected on the cluster (type and version).
	Meshes []MeshInfo `json:"meshes,omitempty"`
}

// Node is one Kubernetes node.
type Node struct {
	Name             string            `json:"name"`
	InstanceType     string            `json:"instance_type,omitempty"`
	Cores            int               `json:"cores"`
	MemoryBytes      int64             `json:"memory_bytes"`
	KernelVersion    string            `json:"kernel_version,omitempty"`
	OSImage          string            `json:"os_image,omitempty"`
	ContainerRuntime string            `json:"container_runtime,omitempty"`
	KubeletVersion   string            `json:"kubelet_version,omitempty"`
	Arch             string            `json:"arch,omitempty"`
	Labels           map[string]string `json:"labels,omitempty"`
	// CPUMillis is the CPU capacity exactly, in millicores (status.capacity.cpu, which
	// Cores rounds up), that smp certify compares between nodes. Node is smp's one node
	// type (the kubernetes platform lists nodes as Nodes, certify checks them, the
	// environment and certificates store them); this field stays out of the document so
	// that its format does not change.
	CPUMillis int64 `json:"-"`
}

// MeshInfo is what was in the data path of a trial, as observed.
type MeshInfo struct {
	Type             spec.MeshType  `json:"type"`
	Version          string         `json:"version,omitempty"`
	ProxyVersion     string         `json:"proxy_version,omitempty"`
	DataPlane        spec.DataPlane `json:"data_plane,omitempty"`
	MTLS             spec.MTLSMode  `json:"mtls,omitempty"`
	ProxyConcurrency int            `json:"proxy_concurrency,omitempty"`
	// Proxies counts the proxies deployed for the arm.
	Proxies int `json:"proxies,omitempty"`
}

// GeneratorInfo says which load generator produced a trial, and what to keep in mind.
type GeneratorInfo struct {
	Name    spec.Generator `json:"name"`
	Version string         `json:"version,omitempty"`
	// Caveats of the generator's measurement, e.g. "latency measured from the actual send
	// (coordinated omission not corrected)".
	Caveats []string `json:"caveats,omitempty"`
}

// Trial is one arm measured once.
type Trial struct {
	// ID is "<arm>-<repetition>".
	ID         string `json:"id"`
	Arm        string `json:"arm"`
	Repetition int    `json:"repetition"`
	// Order is the trial's position in the run, from 1.
	Order     int           `json:"order"`
	Status    Status        `json:"status"`
	Error     string        `json:"error,omitempty"`
	Mesh      MeshInfo      `json:"mesh"`
	Generator GeneratorInfo `json:"generator"`
	// Targets are the URLs the load was sent to.
	Targets []string `json:"targets,omitempty"`
	// Warmup is the warm-up phase, if there was one; its samples are not in Latency.
	Warmup *Phase `json:"warmup,omitempty"`
	// StartTime and EndTime bound the measured phase: the steady-state window that
	// resources are collected over.
	StartTime time.Time `json:"start_time"`
	EndTime   time.Time `json:"end_time"`
	Load      LoadStats `json:"load"`
	Counts    Counts    `json:"counts"`
	// ErrorsByClass counts failed requests by cause: refused, reset, closed, timeout, tls,
	// protocol, dns, overflow, http (a 4xx/5xx status), grpc (a non-OK status), other.
	ErrorsByClass map[string]int64 `json:"errors_by_class,omitempty"`
	// ErrorExamples holds, for each class of transport error, the message of one request
	// that failed so: why, where ErrorsByClass says what ("x509: certificate signed by
	// unknown authority" for tls).
	ErrorExamples map[string]string `json:"error_examples,omitempty"`
	// StatusCodes counts responses by HTTP status ("200") or gRPC code ("grpc:OK").
	StatusCodes   map[string]int64 `json:"status_codes,omitempty"`
	BytesSent     int64            `json:"bytes_sent"`
	BytesReceived int64            `json:"bytes_received"`
	// Latency of the requests that succeeded, charged from their intended send time
	// (coordinated-omission correct). From smp's engine its count is Counts.Succeeded;
	// other generators' histograms may also hold responses they count as failures (wrk,
	// wrk2 and nighthawk do not say which samples were 4xx/5xx; a warning says so).
	Latency Distribution `json:"latency"`
	// ErrorLatency is the time until failure of the requests that failed (timeouts at the
	// timeout). Its count is Counts.Failed.
	ErrorLatency *Distribution `json:"error_latency,omitempty"`
	// ServiceTime is measured from the actual send: what a closed-loop tool would report.
	ServiceTime *Distribution `json:"service_time,omitempty"`
	// StartLag is how late requests left compared with their schedule.
	StartLag *Distribution `json:"start_lag,omitempty"`
	// Handshake is the cost of opening connections, when keep-alive was off (every
	// request opened its own connection): connect, TLS handshake and first-byte times.
	Handshake *Handshake `json:"handshake,omitempty"`
	// Search is the capacity search of this arm (workload.find_max). The trial's other
	// load figures are those of the highest step that held the SLO.
	Search *Search `json:"search,omitempty"`
	// TimeSeries has one point per metrics.interval of the measured phase.
	TimeSeries []Point `json:"time_series,omitempty"`
	// Resources is CPU and memory per component over the measured phase: one entry per
	// component, from the first collector that measured it (procfs before prometheus,
	// cadvisor, linkerd-proxy and envoy-admin); what the others measured of the same
	// component is in its CrossChecks, so that sums never count a component twice.
	Resources []Resource `json:"resources,omitempty"`
	// ProxyLatency is latency as the data plane measured it itself (the proxies' own
	// histograms, or on the local platform the entry service's), over the measured phase:
	// a cross-check of Latency, which stays the primary figure.
	ProxyLatency []ProxyLatency `json:"proxy_latency,omitempty"`
	// Agents are the load agents the trial's load was spread over (workload.agents), in
	// index order; empty when smp sent the load itself. Their histograms are merged
	// exactly into Latency and the other distributions.
	Agents   []AgentInfo `json:"agents,omitempty"`
	Warnings []string    `json:"warnings,omitempty"`
}

// AgentStatus says how a load agent's part of a trial went.
type AgentStatus string

// Agent statuses.
const (
	// AgentComplete: the agent ran its share and its histograms are merged.
	AgentComplete AgentStatus = "complete"
	// AgentLost: the agent died or disconnected during the run; its share of the load
	// stopped then, and its samples (sent only at the end) are missing from the trial.
	AgentLost AgentStatus = "lost"
	// AgentFailed: the agent could not run its share (e.g. its engine refused the
	// configuration); nothing of it is in the trial.
	AgentFailed AgentStatus = "failed"
)

// AgentInfo is one load agent's part in a trial.
type AgentInfo struct {
	// Address the controller reached the agent at (https://host:port).
	Address string `json:"address"`
	// Index of the agent, from 0. Its even schedule is offset by (index+½)/agents − ½ of
	// one of its slots, so that the agents' requests interleave.
	Index int `json:"index"`
	// Share of the requested load given to the agent: 0.25 is a quarter of the rate.
	Share            float64 `json:"share"`
	RequestedRateRPS float64 `json:"requested_rate_rps"`
	Connections      int     `json:"connections"`
	// ClockOffsetMS is the agent's clock minus the controller's, from the ping exchange
	// with the shortest round trip (RTTMS); it is known to within ± RTTMS/2. It was
	// applied to the common start time and to the agent's times and time series.
	ClockOffsetMS float64 `json:"clock_offset_ms"`
	RTTMS         float64 `json:"rtt_ms"`
	// StartLateMS is how much later than the common start the agent's clock started
	// (its connections took longer to open than the lead time allowed).
	StartLateMS float64 `json:"start_late_ms,omitempty"`
	// ReachAttempts is how many requests of its share the agent sent before the run
	// until one succeeded: the target reachable from where the agent is (a Service is
	// routable some time after its pods are ready). ReachedAfterS is how long that took,
	// in seconds. Those requests are not in the trial, though the target may have
	// served them. Both are 0 for an agent that could not be asked (an older smp).
	ReachAttempts int         `json:"reach_attempts,omitempty"`
	ReachedAfterS float64     `json:"reached_after_s,omitempty"`
	Status        AgentStatus `json:"status"`
	// Requests the agent sent in the measured phase: from its result, or for a lost
	// agent from its last progress report.
	Requests int64 `json:"requests"`
	// LostAtS is when the agent was lost, in seconds since the measured phase started
	// (negative: during warm-up).
	LostAtS *float64 `json:"lost_at_s,omitempty"`
	// Error says what happened to a lost or failed agent.
	Error string `json:"error,omitempty"`
}

// ProxyLatency is one latency distribution reported by the system under test itself.
// Proxies time from their own vantage point (Istio's destination proxy from request to
// response, Envoy's upstream_rq_time from the upstream request to its response,
// linkerd-proxy's response_latency_ms to the first byte), and from bucketed histograms,
// so these figures are estimates that should sit below the client's, not equal them.
type ProxyLatency struct {
	// Source is the collector: "prometheus", "envoy-admin", "linkerd-proxy".
	Source string `json:"source"`
	// Component it was read from ("svc-1-proxy"); empty for a query over all proxies.
	Component string `json:"component,omitempty"`
	// Name says what was timed, e.g. "istio_request_duration_milliseconds
	// reporter=destination" or "response_latency_ms direction=inbound".
	Name string `json:"name"`
	// Query is the PromQL or the endpoint the figures came from.
	Query string `json:"query,omitempty"`
	// Count is the number of requests in the histogram over the window (Prometheus
	// extrapolates increase(), so it need not be a whole number).
	Count float64 `json:"count"`
	// Percentiles, interpolated within the histogram's buckets.
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
	// Error says why the figures are missing or partial.
	Error string `json:"error,omitempty"`
}

// Phase is a period of a trial.
type Phase struct {
	StartTime time.Time `json:"start_time"`
	EndTime   time.Time `json:"end_time"`
	Requests  int64     `json:"requests"`
	Errors    int64     `json:"errors"`
}

// LoadStats is the load that was asked for and what was achieved.
type LoadStats struct {
	// RequestedRateRPS is 0 for a closed-loop run.
	RequestedRateRPS float64 `json:"requested_rate_rps"`
	AchievedRateRPS  float64 `json:"achieved_rate_rps"`
	ClosedLoop       bool    `json:"closed_loop,omitempty"`
	Pattern          string  `json:"pattern,omitempty"`
	Connections      int     `json:"connections"`
	Streams          int     `json:"streams,omitempty"`
	// RateHeld is false when the generator could not keep to the schedule (achieved rate
	// short of the requested one, or requests leaving late); RateWarning says why.
	RateHeld    bool   `json:"rate_held"`
	RateWarning string `json:"rate_warning,omitempty"`
	// LateCause says why requests left late when the rate was not held for that
	// reason: "engine" (the generator's CPU was saturated, or it started requests it
	// was ready for late), "machine" (other processes kept it off the CPU) or
	// "connections" (every connection was busy waiting for the target).
	LateCause  string  `json:"late_cause,omitempty"`
	DurationMS float64 `json:"duration_ms"`
	// GeneratorCPUMcores is the generator's own CPU over the measured phase (the
	// builtin engine's process), in millicores; SpinUS is the busy-wait per request
	// it used at the requested rate to keep its CPU awake at light load (0: none).
	GeneratorCPUMcores float64 `json:"generator_cpu_mcores,omitempty"`
	SpinUS             float64 `json:"spin_us,omitempty"`
	// ReadyLagP99MS is the start-lag p99 of the requests whose worker was ready
	// and waiting for them: the builtin engine's own lateness, without the time
	// requests waited for a free connection.
	ReadyLagP99MS float64 `json:"ready_lag_p99_ms,omitempty"`
	// Schedule describes a seeded arrival schedule (poisson, uniform, realworld, or any
	// with a request mix) so that it can be recognised and replayed.
	Schedule *Schedule `json:"schedule,omitempty"`
	// Mix counts the requests sent per entry of workload.mix, in its order.
	Mix []MixCount `json:"mix,omitempty"`
}

// Schedule identifies the arrival schedule a trial ran. The schedule is a pure function
// of the plan's workload (rate, duration, warm-up, arrival, mix) and the seed: a run of
// the same plan and seed has the same SHA256, and a different one means different
// traffic.
type Schedule struct {
	Pattern string `json:"pattern"`
	Seed    int64  `json:"seed"`
	// Slots is how many slots SHA256 covers: the first ones of the run, warm-up included.
	Slots int `json:"slots"`
	// Complete is set when Slots is the whole schedule.
	Complete bool `json:"complete,omitempty"`
	// SHA256 is the hex digest of each slot's intended offset (ns), request index (into
	// workload.mix) and body size (bytes), as little-endian 64-bit integers.
	SHA256 string `json:"sha256"`
	// MeanRateRPS and PeakRateRPS are the requested rate over the measured phase.
	MeanRateRPS float64 `json:"mean_rate_rps"`
	PeakRateRPS float64 `json:"peak_rate_rps"`
	// Bursts of a realworld schedule, in seconds from the start of the measured phase.
	Bursts []Window `json:"bursts,omitempty"`
}

// Window is a span of time in seconds from the start of the measured phase.
type Window struct {
	StartS float64 `json:"start_s"`
	EndS   float64 `json:"end_s"`
}

// MixCount is how many requests one entry of a request mix sent.
type MixCount struct {
	Method   string  `json:"method"`
	Path     string  `json:"path"`
	Weight   float64 `json:"weight"`
	Requests int64   `json:"requests"`
}

// Handshake is what opening a connection cost, from a trial with keep-alive off: one
// sample per request and phase that completed.
type Handshake struct {
	// Mode of the client's connections: "plaintext", "tls", or "mtls" (the client
	// presented a certificate).
	Mode string `json:"mode"`
	// Connect is dial start → TCP connected.
	Connect *Distribution `json:"connect"`
	// TLS is TCP connected → TLS handshake done; absent over plaintext.
	TLS *Distribution `json:"tls,omitempty"`
	// FirstByte is request written → first byte of the response.
	FirstByte *Distribution `json:"first_byte"`
}

// Search is a capacity search of one arm: open-loop steps at rising rates (doubling, then
// bisecting) until a step breaks the SLO. MaxRateRPS is the highest rate that held it.
type Search struct {
	// MaxRateRPS is the highest rate whose step held the SLO; 0 when even the first
	// step broke it.
	MaxRateRPS float64 `json:"max_rate_rps"`
	// FirstBadRPS is the lowest rate whose step broke the SLO; 0 when none did.
	FirstBadRPS float64 `json:"first_bad_rps,omitempty"`
	// AtLeast is set when the search stopped at find_max.max_rate with the SLO still
	// held: the capacity is higher than MaxRateRPS.
	AtLeast bool `json:"at_least,omitempty"`
	// The SLO each step was held to.
	P99MS        float64 `json:"p99_ms"`
	MaxErrorRate float64 `json:"max_error_rate"`
	// Steps in the order they ran: the latency-vs-rate curve.
	Steps []SearchStep `json:"steps"`
}

// Outcome is the search's result in a few words: "1200 rps (the SLO broke at 1300 rps)",
// "at least 5000 rps", or "none (every rate tried broke the SLO)".
func (s *Search) Outcome() string {
	switch {
	case s.MaxRateRPS == 0:
		return "none (every rate tried broke the SLO)"
	case s.AtLeast:
		return fmt.Sprintf("at least %.0f rps", s.MaxRateRPS)
	}
	return fmt.Sprintf("%.0f rps (the SLO broke at %.0f rps)", s.MaxRateRPS, s.FirstBadRPS)
}

// SearchStep is one short open-loop run of a capacity search.
type SearchStep struct {
	RateRPS     float64 `json:"rate_rps"`
	AchievedRPS float64 `json:"achieved_rps"`
	P50MS       float64 `json:"p50_ms"`
	P99MS       float64 `json:"p99_ms"`
	ErrorRate   float64 `json:"error_rate"`
	// Held is set when the generator sent the rate: nothing skipped, at least 95% sent.
	Held bool `json:"held"`
	// Pass is set when the step held the rate and the SLO.
	Pass bool `json:"pass"`
	// Reason says what broke, when Pass is not set.
	Reason string `json:"reason,omitempty"`
}

// Counts are request counts of the measured phase. Requests = Succeeded + Failed.
type Counts struct {
	// Requests that were sent (or whose sending failed, e.g. connection refused).
	Requests  int64 `json:"requests"`
	Succeeded int64 `json:"succeeded"`
	Failed    int64 `json:"failed"`
	// Overflow counts scheduled requests that were never sent because too many were
	// already due (workload.max_inflight). They are not in Requests but count as errors
	// in ErrorRate: the target did not get the load that was asked for.
	Overflow int64 `json:"overflow,omitempty"`
	// ConnectionsOpened counts connections the generator opened, including reconnects.
	ConnectionsOpened int64 `json:"connections_opened,omitempty"`
}

// Add adds o's counts to c's: the counts of two workers, agents, phases or trials
// together. It is the one merge of counts (the engine's workers, the agents'
// phases, an arm's trials).
func (c *Counts) Add(o Counts) {
	c.Requests += o.Requests
	c.Succeeded += o.Succeeded
	c.Failed += o.Failed
	c.Overflow += o.Overflow
	c.ConnectionsOpened += o.ConnectionsOpened
}

// ErrorRate is (failed + overflow) / (requests + overflow), or 0 when nothing was due.
func (c Counts) ErrorRate() float64 {
	if c.Requests+c.Overflow == 0 {
		return 0
	}
	return float64(c.Failed+c.Overflow) / float64(c.Requests+c.Overflow)
}

// Distribution is a latency distribution: summary statistics, the full HDR histogram
// (lossless, mergeable), and canonical buckets derived from it for display and export.
type Distribution struct {
	Count       int64        `json:"count"`
	MinMS       float64      `json:"min_ms"`
	MeanMS      float64      `json:"mean_ms"`
	StddevMS    float64      `json:"stddev_ms"`
	MaxMS       float64      `json:"max_ms"`
	Percentiles []Percentile `json:"percentiles"`
	// Clamped counts values above the histogram's range (1 h), recorded at its top.
	Clamped   int64     `json:"clamped,omitempty"`
	Histogram Histogram `json:"histogram"`
	Buckets   []Bucket  `json:"buckets,omitempty"`
	// Rebuilt is set when the histogram was not recorded but rebuilt from what an
	// imported result holds (fortio's buckets, SMP's six statistics), and says how: its
	// percentiles are known only as closely as that source allows, and no confidence
	// interval is computed from it.
	Rebuilt string `json:"rebuilt,omitempty"`
}

// Percentile is one percentile of a distribution.
type Percentile struct {
	Percentile float64 `json:"percentile"`
	ValueMS    float64 `json:"value_ms"`
}

// Histogram is an encoded HDR histogram.
type Histogram struct {
	Encoding           string `json:"encoding"`
	Unit               string `json:"unit"`
	LowestDiscernible  int64  `json:"lowest_discernible"`
	Highest            int64  `json:"highest"`
	SignificantFigures int    `json:"significant_figures"`
	Data               string `json:"data"`
}

// Bucket is one canonical histogram bucket: Count values in (previous LeMS, LeMS].
// LeMS is null for the last bucket, which holds everything above the last bound.
type Bucket struct {
	LeMS              *float64 `json:"le_ms"`
	Count             int64    `json:"count"`
	CumulativePercent float64  `json:"cumulative_percent"`
}

// Point is one interval of a trial's time series.
type Point struct {
	// OffsetS is the end of the interval, in seconds since the measured phase started.
	OffsetS  float64 `json:"t_s"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	RateRPS  float64 `json:"rate_rps"`
	P50MS    float64 `json:"p50_ms"`
	P99MS    float64 `json:"p99_ms"`
	MaxMS    float64 `json:"max_ms,omitempty"`
	Inflight int64   `json:"inflight,omitempty"`
}

// Role is what a component does in the system under test.
type Role string

// Roles.
const (
	RoleProxy         Role = "proxy"
	RoleApp           Role = "app"
	RoleLoadGenerator Role = "load_generator"
	RoleControlPlane  Role = "control_plane"
	RoleNode          Role = "node"
	// RoleGateway is an ingress gateway in front of the first service (entry via gateway).
	RoleGateway Role = "gateway"
)

// Resource is the CPU and memory of one component over a trial's measured phase.
type Resource struct {
	// Component names the process, container or node, e.g. "svc-1-sidecar".
	Component string `json:"component"`
	Role      Role   `json:"role"`
	// Service is the application service the component belongs to, if any.
	Service   string `json:"service,omitempty"`
	PID       int    `json:"pid,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Container string `json:"container,omitempty"`
	Node      string `json:"node,omitempty"`
	// CPU in millicores, mean and highest sample over the window.
	CPUMcoresAvg float64 `json:"cpu_mcores_avg"`
	CPUMcoresMax float64 `json:"cpu_mcores_max"`
	// Memory in bytes, mean and highest sample, of the metric named in MemoryMetric
	// ("rss", "pss", "working_set", "allocated").
	MemoryBytesAvg int64  `json:"memory_bytes_avg"`
	MemoryBytesMax int64  `json:"memory_bytes_max"`
	MemoryMetric   string `json:"memory_metric"`
	// OtherMemory holds further memory metrics of the same component (e.g. PSS beside RSS).
	OtherMemory []Memory `json:"other_memory,omitempty"`
	Samples     int      `json:"samples"`
	// Source is the collector ("procfs", "prometheus", …) and Query what it asked.
	Source string `json:"source"`
	Query  string `json:"query,omitempty"`
	// Error is set when the component could not be measured.
	Error string `json:"error,omitempty"`
	// Stats are proxy-native counters and gauges named as the proxy names them (Envoy's
	// "ssl.handshake", "server.concurrency"; "cluster.*.upstream_cx_total" sums every
	// cluster): counters as their increase over the window, gauges as their last value.
	Stats map[string]float64 `json:"stats,omitempty"`
	// CrossChecks are the same component as measured by other collectors, kept beside
	// this figure and left out of every sum (see Trial.Resources).
	CrossChecks []ResourceCheck `json:"cross_checks,omitempty"`
}

// ResourceCheck is a second collector's measurement of a component that Resource already
// reports. Its fields mean what Resource's do.
type ResourceCheck struct {
	Source         string             `json:"source"`
	Query          string             `json:"query,omitempty"`
	CPUMcoresAvg   float64            `json:"cpu_mcores_avg"`
	CPUMcoresMax   float64            `json:"cpu_mcores_max"`
	MemoryBytesAvg int64              `json:"memory_bytes_avg"`
	MemoryBytesMax int64              `json:"memory_bytes_max"`
	MemoryMetric   string             `json:"memory_metric"`
	OtherMemory    []Memory           `json:"other_memory,omitempty"`
	Samples        int                `json:"samples"`
	Error          string             `json:"error,omitempty"`
	Stats          map[string]float64 `json:"stats,omitempty"`
	// CPUDiffPercent is (this − the Resource's) / the Resource's × 100, when both measured
	// CPU; MemoryDiffPercent likewise for the mean memory, when both name the same metric.
	CPUDiffPercent    *float64 `json:"cpu_diff_percent,omitempty"`
	MemoryDiffPercent *float64 `json:"memory_diff_percent,omitempty"`
}

// Memory is one memory metric of a component.
type Memory struct {
	Metric   string `json:"metric"`
	AvgBytes int64  `json:"avg_bytes"`
	MaxBytes int64  `json:"max_bytes"`
}

// Analysis compares each arm with the baseline and evaluates the SLOs.
type Analysis struct {
	Baseline string        `json:"baseline,omitempty"`
	Overhead []ArmOverhead `json:"overhead,omitempty"`
	SLO      []SLOResult   `json:"slo,omitempty"`
	// Pass is false when any SLO failed.
	Pass bool `json:"pass"`
	// Failed says why the run did not measure what it was asked to, one line per trial:
	// no request succeeded, or its error rate exceeded workload.error_ceiling. smp run and
	// smp load exit 1 when it is not empty.
	Failed []string `json:"failed,omitempty"`
	// RateNotHeld says which open-loop trials did not hold their requested rate, one line
	// per trial with the generator's reason. smp run and smp load exit 4 when it is not
	// empty, unless the plan's workload.allow_rate_miss accepts it (RateMissAllowed).
	RateNotHeld     []string `json:"rate_not_held,omitempty"`
	RateMissAllowed bool     `json:"rate_miss_allowed,omitempty"`
	// Outcome is the run's verdict in one word, the one smp run and smp load turn into
	// their exit code: "pass" (0), "slo_failed" (3), "rate_not_held" (4) or
	// "not_measured" (1). An interrupted run also says so in the document's status.
	Outcome Outcome `json:"outcome,omitempty"`
	// Method says how confidence intervals were computed, so they can be reproduced.
	Method *AnalysisMethod `json:"method,omitempty"`
}

// Outcome is a run's verdict (Analysis.Outcome). When several apply, the first of
// not_measured, rate_not_held and slo_failed is the outcome: an SLO checked on trials
// that were not measured at the rate asked is not the check that was asked for.
type Outcome string

// Outcomes.
const (
	OutcomePass        Outcome = "pass"
	OutcomeSLOFailed   Outcome = "slo_failed"
	OutcomeRateNotHeld Outcome = "rate_not_held"
	OutcomeNotMeasured Outcome = "not_measured"
)

// AnalysisMethod are the settings of the bootstrap behind the confidence intervals.
type AnalysisMethod struct {
	// Test names how deltas are tested when arms have repetitions (internal/analysis).
	Test string `json:"test,omitempty"`
	// Family says which deltas share a family-wise error rate, and how it is held.
	Family string `json:"family,omitempty"`
	// Bootstrap describes the resampling behind the intervals of arms measured once.
	Bootstrap  string  `json:"bootstrap"`
	Replicates int     `json:"replicates"`
	Confidence float64 `json:"confidence"`
	Seed       int64   `json:"seed"`
}

// ArmOverhead is what one arm costs compared with the baseline.
type ArmOverhead struct {
	Arm    string  `json:"arm"`
	Deltas []Delta `json:"deltas"`
	// MeshMark condenses the arm's overhead into one 0–100 score (docs/meshmark.md).
	MeshMark *MeshMark `json:"meshmark,omitempty"`
}

// MeshMark is smp's 0–100 score of how efficiently an arm does the baseline's work: 100 ×
// the weighted geometric mean of per-input efficiencies (baseline cost / arm cost, at
// most 1), so 100 means "costs nothing over the baseline". Defined in docs/meshmark.md;
// Version says which definition (1: a weighted arithmetic mean with goodput as an input
// in every run; 2: the current one).
type MeshMark struct {
	// Version of the definition (docs/meshmark.md); scores of different versions are not
	// comparable.
	Version int `json:"version"`
	// Score is absent when the arm cannot be scored: Invalid says why, or a required
	// input's Missing does.
	Score *float64 `json:"score,omitempty"`
	// CILow and CIHigh bound Score at Confidence, from the spread between repetitions
	// (absent with one repetition per arm). A missing input raises CIHigh to the score the
	// arm would have if that input cost nothing (version 2).
	CILow      *float64 `json:"ci_low,omitempty"`
	CIHigh     *float64 `json:"ci_high,omitempty"`
	Confidence float64  `json:"confidence,omitempty"`
	// Partial is set when an optional input (cpu, memory) could not be computed: the score
	// is that of the inputs measured, and is not comparable with a full one.
	Partial bool `json:"partial,omitempty"`
	// Invalid says why the arm gets no score although it was measured: a trial whose
	// error rate (overflow included) exceeds 1% or breaks the plan's error_rate SLO did
	// not do the work the others are measured doing (version 2).
	Invalid string `json:"invalid,omitempty"`
	// Mode is what the run could measure of capacity (version 2): "open_loop" (goodput
	// is a factor, achieved over offered), "closed_loop" (goodput is an input) or
	// "capacity" (find_max's highest rate is an input).
	Mode string `json:"mode,omitempty"`
	// Inputs are the per-input efficiencies the score is made of.
	Inputs []MeshMarkInput `json:"inputs"`
}

// MeshMark modes (MeshMark.Mode).
const (
	MeshMarkOpenLoop   = "open_loop"
	MeshMarkClosedLoop = "closed_loop"
	MeshMarkCapacity   = "capacity"
)

// MeshMarkInput is one input of a MeshMark: a cost of the baseline and of the arm.
type MeshMarkInput struct {
	// Name: latency.p50, latency.p99, cpu, memory, and goodput or capacity.
	Name string `json:"name"`
	// Unit of Baseline and Value: "ms", "rps", "mcores_per_krps", "bytes", or "ratio" for
	// an open-loop goodput (successful requests over those offered).
	Unit     string  `json:"unit"`
	Baseline float64 `json:"baseline"`
	Value    float64 `json:"value"`
	// Efficiency is baseline cost / arm cost (arm / baseline for goodput and capacity),
	// clamped to 0..1; for an open-loop goodput, the arm's share of the offered requests
	// that succeeded.
	Efficiency float64 `json:"efficiency"`
	// Weight is the input's weight in the definition; the weights add up to 1. An
	// open-loop goodput has weight 0: it is a factor of the score, which can only lose by it.
	Weight float64 `json:"weight"`
	// Factor is what the input multiplies the score by (version 2): Efficiency^(Weight/W),
	// W the sum of the weights present; the score is 100 × the product of the factors.
	Factor float64 `json:"factor,omitempty"`
	// Lost is how many of the 100 − Score points the arm lost are the input's (version
	// 2): the loss split in proportion to each input's term of log(Score/100).
	Lost float64 `json:"lost,omitempty"`
	// Points is what the input adds to Score in version 1 (a weighted arithmetic mean):
	// the points of the inputs add up to the score.
	Points float64 `json:"points,omitempty"`
	// Missing says why the input could not be computed; it then adds nothing.
	Missing string `json:"missing,omitempty"`
}

// Delta is one metric of an arm next to the baseline's.
type Delta struct {
	// Metric uses the SLO metric names: latency.p99, throughput, error_rate, cpu.proxy, …
	Metric   string  `json:"metric"`
	Unit     string  `json:"unit"`
	Baseline float64 `json:"baseline"`
	Value    float64 `json:"value"`
	Delta    float64 `json:"delta"`
	// DeltaPercent is relative to the baseline; absent when the baseline is 0.
	DeltaPercent *float64 `json:"delta_percent,omitempty"`
	// CILow and CIHigh bound Delta at Confidence (e.g. 0.95), when it could be estimated.
	CILow      *float64 `json:"ci_low,omitempty"`
	CIHigh     *float64 `json:"ci_high,omitempty"`
	Confidence float64  `json:"confidence,omitempty"`
	// Interval says what the interval holds: IntervalTrials (the spread between
	// repetitions: what a rerun would see) or IntervalRequests (the sampling noise of one
	// repetition's requests only). Absent in older results.
	Interval string `json:"interval,omitempty"`
	// PValue is the two-sided p-value of the test that Delta is 0, before any correction
	// for the number of deltas; PAdjusted is the same after it (Holm's step-down over the
	// family the analysis names in AnalysisMethod.Family). Absent when there is no test
	// (one repetition per arm).
	PValue    *float64 `json:"p_value,omitempty"`
	PAdjusted *float64 `json:"p_adjusted,omitempty"`
	// Resolution is the smallest difference the instrument can tell for this metric, in
	// Unit (the HDR bucket width at the larger latency, one request over the measured time,
	// one clock tick of CPU, one page of memory). A smaller |Delta| is never significant.
	Resolution float64 `json:"resolution,omitempty"`
	// Verdict is VerdictSignificant, VerdictNotSignificant, VerdictBelowResolution or
	// VerdictNone; absent in results written before verdicts were recorded, where
	// Significant alone says it.
	Verdict string `json:"verdict,omitempty"`
	// Significant is Verdict == VerdictSignificant; absent when there is no verdict.
	Significant *bool `json:"significant,omitempty"`
}

// What a delta's interval holds (Delta.Interval).
const (
	// IntervalTrials: from the spread of the repetitions of each arm (a t interval over
	// per-trial figures), so it holds what changes from one deployment to the next.
	IntervalTrials = "trials"
	// IntervalRequests: from resampling the requests of a single repetition; it holds
	// sampling noise only, and supports no verdict.
	IntervalRequests = "requests"
)

// Verdicts of a delta (Delta.Verdict).
const (
	// VerdictSignificant: the adjusted p-value is below 1 − Confidence and |Delta| is at
	// least the resolution.
	VerdictSignificant = "significant"
	// VerdictNotSignificant: the difference may be noise.
	VerdictNotSignificant = "not_significant"
	// VerdictBelowResolution: |Delta| is smaller than the instrument can tell, whatever
	// the test says.
	VerdictBelowResolution = "below_resolution"
	// VerdictNone: no test was possible (an arm measured once has no spread between
	// repetitions to test against).
	VerdictNone = "none"
)

// SLOResult is one SLO condition evaluated for one arm.
type SLOResult struct {
	Condition string  `json:"condition"`
	Arm       string  `json:"arm"`
	Value     float64 `json:"value"`
	Unit      string  `json:"unit"`
	Pass      bool    `json:"pass"`
	Message   string  `json:"message"`
	// Error says why the condition could not be evaluated (it then fails); empty when
	// Value was computed.
	Error string `json:"error,omitempty"`
}
