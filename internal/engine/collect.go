package engine

import (
	"context"
	"runtime"
	"time"

	"github.com/service-mesh-performance/smp/internal/hist"
)

// maxSeriesPoints bounds the time series: a 10-minute run at the default 1s
// interval fits; longer runs merge neighbouring points (see compact).
const maxSeriesPoints = 1200

// abortGrace is how long after the hard stop the collector waits before
// forcing connections closed; requests already carry deadlines at the hard
// stop, so this is only a safety net against a client that ignores them.
const abortGrace = time.Second

// collector owns the time series and Progress: once per interval it trades
// each worker's interval histogram for an empty one (see worker.swapIn).
type collector struct {
	r        *run
	workers  []*worker
	base     time.Duration // Config.SeriesInterval
	interval time.Duration // base × stride
	stride   int           // base intervals per point
	pending  int           // base intervals accumulated into the next point

	agg   *hist.Histogram    // interval latency, across workers
	soFar [2]*hist.Histogram // per phase, for Progress
	from  time.Duration      // start of the pending point

	prevDone, prevFailed int64
	series               []Point

	// The process's usage where the measured phase started (valid once
	// measuring is set) and where the run stopped; prev is the latest sample
	// between them, and wantedTime and wantedWall add up busiest over the
	// intervals between samples (see GeneratorStats.Wanted and addWanted).
	measuring              bool
	first, last, prev      selfUsage
	wantedTime, wantedWall time.Duration
}

func newCollector(r *run, workers []*worker) *collector {
	return &collector{
		r: r, workers: workers,
		base: r.cfg.SeriesInterval, interval: r.cfg.SeriesInterval, stride: 1,
		agg: hist.New(), soFar: [2]*hist.Histogram{hist.New(), hist.New()},
		series: make([]Point, 0, maxSeriesPoints),
	}
}

// startMeasure samples the process's usage once, when the measured phase starts.
func (c *collector) startMeasure() {
	if !c.measuring {
		c.measuring = true
		c.first = c.r.sampleSelf()
		c.prev = c.first
	}
}

// addWanted adds the busiest threads' time from the previous sample to u to the
// measured phase's.
func (c *collector) addWanted(u selfUsage) {
	if top := busiest(c.prev, u, runtime.GOMAXPROCS(0)); top >= 0 {
		c.wantedTime += top
		c.wantedWall += u.at - c.prev.at
	}
	c.prev = u
}

// generator is what the engine cost over the measured phase (zero when it never started).
func (c *collector) generator() GeneratorStats {
	r := c.r
	g := GeneratorStats{CPUs: runtime.GOMAXPROCS(0), Spin: r.spinAt(r.warmEnd), RunDelay: -1}
	if !c.measuring || c.last.at <= c.first.at {
		return g
	}
	g.Wall = c.last.at - c.first.at
	if c.first.cpu >= 0 && c.last.cpu >= 0 {
		g.CPU = c.last.cpu - c.first.cpu
	}
	if c.first.runDelay >= 0 && c.last.runDelay >= 0 {
		g.RunDelay = c.last.runDelay - c.first.runDelay
	}
	if c.wantedWall > 0 {
		g.Wanted = min(1, c.wantedTime.Seconds()/(c.wantedWall.Seconds()*float64(g.CPUs)))
	}
	return g
}

// watch ticks until the workers are done. When ctx is cancelled it calls
// abort and reports true.
func (c *collector) watch(ctx context.Context, done <-chan struct{}, abort func()) bool {
	r := c.r
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	aborted := false
	if r.warmEnd == 0 {
		c.startMeasure()
	}
	for next := c.nextTick(0); ; next = c.nextTick(next) {
		for {
			wake := next
			if !aborted && r.hardStop+abortGrace < wake {
				wake = r.hardStop + abortGrace
			}
			t.Reset(wake - r.since())
			select {
			case <-done:
				// Workers also stop on their own when ctx is cancelled (their context is
				// derived from it); that is a cancelled run even if done won the race.
				return ctx.Err() != nil && r.since() < r.end
			case <-ctx.Done():
				abort()
				return true
			case <-t.C:
			}
			if r.since() >= next {
				break
			}
			if !aborted && r.since() >= r.hardStop+abortGrace {
				aborted = true
				abort()
			}
		}
		c.tick(next, false)
		if next >= r.warmEnd {
			if c.measuring {
				c.addWanted(r.sampleSelf())
			}
			c.startMeasure()
		}
	}
}

