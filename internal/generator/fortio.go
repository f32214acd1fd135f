package generator

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"fortio.org/fortio/fgrpc"
	"fortio.org/fortio/fhttp"
	"fortio.org/fortio/periodic"
	"fortio.org/fortio/stats"
	"fortio.org/fortio/tcprunner"
	flog "fortio.org/log"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// Fortio drives fortio's library packages in this process: periodic for the schedule,
// fhttp for HTTP/1.1 (its fast client) and h2 (net/http), fgrpc's dialer for gRPC health
// checks. See docs/generators.md for how the workload maps onto fortio's options.
type Fortio struct{}

// fortioResolution is the -r given to fortio's own histograms (10 µs instead of fortio's
// default 1 ms). smp does not read them for latency — every call is recorded exactly
// through the AccessLogger hook — except in the fallback of fortiohist.go, where the
// finer resolution keeps buckets 10–25% wide between 100 µs and 10 ms.
const fortioResolution = 10e-6

// Caveats of every fortio trial.
const (
	fortioCaveatCO = "latency measured from the actual send (coordinated omission not corrected): each of fortio's " +
		"goroutines waits for its response before the next call, so a stall delays later calls instead of lengthening them"
	fortioCaveatWarmup = "fortio sends one warm-up request per connection before measuring (not counted); " +
		"workload.warmup runs as a separate fortio run first, whose connections are closed before the measured run opens its own"
	fortioCaveatSamples = "each call's latency as fortio timed it (float seconds from just before the call to its return) " +
		"is recorded into smp's HDR histogram through fortio's AccessLogger hook: no loss to fortio's buckets"
)

// Info implements Generator.
func (Fortio) Info() result.GeneratorInfo {
	return result.GeneratorInfo{Name: spec.GeneratorFortio, Version: fortioVersion(),
		Caveats: []string{fortioCaveatCO, fortioCaveatSamples}}
}

// fortioVersion is the version of the fortio module linked into this binary.
func fortioVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "fortio.org/fortio" {
				if m.Replace != nil && m.Replace.Version != "" {
					return strings.TrimPrefix(m.Replace.Version, "v")
				}
				return strings.TrimPrefix(m.Version, "v")
			}
		}
	}
	return "unknown"
}

// Check implements Checker: fortio is linked in, so only the workload is checked.
func (Fortio) Check(_ context.Context, w spec.Workload) error {
	_, err := fortioPlanOf(w)
	return err
}

// fortioPlan is what a workload asks of fortio, independent of the target.
type fortioPlan struct {
	grpc            bool
	h2              bool
	tcp             bool    // fortio's TCP echo runner (tcprunner)
	threads         int     // fortio's NumThreads: connections, × streams for gRPC
	streams         int     // gRPC streams per connection (fortio -s)
	qps             float64 // total; -1 = closed loop (fortio's max speed)
	uniform, jitter bool
	timeout         time.Duration
	keepAlive       bool
	service         string
}

func fortioPlanOf(w spec.Workload) (fortioPlan, error) {
	p := fortioPlan{threads: max(w.Connections, 1), streams: max(w.Streams, 1), qps: -1,
		timeout: w.Timeout.D(), keepAlive: w.KeepAlive == nil || *w.KeepAlive, service: w.GRPC.Service}
	if w.Rate != nil && *w.Rate > 0 {
		// fortio splits its total -qps evenly over its goroutines; -uniform staggers them
		// over one period so they do not fire together.
		p.qps, p.uniform = *w.Rate, true
	}
	switch protocolOf(w) {
	case spec.ProtocolHTTP1:
	case spec.ProtocolH2:
		p.h2 = true
	case spec.ProtocolGRPC:
		p.grpc = true
		if w.GRPC.Method == spec.GRPCEcho {
			return p, errors.New("fortio calls the standard gRPC health service, not smp's echo method; set workload.grpc.method: health")
		}
	case spec.ProtocolTCP:
		p.tcp = true
		if !p.keepAlive {
			return p, errors.New("fortio's TCP runner keeps its connections; keep_alive: false (connection rate) needs load_generator: builtin")
		}
		if w.TLS.Enabled || w.TLS.CertFile != "" {
			return p, errors.New("fortio's TCP runner speaks plain TCP only; TCP over TLS needs load_generator: builtin")
		}
	default:
		return p, fmt.Errorf("fortio in smp speaks http/1.1, h2, grpc and tcp, not %s", w.Protocol)
	}
	if p.streams > 1 {
		if !p.grpc {
			return p, fmt.Errorf("fortio opens one connection per goroutine over HTTP, so it cannot put %d streams on a connection; use streams: 1 or protocol grpc", p.streams)
		}
		p.threads *= p.streams
	}
	switch w.Arrival.Pattern {
	case spec.PatternConstant, "":
	case spec.PatternUniform:
		// fortio -jitter moves each sleep by a uniform ±10%: spec's uniform with jitter 0.1.
		if w.Arrival.Jitter != 0.1 {
			return p, fmt.Errorf("fortio's jitter is a fixed ±10%% of each sleep; set workload.arrival.jitter: 0.1 (it is %g)", w.Arrival.Jitter)
		}
		p.jitter = true
	default:
		return p, fmt.Errorf("fortio cannot produce %s arrivals", w.Arrival.Pattern)
	}
	if len(w.Mix) > 0 {
		return p, errors.New("fortio sends one kind of request; workload.mix needs load_generator: builtin")
	}
	if w.AdditionalOptions != "" {
		return p, errors.New("fortio in smp takes no additional_options: every option comes from the workload")
	}
	return p, nil
}

