package engine

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/result"
)

// caller sends one request on one stream of one connection and reads the
// whole response. Each worker owns one caller; callers of the same
// connection share it (h2, gRPC).
type caller interface {
	// do returns the response's status key (see statusKey) and/or an error.
	// A non-nil error means the request failed (it is classified); a status
	// with a nil error is a response, successful or not. deadline is the
	// monotonic offset (from run.base) after which the request times out.
	// variant selects the prepared request (see mixer; 0 without a mix); only
	// HTTP/1.1 has more than one.
	do(ctx context.Context, ps *phaseStats, deadline time.Duration, variant int) (status int, err error)
	// abort unblocks a do in progress; used when the run is cancelled.
	abort()
	close()
}

// statusKey: HTTP statuses are stored at their code, gRPC codes at
// grpcStatusBase+code and a TCP echo at tcpStatus, in a fixed array so
// counting never allocates.
const (
	grpcStatusBase = 600
	statusSlots    = tcpStatus + 1
)

var grpcCodeNames = [17]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

func statusName(k int) string {
	if k == tcpStatus {
		return "tcp:OK"
	}
	if k >= grpcStatusBase {
		return "grpc:" + grpcCodeNames[k-grpcStatusBase]
	}
	return strconv.Itoa(k)
}

func statusOK(k int) bool {
	if k == tcpStatus {
		return true
	}
	if k >= grpcStatusBase {
		return k == grpcStatusBase
	}
	return k >= 100 && k < 400
}

// phaseStats is one worker's accumulators for one phase. Only the worker
// writes them while it runs; they are read after it stops.
type phaseStats struct {
	latency, service, lag, errLatency *hist.Histogram
	// readyLag is the start lag of the slots whose worker was free when they
	// were due: the engine's own lateness (see PhaseResult.ReadyLag).
	// readyLagSum and busyLagSum add up the start lag of those slots and of
	// the others, which waited for their connection's previous response.
	readyLag                *hist.Histogram
	readyLagSum, busyLagSum time.Duration

	counts               result.Counts
	bytesSent, bytesRecv int64
	status               [statusSlots]int64
	errs                 [numClasses]int64
	// examples holds the first error message of each class, which says why (a
	// certificate signed by an unknown authority) where the class says what.
	examples [numClasses]string

	// Keep-alive off (HTTP/1.1 and TCP) only, else nil: connect, TLS handshake
	// and first-byte times of every request (see dialPhases.recordDial).
	connect, tls, firstByte *hist.Histogram
	// mix counts the requests sent per entry of Config.Requests; nil without a mix.
	mix []int64
}

func newPhaseStats() *phaseStats {
	return &phaseStats{latency: hist.New(), service: hist.New(), lag: hist.New(), errLatency: hist.New(), readyLag: hist.New()}
}

// newPhaseStats adds what this run records beyond the basics.
func (r *run) newPhaseStats() *phaseStats {
	ps := newPhaseStats()
	if (r.cfg.Protocol == HTTP1 || r.cfg.Protocol == TCP) && !*r.cfg.KeepAlive {
		ps.connect, ps.tls, ps.firstByte = hist.New(), hist.New(), hist.New()
	}
	if r.mix != nil {
		ps.mix = make([]int64, len(r.cfg.requests()))
	}
	return ps
}

// live counters the collector reads while workers run, on their own cache
// line per worker so workers never share one.
type live struct {
	started atomic.Int64
	done    [2]atomic.Int64 // per phase
	failed  [2]atomic.Int64
	_       [24]byte
}

type worker struct {
	r      *run
	caller caller
	timer  *time.Timer
	fine   *preciseTimer // the last coarseSlack of each wait
	phases [2]*phaseStats
	hint   int // schedule segment hint
	// lastDone is when the worker's previous request ended (offset from base).
	lastDone time.Duration
	// key numbers a closed-loop worker's requests for the mixer: worker index
	// in the top bits, a count below.
	key uint64

	// Interval latency histograms: the worker records into cur; the collector
	// leaves an empty one in swapIn and the worker trades cur for it at its
	// next record, handing cur over in swapOut. Each worker owns exactly two.
	cur     *hist.Histogram
	swapIn  atomic.Pointer[hist.Histogram]
	swapOut atomic.Pointer[hist.Histogram]

	live live
}

