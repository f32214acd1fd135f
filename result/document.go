package result

import (
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
	// Warnings about the run as a whole (e.g. environment different from expectations).
	Warnings []string `json:"warnings,omitempty"`
	// Errors that ended or prevented trials.
	Errors []string `json:"errors,omitempty"`
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
	// StatusCodes counts responses by HTTP status ("200") or gRPC code ("grpc:OK").
	StatusCodes   map[string]int64 `json:"status_codes,omitempty"`
	BytesSent     int64            `json:"bytes_sent"`
	BytesReceived int64            `json:"bytes_received"`
	// Latency of the requests that succeeded, charged from their intended send time
	// (coordinated-omission correct). Its count is Counts.Succeeded.
	Latency Distribution `json:"latency"`
	// ErrorLatency is the time until failure of the requests that failed (timeouts at the
	// timeout). Its count is Counts.Failed.
	ErrorLatency *Distribution `json:"error_latency,omitempty"`
	// ServiceTime is measured from the actual send: what a closed-loop tool would report.
	ServiceTime *Distribution `json:"service_time,omitempty"`
	// StartLag is how late requests left compared with their schedule.
	StartLag *Distribution `json:"start_lag,omitempty"`
	// TimeSeries has one point per metrics.interval of the measured phase.
	TimeSeries []Point `json:"time_series,omitempty"`
	// Resources is CPU and memory per component over the measured phase.
	Resources []Resource `json:"resources,omitempty"`
	Warnings  []string   `json:"warnings,omitempty"`
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
	RateHeld    bool    `json:"rate_held"`
	RateWarning string  `json:"rate_warning,omitempty"`
	DurationMS  float64 `json:"duration_ms"`
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
	// Method says how confidence intervals were computed, so they can be reproduced.
	Method *AnalysisMethod `json:"method,omitempty"`
}

// AnalysisMethod are the settings of the bootstrap behind the confidence intervals.
type AnalysisMethod struct {
	Bootstrap  string  `json:"bootstrap"`
	Replicates int     `json:"replicates"`
	Confidence float64 `json:"confidence"`
	Seed       int64   `json:"seed"`
}

// ArmOverhead is what one arm costs compared with the baseline.
type ArmOverhead struct {
	Arm    string  `json:"arm"`
	Deltas []Delta `json:"deltas"`
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
	CILow       *float64 `json:"ci_low,omitempty"`
	CIHigh      *float64 `json:"ci_high,omitempty"`
	Confidence  float64  `json:"confidence,omitempty"`
	Significant *bool    `json:"significant,omitempty"`
}

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
