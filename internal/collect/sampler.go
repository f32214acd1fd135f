package collect

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/service-mesh-performance/smp/result"
)

// point is what one read of one target's endpoint yields. Absent figures are NaN (CPU,
// memory) or missing keys.
type point struct {
	at  time.Time
	cpu float64 // cumulative CPU seconds
	mem float64 // bytes of the primary memory metric
	// other memory metrics by name (bytes), averaged and maxed like mem.
	other map[string]float64
	// counters are cumulative: their increase over the window is reported.
	counters map[string]float64
	// gauges: the last value in the window is reported.
	gauges map[string]float64
	// hists are cumulative histograms: their increase over the window gives latency.
	hists map[string]hist
	// info is descriptive text (a version), kept from the latest point.
	info string
}

func newPoint(at time.Time) point {
	return point{at: at, cpu: math.NaN(), mem: math.NaN()}
}

// fetchFunc reads every target once. It returns one point per target, in order, and an
// error per target that could not be read (nil for the others). Timestamps are the
// source's when it has them, else the middle of the request.
type fetchFunc func(ctx context.Context, targets []Target) ([]point, []error)

// samplerConfig configures a sampler; see the collector configs for the defaults.
type samplerConfig struct {
	name      string // the collector's name, for messages
	interval  time.Duration
	retention time.Duration
	fetch     fetchFunc
	// memoryMetric names what point.mem is ("rss", "working_set", "allocated").
	memoryMetric string
	// describe says for a target what was read, for Resource.Query.
	describe func(t Target) string
	// skip says why a target is not sampled at all ("" to sample it).
	skip func(t Target) string
}

func (c samplerConfig) capacity() int {
	return min(int((c.retention+c.interval-1)/c.interval)+2, maxSamples)
}

// sampler is the engine of the endpoint collectors (linkerd-proxy, Envoy admin,
// cAdvisor): it reads every target each interval, keeps a bounded ring of points per
// target, and summarises the points inside a window with procfs's semantics (see the
// package documentation).
type sampler struct {
	cfg samplerConfig

	mu      sync.Mutex
	state   int
	targets []*sampled
	lastAt  time.Time
	notify  chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

type sampled struct {
	t       Target
	skip    string
	ring    []point
	next    int
	full    bool
	lastErr string
	errors  int
	last    time.Time // timestamp of the newest point kept
}

func newSampler(cfg samplerConfig) *sampler {
	return &sampler{cfg: cfg, notify: make(chan struct{})}
}

func (s *sampler) start(ctx context.Context, targets []Target) error {
	s.mu.Lock()
	if s.state == stateRunning {
		s.mu.Unlock()
		return fmt.Errorf("%s: already started", s.cfg.name)
	}
	s.targets, s.lastAt = nil, time.Time{}
	for _, t := range targets {
		st := &sampled{t: t, ring: make([]point, 0, min(s.cfg.capacity(), 64))}
		if s.cfg.skip != nil {
			st.skip = s.cfg.skip(t)
		}
		s.targets = append(s.targets, st)
	}
	s.state = stateRunning
	ctx, cancel := context.WithCancel(ctx)
	s.cancel, s.done = cancel, make(chan struct{})
	done := s.done
	s.mu.Unlock()
	s.sampleOnce(ctx)
	go s.loop(ctx, done)
	return nil
}

func (s *sampler) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(s.cfg.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			s.mu.Lock()
			s.state = stateStopped
			s.broadcast()
			s.mu.Unlock()
			return
		case <-tick.C:
			s.sampleOnce(ctx)
		}
	}
}

func (s *sampler) stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func (s *sampler) broadcast() {
	close(s.notify)
	s.notify = make(chan struct{})
}

// sampleOnce reads every target (outside the lock: reads take time) and stores the
// points.
func (s *sampler) sampleOnce(ctx context.Context) {
	s.mu.Lock()
	var live []Target
	var idx []int
	for i, st := range s.targets {
		if st.skip == "" {
			live = append(live, st.t)
			idx = append(idx, i)
		}
	}
	s.mu.Unlock()
	// Reads never pile up (the loop waits for this one, and the ticker drops the ticks it
	// misses), so a read may outlast its interval: a kubelet's whole cAdvisor page through
	// the API server takes over a second on a loaded node, and cutting it at the
	// one-second interval lost most samples. Three intervals bound how long one slow
	// target can hold back the others' samples.
	rctx, cancel := context.WithTimeout(ctx, 3*s.cfg.interval)
	points, errs := s.cfg.fetch(rctx, live)
	cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateRunning {
		return
	}
	for k, i := range idx {
		st := s.targets[i]
		if errs[k] != nil {
			if ctx.Err() == nil {
				st.errors++
				st.lastErr = errs[k].Error()
			}
			continue
		}
		st.push(points[k], s.cfg.capacity())
	}
	s.lastAt = time.Now()
	s.broadcast()
}