// run is the state of one Run shared by its goroutines; it is read-only
// once the workers start, apart from the schedule's atomic counter.
type run struct {
	cfg   Config
	ep    endpoint
	open  bool // open loop
	sched schedule

	base     time.Time     // monotonic origin: start of warm-up
	wall     time.Time     // base as UTC wall clock
	warmEnd  time.Duration // offsets from base
	end      time.Duration
	hardStop time.Duration // nothing is sent after this; in-flight requests time out by it

	maxInflight float64
	// constRate is the rate of a schedule whose rate never changes (0
	// otherwise), and constSpin the automatic spin at it (see spinAt).
	constRate float64
	constSpin time.Duration
	stats     *sharedStats
	mix       *mixer // nil: every request is variant 0
}

func (r *run) since() time.Duration { return time.Since(r.base) }

func (r *run) phaseOf(t time.Duration) Phase {
	if t < r.warmEnd {
		return Warmup
	}
	return Measure
}

// Run sends load as c describes until c.Duration has been measured or ctx
// is cancelled, and returns what it measured. Errors of individual requests
// are counted in the result, never returned; Run returns an error only when
// c is invalid or the protocol client cannot be built (bad TLS files). A
// cancelled ctx ends the run within a few milliseconds (in-flight requests
// are interrupted and not counted) and returns the partial result with
// Cancelled set and a nil error.
func Run(ctx context.Context, c Config) (*Result, error) {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("engine config: %w", err)
	}
	ep, err := c.endpoint()
	if err != nil {
		return nil, fmt.Errorf("engine config: target: %w", err)
	}
	r := &run{cfg: c, ep: ep, open: c.Rate > 0 || c.Arrival.Pattern == Step, stats: &sharedStats{}}
	r.maxInflight = float64(c.MaxInflight)
	if r.open {
		r.sched = schedule{proc: newProcess(c.Arrival), shape: newShape(c)}
		if c.Arrival.Pattern == Constant || c.Arrival.Pattern == Poisson || c.Arrival.Pattern == Uniform {
			r.constRate, r.constSpin = c.Rate, autoSpin(c.Rate)
		}
	}
	r.mix = newMixer(c)

	factory, err := newFactory(r)
	if err != nil {
		return nil, fmt.Errorf("engine: set up %s client for %s: %w", c.Protocol, c.Target, err)
	}
	defer factory.close()

	// At high constant rates workers wait on runtime timers, with one
	// ticker to keep the idle netpoller from oversleeping (see idleTicker);
	// below, each worker has its own timerfd.
	var ticker *idleTicker
	if r.open && r.constRate >= tickerRate {
		ticker = newIdleTicker(tickerPeriod)
		defer ticker.close()
	}
	nw := c.Connections * c.Streams
	workers := make([]*worker, nw)
	for i := range workers {
		w := &worker{r: r, cur: hist.New(), timer: time.NewTimer(time.Hour), key: uint64(i) << 40}
		if r.open && ticker == nil {
			w.fine = newPreciseTimer()
		}
		w.timer.Stop()
		w.swapIn.Store(hist.New())
		w.phases[Measure] = r.newPhaseStats()
		if c.Warmup > 0 {
			w.phases[Warmup] = r.newPhaseStats()
		} else {
			w.phases[Warmup] = w.phases[Measure] // never used: no slot falls before warmEnd
		}
		workers[i] = w
	}
	// Connections are opened before the clock starts, so neither phase pays
	// for handshakes (keep-alive off aside, where they are the point).
	callers, err := factory.open(ctx, c.Connections, c.Streams)
	if err != nil {
		return nil, fmt.Errorf("engine: open connections to %s: %w", c.Target, err)
	}
	for i, w := range workers {
		w.caller = callers[i]
	}
	defer func() {
		for _, w := range workers {
			w.caller.close()
		}
	}()

	r.base = startClock(ctx, c.StartAt)
	r.wall = r.base.UTC().Round(0)
	r.warmEnd = c.Warmup
	r.end = c.Warmup + c.Duration
	r.hardStop = r.end + c.Timeout
	factory.start()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.loop(runCtx) })
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()

	col := newCollector(r, workers)
	cancelled := col.watch(ctx, allDone, func() {
		cancel()
		for _, w := range workers {
			w.caller.abort()
		}
	})
	<-allDone
	for _, w := range workers {
		w.timer.Stop()
		w.fine.close()
	}
	stopped := r.since()
	col.finish(stopped)
	return r.result(workers, col, cancelled, stopped, factory), nil
}

