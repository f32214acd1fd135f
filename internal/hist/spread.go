package hist

import "time"

// Range is a count of values known only to lie in (Start, End]: a bucket of another
// tool's histogram (fortio's), or the share of a summary between two of its quantiles.
type Range struct {
	Start, End time.Duration
	Count      int64
}

// SpreadPoints is how many points Spread spreads one Range over.
const SpreadPoints = 64

// Spread rebuilds a histogram from ranges whose values are known only by the range that
// holds them. Each range's count is spread evenly over it, in up to SpreadPoints equal
// slices, each slice's share recorded at its middle; the smallest value (min, in the first
// range that holds any) and the largest (max, in the last) are recorded exactly, and no
// value is spread below min or above max (the first range is cut to start at min, the
// last to end at max, as fortio's buckets are). A
// percentile read from the result is therefore exact at the extremes and known only to
// within the width of the range that holds it elsewhere: the caller must say so wherever
// it is shown. Ranges are taken in order; empty ones are skipped.
func Spread(ranges []Range, min, max time.Duration) *Histogram {
	h := New()
	first, last := -1, -1
	for i, r := range ranges {
		if r.Count > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	for i, r := range ranges {
		n := r.Count
		if n <= 0 {
			continue
		}
		if i == first {
			h.Record(min)
			n--
			r.Start = clampDuration(r.Start, min, max)
		}
		if i == last && n > 0 {
			h.Record(max)
			n--
			r.End = clampDuration(r.End, min, max)
		}
		k := int64(SpreadPoints)
		if n < k {
			k = n
		}
		for j := range k {
			share := (j+1)*n/k - j*n/k // the ranks of slice j, spread evenly
			at := r.Start + time.Duration((float64(j)+0.5)/float64(k)*float64(r.End-r.Start))
			h.RecordN(at, share)
		}
	}
	return h
}

// Without takes the counts of some out of the ranges of all that hold them (a count of
// some is taken off the first range of all whose end is at or above its end, or the last
// one), never below zero: fortio's histogram of failed calls out of its histogram of all
// calls. all is not changed.
func Without(all, some []Range) []Range {
	out := append([]Range(nil), all...)
	for _, s := range some {
		for i := range out {
			if s.End <= out[i].End || i == len(out)-1 {
				out[i].Count = max(out[i].Count-s.Count, 0)
				break
			}
		}
	}
	return out
}

func clampDuration(d, lo, hi time.Duration) time.Duration { return max(lo, min(d, hi)) }
