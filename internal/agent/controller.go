package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/service-mesh-performance/smp/internal/engine"
)

// Controller defaults, each with its reason.
const (
	// defaultLead is how far ahead of now the common start is set (plus twice the
	// slowest round trip): time for every agent to receive its share and open its
	// connections (engine.Config.StartAt opens them before the clock starts).
	defaultLead = time.Second
	// defaultClockSamples: eight pings take a few round trips' time and, on a quiet
	// network, include one whose delays are nearly symmetric.
	defaultClockSamples = 8
	// minLostAfter: agents speak at least every second (heartbeats), so five silent
	// seconds mean the agent or the path to it is gone.
	minLostAfter = 5 * time.Second
)

// States of an agent after a run.
const (
	StateComplete = "complete"
	StateLost     = "lost"
	StateFailed   = "failed"
)

// Controller spreads one load over agents and merges what they measured.
type Controller struct {
	// Agents are the agents' addresses (host:port or https://host:port), in index order.
	Agents []string
	// Credentials are the controller's identity (RoleController) and the run CA.
	Credentials Credentials
	// RunID names the run in the agents' logs.
	RunID string
	// Logger receives per-agent events; nil discards.
	Logger *slog.Logger
	// Lead is how far ahead the common start time is set; default 1s. Twice the
	// slowest clock-exchange round trip is added to it.
	Lead time.Duration
	// ClockSamples is the number of clock pings per agent; default 8.
	ClockSamples int
	// LostAfter is how long an agent may stay silent before it counts as lost;
	// default max(5s, 3 × the series interval).
	LostAfter time.Duration
	// ReachTimeout bounds the wait, before the run, for every agent to have one request
	// of its share succeed (see reach.go); default 2m. Past it the run is called off.
	ReachTimeout time.Duration
	// Progress, when set, receives the agents' progress summed, once per series
	// interval, from one goroutine.
	Progress func(engine.Progress)
}

// AgentRun is what happened to one agent.
type AgentRun struct {
	URL   string
	Index int
	// Share is the agent's fraction of the load (1/agents), Config its engine
	// configuration.
	Share  float64
	Config engine.Config
	// Clock is the clock-exchange sample used: the agent's offset and its round trip.
	Clock ClockSample
	// Reach is how the agent came to reach the target before the run (awaitReach).
	Reach ReachCheck
	// State is StateComplete, StateLost or StateFailed.
	State string
	// StartLate is how much later than the common start the agent's clock started.
	StartLate time.Duration
	// Requests in the measured phase: from its result, or its last progress.
	Requests int64
	// LostAt is when the agent was lost, from the start of the measured phase (on the
	// controller's clock); negative during warm-up. Set for StateLost.
	LostAt time.Duration
	Err    error
	// Result is the agent's own result with its times on the controller's clock; nil
	// unless the state is StateComplete.
	Result *engine.Result
}

// Outcome is a distributed run.
type Outcome struct {
	// Result merges every complete agent's result exactly (histograms bucket by bucket,
	// counters summed); nil when no agent completed. Its Config is the total one.
	Result *engine.Result
	Agents []AgentRun
	// Start is the common start (controller clock); MeasureStart follows the warm-up.
	Start, MeasureStart time.Time
	// Duration is the planned measured phase.
	Duration time.Duration
}

// Warnings says, one line per agent that did not complete, what the run lost.
func (o *Outcome) Warnings() []string {
	var out []string
	for _, a := range o.Agents {
		pct := 100 * a.Share
		switch a.State {
		case StateLost:
			when := fmt.Sprintf("%.1fs into the measured phase", a.LostAt.Seconds())
			left := o.Duration - a.LostAt
			if a.LostAt < 0 {
				when = fmt.Sprintf("during the warm-up, %.1fs before the measured phase", (-a.LostAt).Seconds())
				left = o.Duration
			}
			left = min(max(left, 0), o.Duration)
			missing := 0.0
			if o.Duration > 0 {
				missing = pct * left.Seconds() / o.Duration.Seconds()
			}
			out = append(out, fmt.Sprintf("agent %s lost %s (%v): %.0f%% of the requested rate missing for the rest of the run "+
				"(%.1fs of %.1fs, %.0f%% of the measured phase's load); the requests it sent before are missing from the "+
				"distributions too, as agents send their histograms at the end", a.URL, when, a.Err, pct,
				left.Seconds(), o.Duration.Seconds(), missing))
		case StateFailed:
			out = append(out, fmt.Sprintf("agent %s failed (%v): its %.0f%% of the load is missing from the trial", a.URL, a.Err, pct))
		}
	}
	return out
}