// tickerRate is the constant rate from which workers wait on runtime timers
// with an idleTicker of tickerPeriod instead of a timerfd each. A timerfd
// wait costs a system call and an I/O wake-up per request (~4µs here), a
// ticker an expiry per period whatever the rate: from 20k/s, where the
// process is busy most of the time and automatic spinning is off, the ticker
// is the cheaper, and the CPU it frees shortens the queues requests wait in
// on a saturated core.
const (
	tickerRate   = 20000
	tickerPeriod = 50 * time.Microsecond
)

// startSlack is how late after Config.StartAt the connections may be ready (or the
// timer may wake: a loaded machine's timers oversleep by milliseconds, 11ms seen on the
// 2-core test machine) and the schedule still start at StartAt, so agents keep one time
// origin; the first slots are then late and their lag is recorded. Beyond it the
// backlog would reach the target as a burst, so the clock starts afresh.
const startSlack = 100 * time.Millisecond

// startClock waits for at (if set and ahead) and returns the run's time origin: at
// itself when reached within startSlack, else now. A cancelled ctx ends the wait at once
// (the run then stops before its first slot).
func startClock(ctx context.Context, at time.Time) time.Time {
	if at.IsZero() {
		return time.Now()
	}
	if d := time.Until(at); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return time.Now()
		case <-t.C:
		}
	}
	now := time.Now()
	if now.Sub(at) <= startSlack {
		return at
	}
	return now
}

// loop is a worker's life: claim a slot, wait for it, send, record.
func (w *worker) loop(ctx context.Context) {
	r := w.r
	if !r.open {
		for ctx.Err() == nil {
			now := r.since()
			if now >= r.end {
				return
			}
			v := 0
			if r.mix != nil {
				v = r.mix.pick(w.key)
				w.key++
			}
			w.send(ctx, now, now, v, false)
		}
		return
	}
	for {
		at, n, ok := r.sched.at(&w.hint)
		if !ok || at >= r.end {
			return
		}
		now := r.since()
		// Free when the slot was due: any lag is the engine's, not the target's.
		ready := w.lastDone <= at
		if late := now - at; late > 0 {
			if late > r.cfg.Timeout || (r.maxInflight > 0 && r.sched.shape.countAt(now.Seconds())-n > r.maxInflight) {
				ps := w.phases[r.phaseOf(at)]
				ps.counts.Overflow++
				ps.errs[classOverflow]++
				continue
			}
		} else if !w.wait(ctx, at) {
			return
		}
		if ctx.Err() != nil {
			return
		}
		v := 0
		if r.mix != nil {
			v = r.mix.pick(math.Float64bits(n))
		}
		w.send(ctx, at, r.since(), v, ready)
	}
}