func (st *sampled) push(p point, capacity int) {
	// A source with its own timestamps (cAdvisor) answers with the same sample until it
	// takes the next one; keep it once.
	if !st.last.IsZero() && !p.at.After(st.last) {
		return
	}
	st.last = p.at
	if len(st.ring) < capacity {
		st.ring = append(st.ring, p)
		return
	}
	st.ring[st.next] = p
	st.next = (st.next + 1) % capacity
	st.full = true
}

// within returns the points inside the window (both ends included), oldest first.
func (st *sampled) within(w Window) []point {
	n := len(st.ring)
	at := func(i int) point {
		if st.full {
			return st.ring[(st.next+i)%n]
		}
		return st.ring[i]
	}
	var out []point
	for i := 0; i < n; i++ {
		p := at(i)
		if !p.at.Before(w.Start) && !p.at.After(w.End) {
			out = append(out, p)
		}
	}
	// Sources' own timestamps (cAdvisor) may arrive out of order across reads.
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

// collect waits for a read after the window's end (at most two intervals past it; not
// when ctx is done or sampling stopped), then summarises each target.
func (s *sampler) collect(ctx context.Context, w Window) ([]result.Resource, map[string]map[string]hist, error) {
	if w.End.Before(w.Start) {
		return nil, nil, fmt.Errorf("%s: window ends (%v) before it starts (%v)", s.cfg.name, w.End, w.Start)
	}
	s.mu.Lock()
	if s.state == stateIdle {
		s.mu.Unlock()
		return nil, nil, fmt.Errorf("%s: Collect before Start", s.cfg.name)
	}
	s.mu.Unlock()
	s.waitPast(ctx, w.End)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]result.Resource, 0, len(s.targets))
	hists := map[string]map[string]hist{}
	for _, st := range s.targets {
		r, h := s.summarise(st, w)
		out = append(out, r)
		if len(h) > 0 {
			hists[st.t.Name] = h
		}
	}
	return out, hists, nil
}

func (s *sampler) waitPast(ctx context.Context, end time.Time) {
	waitForSample(ctx, end, s.cfg.interval, func() (bool, <-chan struct{}) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.lastAt.After(end) || s.state != stateRunning, s.notify
	})
}

