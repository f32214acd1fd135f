package generator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"fortio.org/fortio/periodic"
	"fortio.org/fortio/stats"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// FortioREST runs load through a fortio server's REST API (/fortio/rest/run), elsewhere:
// the load generator of the kubernetes platform, where fortio's server runs in a pod and
// smp reaches it through a port-forward that the platform's Deploy opens (platform.Load).
// fortio answers with its result JSON (periodic.RunnerResults plus the HTTP runner's RetCodes),
// which is converted into the trial: the latency histogram is rebuilt from fortio's
// buckets (fortiohist.go), at fortioResolution.
//
// Only what fortio's REST API can be told is supported: HTTP/1.1, one URL, a constant or
// uniform-jitter rate or closed loop, connections, method, headers and a body; not h2,
// gRPC, a request mix or new connections per request.
//
// Cancelling ctx stops the run the way fortio's UI does (/fortio/rest/stop), and the run's
// answer, which fortio still sends with what it measured, becomes a partial trial.
type FortioREST struct {
	// BaseURL is fortio's API root, ending in /fortio/ (http://127.0.0.1:41234/fortio/).
	BaseURL string
	// Client sends the requests. Default: a client without a timeout (the run's length
	// bounds each call; ctx cancels it).
	Client *http.Client
	// Where says where fortio runs ("pod smp-load-… in namespace …"), for the caveats.
	Where string
}

var _ Generator = FortioREST{}

// fortioRESTCaveatWhere and the others are the caveats of every FortioREST trial.
const (
	fortioRESTCaveatHist = "latency rebuilt from fortio's own histogram (resolution 10 µs, buckets 10–25% wide between 100 µs " +
		"and 10 ms): percentiles are known to within a bucket; success follows fortio's rule (2xx and 418)"
	fortioRESTStopGrace = 30 * time.Second
)

// Info implements Generator.
func (f FortioREST) Info() result.GeneratorInfo {
	where := "a fortio server's REST API"
	if f.Where != "" {
		where += " in " + f.Where
	}
	return result.GeneratorInfo{Name: spec.GeneratorFortio,
		Caveats: []string{"load sent by " + where, fortioCaveatCO, fortioRESTCaveatHist}}
}

// Check implements Checker.
func (FortioREST) Check(_ context.Context, w spec.Workload) error {
	_, err := fortioRESTPlanOf(w)
	return err
}

func fortioRESTPlanOf(w spec.Workload) (fortioPlan, error) {
	p, err := fortioPlanOf(w)
	if err != nil {
		return p, err
	}
	if p.grpc || p.h2 {
		return p, fmt.Errorf("the in-cluster fortio load generator sends http/1.1 only, not %s", w.Protocol)
	}
	if !p.keepAlive {
		return p, errors.New("the in-cluster fortio load generator keeps connections alive; remove keep_alive: false")
	}
	return p, nil
}

// fortioRESTResult is the part of fortio's result JSON smp reads. When the run could
// not start, fortio answers with its error reply (jrpc.ServerReply: "error", "message",
// "exception"), which RunnerResults embeds: Error, Message and Exception are its fields.
type fortioRESTResult struct {
	periodic.RunnerResults
	RetCodes    map[string]int64
	SocketCount int64
	Sizes       *stats.HistogramData
}

// Run implements Generator.
func (f FortioREST) Run(ctx context.Context, job Job) (result.Trial, error) {
	p, err := fortioRESTPlanOf(job.Workload)
	if err != nil {
		return result.Trial{}, err
	}
	target, err := firstURL(job)
	if err != nil {
		return result.Trial{}, err
	}
	if u, err := url.Parse(target); err != nil || u.Scheme != "http" {
		return result.Trial{}, fmt.Errorf("the in-cluster fortio load generator loads http:// URLs, not %q", target)
	}
	req, err := requestOf(job)
	if err != nil {
		return result.Trial{}, err
	}
	w := job.Workload
	m := &measurement{requestedRate: max(p.qps, 0), closedLoop: p.qps <= 0, connectionsAsked: w.Connections,
		streams: 1, rateHeld: true, errors: map[string]int64{}, status: map[string]int64{}}
	m.caveats = append(m.caveats, "fortio sends one warm-up request per connection before measuring (not counted)")
	if wu := w.Warmup; wu != nil && wu.D() > 0 {
		start := time.Now()
		res, err := f.once(ctx, p, target, req, wu.D())
		if err != nil {
			return result.Trial{}, fmt.Errorf("fortio warm-up: %w", err)
		}
		n := fortioCount(res.DurationHistogram)
		m.warmup = &result.Phase{StartTime: start.UTC(), EndTime: start.Add(res.ActualDuration).UTC(),
			Requests: n, Errors: fortioCount(res.ErrorsDurationHistogram)}
		if ctx.Err() != nil {
			m.start, m.end, m.partial = time.Now(), time.Now(), true
			m.latency = hist.New()
			return m.trial(f.infoOf(res), job)
		}
	}
	res, err := f.once(ctx, p, target, req, w.Duration.D())
	if err != nil {
		return result.Trial{}, fmt.Errorf("fortio: %w", err)
	}
	m.partial = ctx.Err() != nil
	if err := res.into(m); err != nil {
		return result.Trial{}, fmt.Errorf("fortio: %w", err)
	}
	if res.NumThreads != p.threads {
		m.warnings = append(m.warnings, fmt.Sprintf("fortio ran %d goroutines instead of %d", res.NumThreads, p.threads))
	}
	if p.qps > 0 {
		m.rateHeld, m.rateWarning = rateVerdict(p.qps, res.ActualQPS, res.ActualDuration)
	}
	return m.trial(f.infoOf(res), job)
}

