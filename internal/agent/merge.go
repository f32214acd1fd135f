package agent

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/service-mesh-performance/smp/internal/engine"
	"github.com/service-mesh-performance/smp/internal/hist"
)

// merge combines the complete agents' results into one, as if one generator had run
// their load: histograms merged bucket by bucket (hist.Merge adds counts, so the
// merged histogram is the histogram of the union of the samples: every percentile,
// the tail included, is what one histogram of all requests would give), counters and
// status/error maps summed. Phase bounds span the agents' (on the controller's clock).
// RequestedRate is the total the survivors stand for (their requested rates over their
// shares), so that a lost agent shows as a shortfall of AchievedRate. The time series
// is re-bucketed on the controller's clock: counts and rates add up; an interval's
// P50 and P99 are the largest of the agents' (exact interval percentiles would need
// the agents' interval histograms; the largest is an upper bound of the merged value,
// which the phase histograms give exactly).
func merge(total engine.Config, parts []*AgentRun) *engine.Result {
	if len(parts) == 0 {
		return nil
	}
	out := &engine.Result{Config: total, ClosedLoop: parts[0].Result.ClosedLoop, RateHeld: true}
	var shares float64
	var reasons []string
	for _, p := range parts {
		r := p.Result
		shares += p.Share
		out.RequestedRate += r.RequestedRate
		out.Cancelled = out.Cancelled || r.Cancelled
		out.Connections += r.Connections
		out.Reconnects += r.Reconnects
		out.Workers += r.Workers
		mergeGenerator(&out.Generator, r.Generator)
		if out.LateCause == engine.LateNone {
			out.LateCause = r.LateCause // the first agent's that had one; RateReason names each
		}
		if !r.RateHeld {
			out.RateHeld = false
			reasons = append(reasons, fmt.Sprintf("agent %d: %s", p.Index, r.RateReason))
		}
	}
	if shares > 0 {
		out.RequestedRate /= shares
	}
	for _, ph := range []engine.Phase{engine.Warmup, engine.Measure} {
		dst := phaseOf(out, ph)
		*dst = engine.PhaseResult{Latency: hist.New(), Service: hist.New(), StartLag: hist.New(), ErrorLatency: hist.New(),
			Status: map[string]int64{}, Errors: map[string]int64{}, ErrorExamples: map[string]string{}}
		for i, p := range parts {
			src := phaseOf(p.Result, ph)
			if i == 0 || src.Start.Before(dst.Start) {
				dst.Start = src.Start
			}
			if src.End.After(dst.End) {
				dst.End = src.End
			}
			dst.Duration = max(dst.Duration, src.Duration)
			dst.Latency.Merge(src.Latency)
			dst.Service.Merge(src.Service)
			dst.StartLag.Merge(src.StartLag)
			dst.ErrorLatency.Merge(src.ErrorLatency)
			if src.ReadyLag != nil {
				if dst.ReadyLag == nil {
					dst.ReadyLag = hist.New()
				}
				dst.ReadyLag.Merge(src.ReadyLag)
			}
			dst.ReadyLagTotal += src.ReadyLagTotal
			dst.BusyLagTotal += src.BusyLagTotal
			dst.Counts.Add(src.Counts)
			dst.BytesSent += src.BytesSent
			dst.BytesReceived += src.BytesReceived
			for k, v := range src.Status {
				dst.Status[k] += v
			}
			for k, v := range src.Errors {
				dst.Errors[k] += v
			}
			for k, v := range src.ErrorExamples {
				if dst.ErrorExamples[k] == "" {
					dst.ErrorExamples[k] = v
				}
			}
		}
	}
	// Each agent's warm-up ends where its measurement starts, on its own clock; moved to
	// the controller's by offsets known only to within a round trip, the last warm-up
	// end can land a few hundred nanoseconds after the first measured start. The agents
	// share one schedule, so the merged warm-up ends where the merged measurement starts.
	if !out.Measure.Start.IsZero() && out.Warmup.End.After(out.Measure.Start) {
		out.Warmup.End = out.Measure.Start
	}
	if secs := out.Measure.Duration.Seconds(); secs > 0 {
		out.AchievedRate = float64(out.Measure.Requests) / secs
	}
	switch {
	case out.ClosedLoop:
		out.RateReason = "closed loop: no rate requested"
	case out.RateHeld:
		out.RateReason = fmt.Sprintf("held on every agent: achieved %.1f/s of %.1f/s", out.AchievedRate, out.RequestedRate)
	default:
		out.RateReason = "could not hold rate on every agent: " + strings.Join(reasons, "; ")
	}
	out.SeriesInterval, out.Series = mergeSeries(out.Measure.Start, parts)
	return out
}

