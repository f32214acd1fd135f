package generator

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"fortio.org/fortio/periodic"
	"fortio.org/fortio/stats"

	"github.com/service-mesh-performance/smp/internal/hist"
)

// This file converts fortio's own histograms, the fallback for when fortio's
// AccessLogger hook did not see every call fortio counted.
//
// fortio's stats.HistogramData lists non-empty buckets (Start, End] in seconds with their
// counts; the first bucket starts at Min, the last ends at Max, and fortio reads a
// percentile by linear interpolation inside its bucket. smp cannot know where inside a
// bucket the values were, so it spreads each bucket's count evenly over the bucket: in up
// to fortioSpread equal slices, each slice's share at its middle. That reproduces fortio's
// interpolated percentiles to within 1/fortioSpread of a bucket width; the truth can be
// anywhere in the bucket, so a percentile read from the result is only known to within
// that bucket's width: 10–25% of the value between 10 and 1000 × fortioResolution
// (100 µs to 10 ms), wider above (the bucket from 1000 to 2000 × resolution is 100%). The
// smallest and largest calls are recorded exactly at Min and Max.

// fortioSpread is how many points one fortio bucket is spread over.
const fortioSpread = 64

// fortioToHist converts fortio's histogram of all calls minus its histogram of failed
// calls into an HDR histogram of the calls that succeeded (errs may be nil). A count in
// errs is taken off the bucket of all that holds its interval.
func fortioToHist(all, errs *stats.HistogramData) *hist.Histogram {
	h := hist.New()
	if all == nil || all.Count == 0 || len(all.Data) == 0 {
		return h
	}
	buckets := append([]stats.Bucket(nil), all.Data...)
	if errs != nil {
		for _, e := range errs.Data {
			for i := range buckets {
				if e.End <= buckets[i].End || i == len(buckets)-1 {
					buckets[i].Count = max(buckets[i].Count-e.Count, 0)
					break
				}
			}
		}
	}
	first, last := -1, -1
	for i, b := range buckets {
		if b.Count > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return h
	}
	seconds := func(v float64) time.Duration { return time.Duration(math.Round(v * float64(time.Second))) }
	for i, b := range buckets {
		n := b.Count
		if n == 0 {
			continue
		}
		if i == first {
			h.Record(seconds(all.Min)) // the smallest call, exactly
			n--
		}
		if i == last && n > 0 {
			h.Record(seconds(all.Max)) // the largest call, exactly
			n--
		}
		k := min(n, fortioSpread)
		for j := range k {
			share := (j+1)*n/k - j*n/k // the ranks of slice j, spread evenly
			h.RecordN(seconds(b.Start+(float64(j)+0.5)/float64(k)*(b.End-b.Start)), share)
		}
	}
	return h
}

// fortioHistogramsInto fills m from fortio's own results: its histograms of all and of
// failed calls (fortio's rule: 2xx and 418 succeed), its status counts and error count.
func fortioHistogramsInto(m *measurement, res periodic.RunnerResults, retCodes map[string]int64) error {
	all, errs := res.DurationHistogram, res.ErrorsDurationHistogram
	if all == nil {
		return fmt.Errorf("fortio returned no histogram")
	}
	m.latency = fortioToHist(all, errs)
	m.requests = all.Count
	m.failed = fortioCount(errs)
	m.succeeded = m.requests - m.failed
	if errs != nil && errs.Count > 0 {
		m.errLatency = fortioToHist(errs, nil)
	}
	for k, v := range retCodes {
		code, err := strconv.Atoi(k)
		switch {
		case err != nil:
			m.status[k] += v
		case code <= 0:
			m.errors["other"] += v
		default:
			m.status[k] += v
			if code >= 400 {
				m.errors["http"] += v
			}
		}
	}
	m.caveats = append(m.caveats, fmt.Sprintf("histogram from fortio's buckets (resolution %gs): percentiles within fortio's bucket width", fortioResolution))
	m.warnings = append(m.warnings, fmt.Sprintf("fortio's access-log hook saw a different number of calls than fortio counted (%d); "+
		"latency comes from fortio's bucketed histogram and fortio's success rule (2xx and 418)", all.Count))
	return nil
}