// nextTick is the end of the base interval that starts at prev. The warm-up's last
// interval is cut short at its end, so that no interval mixes warm-up and measured
// requests: the live percentiles of the measured phase would include the warm-up's
// (a cold start's queue) and a series point would straddle the boundary.
func (c *collector) nextTick(prev time.Duration) time.Duration {
	next := prev + c.base
	if w := c.r.warmEnd; prev < w && next > w {
		return w
	}
	return next
}

// tick closes the base interval ending at now.
func (c *collector) tick(now time.Duration, final bool) {
	for _, w := range c.workers {
		if final {
			// Workers have stopped: their histograms can be read directly.
			c.agg.Merge(w.cur)
			w.cur.Reset()
		}
		if h := w.swapOut.Swap(nil); h != nil {
			if h.Count() > 0 {
				c.agg.Merge(h)
				h.Reset()
			}
			w.swapIn.Store(h)
			if !final {
				// A merge and a reset walk ~190KB each; with GOMAXPROCS=1,
				// doing all workers at once would stall sends for about
				// 40µs per worker, so let due requests go between them.
				runtime.Gosched()
			}
		}
	}
	var done, failed, started int64
	for _, w := range c.workers {
		started += w.live.started.Load()
		for ph := range 2 {
			done += w.live.done[ph].Load()
			failed += w.live.failed[ph].Load()
		}
	}
	ph := c.r.phaseOf(max(now-1, 0))
	c.pending++
	if c.pending < c.stride && !final {
		return
	}
	span := now - c.from
	p := Point{
		Offset:   c.from - c.r.warmEnd,
		Phase:    c.r.phaseOf(c.from),
		Requests: done - c.prevDone,
		Errors:   failed - c.prevFailed,
		InFlight: started - done,
	}
	if span > 0 {
		p.Rate = float64(p.Requests) / span.Seconds()
	}
	if c.agg.Count() > 0 {
		p.P50, p.P99 = c.agg.Percentile(50), c.agg.Percentile(99)
		c.soFar[ph].Merge(c.agg)
	}
	c.agg.Reset()
	c.pending = 0
	c.from = now
	c.prevDone, c.prevFailed = done, failed
	if !final || p.Requests > 0 || p.Errors > 0 {
		if len(c.series) == maxSeriesPoints {
			c.compact()
		}
		c.series = append(c.series, p)
	}
	if c.r.cfg.Progress != nil && !final {
		c.progress(now, ph, p)
	}
}

// compact halves the series by merging neighbours and doubles the interval
// of points to come. Merged points keep the larger p99 and the mean p50:
// exact percentiles of the pair are gone, and an under-reported tail would
// be the worse error.
func (c *collector) compact() {
	n := len(c.series) / 2
	for i := range n {
		a, b := c.series[2*i], c.series[2*i+1]
		c.series[i] = Point{
			Offset: a.Offset, Phase: b.Phase,
			Requests: a.Requests + b.Requests, Errors: a.Errors + b.Errors,
			Rate: (a.Rate + b.Rate) / 2, P50: (a.P50 + b.P50) / 2, P99: max(a.P99, b.P99),
			InFlight: b.InFlight,
		}
	}
	c.series = c.series[:n]
	c.stride *= 2
	c.interval = c.base * time.Duration(c.stride)
}

func (c *collector) progress(now time.Duration, ph Phase, p Point) {
	r := c.r
	pr := Progress{Phase: ph, Rate: p.Rate, InFlight: p.InFlight}
	if ph == Warmup {
		pr.Elapsed, pr.PhaseDuration = now, r.warmEnd
	} else {
		pr.Elapsed, pr.PhaseDuration = now-r.warmEnd, r.cfg.Duration
	}
	for _, w := range c.workers {
		pr.Requests += w.live.done[ph].Load()
		pr.Errors += w.live.failed[ph].Load()
	}
	if h := c.soFar[ph]; h.Count() > 0 {
		pr.P50, pr.P99 = h.Percentile(50), h.Percentile(99)
	}
	if r.open {
		pr.RequestedRate = r.sched.shape.rateAt(now.Seconds())
	}
	r.cfg.Progress(pr)
}

// finish records the last, partial interval once the workers have stopped.
func (c *collector) finish(now time.Duration) {
	if c.measuring {
		c.last = c.r.sampleSelf()
		c.addWanted(c.last)
	}
	c.tick(now, true)
}