// mergeGenerator adds one agent's process cost to the total: CPU time, CPUs and
// run delay add up, the wall time is the longest, and spin and the wanted share
// are the largest, so Busy is the agents' CPU over all their CPUs. An agent that
// could not read its run delay (negative) makes the total unknown.
func mergeGenerator(total *engine.GeneratorStats, g engine.GeneratorStats) {
	if total.CPUs == 0 && total.Wall == 0 {
		*total = g
		return
	}
	total.CPU += g.CPU
	total.CPUs += g.CPUs
	total.Wall = max(total.Wall, g.Wall)
	if total.RunDelay < 0 || g.RunDelay < 0 {
		total.RunDelay = -1
	} else {
		total.RunDelay += g.RunDelay
	}
	total.Spin = max(total.Spin, g.Spin)
	total.Wanted = max(total.Wanted, g.Wanted)
}

func phaseOf(r *engine.Result, ph engine.Phase) *engine.PhaseResult {
	if ph == engine.Warmup {
		return &r.Warmup
	}
	return &r.Measure
}

// mergeSeries puts every agent's points on one grid: an agent's point at offset o from
// its measured phase's start lies at o + (its start − the merged start) on the
// controller's clock, and falls in the interval nearest to it.
func mergeSeries(start time.Time, parts []*AgentRun) (time.Duration, []engine.Point) {
	var interval time.Duration
	for _, p := range parts {
		interval = max(interval, p.Result.SeriesInterval)
	}
	if interval <= 0 {
		return 0, nil
	}
	grid := map[int64]*engine.Point{}
	for _, p := range parts {
		shift := p.Result.Measure.Start.Sub(start)
		for _, pt := range p.Result.Series {
			off := pt.Offset + shift
			k := int64(math.Floor(float64(off+interval/2) / float64(interval)))
			g, ok := grid[k]
			if !ok {
				g = &engine.Point{Offset: time.Duration(k) * interval, Phase: engine.Measure}
				if g.Offset < 0 {
					g.Phase = engine.Warmup
				}
				grid[k] = g
			}
			g.Requests += pt.Requests
			g.Errors += pt.Errors
			g.Rate += pt.Rate
			g.InFlight += pt.InFlight
			g.P50 = max(g.P50, pt.P50)
			g.P99 = max(g.P99, pt.P99)
		}
	}
	keys := make([]int64, 0, len(grid))
	for k := range grid {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	out := make([]engine.Point, 0, len(keys))
	for _, k := range keys {
		out = append(out, *grid[k])
	}
	return interval, out
}

// liveProgress keeps each agent's latest progress and reports their sum.
type liveProgress struct {
	mu       sync.Mutex
	latest   []engine.Progress
	has      []bool
	gone     []bool
	measured []int64 // requests in the measured phase so far, per agent
	interval time.Duration
}

func newLiveProgress(n int, cfg engine.Config) *liveProgress {
	return &liveProgress{latest: make([]engine.Progress, n), has: make([]bool, n), gone: make([]bool, n),
		measured: make([]int64, n), interval: cfg.SeriesInterval}
}

func (l *liveProgress) update(i int, p engine.Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.latest[i], l.has[i] = p, true
	if p.Phase == engine.Measure {
		l.measured[i] = p.Requests
	}
}

// drop stops counting agent i's rate and in-flight requests (it finished or was lost).
func (l *liveProgress) drop(i int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gone[i] = true
}

func (l *liveProgress) measuredOf(i int) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.measured[i]
}

// sum adds up the agents' latest progress; a gone agent keeps its counts but no
// longer adds rate or in-flight requests.
func (l *liveProgress) sum() (engine.Progress, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var s engine.Progress
	any := false
	s.Phase = engine.Measure
	for i, p := range l.latest {
		if !l.has[i] {
			continue
		}
		any = true
		s.Phase = min(s.Phase, p.Phase)
		s.Elapsed = max(s.Elapsed, p.Elapsed)
		s.PhaseDuration = max(s.PhaseDuration, p.PhaseDuration)
		s.Requests += p.Requests
		s.Errors += p.Errors
		s.P50, s.P99 = max(s.P50, p.P50), max(s.P99, p.P99)
		if !l.gone[i] {
			s.Rate += p.Rate
			s.RequestedRate += p.RequestedRate
			s.InFlight += p.InFlight
		}
	}
	return s, any
}

// report calls f with the sum once per interval from start until done is closed.
func (l *liveProgress) report(done <-chan struct{}, start time.Time, f func(engine.Progress)) {
	t := time.NewTimer(time.Until(start.Add(l.interval)))
	defer t.Stop()
	for i := 2; ; i++ {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if s, ok := l.sum(); ok {
			f(s)
		}
		t.Reset(time.Until(start.Add(time.Duration(i) * l.interval)))
	}
}
