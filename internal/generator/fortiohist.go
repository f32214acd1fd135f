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
// bucket the values were, so hist.Spread spreads each bucket's count evenly over the
// bucket. That reproduces fortio's interpolated percentiles to within a small fraction
// of a bucket width; the truth can be anywhere in the bucket, so a percentile read from
// the result is only known to within that bucket's width: 10–25% of the value between 10
// and 1000 × fortioResolution (100 µs to 10 ms), wider above (the bucket from 1000 to
// 2000 × resolution is 100%). The smallest and largest calls are recorded exactly at Min
// and Max.

// fortioToHist converts fortio's histogram of all calls minus its histogram of failed
// calls into an HDR histogram of the calls that succeeded (errs may be nil). A count in
// errs is taken off the bucket of all that holds its interval.
func fortioToHist(all, errs *stats.HistogramData) *hist.Histogram {
	if all == nil || all.Count == 0 || len(all.Data) == 0 {
		return hist.New()
	}
	return hist.Spread(hist.Without(fortioRanges(all), fortioRanges(errs)), fortioSeconds(all.Min), fortioSeconds(all.Max))
}

func fortioSeconds(v float64) time.Duration {
	return time.Duration(math.Round(v * float64(time.Second)))
}

// fortioRanges are a fortio histogram's buckets as hist ranges (none for nil).
func fortioRanges(h *stats.HistogramData) []hist.Range {
	if h == nil {
		return nil
	}
	out := make([]hist.Range, len(h.Data))
	for i, b := range h.Data {
		out[i] = hist.Range{Start: fortioSeconds(b.Start), End: fortioSeconds(b.End), Count: b.Count}
	}
	return out
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