// Run implements Generator.
func (f Fortio) Run(ctx context.Context, job Job) (result.Trial, error) {
	p, err := fortioPlanOf(job.Workload)
	if err != nil {
		return result.Trial{}, err
	}
	target, err := fortioTargetOf(job, p)
	if err != nil {
		return result.Trial{}, err
	}
	// fortio.org/log is process-wide. Quiet it at every run (an idempotent store, safe when
	// runs overlap): fortio's progress lines would otherwise interleave with smp's status
	// output, and everything it would warn about is returned here as data instead.
	flog.SetLogLevelQuiet(flog.Critical)

	w := job.Workload
	m := &measurement{requestedRate: max(p.qps, 0), closedLoop: p.qps <= 0, connectionsAsked: w.Connections,
		streams: p.streams, rateHeld: true, errors: map[string]int64{}, status: map[string]int64{}}
	if p.qps > 0 {
		// fortio sends exactly qps×duration calls split evenly over its goroutines and
		// lowers the goroutine count when a goroutine would get fewer than 2.
		calls := int64(p.qps * w.Duration.D().Seconds())
		if n := int(calls / 2); n < p.threads {
			m.warnings = append(m.warnings, fmt.Sprintf("fortio runs %d goroutines instead of %d: %d calls in the measured phase give each at least 2", max(n, 1), p.threads, calls))
			p.threads = max(n, 1)
		}
	}
	if wu := w.Warmup; wu != nil && wu.D() > 0 {
		m.caveats = append(m.caveats, fortioCaveatWarmup)
		wrec := newFortioRecorder(p)
		start := time.Now()
		wr, err := f.once(ctx, p, target, wu.D(), wrec)
		if err != nil {
			return result.Trial{}, fmt.Errorf("fortio warm-up: %w", err)
		}
		ok, failed := wrec.counts()
		m.warmup = &result.Phase{StartTime: start.UTC(), EndTime: start.Add(wr.res.ActualDuration).UTC(), Requests: ok + failed, Errors: failed}
		if ctx.Err() != nil {
			m.start, m.end, m.partial = time.Now(), time.Now(), true
			m.latency = hist.New()
			return m.trial(f.Info(), job)
		}
	} else {
		m.caveats = append(m.caveats, "fortio sends one warm-up request per connection before measuring (not counted)")
	}
	rec := newFortioRecorder(p)
	r, err := f.once(ctx, p, target, w.Duration.D(), rec)
	if err != nil {
		return result.Trial{}, fmt.Errorf("fortio: %w", err)
	}
	res := r.res
	m.start, m.end = res.StartTime, res.StartTime.Add(res.ActualDuration)
	m.achievedRate = res.ActualQPS
	m.connections = r.sockets
	m.bytesReceived = r.bytesReceived
	if m.bytesReceived < 0 {
		m.bytesReceived = 0
		m.caveats = append(m.caveats, fortioCaveatSizes)
	}
	m.partial = ctx.Err() != nil
	if res.NumThreads != p.threads {
		m.warnings = append(m.warnings, fmt.Sprintf("fortio ran %d goroutines instead of %d", res.NumThreads, p.threads))
	}
	if fortioCount(res.DurationHistogram) == rec.total() {
		rec.into(m)
	} else {
		// The hook missed calls fortio counted (a fortio version that reports differently):
		// fall back on fortio's own histograms, with what that costs in precision.
		if err := fortioHistogramsInto(m, res, r.retCodes); err != nil {
			return result.Trial{}, err
		}
	}
	if n := m.errors["http"]; n > 0 && !p.h2 && !p.grpc && target.serverName == "" {
		m.warnings = append(m.warnings, fmt.Sprintf("fortio's fast client closes its connection after every non-2xx "+
			"response, so the %d failed responses also cost %d reconnects", n, n))
	}
	if p.qps > 0 {
		m.rateHeld, m.rateWarning = rateVerdict(p.qps, res.ActualQPS, res.ActualDuration)
		if behind := fortioFallingBehind(r.out); behind != "" {
			m.rateHeld = false
			m.rateWarning = strings.TrimPrefix(m.rateWarning+"; ", "; ") + "fortio: " + behind
		}
	}
	return m.trial(f.Info(), job)
}