// summarise computes one target's figures over the window, and the increase of its
// histograms. Callers hold s.mu.
func (s *sampler) summarise(st *sampled, w Window) (result.Resource, map[string]hist) {
	t := st.t
	r := resourceOf(t)
	r.MemoryMetric, r.Source = s.cfg.memoryMetric, s.cfg.name
	if st.skip != "" {
		r.Error = st.skip
		return r, nil
	}
	r.Query = s.cfg.describe(t) + "; every " + s.cfg.interval.String()
	in := st.within(w)
	r.Samples = len(in)
	var notes []string
	if st.errors > 0 {
		notes = append(notes, fmt.Sprintf("%d read(s) failed, the last: %s", st.errors, st.lastErr))
	}
	if len(in) == 0 {
		notes = append(notes, fmt.Sprintf("no sample inside the window (%s long, sampled every %v)", round(w.End.Sub(w.Start)), s.cfg.interval))
		r.Error = joinNotes(notes)
		return r, nil
	}
	first, last := in[0], in[len(in)-1]
	// CPU: exact mean between the first and last points that have it; the peak is the
	// highest rate of one interval. A decrease means the source restarted: that interval
	// is skipped.
	var cpuPts []point
	for _, p := range in {
		if !math.IsNaN(p.cpu) {
			cpuPts = append(cpuPts, p)
		}
	}
	if len(cpuPts) >= 2 {
		var total float64
		for i := 1; i < len(cpuPts); i++ {
			d := cpuPts[i].cpu - cpuPts[i-1].cpu
			dt := cpuPts[i].at.Sub(cpuPts[i-1].at).Seconds()
			if d < 0 {
				notes = append(notes, "the CPU counter went down (the process restarted); that interval is left out")
				continue
			}
			total += d
			if dt > 0 {
				r.CPUMcoresMax = max(r.CPUMcoresMax, d/dt*1000)
			}
		}
		if dt := cpuPts[len(cpuPts)-1].at.Sub(cpuPts[0].at).Seconds(); dt > 0 {
			r.CPUMcoresAvg = total / dt * 1000
		}
	} else if len(cpuPts) == 1 {
		notes = append(notes, fmt.Sprintf("only one CPU sample inside the window, so no CPU figure (sampled every %v)", s.cfg.interval))
	}
	// Memory.
	var sum float64
	n := 0
	for _, p := range in {
		if !math.IsNaN(p.mem) {
			sum += p.mem
			r.MemoryBytesMax = max(r.MemoryBytesMax, int64(p.mem))
			n++
		}
	}
	if n > 0 {
		r.MemoryBytesAvg = int64(math.Round(sum / float64(n)))
	}
	r.OtherMemory = otherMemory(in)
	// Counters and gauges.
	stats := map[string]float64{}
	for k := range last.counters {
		var inc float64
		prev, ok := first.counters[k]
		if !ok {
			continue // appeared during the window: no baseline
		}
		for _, p := range in[1:] {
			x, ok := p.counters[k]
			if !ok {
				continue
			}
			if x >= prev {
				inc += x - prev
			} else {
				inc += x // reset: counted from zero, as PromQL's increase() does
			}
			prev = x
		}
		stats[k] = inc
	}
	for k, v := range last.gauges {
		stats[k] = v
	}
	if len(stats) > 0 {
		r.Stats = stats
	}
	hists := map[string]hist{}
	for k, h := range last.hists {
		if h0, ok := first.hists[k]; ok {
			if d, ok := h.sub(h0); ok {
				hists[k] = d
			} else {
				notes = append(notes, fmt.Sprintf("histogram %s was reset or changed its buckets during the window", k))
			}
		}
	}
	if last.info != "" {
		r.Query += "; " + last.info
	}
	// Samples start within an interval of the window's start and end within one of its
	// end; more missing than that (and more than a tenth) means reads failed or the
	// source stopped answering in between.
	if cov, span := last.at.Sub(first.at), w.End.Sub(w.Start); len(in) >= 2 && cov < span-3*s.cfg.interval && cov < span*9/10 {
		notes = append(notes, fmt.Sprintf("samples cover %s of the %s window", round(cov), round(w.End.Sub(w.Start))))
	}
	if len(notes) > 0 {
		r.Error = joinNotes(notes)
	}
	return r, hists
}

func otherMemory(in []point) []result.Memory {
	names := map[string]bool{}
	for _, p := range in {
		for k := range p.other {
			names[k] = true
		}
	}
	var out []result.Memory
	for _, name := range sortedKeys(names) {
		var sum float64
		var mx int64
		n := 0
		for _, p := range in {
			if v, ok := p.other[name]; ok {
				sum += v
				mx = max(mx, int64(v))
				n++
			}
		}
		out = append(out, result.Memory{Metric: name, AvgBytes: int64(math.Round(sum / float64(n))), MaxBytes: mx})
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// latencyFrom turns histogram increases into ProxyLatency entries: one per component and
// histogram, percentiles in milliseconds (scale converts the buckets' unit to ms).
func latencyFrom(source string, hists map[string]map[string]hist, scale map[string]float64, describe func(component, name string) string) []result.ProxyLatency {
	var out []result.ProxyLatency
	for _, comp := range sortedKeys(hists) {
		for _, name := range sortedKeys(hists[comp]) {
			h := hists[comp][name]
			pl := result.ProxyLatency{Source: source, Component: comp, Name: name, Query: describe(comp, name), Count: h.count()}
			k := scale[name]
			if k == 0 {
				k = 1
			}
			if h.count() == 0 {
				pl.Error = "no requests in the window"
			} else {
				pl.P50MS, pl.P99MS = h.quantile(0.5)*k, h.quantile(0.99)*k
			}
			out = append(out, pl)
		}
	}
	return out
}

// trimURL returns scheme://host of a URL written with or without a path.
func trimURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.IndexByte(u[i+3:], '/'); j >= 0 {
			return u[:i+3+j]
		}
	}
	return u
}
