package agent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/service-mesh-performance/smp/internal/engine"
	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/result"
)

// ProtocolVersion is the version of the messages below. A controller refuses an agent
// that speaks another one (they would misread each other's fields).
const ProtocolVersion = 1

// Paths of the agent's endpoints.
const (
	PathClock = "/v1/clock"
	PathReach = "/v1/reach"
	PathRun   = "/v1/run"
)

// ReachRequest asks an agent to send one request of its load to the target and say how
// it went (see Controller.ReachTimeout): nothing is measured, the run has not started.
type ReachRequest struct {
	Protocol int    `json:"protocol"`
	RunID    string `json:"run_id,omitempty"`
	Load     Load   `json:"load"`
	// CheckOnly asks the agent to check the load and its allow-list and send nothing:
	// the controller has every agent agree before any of them sends a request.
	CheckOnly bool `json:"check_only,omitempty"`
}

// ReachReply answers a ReachRequest; it is empty for CheckOnly (the check passed).
// Succeeded is the engine's success (HTTP 1xx–3xx, gRPC OK, the TCP echo); otherwise
// Error says what the request met: a status ("status 503") or a transport error with its
// class ("timeout: dial tcp …: i/o timeout").
type ReachReply struct {
	Succeeded bool   `json:"succeeded"`
	Error     string `json:"error,omitempty"`
}

// ClockRequest and ClockReply are one ping of the clock-offset exchange (see
// EstimateClock): T1 is the controller's send time, T2 the agent's receive time, T3
// the agent's reply time, all Unix nanoseconds of the sender's wall clock.
type ClockRequest struct {
	T1 int64 `json:"t1_unix_ns"`
}

// ClockReply answers a ClockRequest.
type ClockReply struct {
	T1       int64  `json:"t1_unix_ns"`
	T2       int64  `json:"t2_unix_ns"`
	T3       int64  `json:"t3_unix_ns"`
	Protocol int    `json:"protocol"`
	Version  string `json:"version,omitempty"`
	Busy     bool   `json:"busy"`
}

// StartRequest is what a controller asks one agent to do.
type StartRequest struct {
	Protocol int    `json:"protocol"`
	RunID    string `json:"run_id,omitempty"`
	// Index of this agent among Agents, from 0.
	Index  int `json:"index"`
	Agents int `json:"agents"`
	// StartAt is when the agent's engine clock starts, on the agent's wall clock (the
	// controller has already added the agent's clock offset).
	StartAt time.Time `json:"start_at"`
	Load    Load      `json:"load"`
}

// Load is the agent's share of the load: an engine.Config without callbacks, files or
// in-memory TLS state. Durations are nanoseconds.
type Load struct {
	Target      string     `json:"target"`
	Protocol    string     `json:"protocol"`
	Method      string     `json:"method,omitempty"`
	Headers     []string   `json:"headers,omitempty"`
	Body        []byte     `json:"body,omitempty"`
	PayloadSize int        `json:"payload_size,omitempty"`
	Rate        float64    `json:"rate"`
	Arrival     Arrival    `json:"arrival"`
	Connections int        `json:"connections"`
	Streams     int        `json:"streams,omitempty"`
	MaxInflight int        `json:"max_inflight,omitempty"`
	DurationNS  int64      `json:"duration_ns"`
	WarmupNS    int64      `json:"warmup_ns,omitempty"`
	TimeoutNS   int64      `json:"timeout_ns,omitempty"`
	KeepAlive   *bool      `json:"keep_alive,omitempty"`
	TLS         *TargetTLS `json:"tls,omitempty"`
	GRPCCall    string     `json:"grpc_call,omitempty"`
	GRPCService string     `json:"grpc_service,omitempty"`
	SpinNS      int64      `json:"spin_ns,omitempty"`
	MaxLagNS    int64      `json:"max_start_lag_ns,omitempty"`
	IntervalNS  int64      `json:"series_interval_ns,omitempty"`
}