// into reads fortio's result JSON into m: times, counts, histograms, status codes.
func (res fortioRESTResult) into(m *measurement) error {
	m.start, m.end = res.StartTime, res.StartTime.Add(res.ActualDuration)
	m.achievedRate = res.ActualQPS
	m.connections = res.SocketCount
	if m.bytesReceived = fortioBytes(res.Sizes); m.bytesReceived < 0 {
		m.bytesReceived = 0
		m.caveats = append(m.caveats, fortioCaveatSizes)
	}
	all, errs := res.DurationHistogram, res.ErrorsDurationHistogram
	if all == nil {
		return errors.New("fortio returned no histogram")
	}
	m.latency = fortioToHist(all, errs)
	m.requests, m.failed = all.Count, fortioCount(errs)
	m.succeeded = m.requests - m.failed
	if m.failed > 0 {
		m.errLatency = fortioToHist(errs, nil)
	}
	for k, v := range res.RetCodes {
		code, err := strconv.Atoi(k)
		switch {
		case err != nil:
			m.status[k] += v
		case code <= 0:
			m.errors["other"] += v // fortio's -1: a socket error
		default:
			m.status[k] += v
			if code >= 400 {
				m.errors["http"] += v
			}
		}
	}
	return nil
}

func (f FortioREST) infoOf(res fortioRESTResult) result.GeneratorInfo {
	info := f.Info()
	info.Version = res.Version
	return info
}

// runQuery is the query of one /rest/run call.
func runQuery(p fortioPlan, target string, req request, d time.Duration) url.Values {
	q := url.Values{}
	q.Set("url", target)
	q.Set("qps", strconv.FormatFloat(p.qps, 'f', -1, 64))
	q.Set("c", strconv.Itoa(p.threads))
	q.Set("t", d.String())
	q.Set("r", strconv.FormatFloat(fortioResolution, 'f', -1, 64))
	q.Set("p", "50,90,99,99.9")
	if p.uniform {
		q.Set("uniform", "on")
	}
	if p.jitter {
		q.Set("jitter", "on")
	}
	if p.timeout > 0 {
		q.Set("timeout", p.timeout.String())
	}
	if req.method != "" {
		q.Set("X", req.method)
	}
	for _, h := range req.headers {
		q.Add("H", h[0]+": "+h[1])
	}
	if req.contentType != "" {
		q.Add("H", "Content-Type: "+req.contentType)
	}
	if len(req.body) > 0 {
		q.Set("payload", string(req.body))
	}
	return q
}

// once runs one fortio test of length d and decodes its answer. ctx's end stops the run
// (rest/stop); the answer fortio then sends is returned, so a cancelled run is partial,
// not lost.
func (f FortioREST) once(ctx context.Context, p fortioPlan, target string, req request, d time.Duration) (fortioRESTResult, error) {
	client := f.Client
	if client == nil {
		client = &http.Client{}
	}
	base := strings.TrimSuffix(f.BaseURL, "/") + "/"
	runURL := base + "rest/run?" + runQuery(p, target, req, d).Encode()
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		sctx, scancel := context.WithTimeout(rctx, 5*time.Second)
		if r, err := http.NewRequestWithContext(sctx, http.MethodGet, base+"rest/stop", nil); err == nil {
			if resp, err := client.Do(r); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		scancel()
		// Calls in flight end within the workload's timeout; after that, give up.
		t := time.NewTimer(p.timeout + fortioRESTStopGrace)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			cancel()
		}
	}()
	r, err := http.NewRequestWithContext(rctx, http.MethodGet, runURL, nil)
	if err != nil {
		return fortioRESTResult{}, err
	}
	resp, err := client.Do(r)
	if err != nil {
		return fortioRESTResult{}, fmt.Errorf("call %srest/run: %w", base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fortioRESTResult{}, fmt.Errorf("read fortio's answer: %w", err)
	}
	var res fortioRESTResult
	if err := json.Unmarshal(body, &res); err != nil {
		return res, fmt.Errorf("fortio's answer (HTTP %d) is not its result JSON: %w: %.200s", resp.StatusCode, err, body)
	}
	if res.Error || resp.StatusCode != http.StatusOK {
		why := strings.TrimSpace(strings.TrimSuffix(res.Message, ".") + ": " + res.Exception)
		if res.Message == "" && res.Exception == "" {
			why = fmt.Sprintf("%.200s", body)
		}
		return res, fmt.Errorf("fortio refused to load %s (HTTP %d): %s", target, resp.StatusCode, why)
	}
	return res, nil
}