// fortioCount is a histogram's count, 0 for none.
func fortioCount(h *stats.HistogramData) int64 {
	if h == nil {
		return 0
	}
	return h.Count
}

// fortioBehind matches fortio's warning that its goroutines could not keep to the
// schedule (periodic.go prints it when more than 5% of the sleeps were negative).
var fortioBehind = regexp.MustCompile(`WARNING ([0-9.]+)% of sleep were falling behind`)

func fortioFallingBehind(out string) string {
	if m := fortioBehind.FindStringSubmatch(out); m != nil {
		return m[1] + "% of the calls were due before the previous one returned (fortio catches up by sending at once)"
	}
	return ""
}

// fortioTarget is where fortio sends load.
type fortioTarget struct {
	url        string // http(s) URL, for fhttp
	dest       string // host:port, for gRPC
	tls        *platform.TLSFiles
	serverName string
	body       request
}

func fortioTargetOf(job Job, p fortioPlan) (fortioTarget, error) {
	raw, err := firstURL(job)
	if err != nil {
		return fortioTarget{}, err
	}
	var t fortioTarget
	t.tls = tlsOf(job)
	if t.tls != nil {
		t.serverName = t.tls.ServerName
	}
	if p.tcp {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "tcp" || u.Port() == "" {
			return t, fmt.Errorf("target %q is not a tcp://host:port URL", raw)
		}
		if t.tls != nil {
			return t, errors.New("fortio's TCP runner speaks plain TCP only; the target needs TLS (use load_generator: builtin)")
		}
		t.dest = u.Scheme + "://" + u.Host
		t.body, err = requestOf(job)
		return t, err
	}
	if p.grpc {
		if !strings.Contains(raw, "://") {
			raw = "grpc://" + raw
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return t, fmt.Errorf("target %q is not a gRPC URL with a host", raw)
		}
		if u.Scheme == "grpcs" && t.tls == nil {
			t.tls = &platform.TLSFiles{}
		}
		t.dest = u.Host
		return t, nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return t, fmt.Errorf("target %q is not a URL with a host", raw)
	}
	switch u.Scheme {
	case "http":
		if t.tls != nil {
			u.Scheme = "https"
		}
	case "https":
		if t.tls == nil {
			t.tls = &platform.TLSFiles{}
		}
	default:
		return t, fmt.Errorf("fortio loads http:// and https:// URLs, not %s://", u.Scheme)
	}
	if p.h2 && u.Scheme != "https" {
		return t, errors.New("h2 needs TLS (https://)")
	}
	t.url = u.String()
	t.body, err = requestOf(job)
	return t, err
}

// tlsOf is the client TLS of a job: the platform's, else the workload's, else nil.
func tlsOf(job Job) *platform.TLSFiles {
	if t := job.Target.TLS; t != nil {
		return t
	}
	w := job.Workload.TLS
	if w.Enabled || w.CAFile != "" || w.CertFile != "" || w.InsecureSkipVerify {
		return &platform.TLSFiles{CAFile: w.CAFile, CertFile: w.CertFile, KeyFile: w.KeyFile, ServerName: w.ServerName, Insecure: w.InsecureSkipVerify}
	}
	return nil
}