// Arrival mirrors engine.Arrival.
type Arrival struct {
	Pattern        string  `json:"pattern"`
	Jitter         float64 `json:"jitter,omitempty"`
	RampFrom       float64 `json:"ramp_from,omitempty"`
	RampDurationNS int64   `json:"ramp_duration_ns,omitempty"`
	Steps          []Step  `json:"steps,omitempty"`
	Seed           int64   `json:"seed,omitempty"`
	Phase          float64 `json:"phase,omitempty"`
}

// Step mirrors engine.RateStep.
type Step struct {
	Rate       float64 `json:"rate"`
	DurationNS int64   `json:"duration_ns"`
}

// TargetTLS is TLS towards the target, with the PEM contents inline: the controller's
// files are not on the agent's machine. A client key travels only inside the
// controller–agent mutual TLS connection.
type TargetTLS struct {
	CAPEM      []byte `json:"ca_pem,omitempty"`
	CertPEM    []byte `json:"cert_pem,omitempty"`
	KeyPEM     []byte `json:"key_pem,omitempty"`
	ServerName string `json:"server_name,omitempty"`
	Insecure   bool   `json:"insecure,omitempty"`
}

var (
	protocols = map[engine.Protocol]string{engine.HTTP1: "http1", engine.H2: "h2", engine.H2C: "h2c", engine.GRPC: "grpc", engine.TCP: "tcp"}
	patterns  = map[engine.Pattern]string{engine.Constant: "constant", engine.Poisson: "poisson", engine.Uniform: "uniform",
		engine.Ramp: "ramp", engine.Step: "step"}
	grpcCalls = map[engine.GRPCCall]string{engine.HealthCheck: "health", engine.Echo: "echo"}
)

func lookup[K comparable](m map[K]string, name, what string) (K, error) {
	for k, v := range m {
		if v == name {
			return k, nil
		}
	}
	var zero K
	return zero, fmt.Errorf("unknown %s %q", what, name)
}

// loadOf converts an engine configuration for the wire. TLS files are read here, on
// the controller.
func loadOf(c engine.Config) (Load, error) {
	l := Load{
		Target: c.Target, Protocol: protocols[c.Protocol], Method: c.Method, Headers: c.Headers, Body: c.Body,
		PayloadSize: c.PayloadSize, Rate: c.Rate, Connections: c.Connections, Streams: c.Streams,
		MaxInflight: c.MaxInflight, DurationNS: int64(c.Duration), WarmupNS: int64(c.Warmup), TimeoutNS: int64(c.Timeout),
		KeepAlive: c.KeepAlive, GRPCCall: grpcCalls[c.GRPCCall], GRPCService: c.GRPCService, SpinNS: int64(c.Spin),
		MaxLagNS: int64(c.MaxStartLag), IntervalNS: int64(c.SeriesInterval),
		Arrival: Arrival{Pattern: patterns[c.Arrival.Pattern], Jitter: c.Arrival.Jitter, RampFrom: c.Arrival.RampFrom,
			RampDurationNS: int64(c.Arrival.RampDuration), Seed: c.Arrival.Seed, Phase: c.Arrival.Phase},
	}
	if l.Protocol == "" || l.Arrival.Pattern == "" || l.GRPCCall == "" {
		return Load{}, fmt.Errorf("protocol %v, pattern %v or gRPC call %v has no wire name", c.Protocol, c.Arrival.Pattern, c.GRPCCall)
	}
	for _, s := range c.Arrival.Steps {
		l.Arrival.Steps = append(l.Arrival.Steps, Step{Rate: s.Rate, DurationNS: int64(s.Duration)})
	}
	if t := c.TLS; t != nil {
		if t.Config != nil {
			return Load{}, errors.New("target TLS: an in-memory tls.Config cannot be sent to agents; use CA, certificate and key files")
		}
		l.TLS = &TargetTLS{ServerName: t.ServerName, Insecure: t.Insecure}
		for _, f := range []struct {
			path string
			dst  *[]byte
		}{{t.CAFile, &l.TLS.CAPEM}, {t.CertFile, &l.TLS.CertPEM}, {t.KeyFile, &l.TLS.KeyPEM}} {
			if f.path == "" {
				continue
			}
			b, err := os.ReadFile(f.path)
			if err != nil {
				return Load{}, fmt.Errorf("target TLS: %w", err)
			}
			*f.dst = b
		}
	}
	return l, nil
}

