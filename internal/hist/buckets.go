package hist

import (
	"math"
	"slices"
	"time"
)

// Bar is one non-empty HDR bucket: Count values in (From, To]. The bar of
// zero, which also holds negative durations, is the exception: From = To = 0.
// To is what Percentile reports for a value in the bar.
type Bar struct {
	From, To time.Duration
	Count    int64
}

// Bars returns every non-empty HDR bucket in ascending order; their counts sum
// to Count. A bar's From is the To of the HDR bucket below it, so bars never
// overlap, neighbours share an edge, and they export as fortio's (Start, End]
// data as they are. An empty histogram has no bars.
func (h *Histogram) Bars() []Bar {
	// Distribution lists every bucket up to the highest non-empty one, empty
	// ones included. It is the library's only way to read bucket edges
	// without copying the whole counts array.
	dist := h.h.Distribution()
	n := 0
	for _, b := range dist {
		if b.Count != 0 {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	bars := make([]Bar, 0, n)
	for _, b := range dist {
		if b.Count == 0 {
			continue
		}
		from := time.Duration(0)
		if b.From > 0 {
			// Stored value v holds the durations in (v-1 µs, v µs]: see toUnits.
			from = fromUnits(b.From - 1)
		}
		bars = append(bars, Bar{From: from, To: fromUnits(b.To), Count: b.Count})
	}
	return bars
}

// InfBound is the UpperBound of the overflow bucket that Buckets appends. It
// is the largest Duration, not 0, so UpperBound stays ascending and
// "value <= UpperBound" holds for every value in every bucket.
const InfBound = time.Duration(math.MaxInt64)

// Bucket is one canonical bucket: Count values in (previous UpperBound,
// UpperBound]. CumulativePercent is the share of all values at or below
// UpperBound, in percent.
type Bucket struct {
	UpperBound        time.Duration
	Count             int64
	CumulativePercent float64
}

// Buckets derives canonical buckets from the HDR data. For sorted bounds
// b0 < b1 < …, bucket i counts values in (b[i-1], b[i]], the first one
// [0, b0], and a last bucket with UpperBound InfBound counts the rest. bounds
// may be in any order and hold duplicates: Buckets sorts and deduplicates a
// copy, so it returns one bucket per distinct bound plus the overflow one.
//
// Each HDR bar goes wholly to the bucket that holds its To, the value
// Percentile reports for it. So Percentile(p) <= b exactly when at least
// rank(p) values are counted at or below b: the buckets and the percentiles
// never tell different stories. Consequences:
//   - A bound that is a whole number of microseconds below 2048 µs, where
//     bars are 1 µs wide, splits values exactly: a duration equal to the
//     bound is counted at or below it, one a nanosecond longer above it.
//   - Above 2048 µs a bar can straddle a bound; all of it then counts above
//     the bound, overstating those latencies by less than 0.1%. A value
//     exactly at such a bound (50 ms sits in the bar (49.983, 50.015] ms)
//     counts in the bucket above it.
//
// Counts sum to Count exactly. CumulativePercent of the last bucket is 100,
// and every CumulativePercent is 0 for an empty histogram.
func (h *Histogram) Buckets(bounds []time.Duration) []Bucket {
	ub := slices.Clone(bounds)
	slices.Sort(ub)
	ub = slices.Compact(ub)

	out := make([]Bucket, len(ub)+1)
	for i, b := range ub {
		out[i].UpperBound = b
	}
	out[len(ub)].UpperBound = InfBound

	i := 0
	for _, bar := range h.Bars() {
		for i < len(ub) && bar.To > ub[i] {
			i++
		}
		out[i].Count += bar.Count
	}

	total := h.Count()
	if total == 0 {
		return out
	}
	var cum int64
	for i := range out {
		cum += out[i].Count
		out[i].CumulativePercent = 100 * (float64(cum) / float64(total))
	}
	return out
}

// LogBounds returns bucket bounds spaced evenly on a log scale: perDecade
// bounds in each decade [from·10^k, from·10^(k+1)), from from to to
// inclusive, each rounded to a whole microsecond, duplicates removed. So
// LogBounds(time.Millisecond, time.Second, 3) is 1 ms, 2.154 ms, 4.642 ms,
// 10 ms, … 1 s. Rounding merges bounds where a decade spans few microseconds:
// LogBounds(time.Microsecond, 10*time.Microsecond, 10) has 8 bounds, not 11.
//
// from below LowestDiscernible is raised to it, since a log scale cannot
// start at 0. It returns nil if perDecade < 1 or to < from. The work grows
// with perDecade times the number of decades; spec validation bounds both.
func LogBounds(from, to time.Duration, perDecade int) []time.Duration {
	from = max(from, LowestDiscernible)
	if perDecade < 1 || to < from {
		return nil
	}
	var out []time.Duration
	add := func(v float64) {
		d := roundMicro(v)
		if len(out) == 0 || d > out[len(out)-1] {
			out = append(out, d)
		}
	}
	last := float64(to)
decades:
	for k := 0; ; k++ {
		// Each decade starts from from·10^k, not from the previous bound times
		// a factor, so rounding errors do not pile up across decades.
		base := float64(from) * math.Pow10(k)
		for j := range perDecade {
			v := base * math.Pow(10, float64(j)/float64(perDecade))
			if v > last {
				break decades
			}
			add(v)
		}
	}
	add(last)
	return out
}

// roundMicro rounds v nanoseconds to the nearest whole microsecond, within
// the range of Duration.
func roundMicro(v float64) time.Duration {
	us := math.Round(v / float64(time.Microsecond))
	if us >= float64(math.MaxInt64/int64(time.Microsecond)) {
		return math.MaxInt64 / time.Microsecond * time.Microsecond
	}
	return time.Duration(us) * time.Microsecond
}
