package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"time"
)

// RealWorldRate shapes the rate of a RealWorld arrival: a seeded, smooth rate
// multiplier made of a diurnal swing, bursts and a slow random wander, over
// Poisson arrivals. Zero values mean the defaults given with each field. The
// multiplier is normalised so that the mean rate over the measured phase is
// Config.Rate: bursts and peaks are paid for by quieter stretches.
type RealWorldRate struct {
	// BurstFactor multiplies the rate at a burst's peak; default 3; 1 disables bursts.
	BurstFactor float64
	// BurstEvery is the mean gap between burst starts (bursts start as a Poisson
	// process); default 15s.
	BurstEvery time.Duration
	// BurstLength is how long one burst lasts, rising and falling smoothly
	// (a sin² envelope); default 2s.
	BurstLength time.Duration
	// DiurnalPeriod is one compressed "day": the rate swings once around its mean
	// over this period, starting at a seeded phase; default the measured duration.
	DiurnalPeriod time.Duration
	// DiurnalAmplitude is the swing's relative size in [0, 1); default 0.5 (the
	// diurnal part alone moves the rate between 0.5× and 1.5× of its mean).
	// Negative disables it.
	DiurnalAmplitude float64
	// Noise is σ of a slow log-normal wander (an AR(1) process with a 10s
	// correlation time); default 0.1. Negative disables it.
	Noise float64
}

// Defaults of RealWorldRate, Request bodies and churn; docs/realworld.md explains them.
const (
	defaultBurstFactor      = 3
	defaultBurstEvery       = 15 * time.Second
	defaultBurstLength      = 2 * time.Second
	defaultDiurnalAmplitude = 0.5
	defaultNoise            = 0.1
	// noiseCorrelation is the wander's correlation time: slow next to a request,
	// fast next to a run.
	noiseCorrelation = 10 * time.Second
	// sizeQuantiles is how many body sizes a generated body with a spread takes:
	// the log-normal is discretised at the midpoints of 16 equal-probability
	// bands, so each request's size is one of 16 pre-built requests (lesson 8:
	// nothing is built on the hot path) and the median and spread hold.
	sizeQuantiles = 16
	// knotsMax bounds the knots of the rate multiplier (one segment of the shape
	// each); knotMin is the finest spacing, well below a burst's length.
	knotsMax = 2000
	knotMin  = 100 * time.Millisecond
)

func (rw RealWorldRate) withDefaults(duration time.Duration) RealWorldRate {
	if rw.BurstFactor == 0 {
		rw.BurstFactor = defaultBurstFactor
	}
	if rw.BurstEvery == 0 {
		rw.BurstEvery = defaultBurstEvery
	}
	if rw.BurstLength == 0 {
		rw.BurstLength = defaultBurstLength
	}
	if rw.DiurnalPeriod == 0 {
		rw.DiurnalPeriod = duration
	}
	if rw.DiurnalAmplitude == 0 {
		rw.DiurnalAmplitude = defaultDiurnalAmplitude
	}
	if rw.Noise == 0 {
		rw.Noise = defaultNoise
	}
	return rw
}

func (rw RealWorldRate) validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if rw.BurstFactor < 1 || math.IsNaN(rw.BurstFactor) || rw.BurstFactor > 100 {
		bad("realworld burst factor %v: must be between 1 and 100", rw.BurstFactor)
	}
	if rw.BurstEvery <= 0 || rw.BurstLength <= 0 {
		bad("realworld bursts: every (%v) and length (%v) must be > 0", rw.BurstEvery, rw.BurstLength)
	}
	if rw.DiurnalPeriod <= 0 {
		bad("realworld diurnal period %v: must be > 0", rw.DiurnalPeriod)
	}
	if rw.DiurnalAmplitude >= 1 || math.IsNaN(rw.DiurnalAmplitude) {
		bad("realworld diurnal amplitude %v: must be below 1 (negative disables it)", rw.DiurnalAmplitude)
	}
	if rw.Noise > 2 || math.IsNaN(rw.Noise) {
		bad("realworld noise %v: must be at most 2 (negative disables it)", rw.Noise)
	}
	return errs
}

// Salts keep the seeded streams of one run independent of each other.
const (
	saltPhase uint64 = iota + 1
	saltBurst
	saltNoise
	saltMix
	saltSize
	saltChurn
)

// seeded is a uniform [0, 1) variate for (seed, salt, k): splitmix64 through unit.
func seeded(seed, salt, k uint64) float64 { return unit(seed^(salt*0xd1b54a32d192ed03), k) }

// normal is a standard normal variate for (seed, salt, k), by Box–Muller.
func normal(seed, salt, k uint64) float64 {
	u1, u2 := seeded(seed, salt, 2*k), seeded(seed, salt, 2*k+1)
	return math.Sqrt(-2*math.Log1p(-u1)) * math.Cos(2*math.Pi*u2)
}