// engineConfig converts a wire load into an engine configuration, on the agent.
func (l Load) engineConfig() (engine.Config, error) {
	c := engine.Config{
		Target: l.Target, Method: l.Method, Headers: l.Headers, Body: l.Body, PayloadSize: l.PayloadSize,
		Rate: l.Rate, Connections: l.Connections, Streams: l.Streams, MaxInflight: l.MaxInflight,
		Duration: time.Duration(l.DurationNS), Warmup: time.Duration(l.WarmupNS), Timeout: time.Duration(l.TimeoutNS),
		KeepAlive: l.KeepAlive, GRPCService: l.GRPCService, Spin: time.Duration(l.SpinNS),
		MaxStartLag: time.Duration(l.MaxLagNS), SeriesInterval: time.Duration(l.IntervalNS),
		Arrival: engine.Arrival{Jitter: l.Arrival.Jitter, RampFrom: l.Arrival.RampFrom,
			RampDuration: time.Duration(l.Arrival.RampDurationNS), Seed: l.Arrival.Seed, Phase: l.Arrival.Phase},
	}
	var err error
	if c.Protocol, err = lookup(protocols, l.Protocol, "protocol"); err != nil {
		return engine.Config{}, err
	}
	if c.Arrival.Pattern, err = lookup(patterns, l.Arrival.Pattern, "arrival pattern"); err != nil {
		return engine.Config{}, err
	}
	if l.GRPCCall != "" {
		if c.GRPCCall, err = lookup(grpcCalls, l.GRPCCall, "gRPC call"); err != nil {
			return engine.Config{}, err
		}
	}
	for _, s := range l.Arrival.Steps {
		c.Arrival.Steps = append(c.Arrival.Steps, engine.RateStep{Rate: s.Rate, Duration: time.Duration(s.DurationNS)})
	}
	if t := l.TLS; t != nil {
		conf := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.Insecure} //nolint:gosec // the plan asked for it
		if len(t.CAPEM) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(t.CAPEM) {
				return engine.Config{}, errors.New("target TLS: no PEM certificate in the CA bundle")
			}
			conf.RootCAs = pool
		}
		if len(t.CertPEM) > 0 {
			cert, err := tls.X509KeyPair(t.CertPEM, t.KeyPEM)
			if err != nil {
				return engine.Config{}, fmt.Errorf("target TLS: client certificate: %w", err)
			}
			conf.Certificates = []tls.Certificate{cert}
		}
		c.TLS = &engine.TLS{Config: conf}
	}
	return c, nil
}

