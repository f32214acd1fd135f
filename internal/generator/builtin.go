package generator

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/service-mesh-performance/smp/internal/engine"
	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/internal/version"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// Builtin is smp's own engine, run in this process.
type Builtin struct{}

// Info implements Generator.
func (Builtin) Info() result.GeneratorInfo {
	return result.GeneratorInfo{Name: spec.GeneratorBuiltin, Version: version.Get().Version}
}

// EngineConfig converts a job into the engine's configuration.
func EngineConfig(job Job) (engine.Config, error) {
	w := job.Workload
	if len(job.Target.URLs) == 0 {
		return engine.Config{}, fmt.Errorf("no target URL")
	}
	c := engine.Config{
		Target:         job.Target.URLs[0],
		Method:         w.Method,
		PayloadSize:    int(w.RequestSize),
		Connections:    w.Connections,
		Streams:        w.Streams,
		MaxInflight:    w.MaxInflight,
		Duration:       w.Duration.D(),
		Timeout:        w.Timeout.D(),
		KeepAlive:      w.KeepAlive,
		GRPCService:    w.GRPC.Service,
		SeriesInterval: job.Metrics.Interval.D(),
		Requests:       requestsOf(w),
		Headers:        headersOf(w),
		TLS:            engineTLS(job),
		Progress:       job.Progress,
	}
	if w.Rate != nil {
		c.Rate = *w.Rate
	}
	if w.Warmup != nil {
		c.Warmup = w.Warmup.D()
	}
	var err error
	if c.Protocol, c.GRPCCall, err = engineProtocol(w); err != nil {
		return engine.Config{}, err
	}
	if err := setArrival(&c, w); err != nil {
		return engine.Config{}, err
	}
	if c.Body, err = bodyOf(w, job.BaseDir); err != nil {
		return engine.Config{}, err
	}
	return c, nil
}

// engineProtocol is the engine's protocol (and gRPC call) for the workload's.
func engineProtocol(w spec.Workload) (engine.Protocol, engine.GRPCCall, error) {
	var call engine.GRPCCall
	switch w.Protocol {
	case spec.ProtocolHTTP1, "":
		return engine.HTTP1, call, nil
	case spec.ProtocolH2:
		return engine.H2, call, nil
	case spec.ProtocolH2C:
		return engine.H2C, call, nil
	case spec.ProtocolGRPC:
		if w.GRPC.Method == spec.GRPCEcho {
			call = engine.Echo
		}
		return engine.GRPC, call, nil
	case spec.ProtocolTCP:
		return engine.TCP, call, nil
	}
	return 0, call, fmt.Errorf("the builtin engine does not speak %s", w.Protocol)
}

// requestsOf is the workload's request mix (nil without one); a request without a
// method takes the workload's, or POST when it has a body.
func requestsOf(w spec.Workload) []engine.Request {
	var out []engine.Request
	for _, r := range w.Mix {
		method := r.Method
		if method == "" {
			method = w.Method
			if r.Body != "" || r.RequestSize > 0 {
				method = "POST"
			}
		}
		rq := engine.Request{Weight: r.Weight, Method: method, Path: r.Path, PayloadSize: int(r.RequestSize)}
		if r.Body != "" {
			rq.Body = []byte(r.Body)
		}
		for _, k := range sortedKeys(r.Headers) {
			rq.Headers = append(rq.Headers, k+": "+r.Headers[k])
		}
		out = append(out, rq)
	}
	return out
}