// Burst is one burst of a RealWorld schedule, as offsets from the start of the
// measured phase.
type Burst struct {
	Start, End time.Duration
}

// realWorldCurve is the rate multiplier of a RealWorld run: knots every step
// over the measured phase, linearly interpolated (so the shape stays a chain
// of linear segments whose inverse is closed-form), normalised to mean 1.
type realWorldCurve struct {
	step   time.Duration
	knots  []float64
	bursts []Burst
}

func newRealWorldCurve(rw RealWorldRate, duration time.Duration, seed uint64) realWorldCurve {
	step := max(knotMin, duration/knotsMax)
	n := int(duration/step) + 1
	if time.Duration(n-1)*step < duration {
		n++
	}
	c := realWorldCurve{step: step, knots: make([]float64, n)}
	// Bursts start as a Poisson process over the measured phase.
	if rw.BurstFactor > 1 {
		at := 0.0
		for k := uint64(0); ; k++ {
			at += -math.Log1p(-seeded(seed, saltBurst, k)) * rw.BurstEvery.Seconds()
			if at >= duration.Seconds() {
				break
			}
			start := time.Duration(at * float64(time.Second))
			c.bursts = append(c.bursts, Burst{Start: start, End: min(start+rw.BurstLength, duration)})
		}
	}
	phase := 2 * math.Pi * seeded(seed, saltPhase, 0)
	rho := math.Exp(-step.Seconds() / noiseCorrelation.Seconds())
	z := 0.0
	if rw.Noise > 0 {
		z = rw.Noise * normal(seed, saltNoise, 0)
	}
	sum := 0.0
	for i := range c.knots {
		t := time.Duration(i) * step
		m := 1.0
		if rw.DiurnalAmplitude > 0 {
			m *= 1 + rw.DiurnalAmplitude*math.Sin(2*math.Pi*t.Seconds()/rw.DiurnalPeriod.Seconds()+phase)
		}
		burst := 0.0
		for _, b := range c.bursts {
			if t >= b.Start && t < b.Start+rw.BurstLength {
				s := math.Sin(math.Pi * float64(t-b.Start) / float64(rw.BurstLength))
				burst = max(burst, s*s)
			}
		}
		m *= 1 + (rw.BurstFactor-1)*burst
		if rw.Noise > 0 {
			if i > 0 {
				z = rho*z + math.Sqrt(1-rho*rho)*rw.Noise*normal(seed, saltNoise, uint64(i))
			}
			m *= math.Exp(z)
		}
		c.knots[i] = m
	}
	// Normalise: the integral of the interpolated curve over the measured phase
	// divided by its length is 1.
	for i := 0; i+1 < len(c.knots); i++ {
		a := time.Duration(i) * step
		b := min(a+step, duration)
		if b <= a {
			break
		}
		sum += (c.knots[i] + c.knots[i+1]) / 2 * (b - a).Seconds()
	}
	if sum > 0 {
		f := duration.Seconds() / sum
		for i := range c.knots {
			c.knots[i] *= f
		}
	}
	return c
}

// mixer picks the request each slot sends: a request of Config.Requests by
// weight, and one of its pre-built body sizes. It is read-only during the run
// and a pure function of (seed, key), so the choice for a slot does not depend
// on which worker claims it.
type mixer struct {
	seed  uint64
	cum   []float64 // cumulative weights, normalised to end at 1
	sizes int       // variants per request: 1, or sizeQuantiles
}

func newMixer(c Config) *mixer {
	k := sizesPerRequest(c)
	if len(c.Requests) <= 1 && k == 1 {
		return nil
	}
	m := &mixer{seed: uint64(c.Arrival.Seed), sizes: k}
	total := 0.0
	for _, r := range c.requests() {
		total += r.Weight
	}
	acc := 0.0
	for _, r := range c.requests() {
		acc += r.Weight / total
		m.cum = append(m.cum, acc)
	}
	m.cum[len(m.cum)-1] = 1
	return m
}

// pick returns the variant for key: request index × sizes + size index.
func (m *mixer) pick(key uint64) int {
	req := 0
	if len(m.cum) > 1 {
		u := seeded(m.seed, saltMix, key)
		for req < len(m.cum)-1 && u >= m.cum[req] {
			req++
		}
	}
	q := 0
	if m.sizes > 1 {
		q = int(seeded(m.seed, saltSize, key) * float64(m.sizes))
	}
	return req*m.sizes + q
}

// requests returns the request mix, or the one request the plain fields describe.
func (c Config) requests() []Request {
	if len(c.Requests) > 0 {
		return c.Requests
	}
	return []Request{{Weight: 1, Method: c.Method, Headers: c.Headers, Body: c.Body, PayloadSize: c.PayloadSize}}
}

// sizesPerRequest is how many body sizes each request of the mix is built in.
func sizesPerRequest(c Config) int {
	if c.SizeSpread <= 0 {
		return 1
	}
	for _, r := range c.requests() {
		if r.Body == nil && r.PayloadSize > 0 {
			return sizeQuantiles
		}
	}
	return 1
}