// Event is one line of the agent's reply to a StartRequest: a stream of JSON objects,
// one per line. Type is "accepted" (first), "heartbeat" (at least every second while
// nothing else is said), "progress", then "result" or "error" (last).
type Event struct {
	Type string `json:"type"`
	// Time is the agent's wall clock when it wrote the event.
	Time     time.Time `json:"time"`
	Progress *Progress `json:"progress,omitempty"`
	Result   *Report   `json:"result,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// Event types.
const (
	EventAccepted  = "accepted"
	EventHeartbeat = "heartbeat"
	EventProgress  = "progress"
	EventResult    = "result"
	EventError     = "error"
)

// Progress mirrors engine.Progress.
type Progress struct {
	Phase           int     `json:"phase"`
	ElapsedNS       int64   `json:"elapsed_ns"`
	PhaseDurationNS int64   `json:"phase_duration_ns"`
	Requests        int64   `json:"requests"`
	Errors          int64   `json:"errors"`
	Rate            float64 `json:"rate"`
	RequestedRate   float64 `json:"requested_rate"`
	InFlight        int64   `json:"inflight"`
	P50NS           int64   `json:"p50_ns"`
	P99NS           int64   `json:"p99_ns"`
}

func progressOf(p engine.Progress) *Progress {
	return &Progress{Phase: int(p.Phase), ElapsedNS: int64(p.Elapsed), PhaseDurationNS: int64(p.PhaseDuration),
		Requests: p.Requests, Errors: p.Errors, Rate: p.Rate, RequestedRate: p.RequestedRate, InFlight: p.InFlight,
		P50NS: int64(p.P50), P99NS: int64(p.P99)}
}

func (p *Progress) engine() engine.Progress {
	return engine.Progress{Phase: engine.Phase(p.Phase), Elapsed: time.Duration(p.ElapsedNS),
		PhaseDuration: time.Duration(p.PhaseDurationNS), Requests: p.Requests, Errors: p.Errors, Rate: p.Rate,
		RequestedRate: p.RequestedRate, InFlight: p.InFlight, P50: time.Duration(p.P50NS), P99: time.Duration(p.P99NS)}
}

// Report is an engine.Result on the wire: histograms in HdrHistogram's V2 encoding
// (lossless), times on the agent's clock.
type Report struct {
	Warmup        PhaseReport `json:"warmup"`
	Measure       PhaseReport `json:"measure"`
	ClosedLoop    bool        `json:"closed_loop,omitempty"`
	RequestedRate float64     `json:"requested_rate"`
	AchievedRate  float64     `json:"achieved_rate"`
	RateHeld      bool        `json:"rate_held"`
	RateReason    string      `json:"rate_reason,omitempty"`
	LateCause     string      `json:"late_cause,omitempty"`
	// Generator is what the engine cost the agent's own process; nil from
	// agents older than these fields.
	Generator   *GeneratorReport `json:"generator,omitempty"`
	Cancelled   bool             `json:"cancelled,omitempty"`
	Connections int64            `json:"connections"`
	Reconnects  int64            `json:"reconnects,omitempty"`
	Workers     int              `json:"workers"`
	IntervalNS  int64            `json:"series_interval_ns"`
	Series      []Point          `json:"series,omitempty"`
	// StartLateNS is how much later than StartAt the engine's clock started.
	StartLateNS int64 `json:"start_late_ns,omitempty"`
}

// PhaseReport mirrors engine.PhaseResult.
type PhaseReport struct {
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	DurationNS   int64     `json:"duration_ns"`
	Latency      Hist      `json:"latency"`
	Service      Hist      `json:"service"`
	StartLag     Hist      `json:"start_lag"`
	ErrorLatency Hist      `json:"error_latency"`
	// ReadyLag and the lag totals (see engine.PhaseResult); nil in closed loop.
	ReadyLag        *Hist            `json:"ready_lag,omitempty"`
	ReadyLagTotalNS int64            `json:"ready_lag_total_ns,omitempty"`
	BusyLagTotalNS  int64            `json:"busy_lag_total_ns,omitempty"`
	Requests        int64            `json:"requests"`
	OK              int64            `json:"ok"`
	Failed          int64            `json:"failed"`
	Overflow        int64            `json:"overflow,omitempty"`
	BytesSent       int64            `json:"bytes_sent"`
	BytesReceived   int64            `json:"bytes_received"`
	Status          map[string]int64 `json:"status,omitempty"`
	Errors          map[string]int64 `json:"errors,omitempty"`
	// ErrorExamples: one message per error class (agents before it send none).
	ErrorExamples map[string]string `json:"error_examples,omitempty"`
}

// GeneratorReport mirrors engine.GeneratorStats.
type GeneratorReport struct {
	CPUNS      int64   `json:"cpu_ns"`
	WallNS     int64   `json:"wall_ns"`
	CPUs       int     `json:"cpus"`
	RunDelayNS int64   `json:"run_delay_ns"`
	SpinNS     int64   `json:"spin_ns,omitempty"`
	Wanted     float64 `json:"wanted,omitempty"`
}

// Hist is an encoded histogram and its clamped count, which the encoding does not hold.
type Hist struct {
	Data    string `json:"data"`
	Clamped int64  `json:"clamped,omitempty"`
}

// Point mirrors engine.Point.
type Point struct {
	OffsetNS int64   `json:"offset_ns"`
	Phase    int     `json:"phase"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	Rate     float64 `json:"rate"`
	P50NS    int64   `json:"p50_ns"`
	P99NS    int64   `json:"p99_ns"`
	InFlight int64   `json:"inflight"`
}

