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
	}
	if w.Rate != nil {
		c.Rate = *w.Rate
	}
	if w.Warmup != nil {
		c.Warmup = w.Warmup.D()
	}
	switch w.Protocol {
	case spec.ProtocolHTTP1, "":
		c.Protocol = engine.HTTP1
	case spec.ProtocolH2:
		c.Protocol = engine.H2
	case spec.ProtocolH2C:
		c.Protocol = engine.H2C
	case spec.ProtocolGRPC:
		c.Protocol = engine.GRPC
		if w.GRPC.Method == spec.GRPCEcho {
			c.GRPCCall = engine.Echo
		}
	case spec.ProtocolTCP:
		c.Protocol = engine.TCP
	default:
		return engine.Config{}, fmt.Errorf("the builtin engine does not speak %s", w.Protocol)
	}
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
		c.Requests = append(c.Requests, rq)
	}
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
		return engine.Config{}, fmt.Errorf("arrival pattern %s is not supported by the builtin engine yet", w.Arrival.Pattern)
	}
	c.Arrival.Seed = w.Arrival.Seed
	for _, k := range sortedKeys(w.Headers) {
		c.Headers = append(c.Headers, k+": "+w.Headers[k])
	}
	if len(w.Cookies) > 0 {
		var parts []string
		for _, k := range sortedKeys(w.Cookies) {
			parts = append(parts, k+"="+w.Cookies[k])
		}
		c.Headers = append(c.Headers, "Cookie: "+strings.Join(parts, "; "))
	}
	if w.ContentType != "" {
		c.Headers = append(c.Headers, "Content-Type: "+w.ContentType)
	}
	switch {
	case w.Body != "":
		c.Body = []byte(w.Body)
	case w.BodyFile != "":
		path := w.BodyFile
		if !filepath.IsAbs(path) && job.BaseDir != "" {
			path = filepath.Join(job.BaseDir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return engine.Config{}, fmt.Errorf("read workload.body_file: %w", err)
		}
		c.Body = b
	}
	if t := job.Target.TLS; t != nil {
		c.TLS = &engine.TLS{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, ServerName: t.ServerName, Insecure: t.Insecure}
	} else if w.TLS.Enabled || w.TLS.CAFile != "" || w.TLS.CertFile != "" || w.TLS.InsecureSkipVerify {
		c.TLS = &engine.TLS{CAFile: w.TLS.CAFile, CertFile: w.TLS.CertFile, KeyFile: w.TLS.KeyFile,
			ServerName: w.TLS.ServerName, Insecure: w.TLS.InsecureSkipVerify}
	}
	if job.Progress != nil {
		c.Progress = job.Progress
	}
	return c, nil
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
	percentiles, bounds := percentilesAndBounds(job.Metrics)
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
		Load: result.LoadStats{
			RequestedRateRPS: res.RequestedRate,
			AchievedRateRPS:  res.AchievedRate,
			ClosedLoop:       res.ClosedLoop,
			Connections:      res.Config.Connections,
			Streams:          res.Config.Streams,
			RateHeld:         res.RateHeld,
			LateCause:        string(res.LateCause),
			DurationMS:       float64(m.Duration) / float64(time.Millisecond),
			SpinUS:           float64(res.Generator.Spin) / float64(time.Microsecond),
		},
	}
	t.Counts.ConnectionsOpened = res.Connections // counted per run, not per phase
	if g := res.Generator; g.Wall > 0 && g.CPU > 0 {
		t.Load.GeneratorCPUMcores = 1000 * g.CPU.Seconds() / g.Wall.Seconds()
	}
	if m.ReadyLag != nil && m.ReadyLag.Count() > 0 {
		t.Load.ReadyLagP99MS = float64(m.ReadyLag.Percentile(99)) / float64(time.Millisecond)
	}
	if !res.ClosedLoop {
		t.Load.Pattern = string(job.Workload.Arrival.Pattern)
	}
	if !res.RateHeld {
		t.Load.RateWarning = res.RateReason
		t.Warnings = append(t.Warnings, "the load generator could not hold the requested rate: "+res.RateReason)
	}
	if res.Cancelled {
		t.Status = result.StatusPartial
		t.Warnings = append(t.Warnings, "interrupted: the measured phase is shorter than planned")
	}
	if w := res.Warmup; w.Requests > 0 || res.Config.Warmup > 0 {
		t.Warmup = &result.Phase{StartTime: w.Start.UTC(), EndTime: w.End.UTC(), Requests: w.Requests, Errors: w.Failed}
	}
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
	if s := res.Schedule; s != nil {
		t.Load.Schedule = &result.Schedule{Pattern: string(job.Workload.Arrival.Pattern), Seed: res.Config.Arrival.Seed,
			Slots: s.Slots, Complete: s.Complete, SHA256: s.Digest, MeanRateRPS: s.MeanRate, PeakRateRPS: s.PeakRate}
		for _, b := range s.Bursts {
			t.Load.Schedule.Bursts = append(t.Load.Schedule.Bursts, result.Window{StartS: b.Start.Seconds(), EndS: b.End.Seconds()})
		}
	}
	for i, n := range m.Mix {
		if i < len(res.Config.Requests) {
			r := res.Config.Requests[i]
			path := r.Path
			if path == "" {
				path = job.Workload.Path
			}
			t.Load.Mix = append(t.Load.Mix, result.MixCount{Method: r.Method, Path: path, Weight: r.Weight, Requests: n})
		}
	}
	if err != nil {
		return result.Trial{}, fmt.Errorf("summarise histograms: %w", err)
	}
	for _, p := range res.Series {
		if p.Phase != engine.Measure {
			continue
		}
		t.TimeSeries = append(t.TimeSeries, result.Point{
			OffsetS:  (p.Offset + res.SeriesInterval).Seconds(),
			Requests: p.Requests, Errors: p.Errors, RateRPS: p.Rate,
			P50MS: float64(p.P50) / float64(time.Millisecond), P99MS: float64(p.P99) / float64(time.Millisecond),
			Inflight: p.InFlight,
		})
	}
	if len(job.Target.URLs) > 1 {
		t.Warnings = append(t.Warnings, fmt.Sprintf("the builtin engine loads one URL; %d more were ignored", len(job.Target.URLs)-1))
	}
	return t, nil
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