// bodySize is the body of request r in size band q of k: its PayloadSize as
// the median of a log-normal with σ = spread, at the band's midpoint quantile.
func bodySize(r Request, spread float64, q, k int) int {
	if r.Body != nil {
		return len(r.Body)
	}
	if k == 1 || spread <= 0 {
		return r.PayloadSize
	}
	p := (float64(q) + 0.5) / float64(k)
	z := math.Sqrt2 * math.Erfinv(2*p-1)
	return max(0, int(math.Round(float64(r.PayloadSize)*math.Exp(spread*z))))
}

// churnLife is how many requests connection conn carries in its life-th
// lifetime before the client closes it: geometric with mean churn, a pure
// function of the seed.
func churnLife(seed uint64, churn float64, conn, life int) int64 {
	if churn <= 1 {
		return 1
	}
	u := seeded(seed, saltChurn, uint64(conn)<<32|uint64(life))
	n := math.Ceil(math.Log1p(-u) / math.Log1p(-1/churn))
	return max(1, int64(n))
}

// Slot is one scheduled request of an open-loop run.
type Slot struct {
	At      time.Duration // intended offset from the start of the run (warm-up included)
	Request int           // index into Config.Requests (0 without a mix)
	Size    int           // body bytes
}

// Preview returns the first n slots of c's schedule without sending anything:
// exactly what Run's workers claim, in claim order (Uniform may swap
// neighbours; the others are in time order). It errors on an invalid config
// and returns nil in closed loop, which has no schedule.
func Preview(c Config, n int) ([]Slot, error) {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("engine config: %w", err)
	}
	if !c.openLoop() {
		return nil, nil
	}
	s := schedule{proc: newProcess(c.Arrival), shape: newShape(c)}
	mx := newMixer(c)
	sizes := variantSizes(c)
	var out []Slot
	hint := 0
	end := c.Warmup + c.Duration
	for len(out) < n {
		at, p, ok := s.at(&hint)
		if !ok || at >= end {
			break
		}
		v := 0
		if mx != nil {
			v = mx.pick(math.Float64bits(p))
		}
		out = append(out, Slot{At: at, Request: v / sizesPerRequest(c), Size: sizes[v]})
	}
	return out, nil
}

// variantSizes lists the body size of each variant (request × size band).
func variantSizes(c Config) []int {
	k := sizesPerRequest(c)
	var out []int
	for _, r := range c.requests() {
		for q := range k {
			out = append(out, bodySize(r, c.SizeSpread, q, k))
		}
	}
	return out
}

// ScheduleInfo describes an open-loop schedule so that it can be recognised
// and replayed: the same Config gives the same Digest.
type ScheduleInfo struct {
	// Slots is how many slots Digest covers: the first ones from the start of the
	// run, at most scheduleDigestSlots.
	Slots int
	// Complete is set when Slots is the whole schedule (warm-up included).
	Complete bool
	// Digest is the SHA-256 (hex) of each slot's intended offset in nanoseconds,
	// request index and body size, as little-endian int64s, in claim order.
	Digest string
	// MeanRate and PeakRate are the requested rate over the measured phase.
	MeanRate, PeakRate float64
	// Bursts of a RealWorld schedule, from the start of the measured phase.
	Bursts []Burst
}

// scheduleDigestSlots bounds the work of a digest: 100k slots take a few
// milliseconds, and any change to the process or the seed shows long before.
const scheduleDigestSlots = 100000

// Schedule describes c's open-loop schedule (see ScheduleInfo); nil in closed loop.
func Schedule(c Config) (*ScheduleInfo, error) {
	slots, err := Preview(c, scheduleDigestSlots)
	if err != nil || slots == nil {
		return nil, err
	}
	c = c.withDefaults()
	h := sha256.New()
	var b [24]byte
	for _, s := range slots {
		binary.LittleEndian.PutUint64(b[0:], uint64(s.At))
		binary.LittleEndian.PutUint64(b[8:], uint64(s.Request))
		binary.LittleEndian.PutUint64(b[16:], uint64(s.Size))
		h.Write(b[:])
	}
	sh := newShape(c)
	info := &ScheduleInfo{Slots: len(slots), Complete: len(slots) < scheduleDigestSlots, Digest: hex.EncodeToString(h.Sum(nil))}
	w, d := c.Warmup.Seconds(), c.Duration.Seconds()
	info.MeanRate = (sh.countAt(w+d) - sh.countAt(w)) / d
	for _, s := range sh.segs {
		if s.start+s.dur > w {
			info.PeakRate = max(info.PeakRate, s.r0, s.r1)
		}
	}
	if c.Arrival.Pattern == RealWorld {
		info.Bursts = newRealWorldCurve(c.Arrival.RealWorld, c.Duration, uint64(c.Arrival.Seed)).bursts
	}
	return info, nil
}