func encodeHist(h *hist.Histogram) (Hist, error) {
	if h == nil {
		h = hist.New()
	}
	s, err := h.Encode()
	if err != nil {
		return Hist{}, err
	}
	return Hist{Data: s, Clamped: h.Clamped()}, nil
}

func (h Hist) decode() (*hist.Histogram, error) {
	out, err := hist.Decode(h.Data)
	if err != nil {
		return nil, err
	}
	if err := out.SetClamped(h.Clamped); err != nil {
		return nil, err
	}
	return out, nil
}

// reportOf encodes an engine result for the wire.
func reportOf(res *engine.Result, startAt time.Time) (*Report, error) {
	r := &Report{ClosedLoop: res.ClosedLoop, RequestedRate: res.RequestedRate, AchievedRate: res.AchievedRate,
		RateHeld: res.RateHeld, RateReason: res.RateReason, LateCause: string(res.LateCause), Cancelled: res.Cancelled,
		Connections: res.Connections, Reconnects: res.Reconnects, Workers: res.Workers, IntervalNS: int64(res.SeriesInterval)}
	g := res.Generator
	r.Generator = &GeneratorReport{CPUNS: int64(g.CPU), WallNS: int64(g.Wall), CPUs: g.CPUs, RunDelayNS: int64(g.RunDelay),
		SpinNS: int64(g.Spin), Wanted: g.Wanted}
	if !startAt.IsZero() {
		r.StartLateNS = max(0, int64(res.Warmup.Start.Sub(startAt)))
	}
	for _, p := range []struct {
		src *engine.PhaseResult
		dst *PhaseReport
	}{{&res.Warmup, &r.Warmup}, {&res.Measure, &r.Measure}} {
		s, d := p.src, p.dst
		*d = PhaseReport{Start: s.Start, End: s.End, DurationNS: int64(s.Duration), Requests: s.Requests, OK: s.Succeeded,
			Failed: s.Failed, Overflow: s.Overflow, BytesSent: s.BytesSent, BytesReceived: s.BytesReceived,
			Status: s.Status, Errors: s.Errors, ErrorExamples: s.ErrorExamples,
			ReadyLagTotalNS: int64(s.ReadyLagTotal), BusyLagTotalNS: int64(s.BusyLagTotal)}
		var err error
		if s.ReadyLag != nil {
			h, err := encodeHist(s.ReadyLag)
			if err != nil {
				return nil, fmt.Errorf("encode histogram: %w", err)
			}
			d.ReadyLag = &h
		}
		for _, h := range []struct {
			src *hist.Histogram
			dst *Hist
		}{{s.Latency, &d.Latency}, {s.Service, &d.Service}, {s.StartLag, &d.StartLag}, {s.ErrorLatency, &d.ErrorLatency}} {
			if *h.dst, err = encodeHist(h.src); err != nil {
				return nil, fmt.Errorf("encode histogram: %w", err)
			}
		}
	}
	for _, p := range res.Series {
		r.Series = append(r.Series, Point{OffsetNS: int64(p.Offset), Phase: int(p.Phase), Requests: p.Requests,
			Errors: p.Errors, Rate: p.Rate, P50NS: int64(p.P50), P99NS: int64(p.P99), InFlight: p.InFlight})
	}
	return r, nil
}

