package generator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/internal/proc"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// Nighthawk drives nighthawk_client (github.com/envoyproxy/nighthawk) with one worker
// (--concurrency 1, so --rps and --connections are totals), in open loop, and reads its
// --output-format json.
type Nighthawk struct{ bin *binary }

// NewNighthawk returns the nighthawk generator; the binary is looked for by Check or Run.
func NewNighthawk() *Nighthawk {
	return &Nighthawk{bin: &binary{name: "nighthawk_client",
		hint:        "build https://github.com/envoyproxy/nighthawk with Bazel (bazel build -c opt //:nighthawk_client) and put nighthawk_client on PATH",
		versionArgs: []string{"--version"}, parse: parseNighthawkVersion}}
}

// Caveats of every nighthawk trial.
const (
	nighthawkCaveatRelease = "latency from the sequencer's release of each request (sequencer.callback), not from its " +
		"scheduled time: the release tracks the schedule to about 25 µs, but lateness of the event loop is not charged"
	nighthawkCaveatService = "service time is benchmark_http_client.request_to_response (connection pool ready to the end " +
		"of the response)"
	nighthawkCaveatTicks = "histograms rebuilt from nighthawk's percentile ticks (HdrHistogram, 4 digits, ns): each " +
		"tick's new count is recorded at the tick's value, so a percentile between two ticks reads as the upper tick; " +
		"nighthawk drops values above 60 s"
	nighthawkCaveatStatus = "nighthawk counts responses by status class (2xx, 3xx, …), which smp records as \"2xx\", \"5xx\", …"
)

// Info implements Generator.
func (g *Nighthawk) Info() result.GeneratorInfo {
	return result.GeneratorInfo{Name: spec.GeneratorNighthawk, Version: g.bin.cached(),
		Caveats: []string{nighthawkCaveatRelease, nighthawkCaveatService, nighthawkCaveatTicks, nighthawkCaveatStatus}}
}

// parseNighthawkVersion takes the first line that names a version.
func parseNighthawkVersion(out string) string {
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if i := strings.Index(strings.ToLower(line), "version"); i >= 0 {
			v := strings.TrimLeft(line[i+len("version"):], ": ")
			if v != "" {
				return v
			}
		}
		return line
	}
	return ""
}

// Check implements Checker.
func (g *Nighthawk) Check(ctx context.Context, w spec.Workload) error {
	if err := nighthawkCheck(w); err != nil {
		return err
	}
	_, _, err := g.bin.find(ctx)
	return err
}

func nighthawkCheck(w spec.Workload) error {
	switch p := protocolOf(w); p {
	case spec.ProtocolHTTP1, spec.ProtocolH2, spec.ProtocolH2C:
	default:
		return fmt.Errorf("nighthawk has no %s load mode", p)
	}
	if w.Rate == nil || *w.Rate < 1 {
		return errors.New("nighthawk needs a rate of at least 1/s (--rps)")
	}
	if w.Body != "" || w.BodyFile != "" {
		return errors.New("nighthawk sends generated bodies only (--request-body-size); use workload.request_size")
	}
	if len(w.Mix) > 0 {
		return errors.New("nighthawk sends one kind of request here; workload.mix needs load_generator: builtin")
	}
	switch w.Arrival.Pattern {
	case spec.PatternConstant, spec.PatternUniform, "":
	default:
		return fmt.Errorf("nighthawk cannot produce %s arrivals", w.Arrival.Pattern)
	}
	_, err := extraArgs(w)
	return err
}