// fortioOnce is what one fortio run returned.
type fortioOnce struct {
	res           periodic.RunnerResults
	retCodes      map[string]int64 // the fallback's status counts (HTTP codes, gRPC answers)
	sockets       int64
	bytesReceived int64
	out           string // fortio's text output (its warnings)
}

// once runs fortio for d. Cancelling ctx aborts the run through fortio's Aborter: calls
// in flight finish (bounded by workload.timeout), the rest are not sent.
// fortioRunnerOptions is the schedule fortio is given for one run of d: its rate, length
// and goroutines, from which fortio computes its exact number of calls.
func fortioRunnerOptions(p fortioPlan, d time.Duration) periodic.RunnerOptions {
	return periodic.RunnerOptions{
		QPS: p.qps, Duration: d, NumThreads: p.threads,
		Uniform: p.uniform, Jitter: p.jitter, Resolution: fortioResolution,
		Percentiles: []float64{50, 99},
	}
}

func (f Fortio) once(ctx context.Context, p fortioPlan, t fortioTarget, d time.Duration, rec *fortioRecorder) (fortioOnce, error) {
	var out bytes.Buffer
	// Giving fortio our own Aborter also keeps it from installing its process-wide SIGINT
	// handler (periodic.RunnerOptions.Normalize does that only when Stop is nil).
	aborter := periodic.NewAborter()
	ro := fortioRunnerOptions(p, d)
	ro.Out, ro.Stop, ro.AccessLogger = &out, aborter, rec
	stop := abortOnDone(ctx, aborter)
	defer stop()
	if p.grpc {
		return f.grpcOnce(ro, p, t, &out)
	}
	if p.tcp {
		return f.tcpOnce(ro, p, t, &out)
	}
	o := &fhttp.HTTPRunnerOptions{RunnerOptions: ro, AllowInitialErrors: true}
	h := &o.HTTPOptions
	h.URL = t.url
	h.H2 = p.h2
	h.DisableKeepAlive = !p.keepAlive
	h.HTTPReqTimeOut = p.timeout
	h.Payload = t.body.body
	h.ContentType = t.body.contentType
	h.MethodOverride = t.body.method
	if t.tls != nil {
		h.TLSOptions = fhttp.TLSOptions{CACert: t.tls.CAFile, Cert: t.tls.CertFile, Key: t.tls.KeyFile, Insecure: t.tls.Insecure}
		if sn := t.serverName; sn != "" {
			// fortio's fast client takes the TLS server name from the URL's host (or a Host
			// override, which would change the Host header too); net/http's client lets the
			// transport hook set it.
			h.DisableFastClient = true
			h.Transport = func(base http.RoundTripper) http.RoundTripper {
				if tr, ok := base.(*http.Transport); ok {
					if tr.TLSClientConfig == nil {
						tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
					}
					tr.TLSClientConfig.ServerName = sn
				}
				return base
			}
		}
	}
	for _, kv := range t.body.headers {
		if err := h.AddAndValidateExtraHeader(kv[0] + ": " + kv[1]); err != nil {
			return fortioOnce{}, fmt.Errorf("header %s: %w", kv[0], err)
		}
	}
	res, err := fhttp.RunHTTPTest(o)
	if err != nil {
		return fortioOnce{}, fmt.Errorf("%s: %w", t.url, err)
	}
	r := fortioOnce{res: res.RunnerResults, sockets: res.SocketCount, out: out.String(), retCodes: map[string]int64{}}
	r.bytesReceived = fortioBytes(res.Sizes)
	for code, n := range res.RetCodes {
		r.retCodes[strconv.Itoa(code)] += n
	}
	return r, nil
}

// fortioCaveatSizes says why a fortio trial's bytes_received is 0.
const fortioCaveatSizes = "bytes received not counted: fortio's standard HTTP client (used for HTTP/2) records -1 for a response of unknown length"

// fortioBytes is the response bytes fortio counted, or -1 when some response had no
// known size (fortio's standard client records -1 for those, which would make the sum
// meaningless).
func fortioBytes(s *stats.HistogramData) int64 {
	if s == nil || s.Count == 0 {
		return 0
	}
	if s.Min < 0 {
		return -1
	}
	return int64(s.Sum)
}