// Run splits cfg over the agents (see Shares), estimates each agent's clock offset,
// waits until each has had one request of its share succeed (the target reachable from
// where the agent is: ReachTimeout), starts them all at one instant, follows their
// progress and merges their results.
//
// The error is for runs that never started: an agent that cannot be reached, refuses
// its share (bad credentials, a target outside its allow-list, busy), cannot reach
// the target within ReachTimeout or does not accept its share before the start time. Then every agent is told to stop before its clock
// starts and no load is sent. Once started, an agent that dies, disconnects or stays
// silent for LostAfter is recorded as lost and the others go on; the run ends when
// the schedule does. A cancelled ctx stops every agent, which still sends what it
// measured so far.
func (c *Controller) Run(ctx context.Context, cfg engine.Config) (*Outcome, error) {
	runs, full, err := c.share(cfg)
	if err != nil {
		return nil, err
	}
	n := len(runs)
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client, err := c.client()
	if err != nil {
		return nil, err
	}
	defer client.CloseIdleConnections()
	slowest, err := c.syncClocks(ctx, client, runs, log)
	if err != nil {
		return nil, err
	}
	if err := c.awaitReach(ctx, client, runs, log); err != nil {
		return nil, err
	}

	lead := c.Lead
	if lead <= 0 {
		lead = defaultLead
	}
	start := time.Now().Add(lead + 2*slowest)
	out := &Outcome{Start: start, MeasureStart: start.Add(full.Warmup), Duration: full.Duration}
	lostAfter := c.LostAfter
	if lostAfter <= 0 {
		lostAfter = max(minLostAfter, 3*full.SeriesInterval)
	}
	// An agent's engine opens its connections within one Timeout and starts its clock
	// then if that is after the start, and returns within Warmup+Duration+Timeout of
	// its clock (engine/doc.go): an agent whose dials hung to their timeout is late, not
	// lost, and still sends its result (its requests' failures are the trial's to show).
	end := start.Add(full.Warmup + full.Duration + 2*full.Timeout + lostAfter)

	runCtx, stopAll := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAll()
	live := newLiveProgress(n, full)
	accepted := make(chan error, n)
	var wg sync.WaitGroup
	stops := make([]func(), n)
	for i, r := range runs {
		req, err := c.startRequest(r, i, n, start)
		if err != nil {
			return nil, err
		}
		pr, pw := io.Pipe()
		stops[i] = func() { pw.Close() }
		d := &driver{c: c, client: client, run: r, log: log, live: live, lostAfter: lostAfter,
			measureStart: out.MeasureStart, total: full}
		wg.Go(func() {
			defer pw.Close()
			d.drive(runCtx, end, req, pr, pw, accepted)
		})
	}
	if refused := awaitAccepted(ctx, accepted, n, start); len(refused) > 0 {
		stopAll()
		wg.Wait()
		return nil, fmt.Errorf("agents: %w; the run was called off before its start", errors.Join(refused...))
	}
	log.Info("agents started", "agents", n, "start", start.UTC())

	// Progress, summed, until every agent has finished.
	allDone := make(chan struct{})
	var pwg sync.WaitGroup
	if c.Progress != nil {
		pwg.Go(func() { live.report(allDone, start, c.Progress) })
	}
	// Ctrl-C: end every agent's load; each still sends what it measured.
	stopOnCancel := context.AfterFunc(ctx, func() {
		for _, s := range stops {
			s()
		}
	})
	wg.Wait()
	stopOnCancel()
	close(allDone)
	pwg.Wait()
	out.Agents, out.Result = mergeRuns(full, runs)
	return out, nil
}