// nighthawkArgs builds the command line for a run of d.
func nighthawkArgs(job Job, d time.Duration) (args, warnings []string, err error) {
	w := job.Workload
	raw, err := firstURL(job)
	if err != nil {
		return nil, nil, err
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, nil, fmt.Errorf("target %q is not a URL with a host", raw)
	}
	t := tlsOf(job)
	switch u.Scheme {
	case "http", "h2c":
		u.Scheme = "http"
		if t != nil {
			u.Scheme = "https"
		}
	case "https":
	default:
		return nil, nil, fmt.Errorf("nighthawk loads http:// and https:// URLs, not %s://", u.Scheme)
	}
	rate := math.Round(*w.Rate)
	if rate != *w.Rate {
		warnings = append(warnings, fmt.Sprintf("nighthawk takes a whole rate: %g/s sent as %g/s", *w.Rate, rate))
	}
	ds, dwarn := wholeSeconds("workload.duration", d)
	ts, twarn := wholeSeconds("workload.timeout", w.Timeout.D())
	warnings = appendNonEmpty(warnings, dwarn, twarn)
	conns := max(w.Connections, 1)
	args = []string{"--output-format", "json", "--concurrency", "1",
		"--rps", strconv.FormatFloat(rate, 'f', 0, 64), "--connections", strconv.Itoa(conns),
		"--duration", strconv.Itoa(ds), "--timeout", strconv.Itoa(ts),
		// Open loop: releases do not wait for a free connection; what cannot be sent is
		// queued up to max_inflight, then counted as overflow (benchmark.pool_overflow).
		"--open-loop", "--max-pending-requests", strconv.Itoa(max(w.MaxInflight, 1)),
		// Errors are measurements: without this, any 4xx, 5xx or connection failure makes
		// nighthawk exit non-zero.
		"--no-default-failure-predicates",
	}
	switch protocolOf(w) {
	case spec.ProtocolH2, spec.ProtocolH2C:
		streams := max(w.Streams, 1)
		args = append(args, "--h2", "--max-concurrent-streams", strconv.Itoa(streams),
			"--max-active-requests", strconv.Itoa(conns*streams))
	}
	if w.Arrival.Pattern == spec.PatternUniform {
		// smp moves each request by up to ±jitter of a gap; nighthawk delays each release
		// by a uniform [0, J]: J = 2·jitter·gap gives the same spread, shifted by half.
		j := time.Duration(2 * w.Arrival.Jitter / rate * float64(time.Second))
		args = append(args, "--jitter-uniform", strconv.FormatFloat(j.Seconds(), 'f', 9, 64)+"s")
	}
	req, err := requestOf(job)
	if err != nil {
		return nil, nil, err
	}
	args = append(args, "--request-method", strings.ToUpper(req.method))
	for _, kv := range req.headers {
		args = append(args, "--request-header", kv[0]+":"+kv[1])
	}
	if req.contentType != "" {
		args = append(args, "--request-header", "content-type:"+req.contentType)
	}
	if w.KeepAlive != nil && !*w.KeepAlive {
		args = append(args, "--max-requests-per-connection", "1")
	}
	if len(req.body) > 0 {
		args = append(args, "--request-body-size", strconv.Itoa(len(req.body)))
	}
	if t != nil {
		if t.CAFile != "" || t.CertFile != "" || t.ServerName != "" {
			warnings = append(warnings, "nighthawk's TLS settings (CA, client certificate, SNI) go through "+
				"--transport-socket; pass them in workload.additional_options args")
		}
	}
	extra, err := extraArgs(w)
	if err != nil {
		return nil, nil, err
	}
	args = append(append(args, extra...), u.String())
	return args, warnings, nil
}

// Run implements Generator.
func (g *Nighthawk) Run(ctx context.Context, job Job) (result.Trial, error) {
	w := job.Workload
	if err := nighthawkCheck(w); err != nil {
		return result.Trial{}, err
	}
	path, _, err := g.bin.find(ctx)
	if err != nil {
		return result.Trial{}, err
	}
	m := &measurement{requestedRate: math.Round(*w.Rate), rateHeld: true, connectionsAsked: max(w.Connections, 1),
		streams: max(w.Streams, 1), errors: map[string]int64{}, status: map[string]int64{}}
	grace := w.Timeout.D() + 10*time.Second
	if wu := w.Warmup; wu != nil && wu.D() > 0 {
		args, _, err := nighthawkArgs(job, wu.D())
		if err != nil {
			return result.Trial{}, err
		}
		m.caveats = append(m.caveats, "workload.warmup runs as a separate nighthawk_client process first; the measured run opens new connections")
		start := time.Now()
		out, interrupted, err := runToEnd(ctx, proc.Cmd{Name: "nighthawk-warmup", Path: path, Args: args}, grace)
		if err != nil {
			return result.Trial{}, fmt.Errorf("nighthawk warm-up: %w", err)
		}
		o, err := parseNighthawk(out)
		if err != nil {
			return result.Trial{}, fmt.Errorf("nighthawk warm-up: %w", err)
		}
		wm := &measurement{errors: map[string]int64{}, status: map[string]int64{}}
		if err := o.into(wm, start); err != nil {
			return result.Trial{}, fmt.Errorf("nighthawk warm-up: %w", err)
		}
		m.warmup = &result.Phase{StartTime: wm.start.UTC(), EndTime: wm.end.UTC(), Requests: wm.requests, Errors: wm.failed}
		if interrupted {
			m.start, m.end, m.partial = time.Now(), time.Now(), true
			return m.trial(g.Info(), job)
		}
	}
	args, warnings, err := nighthawkArgs(job, w.Duration.D())
	if err != nil {
		return result.Trial{}, err
	}
	m.warnings = append(m.warnings, warnings...)
	start := time.Now()
	out, interrupted, err := runToEnd(ctx, proc.Cmd{Name: "nighthawk", Path: path, Args: args}, grace)
	if err != nil {
		return result.Trial{}, fmt.Errorf("nighthawk: %w", err)
	}
	o, err := parseNighthawk(out)
	if err != nil {
		return result.Trial{}, fmt.Errorf("nighthawk: %w", err)
	}
	m.partial = interrupted
	if err := o.into(m, start); err != nil {
		return result.Trial{}, fmt.Errorf("nighthawk: %w", err)
	}
	if v := o.version(); v != "" && g.bin.cached() == "unknown" {
		g.bin.mu.Lock()
		g.bin.version = v
		g.bin.mu.Unlock()
	}
	return m.trial(g.Info(), job)
}