// abortOnDone aborts a fortio run when ctx ends; the returned func stops watching and
// waits for the watcher to exit.
func abortOnDone(ctx context.Context, a *periodic.Aborter) func() {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-ctx.Done():
			a.Abort(false)
		case <-done:
		}
	}()
	return func() {
		close(done)
		<-exited
	}
}

// grpcOnce runs gRPC health checks on fortio's schedule. fgrpc.RunGRPCTest is not used:
// it never closes its connections (a leak per trial in a long smp run) and its calls
// carry no deadline, so a stalled target would hang the run. This does what it does —
// fgrpc.Dial for each connection, every streams-th goroutine on a new connection, one
// warm-up call per connection, periodic for the schedule — with both fixed.
func (f Fortio) grpcOnce(ro periodic.RunnerOptions, p fortioPlan, t fortioTarget, out *bytes.Buffer) (fortioOnce, error) {
	dial := fgrpc.GRPCRunnerOptions{Destination: t.dest}
	if t.tls != nil {
		dial.Destination = "https://" + t.dest // fgrpc.Dial's switch to TLS
		dial.TLSOptions = fhttp.TLSOptions{CACert: t.tls.CAFile, Cert: t.tls.CertFile, Key: t.tls.KeyFile, Insecure: t.tls.Insecure}
		dial.CertOverride = t.serverName
	}
	var conns []*grpc.ClientConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// NewPeriodicRunner clears the Runners it is given (it "moves" the options), so the
	// runnables go into the runner's own options, as fgrpc does it.
	r := periodic.NewPeriodicRunner(&ro)
	runners := r.Options().Runners
	var call *fortioHealthCall
	for i := range p.threads {
		if i%p.streams == 0 {
			conn, err := fgrpc.Dial(&dial)
			if err != nil {
				r.Options().Abort()
				return fortioOnce{}, fmt.Errorf("dial %s: %w", t.dest, err)
			}
			conns = append(conns, conn)
			call = &fortioHealthCall{client: healthpb.NewHealthClient(conn),
				req: &healthpb.HealthCheckRequest{Service: p.service}, timeout: p.timeout}
			call.Run(context.Background(), 0) // warm-up: connects; failures do not stop the run
		}
		runners[i] = call
	}
	res := r.Run()
	return fortioOnce{res: res, sockets: int64(len(conns)), out: out.String(), retCodes: map[string]int64{}}, nil
}

// tcpOnce runs fortio's TCP echo runner: one connection per goroutine, each sending the
// workload's message and checking that the same bytes come back.
func (f Fortio) tcpOnce(ro periodic.RunnerOptions, p fortioPlan, t fortioTarget, out *bytes.Buffer) (fortioOnce, error) {
	o := &tcprunner.RunnerOptions{RunnerOptions: ro}
	o.Destination = t.dest
	o.Payload = t.body.body
	o.ReqTimeout = p.timeout
	res, err := tcprunner.RunTCPTest(o)
	if err != nil {
		return fortioOnce{}, fmt.Errorf("%s: %w", t.dest, err)
	}
	r := fortioOnce{res: res.RunnerResults, sockets: int64(res.SocketCount), bytesReceived: res.BytesReceived,
		out: out.String(), retCodes: map[string]int64{}}
	for k, n := range res.RetCodes {
		if st, _ := result.FortioTCPOutcome(k); st != "" {
			k = st
		}
		r.retCodes[k] += n
	}
	return r, nil
}

// fortioHealthCall is one goroutine's gRPC health check, as fgrpc's runner makes it, with
// the workload's timeout as deadline. Its details name the outcome in smp's status
// vocabulary ("grpc:OK", "grpc:UNAVAILABLE", "health:NOT_SERVING").
type fortioHealthCall struct {
	client  healthpb.HealthClient
	req     *healthpb.HealthCheckRequest
	timeout time.Duration
}

// Run implements periodic.Runnable. It ignores fortio's context, which is never
// cancelled, and bounds each call by the timeout instead.
func (c *fortioHealthCall) Run(context.Context, periodic.ThreadID) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	r, err := c.client.Check(ctx, c.req)
	if err != nil {
		return false, "grpc:" + grpcCodeName(status.Code(err))
	}
	if s := r.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return false, "health:" + s.String()
	}
	return true, "grpc:OK"
}