// result decodes a report into an engine result, moving its times from the agent's
// clock to the controller's by subtracting offset (agent − controller).
func (r *Report) result(cfg engine.Config, offset time.Duration) (*engine.Result, error) {
	res := &engine.Result{Config: cfg, ClosedLoop: r.ClosedLoop, RequestedRate: r.RequestedRate,
		AchievedRate: r.AchievedRate, RateHeld: r.RateHeld, RateReason: r.RateReason, LateCause: engine.LateCause(r.LateCause),
		Cancelled: r.Cancelled, Connections: r.Connections, Reconnects: r.Reconnects, Workers: r.Workers,
		SeriesInterval: time.Duration(r.IntervalNS), Generator: engine.GeneratorStats{RunDelay: -1}}
	if g := r.Generator; g != nil {
		res.Generator = engine.GeneratorStats{CPU: time.Duration(g.CPUNS), Wall: time.Duration(g.WallNS), CPUs: g.CPUs,
			RunDelay: time.Duration(g.RunDelayNS), Spin: time.Duration(g.SpinNS), Wanted: g.Wanted}
	}
	for _, p := range []struct {
		src *PhaseReport
		dst *engine.PhaseResult
	}{{&r.Warmup, &res.Warmup}, {&r.Measure, &res.Measure}} {
		s, d := p.src, p.dst
		*d = engine.PhaseResult{Start: s.Start.Add(-offset).UTC(), End: s.End.Add(-offset).UTC(),
			Duration: time.Duration(s.DurationNS), BytesSent: s.BytesSent, BytesReceived: s.BytesReceived,
			Counts: result.Counts{Requests: s.Requests, Succeeded: s.OK, Failed: s.Failed, Overflow: s.Overflow},
			Status: orEmpty(s.Status), Errors: orEmpty(s.Errors), ErrorExamples: s.ErrorExamples,
			ReadyLagTotal: time.Duration(s.ReadyLagTotalNS), BusyLagTotal: time.Duration(s.BusyLagTotalNS)}
		var err error
		if s.ReadyLag != nil {
			if d.ReadyLag, err = s.ReadyLag.decode(); err != nil {
				return nil, fmt.Errorf("decode histogram: %w", err)
			}
		}
		for _, h := range []struct {
			src Hist
			dst **hist.Histogram
		}{{s.Latency, &d.Latency}, {s.Service, &d.Service}, {s.StartLag, &d.StartLag}, {s.ErrorLatency, &d.ErrorLatency}} {
			if *h.dst, err = h.src.decode(); err != nil {
				return nil, fmt.Errorf("decode histogram: %w", err)
			}
		}
		if err := consistent(d); err != nil {
			return nil, err
		}
	}
	for _, p := range r.Series {
		res.Series = append(res.Series, engine.Point{Offset: time.Duration(p.OffsetNS), Phase: engine.Phase(p.Phase),
			Requests: p.Requests, Errors: p.Errors, Rate: p.Rate, P50: time.Duration(p.P50NS),
			P99: time.Duration(p.P99NS), InFlight: p.InFlight})
	}
	return res, nil
}

// consistent refuses a phase whose numbers contradict each other: merged into a trial,
// they would make a result its own check refuses (and no agent of this version sends
// one).
func consistent(p *engine.PhaseResult) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("inconsistent report: "+format, args...)
	}
	switch {
	case p.Requests < 0 || p.Succeeded < 0 || p.Failed < 0 || p.Overflow < 0 || p.BytesSent < 0 || p.BytesReceived < 0 || p.Duration < 0:
		return bad("negative counts or duration")
	case p.Succeeded+p.Failed != p.Requests:
		return bad("%d succeeded + %d failed is not %d requests", p.Succeeded, p.Failed, p.Requests)
	case p.Latency.Count() != p.Succeeded || p.ErrorLatency.Count() != p.Failed:
		return bad("%d latencies for %d succeeded, %d error latencies for %d failed", p.Latency.Count(), p.Succeeded, p.ErrorLatency.Count(), p.Failed)
	}
	for _, m := range []map[string]int64{p.Status, p.Errors} {
		for k, v := range m {
			if v < 0 {
				return bad("%s counts %d", k, v)
			}
		}
	}
	return nil
}

func orEmpty(m map[string]int64) map[string]int64 {
	if m == nil {
		return map[string]int64{}
	}
	return m
}
