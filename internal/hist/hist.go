package hist

import (
	"fmt"
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The range and precision every smp histogram shares. They are fixed rather
// than configurable so that any two histograms, from any worker, agent or
// run, merge bucket by bucket without loss. 1 h is far past any timeout a
// load test sets; 3 digits bound the error at 0.1%, finer than the
// run-to-run noise of any latency measurement (fortio's and wrk2's own
// reports use 3 digits too).
const (
	LowestDiscernible  = time.Microsecond
	Highest            = time.Hour
	SignificantFigures = 3
)

// highestUnits is Highest in stored units (microseconds).
const highestUnits = int64(Highest / LowestDiscernible)

// Histogram is an HDR latency histogram with a fixed range (see the package
// documentation). Create one with New; the zero value is not usable. It must
// not be copied by value (use Clone) and is not safe for concurrent use.
type Histogram struct {
	h *hdrhistogram.Histogram
	// clamped counts the recorded values that were above Highest. The V2
	// encoding has no field for it, see SetClamped.
	clamped int64
}

// Summary is a histogram's count and moments, the figures a progress line or
// a result header shows.
type Summary struct {
	Count, Clamped int64
	Min, Max       time.Duration
	Mean, StdDev   time.Duration
}

// New returns an empty histogram with all its memory allocated.
func New() *Histogram {
	return &Histogram{h: hdrhistogram.New(1, highestUnits, SignificantFigures)}
}

// toUnits converts d to stored units, rounding up, and reports whether it had
// to be clamped to Highest. It never returns a value the library would
// reject, which is why Record can ignore the library's error.
func toUnits(d time.Duration) (v int64, clamped bool) {
	switch {
	case d > Highest:
		return highestUnits, true
	case d <= 0:
		return 0, false
	}
	return int64((d + LowestDiscernible - 1) / LowestDiscernible), false
}

// fromUnits converts a stored value back to a duration. The top bucket
// reaches past Highest (its highest equivalent value is 1h0m0.81s), but no
// value above Highest is ever stored, so nothing is reported above it either.
func fromUnits(v int64) time.Duration {
	return time.Duration(min(v, highestUnits)) * LowestDiscernible
}

// Record adds one duration. d < 0 is recorded as 0; d > Highest is recorded as
// Highest and counted in Clamped. It does not allocate.
func (h *Histogram) Record(d time.Duration) {
	v, clamped := toUnits(d)
	if clamped {
		h.clamped++
	}
	// The library errs only for values out of its range, which toUnits rules
	// out, or when the total would pass MaxInt64 (292 years at 10⁹/s).
	_ = h.h.RecordValue(v)
}

// RecordN adds n occurrences of d, with the rules of Record. n <= 0, or an n
// that would push Count past math.MaxInt64, records nothing.
func (h *Histogram) RecordN(d time.Duration, n int64) {
	if n <= 0 {
		// Caught here: the library would build an error (an allocation).
		return
	}
	v, clamped := toUnits(d)
	if h.h.RecordValues(v, n) == nil && clamped {
		h.clamped += n
	}
}

// Merge adds every value of o to h, bucket by bucket, and adds o's clamped
// count to h's. A nil o is a no-op; h.Merge(h) doubles h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil {
		return
	}
	if o == h {
		// The library does not document merging a histogram into itself: it
		// would read o's counts while writing them.
		o = o.Clone()
	}
	// Both sides have the same geometry, so each bucket the library re-records
	// lands in the same bucket: lossless. It drops only counts that would push
	// the total past MaxInt64.
	h.h.Merge(o.h)
	h.clamped += o.clamped
}

// Reset empties h and keeps its memory, so a worker can swap and reuse it.
func (h *Histogram) Reset() {
	h.h.Reset()
	h.clamped = 0
}

// Clone returns an independent copy of h.
func (h *Histogram) Clone() *Histogram {
	return &Histogram{h: h.h.Clone(), clamped: h.clamped}
}

// Count returns the number of recorded values, clamped ones included.
func (h *Histogram) Count() int64 { return h.h.TotalCount() }