// nighthawkOutput is nighthawk's Output proto (api/client/output.proto) in proto3's JSON
// mapping: uint64 as strings, Duration as "0.000180007s", Timestamp as RFC 3339. Fields
// smp does not use are left out; unknown fields are ignored (newer nighthawks add some).
type nighthawkOutput struct {
	Timestamp string            `json:"timestamp"`
	Results   []nighthawkResult `json:"results"`
	Version   *struct {
		Version *struct {
			Major int `json:"major_number"`
			Minor int `json:"minor_number"`
			Patch int `json:"patch"`
		} `json:"version"`
	} `json:"version"`
}

type nighthawkResult struct {
	Name              string               `json:"name"`
	Statistics        []nighthawkStatistic `json:"statistics"`
	Counters          []nighthawkCounter   `json:"counters"`
	ExecutionDuration string               `json:"execution_duration"`
	ExecutionStart    string               `json:"execution_start"`
}

type nighthawkStatistic struct {
	Count       json.Number           `json:"count"`
	ID          string                `json:"id"`
	Percentiles []nighthawkPercentile `json:"percentiles"`
	Mean        string                `json:"mean"`
	Min         string                `json:"min"`
	Max         string                `json:"max"`
}

type nighthawkPercentile struct {
	Duration   string      `json:"duration"`
	RawValue   *float64    `json:"raw_value"`
	Percentile float64     `json:"percentile"`
	Count      json.Number `json:"count"`
}

type nighthawkCounter struct {
	Name  string      `json:"name"`
	Value json.Number `json:"value"`
}

// parseNighthawk decodes nighthawk_client's JSON (which may follow log lines on stdout).
func parseNighthawk(out []byte) (*nighthawkOutput, error) {
	i := strings.IndexByte(string(out), '{')
	if i < 0 {
		return nil, errors.New("no JSON in nighthawk's output")
	}
	dec := json.NewDecoder(strings.NewReader(string(out[i:])))
	dec.UseNumber()
	var o nighthawkOutput
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("decode nighthawk's JSON: %w", err)
	}
	return &o, nil
}

func (o *nighthawkOutput) version() string {
	if o.Version == nil || o.Version.Version == nil {
		return ""
	}
	v := o.Version.Version
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
}

// global is the result that merges every worker.
func (o *nighthawkOutput) global() (*nighthawkResult, error) {
	for i := range o.Results {
		if o.Results[i].Name == "global" {
			return &o.Results[i], nil
		}
	}
	// With one worker older nighthawks print only worker_0.
	if len(o.Results) == 1 {
		return &o.Results[0], nil
	}
	return nil, fmt.Errorf("nighthawk's output has no global result among %d", len(o.Results))
}

func (r *nighthawkResult) statistic(id string) *nighthawkStatistic {
	for i := range r.Statistics {
		if r.Statistics[i].ID == id {
			return &r.Statistics[i]
		}
	}
	return nil
}

func (r *nighthawkResult) counter(name string) int64 {
	for _, c := range r.Counters {
		if c.Name == name {
			v, _ := strconv.ParseInt(c.Value.String(), 10, 64)
			return v
		}
	}
	return 0
}

// parseProtoDuration reads proto3's JSON Duration: "0.000180007s", "10s", "-1.5s".
func parseProtoDuration(s string) (time.Duration, error) {
	num, ok := strings.CutSuffix(s, "s")
	if !ok {
		return 0, fmt.Errorf("duration %q does not end in s", s)
	}
	sec, frac, _ := strings.Cut(num, ".")
	neg := strings.HasPrefix(sec, "-")
	whole, err := strconv.ParseInt(strings.TrimPrefix(sec, "-"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("duration %q: %w", s, err)
	}
	var nanos int64
	if frac != "" {
		if len(frac) > 9 {
			return 0, fmt.Errorf("duration %q: more than 9 decimals", s)
		}
		nanos, err = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %w", s, err)
		}
	}
	d := time.Duration(whole)*time.Second + time.Duration(nanos)
	if neg {
		d = -d
	}
	return d, nil
}