// setArrival sets the engine's arrival schedule (and the real-world pattern's request
// shaping) from the workload's arrival pattern.
func setArrival(c *engine.Config, w spec.Workload) error {
	switch w.Arrival.Pattern {
	case spec.PatternConstant, "":
		c.Arrival.Pattern = engine.Constant
	case spec.PatternPoisson:
		c.Arrival.Pattern = engine.Poisson
	case spec.PatternUniform:
		// spec: ±jitter of one gap; engine: ±Jitter/2 of one gap.
		c.Arrival.Pattern, c.Arrival.Jitter = engine.Uniform, math.Min(1, 2*w.Arrival.Jitter)
	case spec.PatternRamp:
		c.Arrival.Pattern, c.Arrival.RampFrom, c.Arrival.RampDuration = engine.Ramp, w.Arrival.FromRate, w.Arrival.Ramp.D()
	case spec.PatternStep:
		c.Arrival.Pattern = engine.Step
		for _, s := range w.Arrival.Steps {
			c.Arrival.Steps = append(c.Arrival.Steps, engine.RateStep{Rate: s.Rate, Duration: s.Duration.D()})
		}
	case spec.PatternRealWorld:
		rw := w.Arrival.RealWorld
		c.Arrival.Pattern = engine.RealWorld
		c.Arrival.RealWorld = engine.RealWorldRate{BurstFactor: rw.BurstFactor, BurstEvery: rw.BurstEvery.D(),
			BurstLength: rw.BurstLength.D(), DiurnalPeriod: rw.DiurnalPeriod.D(),
			// spec: 0 switches a part off; engine: 0 is its default and negative is off.
			DiurnalAmplitude: offIfZero(rw.DiurnalAmplitude), Noise: offIfZero(rw.Noise)}
		if rw.SizeSpread != nil {
			c.SizeSpread = *rw.SizeSpread
		}
		if rw.Churn != nil {
			c.Churn = *rw.Churn
		}
	default:
		return fmt.Errorf("arrival pattern %s is not supported by the builtin engine yet", w.Arrival.Pattern)
	}
	c.Arrival.Seed = w.Arrival.Seed
	return nil
}

// headersOf are the workload's headers, sorted, then its cookies and content type.
func headersOf(w spec.Workload) []string {
	var out []string
	for _, k := range sortedKeys(w.Headers) {
		out = append(out, k+": "+w.Headers[k])
	}
	if len(w.Cookies) > 0 {
		var parts []string
		for _, k := range sortedKeys(w.Cookies) {
			parts = append(parts, k+"="+w.Cookies[k])
		}
		out = append(out, "Cookie: "+strings.Join(parts, "; "))
	}
	if w.ContentType != "" {
		out = append(out, "Content-Type: "+w.ContentType)
	}
	return out
}