// Clamped returns how many recorded values were above Highest (and so are
// counted at Highest).
func (h *Histogram) Clamped() int64 { return h.clamped }

// SetClamped restores a clamped count after Decode: the V2 encoding carries
// bucket counts only, so a result document stores the clamped count beside
// the encoded histogram. It fails if n is negative or larger than the number
// of values in the bucket that holds Highest, where clamped values are.
func (h *Histogram) SetClamped(n int64) error {
	if n < 0 {
		return fmt.Errorf("set clamped count: %d is negative", n)
	}
	var atHighest int64
	if bars := h.Bars(); len(bars) > 0 && bars[len(bars)-1].To == Highest {
		atHighest = bars[len(bars)-1].Count
	}
	if n > atHighest {
		return fmt.Errorf("set clamped count: %d clamped values, but only %d recorded at %v", n, atHighest, Highest)
	}
	h.clamped = n
	return nil
}

// Min returns the lowest value equivalent to the smallest recorded value
// (the bottom of its bucket, as every HdrHistogram implementation reports
// it), or 0 if h is empty. It equals Percentile(0).
func (h *Histogram) Min() time.Duration { return h.Percentile(0) }

// Max returns the highest value equivalent to the largest recorded value (the
// top of its bucket, at most Highest), or 0 if h is empty. It equals
// Percentile(100).
func (h *Histogram) Max() time.Duration { return h.Percentile(100) }

// Mean returns the mean of the recorded values, each taken at the middle of
// its bucket as HdrHistogram computes it (so other HdrHistogram tools reading
// the encoding agree), or 0 if h is empty.
func (h *Histogram) Mean() time.Duration {
	return time.Duration(math.Round(h.h.Mean() * float64(LowestDiscernible)))
}

// StdDev returns the population standard deviation of the recorded values,
// computed like Mean, or 0 if h is empty.
func (h *Histogram) StdDev() time.Duration {
	return time.Duration(math.Round(h.h.StdDev() * float64(LowestDiscernible)))
}

// Percentile returns the value below or at which p percent of the recorded
// values fall, or 0 if h is empty.
//
// The value is picked by rank: the r-th smallest value with
// r = ⌊p/100·Count + 0.5⌋, at least 1 (hdrhistogram-go's and HdrHistogram_c's
// rule; Java rounds up instead, which differs only when p/100·Count is not a
// whole number). Like all HdrHistogram implementations it returns the highest
// value equivalent to that value, the top of its bucket, capped at Highest,
// so it is never below the recorded durations; except that p = 0 returns
// Min, the bottom of the lowest bucket. p below 0 and NaN count as 0, above
// 100 as 100.
func (h *Histogram) Percentile(p float64) time.Duration {
	if h.h.TotalCount() == 0 {
		return 0
	}
	switch {
	case !(p > 0): // also NaN, which the library would read as rank 1's top
		p = 0
	case p > 100:
		p = 100
	}
	return fromUnits(h.h.ValueAtPercentile(p))
}

// Snapshot returns h's count and moments in one value.
func (h *Histogram) Snapshot() Summary {
	return Summary{
		Count:   h.Count(),
		Clamped: h.clamped,
		Min:     h.Min(),
		Max:     h.Max(),
		Mean:    h.Mean(),
		StdDev:  h.StdDev(),
	}
}

// Resolution returns the width of the HDR bucket that holds d: the smallest
// difference the histogram can tell near d. Two durations in one bucket are
// recorded as the same value, so a difference of percentiles smaller than the
// resolution at the larger of them is not a measured difference. It is 1 µs
// (LowestDiscernible, the recording unit) up to 2048 µs, and doubles with each
// power of two above: 3 significant figures keep 1024 to 2047 sub-buckets per
// power of two. d at or above Highest gives the width of Highest's bucket.
func Resolution(d time.Duration) time.Duration {
	v, _ := toUnits(d)
	const subBuckets = 2048 // 2^⌈log2(2·10^SignificantFigures)⌉
	if v < subBuckets {
		return LowestDiscernible
	}
	width := int64(1)
	for v >= subBuckets {
		v >>= 1
		width <<= 1
	}
	return time.Duration(width) * LowestDiscernible
}
