package result

import (
	"fmt"
	"time"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/spec"
)

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// NewDistribution summarises an encoded HDR histogram (as hist.Histogram.Encode writes
// it): statistics, the given percentiles and canonical buckets at the given bounds. The
// histogram itself is kept as it is, so pooling and exports stay exact.
func NewDistribution(encoded string, clamped int64, percentiles []float64, bounds []time.Duration) (Distribution, error) {
	h, err := hist.Decode(encoded)
	if err != nil {
		return Distribution{}, fmt.Errorf("summarise histogram: %w", err)
	}
	if err := h.SetClamped(clamped); err != nil {
		return Distribution{}, fmt.Errorf("summarise histogram: %w", err)
	}
	return summarise(h, encoded, percentiles, bounds), nil
}

func summarise(h *hist.Histogram, encoded string, percentiles []float64, bounds []time.Duration) Distribution {
	s := h.Snapshot()
	d := Distribution{
		Count:    s.Count,
		MinMS:    ms(s.Min),
		MeanMS:   ms(s.Mean),
		StddevMS: ms(s.StdDev),
		MaxMS:    ms(s.Max),
		Clamped:  s.Clamped,
		Histogram: Histogram{
			Encoding:           HistogramEncoding,
			Unit:               "us",
			LowestDiscernible:  int64(hist.LowestDiscernible / time.Microsecond),
			Highest:            int64(hist.Highest / time.Microsecond),
			SignificantFigures: hist.SignificantFigures,
			Data:               encoded,
		},
		Percentiles: make([]Percentile, 0, len(percentiles)),
	}
	for _, p := range percentiles {
		d.Percentiles = append(d.Percentiles, Percentile{Percentile: p, ValueMS: ms(h.Percentile(p))})
	}
	if len(bounds) > 0 {
		for _, b := range h.Buckets(bounds) {
			bk := Bucket{Count: b.Count, CumulativePercent: b.CumulativePercent}
			if b.UpperBound != hist.InfBound {
				le := ms(b.UpperBound)
				bk.LeMS = &le
			}
			d.Buckets = append(d.Buckets, bk)
		}
	}
	return d
}

// decode turns a stored histogram back into a live one.
func (h Histogram) decode() (*hist.Histogram, error) {
	if h.Encoding != HistogramEncoding {
		return nil, fmt.Errorf("histogram encoding %q is not %q", h.Encoding, HistogramEncoding)
	}
	if h.Unit != "us" {
		return nil, fmt.Errorf("histogram unit %q is not us", h.Unit)
	}
	return hist.Decode(h.Data)
}

// BucketBounds returns the canonical bucket boundaries a plan's metrics.buckets asks for.
func BucketBounds(b spec.Buckets) []time.Duration {
	if b.Scheme == spec.BucketsExplicit {
		out := make([]time.Duration, len(b.Bounds))
		for i, v := range b.Bounds {
			out[i] = v.D()
		}
		return out
	}
	from, to, per := b.From.D(), b.To.D(), b.PerDecade
	if from <= 0 || to <= from || per <= 0 {
		def := (&spec.Plan{}).WithDefaults().Metrics.Buckets
		from, to, per = def.From.D(), def.To.D(), def.PerDecade
	}
	return hist.LogBounds(from, to, per)
}

// percentilesAndBounds returns what a document's plan asks to report, with defaults when
// the document carries no plan.
func (d *Document) percentilesAndBounds() ([]float64, []time.Duration) {
	m := (&spec.Plan{}).WithDefaults().Metrics
	if d.Plan != nil {
		m = d.Plan.Metrics
		if len(m.Percentiles) == 0 {
			m.Percentiles = spec.DefaultPercentiles()
		}
	}
	return m.Percentiles, BucketBounds(m.Buckets)
}

// Pool merges distributions losslessly: the result is exactly the distribution of all
// their samples together, as if one generator had recorded them.
func Pool(dists []Distribution, percentiles []float64, bounds []time.Duration) (Distribution, error) {
	total := hist.New()
	var clamped int64
	for i, dist := range dists {
		h, err := dist.Histogram.decode()
		if err != nil {
			return Distribution{}, fmt.Errorf("pool distribution %d: %w", i, err)
		}
		total.Merge(h)
		clamped += dist.Clamped
	}
	if err := total.SetClamped(clamped); err != nil {
		return Distribution{}, fmt.Errorf("pool: %w", err)
	}
	enc, err := total.Encode()
	if err != nil {
		return Distribution{}, fmt.Errorf("pool: %w", err)
	}
	return summarise(total, enc, percentiles, bounds), nil
}

// ArmLatency pools the latency of every trial of an arm that measured something.
func (d *Document) ArmLatency(arm string) (Distribution, error) {
	trials := d.TrialsOf(arm)
	if len(trials) == 0 {
		return Distribution{}, fmt.Errorf("arm %q has no measured trials", arm)
	}
	dists := make([]Distribution, len(trials))
	for i, t := range trials {
		dists[i] = t.Latency
	}
	p, b := d.percentilesAndBounds()
	return Pool(dists, p, b)
}

// ArmTotals adds up the counts, bytes and measured time of an arm's trials.
type ArmTotals struct {
	Counts        Counts
	BytesSent     int64
	BytesReceived int64
	StatusCodes   map[string]int64
	ErrorsByClass map[string]int64
	// Measured is the summed length of the measured phases.
	Measured time.Duration
	Start    time.Time
	End      time.Time
	Trials   int
}

// AchievedRPS is requests per second over the measured time.
func (t ArmTotals) AchievedRPS() float64 {
	if t.Measured <= 0 {
		return 0
	}
	return float64(t.Counts.Requests) / t.Measured.Seconds()
}

// Totals adds up an arm's measured trials.
func (d *Document) Totals(arm string) ArmTotals {
	t := ArmTotals{StatusCodes: map[string]int64{}, ErrorsByClass: map[string]int64{}}
	for _, tr := range d.TrialsOf(arm) {
		t.Trials++
		t.Counts.Add(tr.Counts)
		t.BytesSent += tr.BytesSent
		t.BytesReceived += tr.BytesReceived
		for k, v := range tr.StatusCodes {
			t.StatusCodes[k] += v
		}
		for k, v := range tr.ErrorsByClass {
			t.ErrorsByClass[k] += v
		}
		t.Measured += tr.EndTime.Sub(tr.StartTime)
		if t.Start.IsZero() || tr.StartTime.Before(t.Start) {
			t.Start = tr.StartTime
		}
		if tr.EndTime.After(t.End) {
			t.End = tr.EndTime
		}
	}
	return t
}