// grpcCodeNames are gRPC's canonical code names, as the builtin engine writes them.
var grpcCodeNames = [...]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

func grpcCodeName(c codes.Code) string {
	if int(c) < len(grpcCodeNames) {
		return grpcCodeNames[c]
	}
	return strconv.Itoa(int(c))
}

// fortioRecorder is the periodic.AccessLogger that records every call fortio makes, at
// the latency fortio measured, into smp's histograms. fortio calls Report from each of
// its goroutines; goroutines share a stripe (a mutex with histograms and counters) only
// when there are more of them than stripes, so the mutex is uncontended in practice.
type fortioRecorder struct {
	stripes   []fortioStripe
	grpc, tcp bool
}

type fortioStripe struct {
	mu             sync.Mutex
	ok, failed     *hist.Histogram
	status, errors map[string]int64
}

func newFortioRecorder(p fortioPlan) *fortioRecorder {
	n := min(p.threads, 4*runtime.GOMAXPROCS(0))
	r := &fortioRecorder{stripes: make([]fortioStripe, max(n, 1)), grpc: p.grpc, tcp: p.tcp}
	for i := range r.stripes {
		s := &r.stripes[i]
		s.ok, s.failed = hist.New(), hist.New()
		s.status, s.errors = map[string]int64{}, map[string]int64{}
	}
	return r
}

// Start implements periodic.AccessLogger.
func (r *fortioRecorder) Start(ctx context.Context, _ periodic.ThreadID, _ int64, _ time.Time) context.Context {
	return ctx
}

// Report implements periodic.AccessLogger. latency is in seconds (fortio's unit).
// Success follows smp's rule, not fortio's: an HTTP status 1xx–3xx succeeds (fortio
// counts 3xx as errors and 418 as success), a gRPC call succeeds with OK and SERVING.
func (r *fortioRecorder) Report(_ context.Context, id periodic.ThreadID, _ int64, _ time.Time, latency float64, _ bool, details string) {
	d := time.Duration(latency * float64(time.Second))
	key, class := r.classify(details)
	s := &r.stripes[int(id)%len(r.stripes)]
	s.mu.Lock()
	if key != "" {
		s.status[key]++
	}
	if class == "" {
		s.ok.Record(d)
	} else {
		s.failed.Record(d)
		s.errors[class]++
	}
	s.mu.Unlock()
}

// classify turns a call's details into a status key and an error class ("" = success).
func (r *fortioRecorder) classify(details string) (key, class string) {
	if r.tcp {
		return result.FortioTCPOutcome(details)
	}
	if r.grpc {
		switch {
		case details == "grpc:OK":
			return details, ""
		case details == "grpc:DEADLINE_EXCEEDED":
			return details, "timeout"
		}
		return details, "grpc"
	}
	code, err := strconv.Atoi(details)
	switch {
	case err != nil || code <= 0:
		// fortio reports every transport failure (refused, reset, timeout) as -1.
		return "", "other"
	case code >= 400:
		return details, "http"
	}
	return details, ""
}

// Info implements periodic.AccessLogger.
func (r *fortioRecorder) Info() string { return "smp: per-call HDR histograms" }

func (r *fortioRecorder) counts() (ok, failed int64) {
	for i := range r.stripes {
		s := &r.stripes[i]
		s.mu.Lock()
		ok += s.ok.Count()
		failed += s.failed.Count()
		s.mu.Unlock()
	}
	return ok, failed
}

func (r *fortioRecorder) total() int64 {
	ok, failed := r.counts()
	return ok + failed
}

// into merges the stripes into m (after the run: no more Reports).
func (r *fortioRecorder) into(m *measurement) {
	m.latency, m.errLatency = hist.New(), hist.New()
	for i := range r.stripes {
		s := &r.stripes[i]
		m.latency.Merge(s.ok)
		m.errLatency.Merge(s.failed)
		for k, v := range s.status {
			m.status[k] += v
		}
		for k, v := range s.errors {
			m.errors[k] += v
		}
	}
	m.succeeded, m.failed = m.latency.Count(), m.errLatency.Count()
	m.requests = m.succeeded + m.failed
	if m.failed == 0 {
		m.errLatency = nil
	}
}