// bodyOf is the request body: the workload's, or its body_file's contents (relative to
// the plan's folder).
func bodyOf(w spec.Workload, baseDir string) ([]byte, error) {
	switch {
	case w.Body != "":
		return []byte(w.Body), nil
	case w.BodyFile != "":
		path := w.BodyFile
		if !filepath.IsAbs(path) && baseDir != "" {
			path = filepath.Join(baseDir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read workload.body_file: %w", err)
		}
		return b, nil
	}
	return nil, nil
}

// engineTLS is the client TLS towards the target: the deployment's (its first hop's),
// else the workload's tls section, else none.
func engineTLS(job Job) *engine.TLS {
	w := job.Workload
	if t := job.Target.TLS; t != nil {
		return &engine.TLS{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, ServerName: t.ServerName, Insecure: t.Insecure}
	}
	if w.TLS.Enabled || w.TLS.CAFile != "" || w.TLS.CertFile != "" || w.TLS.InsecureSkipVerify {
		return &engine.TLS{CAFile: w.TLS.CAFile, CertFile: w.TLS.CertFile, KeyFile: w.TLS.KeyFile,
			ServerName: w.TLS.ServerName, Insecure: w.TLS.InsecureSkipVerify}
	}
	return nil
}

// offIfZero maps a spec value where 0 means "off" (nil: unset) onto the engine's
// convention, where 0 means the default and a negative value means off.
func offIfZero(v *float64) float64 {
	switch {
	case v == nil:
		return 0
	case *v == 0:
		return -1
	}
	return *v
}

// Check implements Checker: what the builtin engine cannot do is known before anything
// is deployed.
func (Builtin) Check(_ context.Context, w spec.Workload) error {
	if len(w.Mix) > 0 && w.Protocol != spec.ProtocolHTTP1 && w.Protocol != "" {
		return fmt.Errorf("the builtin engine sends a request mix (workload.mix) over HTTP/1.1 only, not %s", w.Protocol)
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Run implements Generator.
func (b Builtin) Run(ctx context.Context, job Job) (result.Trial, error) {
	cfg, err := EngineConfig(job)
	if err != nil {
		return result.Trial{}, err
	}
	res, err := engine.Run(ctx, cfg)
	if err != nil {
		return result.Trial{}, fmt.Errorf("builtin engine: %w", err)
	}
	return TrialOf(res, b.Info(), job)
}

// TrialOf converts an engine result into the load-side fields of a trial.
func TrialOf(res *engine.Result, info result.GeneratorInfo, job Job) (result.Trial, error) {
	m := res.Measure
	t := result.Trial{
		Generator:     info,
		Targets:       job.Target.URLs,
		Status:        result.StatusComplete,
		StartTime:     m.Start.UTC(),
		EndTime:       m.End.UTC(),
		Counts:        m.Counts,
		ErrorsByClass: nonEmpty(m.Errors),
		StatusCodes:   nonEmpty(m.Status),
		BytesSent:     m.BytesSent,
		BytesReceived: m.BytesReceived,
		Load:          loadStatsOf(res, job.Workload),
		TimeSeries:    seriesOf(res),
	}
	t.Counts.ConnectionsOpened = res.Connections // counted per run, not per phase
	if !res.RateHeld {
		t.Warnings = append(t.Warnings, "the load generator could not hold the requested rate: "+res.RateReason)
	}
	switch {
	case len(m.ErrorExamples) > 0:
		t.ErrorExamples = m.ErrorExamples
	case len(res.Warmup.ErrorExamples) > 0:
		t.ErrorExamples = res.Warmup.ErrorExamples // why the warm-up failed is why the rest did
	}
	t.Warnings = append(t.Warnings, errorHints(t.ErrorsByClass, t.ErrorExamples)...)
	if res.Cancelled {
		t.Status = result.StatusPartial
		t.Warnings = append(t.Warnings, "interrupted: the measured phase is shorter than planned")
	}
	if w := res.Warmup; w.Requests > 0 || res.Config.Warmup > 0 {
		t.Warmup = &result.Phase{StartTime: w.Start.UTC(), EndTime: w.End.UTC(), Requests: w.Requests, Errors: w.Failed}
	}
	if err := setDistributions(&t, res, job.Metrics); err != nil {
		return result.Trial{}, fmt.Errorf("summarise histograms: %w", err)
	}
	if len(job.Target.URLs) > 1 {
		t.Warnings = append(t.Warnings, fmt.Sprintf("the builtin engine loads one URL; %d more were ignored", len(job.Target.URLs)-1))
	}
	return t, nil
}

// loadStatsOf is what the engine says of the load it applied: rates, whether it held
// them and why not, its own cost, the schedule of a seeded pattern and the request mix.
func loadStatsOf(res *engine.Result, w spec.Workload) result.LoadStats {
	m := res.Measure
	l := result.LoadStats{
		RequestedRateRPS: res.RequestedRate,
		AchievedRateRPS:  res.AchievedRate,
		ClosedLoop:       res.ClosedLoop,
		Connections:      res.Config.Connections,
		Streams:          res.Config.Streams,
		RateHeld:         res.RateHeld,
		LateCause:        string(res.LateCause),
		DurationMS:       float64(m.Duration) / float64(time.Millisecond),
		SpinUS:           float64(res.Generator.Spin) / float64(time.Microsecond),
	}
	if g := res.Generator; g.Wall > 0 && g.CPU > 0 {
		l.GeneratorCPUMcores = 1000 * g.CPU.Seconds() / g.Wall.Seconds()
	}
	if m.ReadyLag != nil && m.ReadyLag.Count() > 0 {
		l.ReadyLagP99MS = float64(m.ReadyLag.Percentile(99)) / float64(time.Millisecond)
	}
	if !res.ClosedLoop {
		l.Pattern = string(w.Arrival.Pattern)
	}
	if !res.RateHeld {
		l.RateWarning = res.RateReason
	}
	if s := res.Schedule; s != nil {
		l.Schedule = &result.Schedule{Pattern: string(w.Arrival.Pattern), Seed: res.Config.Arrival.Seed,
			Slots: s.Slots, Complete: s.Complete, SHA256: s.Digest, MeanRateRPS: s.MeanRate, PeakRateRPS: s.PeakRate}
		for _, b := range s.Bursts {
			l.Schedule.Bursts = append(l.Schedule.Bursts, result.Window{StartS: b.Start.Seconds(), EndS: b.End.Seconds()})
		}
	}
	for i, n := range m.Mix {
		if i < len(res.Config.Requests) {
			r := res.Config.Requests[i]
			path := r.Path
			if path == "" {
				path = w.Path
			}
			l.Mix = append(l.Mix, result.MixCount{Method: r.Method, Path: path, Weight: r.Weight, Requests: n})
		}
	}
	return l
}

// setDistributions sets the trial's distributions from the measured phase's histograms:
// latency, errors' latency, service time, start lag and, with keep-alive off, the
// handshake's phases.
func setDistributions(t *result.Trial, res *engine.Result, metrics spec.Metrics) error {
	percentiles, bounds := percentilesAndBounds(metrics)
	m := res.Measure
	var err error
	dist := func(h *hist.Histogram) *result.Distribution {
		if err != nil || h == nil {
			return nil
		}
		var enc string
		enc, err = h.Encode()
		if err != nil {
			return nil
		}
		var d result.Distribution
		d, err = result.NewDistribution(enc, h.Clamped(), percentiles, bounds)
		return &d
	}
	if d := dist(m.Latency); d != nil {
		t.Latency = *d
	}
	t.ErrorLatency = dist(m.ErrorLatency)
	t.ServiceTime = dist(m.Service)
	t.StartLag = dist(m.StartLag)
	if m.Connect != nil {
		t.Handshake = &result.Handshake{Mode: handshakeMode(res), Connect: dist(m.Connect), FirstByte: dist(m.FirstByte)}
		if m.TLSHandshake.Count() > 0 {
			t.Handshake.TLS = dist(m.TLSHandshake)
		}
	}
	return err
}

// seriesOf is the measured phase's time series, each point at the end of its interval.
func seriesOf(res *engine.Result) []result.Point {
	var out []result.Point
	for _, p := range res.Series {
		if p.Phase != engine.Measure {
			continue
		}
		out = append(out, result.Point{
			OffsetS:  (p.Offset + res.SeriesInterval).Seconds(),
			Requests: p.Requests, Errors: p.Errors, RateRPS: p.Rate,
			P50MS: float64(p.P50) / float64(time.Millisecond), P99MS: float64(p.P99) / float64(time.Millisecond),
			Inflight: p.InFlight,
		})
	}
	return out
}

func nonEmpty(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// handshakeMode names how a keep-alive-off trial's connections were opened.
func handshakeMode(res *engine.Result) string {
	switch t := res.Config.TLS; {
	case res.Measure.TLSHandshake == nil || res.Measure.TLSHandshake.Count() == 0 && t == nil:
		return "plaintext"
	case t != nil && (t.CertFile != "" || t.Config != nil && (len(t.Config.Certificates) > 0 || t.Config.GetClientCertificate != nil)):
		return "mtls"
	}
	return "tls"
}
