package engine

import (
	"math"
	"sort"
	"sync/atomic"
	"time"
)

// segment is a stretch of the rate shape where the rate moves linearly from
// r0 to r1 over dur seconds.
type segment struct {
	start, dur float64 // seconds from the start of the run
	r0, r1     float64 // requests/s at either end
	count0     float64 // cumulative count N(start)
	count      float64 // requests in this segment
}

// shape is the cumulative count N(t) of an open-loop run, made of linear-rate
// segments so that its inverse stays closed-form (lesson 6: due times remain
// computable for ramps and steps, so latency is still charged from them).
type shape struct {
	segs  []segment
	end   float64 // seconds: end of the last segment
	total float64 // N(end)
}

func newShape(c Config) shape {
	var sh shape
	add := func(dur time.Duration, r0, r1 float64) {
		d := dur.Seconds()
		if d <= 0 {
			return
		}
		s := segment{start: sh.end, dur: d, r0: r0, r1: r1, count0: sh.total, count: (r0 + r1) / 2 * d}
		sh.segs = append(sh.segs, s)
		sh.end += d
		sh.total += s.count
	}
	a := c.Arrival
	// Warm-up runs at the rate the measurement starts with, so the system is
	// warmed at the load it is about to be measured at; a ramp from zero would
	// leave nothing to warm with, so then the target rate is used.
	var initial float64
	switch a.Pattern {
	case Ramp:
		initial = a.RampFrom
	case Step:
		initial = a.Steps[0].Rate
	default:
		initial = c.Rate
	}
	if initial == 0 {
		initial = c.Rate
	}
	add(c.Warmup, initial, initial)
	switch a.Pattern {
	case Ramp:
		ramp := min(a.RampDuration, c.Duration)
		to := a.RampFrom + (c.Rate-a.RampFrom)*ramp.Seconds()/a.RampDuration.Seconds()
		add(ramp, a.RampFrom, to)
		add(c.Duration-ramp, to, to)
	case Step:
		left := c.Duration
		for _, s := range a.Steps {
			d := min(s.Duration, left)
			add(d, s.Rate, s.Rate)
			left -= d
		}
		add(left, a.Steps[len(a.Steps)-1].Rate, a.Steps[len(a.Steps)-1].Rate)
	case RealWorld:
		// Warm-up (above) holds the mean rate; the measured phase follows the
		// curve, knot to knot.
		curve := newRealWorldCurve(a.RealWorld, c.Duration, uint64(a.Seed))
		for i := 0; i+1 < len(curve.knots); i++ {
			from := time.Duration(i) * curve.step
			add(min(curve.step, c.Duration-from), c.Rate*curve.knots[i], c.Rate*curve.knots[i+1])
		}
	default:
		add(c.Duration, c.Rate, c.Rate)
	}
	return sh
}

// segAt is the index of the segment holding t seconds, or len(segs) past
// the end. Binary search: a RealWorld shape has up to knotsMax segments.
func (sh *shape) segAt(t float64) int {
	return sort.Search(len(sh.segs), func(i int) bool { return t < sh.segs[i].start+sh.segs[i].dur })
}

// countAt returns N(t): how many slots are due by t seconds.
func (sh *shape) countAt(t float64) float64 {
	if t <= 0 {
		return 0
	}
	if i := sh.segAt(t); i < len(sh.segs) {
		s := &sh.segs[i]
		x := t - s.start
		return s.count0 + s.r0*x + (s.r1-s.r0)/s.dur*x*x/2
	}
	return sh.total
}