// histogram rebuilds a latency histogram from a statistic's percentile ticks: each tick
// carries the cumulative count up to its value, so the new count since the previous tick
// is recorded at the tick's value (rounded up to whole µs, smp's unit).
func (s *nighthawkStatistic) histogram() (*hist.Histogram, error) {
	h := hist.New()
	var prev int64
	for _, p := range s.Percentiles {
		n, err := strconv.ParseInt(p.Count.String(), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("statistic %s: count %q: %w", s.ID, p.Count, err)
		}
		var v time.Duration
		switch {
		case p.Duration != "":
			if v, err = parseProtoDuration(p.Duration); err != nil {
				return nil, fmt.Errorf("statistic %s: %w", s.ID, err)
			}
		case p.RawValue != nil:
			return nil, fmt.Errorf("statistic %s holds raw values, not durations", s.ID)
		}
		if n > prev {
			h.RecordN(v, n-prev)
			prev = n
		}
	}
	if total, err := strconv.ParseInt(s.Count.String(), 10, 64); err == nil && total != h.Count() {
		return nil, fmt.Errorf("statistic %s: its ticks add up to %d, its count is %d", s.ID, h.Count(), total)
	}
	return h, nil
}

// into converts the global result into m.
func (o *nighthawkOutput) into(m *measurement, start time.Time) error {
	g, err := o.global()
	if err != nil {
		return err
	}
	d, err := parseProtoDuration(g.ExecutionDuration)
	if g.ExecutionDuration == "" || err != nil {
		return fmt.Errorf("global result: execution_duration %q: %v", g.ExecutionDuration, err)
	}
	if ts, err := time.Parse(time.RFC3339Nano, g.ExecutionStart); err == nil {
		start = ts
	}
	m.start, m.end = start, start.Add(d)
	stat := func(id string) (*hist.Histogram, error) {
		s := g.statistic(id)
		if s == nil {
			return nil, nil
		}
		return s.histogram()
	}
	lat, err := stat("sequencer.callback")
	if err != nil {
		return err
	}
	if lat == nil {
		return errors.New("global result has no sequencer.callback statistic")
	}
	if m.service, err = stat("benchmark_http_client.request_to_response"); err != nil {
		return err
	}
	classes := []string{"1xx", "2xx", "3xx", "4xx", "5xx", "xxx"}
	var ok, failedStatus int64
	for _, c := range classes {
		n := g.counter("benchmark.http_" + c)
		if n == 0 {
			continue
		}
		m.status[c] += n
		if c == "4xx" || c == "5xx" || c == "xxx" {
			failedStatus += n
		} else {
			ok += n
		}
	}
	if failedStatus > 0 {
		m.errors["http"] += failedStatus
	}
	// Requests that got no response, by nighthawk's own benchmark counters (the upstream_*
	// counters of Envoy's pool describe the same events again).
	for counter, class := range map[string]string{
		"benchmark.pool_connection_failure": "refused",
		"benchmark.stream_resets":           "reset",
		"benchmark.pool_overflow":           "overflow",
	} {
		if n := g.counter(counter); n > 0 {
			m.errors[class] += n
		}
	}
	m.overflow = m.errors["overflow"]
	transport := int64(0)
	for class, n := range m.errors {
		if class != "http" && class != "overflow" {
			transport += n
		}
	}
	// sequencer.callback times every completion, failures included; nighthawk does not
	// split it by outcome, so latency holds them all.
	m.latency = lat
	m.succeeded = ok
	m.failed = failedStatus + transport
	m.requests = m.succeeded + m.failed
	if failedStatus > 0 {
		m.warnings = append(m.warnings, fmt.Sprintf("%d responses were 4xx/5xx; nighthawk's sequencer.callback does not say which, so they are in the latency histogram", failedStatus))
	}
	m.bytesReceived = g.counter("upstream_cx_rx_bytes_total")
	m.bytesSent = g.counter("upstream_cx_tx_bytes_total")
	m.connections = g.counter("upstream_cx_total")
	if d > 0 {
		m.achievedRate = float64(m.requests) / d.Seconds()
	}
	if m.requestedRate > 0 {
		m.rateHeld, m.rateWarning = rateVerdict(m.requestedRate, m.achievedRate, d)
		if m.overflow > 0 {
			m.rateHeld = false
			m.rateWarning = strings.TrimPrefix(m.rateWarning+"; ", "; ") +
				fmt.Sprintf("%d requests overflowed nighthawk's pool (max_inflight)", m.overflow)
		}
	}
	return nil
}