// share splits cfg over the agents, one run each, and checks that each can reach the
// target (checkReach) before anything is sent.
func (c *Controller) share(cfg engine.Config) ([]*AgentRun, engine.Config, error) {
	n := len(c.Agents)
	if n == 0 {
		return nil, cfg, errors.New("agents: none given")
	}
	shares, err := Shares(cfg, n)
	if err != nil {
		return nil, cfg, err
	}
	total := shares[0].total
	runs := make([]*AgentRun, n)
	for i, a := range c.Agents {
		runs[i] = &AgentRun{URL: URL(a), Index: i, Share: 1 / float64(n), Config: shares[i].cfg}
	}
	if err := checkReach(total.Target, runs); err != nil {
		return nil, cfg, err
	}
	return runs, total, nil
}

// client is the controller's HTTP/2 client over mutual TLS, which pings a connection
// that stays silent (pingAfter) so that a dead agent is noticed.
func (c *Controller) client() (*http.Client, error) {
	conf, err := clientTLS(c.Credentials)
	if err != nil {
		return nil, fmt.Errorf("agents: %w", err)
	}
	tr := &http.Transport{
		TLSClientConfig:     conf,
		ForceAttemptHTTP2:   true,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		HTTP2:               &http.HTTP2Config{SendPingTimeout: pingAfter, PingTimeout: pingTimeout},
	}
	return &http.Client{Transport: tr}, nil
}

// syncClocks estimates every agent's clock offset, concurrently, and returns the
// slowest round trip; any agent that does not answer (or speaks another protocol, or is
// busy) calls the run off.
func (c *Controller) syncClocks(ctx context.Context, client *http.Client, runs []*AgentRun, log *slog.Logger) (time.Duration, error) {
	samples := c.ClockSamples
	if samples <= 0 {
		samples = defaultClockSamples
	}
	if err := c.eachAgent(runs, func(_ int, r *AgentRun) error {
		s, reply, err := estimateClock(ctx, client, r.URL, c.Credentials.Token, samples)
		r.Clock = s
		switch {
		case err != nil:
			return fmt.Errorf("agent %s did not answer: %w", r.URL, err)
		case reply.Protocol != ProtocolVersion:
			return fmt.Errorf("agent %s speaks protocol %d, this smp %d: run the same smp version on both", r.URL, reply.Protocol, ProtocolVersion)
		case reply.Busy:
			return fmt.Errorf("agent %s is busy with another run", r.URL)
		}
		return nil
	}); err != nil {
		return 0, err
	}
	var slowest time.Duration
	for _, r := range runs {
		slowest = max(slowest, r.Clock.RTT)
		log.Info("agent clock", "agent", r.URL, "offset", r.Clock.Offset, "rtt", r.Clock.RTT)
	}
	return slowest, nil
}