// timeAt inverts N: the time in seconds at which count-space point n is due,
// and false when n lies beyond the end of the run. hint is the index of the
// segment the caller found last time; slots arrive in nearly increasing
// order, so the search is usually one comparison.
func (sh *shape) timeAt(n float64, hint *int) (float64, bool) {
	if n >= sh.total {
		return 0, false
	}
	i := *hint
	if i >= len(sh.segs) || n < sh.segs[i].count0 {
		i = 0
	}
	for i < len(sh.segs)-1 && n >= sh.segs[i].count0+sh.segs[i].count {
		i++
	}
	*hint = i
	s := &sh.segs[i]
	x := n - s.count0
	if s.r1 == s.r0 {
		if s.r0 == 0 {
			return s.start + s.dur, true // unreachable: a zero-rate segment holds no points
		}
		return s.start + x/s.r0, true
	}
	// Solve r0·t + a·t²/2 = x for t ≥ 0 with a = (r1−r0)/dur. The form
	// 2x/(r0+√(r0²+2ax)) avoids cancellation when a is tiny and works from r0=0.
	a := (s.r1 - s.r0) / s.dur
	disc := s.r0*s.r0 + 2*a*x
	if disc < 0 {
		disc = 0
	}
	den := s.r0 + math.Sqrt(disc)
	if den <= 0 {
		return s.start + s.dur, true
	}
	return s.start + 2*x/den, true
}

// rateAt is the requested rate at t seconds.
func (sh *shape) rateAt(t float64) float64 {
	if i := sh.segAt(t); i < len(sh.segs) {
		s := &sh.segs[i]
		return s.r0 + (s.r1-s.r0)*(t-s.start)/s.dur
	}
	return 0
}

// process hands out count-space points: each claim returns the next point of
// the arrival process, shared by all workers.
type process struct {
	pattern Pattern
	jitter  float64
	phase   float64 // Arrival.Phase, added to every point of the even processes
	seed    uint64
	next    atomic.Uint64 // Constant/Uniform: next slot index; Poisson: float64 bits of the next point
	_       [48]byte      // keep the contended word on its own cache line
}

func newProcess(a Arrival) *process {
	p := &process{pattern: a.Pattern, jitter: a.Jitter, phase: a.Phase, seed: uint64(a.Seed)}
	if a.Pattern == Poisson || a.Pattern == RealWorld {
		// The first arrival comes after one exponential gap, like every other.
		p.next.Store(math.Float64bits(expGap(p.seed, 0)))
	}
	return p
}

// claim returns the next count-space point. Points are non-decreasing in
// claim order for Constant and Poisson; Uniform may swap neighbours.
func (p *process) claim() float64 {
	switch p.pattern {
	case Poisson, RealWorld:
		// A compare-and-swap chain: the gap after a point is a pure function of
		// the seed and that point, so the sequence is the same whichever worker
		// claims which point, and no lock is needed.
		for {
			old := p.next.Load()
			s := math.Float64frombits(old)
			if p.next.CompareAndSwap(old, math.Float64bits(s+expGap(p.seed, old))) {
				return s
			}
		}
	case Uniform:
		k := p.next.Add(1) - 1
		return float64(k) + 0.5 + p.phase + p.jitter*(unit(p.seed, k)-0.5)
	default:
		// The half-slot offset keeps the first request off t=0 and every request
		// in the middle of its 1/rate slot (nighthawk's LinearRateLimiter does the same).
		return float64(p.next.Add(1)-1) + 0.5 + p.phase
	}
}

// unit maps (seed, x) to a uniform float64 in [0, 1) with splitmix64.
func unit(seed, x uint64) float64 {
	z := seed*0x9e3779b97f4a7c15 + x + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) / (1 << 53)
}

// expGap is an Exp(1) variate derived from (seed, x), never zero so the
// chain always advances.
func expGap(seed, x uint64) float64 {
	g := -math.Log1p(-unit(seed, x))
	if g < 1e-9 {
		g = 1e-9
	}
	return g
}

// schedule combines the process and the shape.
type schedule struct {
	proc  *process
	shape shape
}

// at returns the intended offset from the start of the run of the next slot,
// its count-space point, and false when the run has no more slots.
func (s *schedule) at(hint *int) (time.Duration, float64, bool) {
	n := s.proc.claim()
	t, ok := s.shape.timeAt(n, hint)
	if !ok {
		return 0, n, false
	}
	return time.Duration(t * float64(time.Second)), n, true
}