// wait blocks until offset at, or returns false when ctx ends first. It
// sleeps on the worker's timer while the deadline is far, then on its
// timerfd (see preciseTimer), then spins the last r.spinAt(at).
func (w *worker) wait(ctx context.Context, at time.Duration) bool {
	r := w.r
	spin := r.spinAt(at)
	for {
		d := at - r.since()
		if d <= 0 {
			return true
		}
		if d > coarseSlack+spin || (w.fine == nil && d > spin) {
			// Go's timers can fire up to ~1ms late when the process is idle
			// (the netpoller sleeps in whole milliseconds), so the timer only
			// gets us to within coarseSlack of the deadline, unless there is
			// no timerfd to wait on for the rest (an idleTicker bounds the
			// oversleep instead).
			if w.fine == nil {
				w.timer.Reset(d - spin)
			} else {
				w.timer.Reset(d - coarseSlack - spin)
			}
			select {
			case <-ctx.Done():
				w.timer.Stop()
				return false
			case <-w.timer.C:
			}
			continue
		}
		if d > spin {
			w.fine.sleep(d - spin)
			continue
		}
		for r.since() < at {
			// Busy-wait: costs a core, buys the last tens of µs.
		}
		return true
	}
}

// send performs one request intended at `intended` and actually started at
// `actual` (both offsets from base) and records it. ready says the worker
// was free when the slot was due (so its lag is the engine's own).
func (w *worker) send(ctx context.Context, intended, actual time.Duration, variant int, ready bool) {
	r := w.r
	ph := r.phaseOf(intended)
	ps := w.phases[ph]
	deadline := min(actual+r.cfg.Timeout, r.hardStop)
	w.live.started.Add(1)
	status, err := w.caller.do(ctx, ps, deadline, variant)
	done := r.since()
	w.lastDone = done
	w.live.done[ph].Add(1)
	if err != nil && ctx.Err() != nil {
		// Interrupted by cancellation: not a measurement of the target.
		return
	}
	ps.counts.Requests++
	if ps.mix != nil {
		ps.mix[variant/r.mix.sizes]++
	}
	if r.open {
		// Closed loop: intended = actual, so the lag is 0 and the service
		// time equals the latency; result derives both instead of paying two
		// more histogram writes per request (cache misses across hundreds of
		// workers' histograms are a visible share of a loopback request).
		lag := actual - intended
		ps.lag.Record(lag)
		if ready {
			ps.readyLag.Record(lag)
			ps.readyLagSum += lag
		} else {
			ps.busyLagSum += lag
		}
	}
	lat := done - intended
	if status > 0 {
		ps.status[status]++
	}
	// Latency and service time describe successful requests only, so that a mesh that
	// answers fast with 503s does not look fast; failures have their own histogram.
	if err == nil && statusOK(status) {
		ps.counts.Succeeded++
		ps.latency.Record(lat)
		if r.open {
			ps.service.Record(done - actual)
		}
		w.cur.Record(lat)
	} else {
		ps.counts.Failed++
		w.live.failed[ph].Add(1)
		ps.errLatency.Record(lat)
		switch {
		case err != nil:
			c := classify(err)
			ps.errs[c]++
			if ps.examples[c] == "" {
				ps.examples[c] = err.Error()
			}
		case status >= grpcStatusBase:
			ps.errs[classGRPC]++
		default:
			ps.errs[classHTTP]++
		}
	}
	if h := w.swapIn.Load(); h != nil {
		w.swapIn.Store(nil)
		w.swapOut.Store(w.cur)
		w.cur = h
	}
}