// eachAgent calls f for every run at once and joins the errors, which call the run off
// before it started.
func (c *Controller) eachAgent(runs []*AgentRun, f func(i int, r *AgentRun) error) error {
	errs := make([]error, len(runs))
	var wg sync.WaitGroup
	for i, r := range runs {
		wg.Go(func() { errs[i] = f(i, r) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("agents: %w; no load was sent", err)
	}
	return nil
}

// startRequest is the body that starts agent i of n at start, on its own clock.
func (c *Controller) startRequest(r *AgentRun, i, n int, start time.Time) ([]byte, error) {
	load, err := loadOf(r.Config)
	if err != nil {
		return nil, fmt.Errorf("agents: %w", err)
	}
	req := StartRequest{Protocol: ProtocolVersion, RunID: c.RunID, Index: i, Agents: n,
		StartAt: start.Add(r.Clock.Offset).UTC().Round(0), Load: load}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("agents: %w", err)
	}
	return body, nil
}

// awaitAccepted waits for every agent to accept its share before the start; what it
// returns, when not empty, is why the run must be called off (a refusal, the start time
// passing, ctx ending).
func awaitAccepted(ctx context.Context, accepted <-chan error, n int, start time.Time) []error {
	wait := time.NewTimer(time.Until(start))
	defer wait.Stop()
	var refused []error
	for range n {
		select {
		case err := <-accepted:
			if err != nil {
				refused = append(refused, err)
			}
			continue
		case <-wait.C:
			refused = append(refused, errors.New("not every agent accepted its share before the start time"))
		case <-ctx.Done():
			refused = append(refused, ctx.Err())
		}
		break
	}
	return refused
}

// mergeRuns is the outcome's agents and, merged exactly, the results of those that
// completed their share; the rate was not held when some did not.
func mergeRuns(full engine.Config, runs []*AgentRun) ([]AgentRun, *engine.Result) {
	agents := make([]AgentRun, len(runs))
	var parts []*AgentRun
	for i, r := range runs {
		agents[i] = *r
		if r.State == StateComplete {
			parts = append(parts, r)
		}
	}
	res := merge(full, parts)
	if missing := len(runs) - len(parts); missing > 0 && res != nil {
		res.RateHeld = false
		res.RateReason = fmt.Sprintf("could not hold rate: %d of %d agents did not complete their share", missing, len(runs))
	}
	return agents, res
}

// checkReach refuses a loopback target for an agent that is not on loopback itself: it
// would load its own machine instead of the target.
func checkReach(target string, runs []*AgentRun) error {
	host, _, err := targetHostPort(target)
	if err != nil {
		return fmt.Errorf("agents: %w", err)
	}
	if !isLoopback(host) {
		return nil
	}
	for _, r := range runs {
		u, err := url.Parse(r.URL)
		if err != nil {
			return fmt.Errorf("agents: address %q: %w", r.URL, err)
		}
		if !isLoopback(u.Hostname()) {
			return fmt.Errorf("agents: target %s is on loopback, but agent %s is not: it would load its own machine; give a target address the agents can reach", target, r.URL)
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// driver follows one agent through a run.
type driver struct {
	c            *Controller
	client       *http.Client
	run          *AgentRun
	log          *slog.Logger
	live         *liveProgress
	lostAfter    time.Duration
	measureStart time.Time
	total        engine.Config
}

// drive sends the start request and reads the agent's events until its result, its
// loss or end. The request body stays open for the whole run: closing it (pw) tells
// the agent to stop its load early and send what it has. accepted receives exactly one
// value: nil once the agent accepted, else why it did not.
func (d *driver) drive(ctx context.Context, end time.Time, body []byte, pr *io.PipeReader, pw *io.PipeWriter, accepted chan<- error) {
	r := d.run
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	signalled := false
	accept := func(err error) {
		if !signalled {
			signalled = true
			accepted <- err
		}
	}
	var silent atomic.Bool
	watchdog := time.AfterFunc(d.lostAfter, func() { silent.Store(true); cancel() })
	defer watchdog.Stop()
	defer d.live.drop(r.Index)

	go func() {
		// The start request, then nothing until the run ends (or the controller stops it).
		if _, err := pw.Write(body); err != nil {
			pw.CloseWithError(err)
		}
	}()
	// The HTTP/2 client watches ctx only once the request body is complete, and this
	// one never is: end it with an error when ctx ends, which resets the stream, and so
	// ends the agent's request context and its load.
	defer context.AfterFunc(ctx, func() { pw.CloseWithError(context.Cause(ctx)) })()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL+PathRun, pr)
	if err != nil {
		r.State, r.Err = StateFailed, err
		accept(fmt.Errorf("agent %s: %w", r.URL, err))
		return
	}
	req.Header.Set("Content-Type", "application/json")
	if t := d.c.Credentials.Token; t != "" {
		req.Header.Set("Authorization", "Bearer "+t)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		r.State, r.Err = StateFailed, err
		accept(fmt.Errorf("agent %s: %w", r.URL, err))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		r.State, r.Err = StateFailed, fmt.Errorf("refused: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
		accept(fmt.Errorf("agent %s %w", r.URL, r.Err))
		return
	}
	dec := json.NewDecoder(bufio.NewReaderSize(resp.Body, 64<<10))
	for {
		var e Event
		if err := dec.Decode(&e); err != nil {
			lost := time.Now()
			switch {
			case silent.Load():
				err = fmt.Errorf("silent for %v", d.lostAfter)
			case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
				err = errors.New("connection closed before the result")
			case ctx.Err() != nil && time.Now().After(end):
				err = errors.New("no result by the end of the run")
			}
			if !signalled {
				r.State, r.Err = StateFailed, err
				accept(fmt.Errorf("agent %s: %w", r.URL, err))
				return
			}
			r.State, r.Err, r.LostAt = StateLost, err, lost.Sub(d.measureStart)
			r.Requests = d.live.measuredOf(r.Index)
			d.log.Warn("agent lost", "agent", r.URL, "at", r.LostAt, "error", err.Error())
			return
		}
		watchdog.Reset(d.lostAfter)
		switch e.Type {
		case EventAccepted:
			accept(nil)
		case EventProgress:
			if e.Progress != nil {
				d.live.update(r.Index, e.Progress.engine())
			}
		case EventError:
			r.State, r.Err = StateFailed, errors.New(e.Error)
			accept(fmt.Errorf("agent %s: %s", r.URL, e.Error))
			return
		case EventResult:
			if e.Result == nil {
				continue
			}
			res, err := e.Result.result(r.Config, r.Clock.Offset)
			if err != nil {
				r.State, r.Err = StateFailed, fmt.Errorf("result: %w", err)
				return
			}
			r.State, r.Result, r.Requests = StateComplete, res, res.Measure.Requests
			r.StartLate = time.Duration(e.Result.StartLateNS)
			return
		}
	}
}

// share is one agent's configuration, and the total it is part of.
type share struct {
	cfg, total engine.Config
}

// Shares splits cfg over n agents. Each gets rate/n (and a ramp's or steps' rates /n),
// an nth of the connections (the first cfg.Connections mod n get one more) and of
// max inflight, the same streams, duration, warm-up and timeout. Even schedules
// (constant, uniform, ramp, step) get Arrival.Phase (i+½)/n − ½, so the agents' slots
// together are exactly the schedule of one generator at the full rate, and uniform
// jitter /n, so that each slot moves as far as it would there; Poisson and uniform
// agents get independent seeds derived from the plan's seed and their index.
func Shares(cfg engine.Config, n int) ([]share, error) {
	if cfg.Connections == 0 {
		cfg.Connections = 1
	}
	if cfg.Connections < n {
		return nil, fmt.Errorf("agents: %d connections cannot be spread over %d agents: each needs one", cfg.Connections, n)
	}
	if cfg.Warmup == 0 && cfg.Duration == 0 && cfg.Arrival.Pattern != engine.Step {
		return nil, errors.New("agents: the duration must be set")
	}
	if cfg.SeriesInterval == 0 {
		cfg.SeriesInterval = time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Arrival.Pattern == engine.Step && cfg.Duration == 0 {
		for _, s := range cfg.Arrival.Steps {
			cfg.Duration += s.Duration
		}
	}
	seed := cfg.Arrival.Seed
	if seed == 0 {
		seed = 1
	}
	out := make([]share, n)
	for i := range n {
		c := cfg
		c.Progress = nil
		c.Rate = cfg.Rate / float64(n)
		c.Connections = cfg.Connections / n
		if i < cfg.Connections%n {
			c.Connections++
		}
		if cfg.MaxInflight > 0 {
			c.MaxInflight = (cfg.MaxInflight + n - 1) / n
		}
		a := &c.Arrival
		a.RampFrom = cfg.Arrival.RampFrom / float64(n)
		a.Steps = make([]engine.RateStep, len(cfg.Arrival.Steps))
		for j, s := range cfg.Arrival.Steps {
			a.Steps[j] = engine.RateStep{Rate: s.Rate / float64(n), Duration: s.Duration}
		}
		if a.Pattern == engine.Uniform {
			if a.Jitter == 0 {
				a.Jitter = 1
			}
			a.Jitter /= float64(n)
		}
		if a.Pattern != engine.Poisson {
			a.Phase = (float64(i)+0.5)/float64(n) - 0.5
		}
		a.Seed = agentSeed(seed, i)
		out[i] = share{cfg: c, total: cfg}
	}
	return out, nil
}

// agentSeed derives agent i's seed from the plan's with splitmix64, so agents' random
// schedules are independent and reproducible; never 0 (the engine's "default").
func agentSeed(seed int64, i int) int64 {
	z := uint64(seed) + uint64(i+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	s := int64(z & math.MaxInt64)
	if s == 0 {
		s = 1
	}
	return s
}