// result merges the workers' accumulators; it runs after they stopped.
func (r *run) result(workers []*worker, col *collector, cancelled bool, stopped time.Duration, f factory) *Result {
	c := r.cfg
	res := &Result{Config: c, ClosedLoop: !r.open, Cancelled: cancelled, Workers: len(workers)}
	bounds := [2][2]time.Duration{{0, r.warmEnd}, {r.warmEnd, r.end}}
	for ph := range 2 {
		pr := PhaseResult{
			Latency: hist.New(), Service: hist.New(), StartLag: hist.New(), ErrorLatency: hist.New(), ReadyLag: hist.New(),
			Status: map[string]int64{}, Errors: map[string]int64{}, ErrorExamples: map[string]string{},
		}
		from, to := bounds[ph][0], bounds[ph][1]
		if cancelled && stopped < to {
			to = max(stopped, from)
		}
		pr.Start, pr.End, pr.Duration = r.wall.Add(from), r.wall.Add(to), to-from
		var status [statusSlots]int64
		var errs [numClasses]int64
		for _, w := range workers {
			ps := w.phases[ph]
			if ph == int(Warmup) && c.Warmup == 0 {
				break
			}
			pr.Latency.Merge(ps.latency)
			if r.open {
				pr.Service.Merge(ps.service)
				pr.StartLag.Merge(ps.lag)
				pr.ReadyLag.Merge(ps.readyLag)
				pr.ReadyLagTotal += ps.readyLagSum
				pr.BusyLagTotal += ps.busyLagSum
			} else {
				// See send: closed loop records neither.
				pr.Service.Merge(ps.latency)
				pr.StartLag.RecordN(0, ps.counts.Requests)
			}
			pr.ErrorLatency.Merge(ps.errLatency)
			if ps.connect != nil {
				if pr.Connect == nil {
					pr.Connect, pr.TLSHandshake, pr.FirstByte = hist.New(), hist.New(), hist.New()
				}
				pr.Connect.Merge(ps.connect)
				pr.TLSHandshake.Merge(ps.tls)
				pr.FirstByte.Merge(ps.firstByte)
			}
			if ps.mix != nil {
				if pr.Mix == nil {
					pr.Mix = make([]int64, len(ps.mix))
				}
				for i, n := range ps.mix {
					pr.Mix[i] += n
				}
			}
			pr.Counts.Add(ps.counts)
			pr.BytesSent += ps.bytesSent
			pr.BytesReceived += ps.bytesRecv
			for i, n := range ps.status {
				status[i] += n
			}
			for i, n := range ps.errs {
				errs[i] += n
				if e := ps.examples[i]; e != "" && pr.ErrorExamples[classNames[i]] == "" {
					pr.ErrorExamples[classNames[i]] = e
				}
			}
		}
		for i, n := range status {
			if n > 0 {
				pr.Status[statusName(i)] = n
			}
		}
		for i, n := range errs {
			if n > 0 {
				pr.Errors[classNames[i]] = n
			}
		}
		if ph == int(Warmup) {
			res.Warmup = pr
		} else {
			res.Measure = pr
		}
	}
	m := &res.Measure
	if secs := m.Duration.Seconds(); secs > 0 {
		res.AchievedRate = float64(m.Requests) / secs
		if r.open {
			res.RequestedRate = (r.sched.shape.countAt((r.warmEnd + m.Duration).Seconds()) - r.sched.shape.countAt(r.warmEnd.Seconds())) / secs
		}
	}
	res.Generator = col.generator()
	res.RateHeld, res.RateReason, res.LateCause = r.verdict(res)
	res.Connections = f.connections()
	res.Reconnects = f.reconnects()
	res.Series, res.SeriesInterval = col.series, col.interval
	if r.open && (c.Arrival.Pattern == Poisson || c.Arrival.Pattern == Uniform || c.Arrival.Pattern == RealWorld || r.mix != nil) {
		// Seeded schedules are described so that they can be recognised and
		// replayed; an error here is impossible (c was validated).
		res.Schedule, _ = Schedule(c)
	}
	return res
}

// verdict decides whether the schedule was honoured, says why not, and
// names the cause when requests left late (see LateCause).
func (r *run) verdict(res *Result) (bool, string, LateCause) {
	m := &res.Measure
	if !r.open {
		return true, "closed loop: no rate requested", LateNone
	}
	var reasons []string
	if m.Overflow > 0 {
		reasons = append(reasons, fmt.Sprintf("%d of %d scheduled requests skipped (overflow: later than the timeout or beyond max inflight)",
			m.Overflow, m.Overflow+m.Requests))
	}
	cause := LateNone
	if m.StartLag.Count() > 0 {
		if p99 := m.StartLag.Percentile(99); p99 > r.cfg.MaxStartLag {
			var why string
			cause, why = r.lateCause(res)
			reasons = append(reasons, fmt.Sprintf("start lag p99 %v exceeds %v: requests left late; %s", p99, r.cfg.MaxStartLag, why))
		}
	}
	if res.RequestedRate > 0 {
		// The count of a schedule is exact, so the achieved rate can only fall
		// short by overflow or by requests interrupted at cancellation.
		short := 1 - res.AchievedRate/res.RequestedRate
		if short > 0.01+3/math.Sqrt(res.RequestedRate*m.Duration.Seconds()) && m.Overflow == 0 && !res.Cancelled {
			reasons = append(reasons, fmt.Sprintf("achieved %.1f/s of %.1f/s requested", res.AchievedRate, res.RequestedRate))
		}
	}
	if len(reasons) > 0 {
		return false, "could not hold rate: " + strings.Join(reasons, "; "), cause
	}
	return true, fmt.Sprintf("held: achieved %.1f/s of %.1f/s, no overflow, start lag p99 ≤ %v",
		res.AchievedRate, res.RequestedRate, r.cfg.MaxStartLag), LateNone
}

// engineBusy is the share of its CPUs above which the engine counts as
// saturated: its runnable workers then queue behind each other. machineBusy
// is the run delay per second of wall time above which the process's
// threads count as kept off the CPU by other processes.
const (
	engineBusy  = 0.9
	machineBusy = 0.1
)

// lateCause tells apart why requests left late. An engine that used its
// CPUs to the full is late for everything (the engine), and so is one whose
// busiest threads ran or waited to run all the time, but waited for a CPU
// other processes held (the machine). Otherwise each request's start lag is charged to the engine
// when its worker was free when the request was due (ReadyLag), and to its
// connection when that was still waiting for the previous response; the
// larger total names the cause: connections (the target answered slower
// than the rate needs, or there are too few connections), the machine (when
// its threads waited for a CPU), or the engine itself (its timers and
// scheduler late).
func (r *run) lateCause(res *Result) (LateCause, string) {
	g, m := res.Generator, &res.Measure
	var figures []string
	if g.Wall > 0 {
		figures = append(figures, fmt.Sprintf("generator CPU %.0f%% of %d", 100*g.Busy(), g.CPUs))
	}
	starved := false
	if g.RunDelay >= 0 && g.Wall > 0 {
		delay := g.RunDelay.Seconds() / g.Wall.Seconds()
		starved = delay >= machineBusy
		figures = append(figures, fmt.Sprintf("its threads waited %v per second for a CPU", time.Duration(delay*float64(time.Second)).Round(time.Microsecond)))
	}
	if m.ReadyLag != nil && m.ReadyLag.Count() > 0 {
		figures = append(figures, fmt.Sprintf("lag p99 %v of requests whose connection was free", m.ReadyLag.Percentile(99)))
	}
	if total := m.ReadyLagTotal + m.BusyLagTotal; total > 0 {
		figures = append(figures, fmt.Sprintf("%.0f%% of the lag waiting for a busy connection", 100*m.BusyLagTotal.Seconds()/total.Seconds()))
	}
	detail := ""
	if len(figures) > 0 {
		detail = " (" + strings.Join(figures, ", ") + ")"
	}
	switch {
	case g.Busy() >= engineBusy:
		return LateEngine, "the engine itself was late: its CPU was saturated" + detail
	case g.Wanted >= engineBusy && starved:
		return LateMachine, "other processes kept the engine off the CPU it needed" + detail
	case m.BusyLagTotal >= m.ReadyLagTotal:
		return LateConnections, fmt.Sprintf("requests waited for a free connection (%d × %d): the target answered slower than the rate needs, or more connections are needed%s",
			r.cfg.Connections, r.cfg.Streams, detail)
	case starved:
		return LateMachine, "other processes kept the engine off the CPU" + detail
	}
	return LateEngine, "the engine itself was late: it started requests it was free for late" + detail
}

// sharedStats are counters the protocol clients share across workers; they
// change only when connections open, never per request.
type sharedStats struct {
	connections atomic.Int64
	reconnects  atomic.Int64
}
