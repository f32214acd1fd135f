package collect

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parseExposition reads the Prometheus text exposition format (what /metrics,
// /stats/prometheus and /metrics/cadvisor serve) into metric families by name. Names
// are checked with the legacy rules ([a-zA-Z_:][a-zA-Z0-9_:]*), which every endpoint
// smp reads uses.
func parseExposition(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse Prometheus text format: %w", err)
	}
	return fams, nil
}

// labelsOf returns a metric's labels as a map.
func labelsOf(m *dto.Metric) map[string]string {
	out := make(map[string]string, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// value is a counter's, gauge's or untyped metric's value.
func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return math.NaN()
}

// sumFamily adds the values of a family's metrics whose labels pass keep (nil keeps
// all); ok is false when none did.
func sumFamily(fams map[string]*dto.MetricFamily, name string, keep func(map[string]string) bool) (sum float64, ok bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if keep != nil && !keep(labelsOf(m)) {
			continue
		}
		if v := value(m); !math.IsNaN(v) {
			sum += v
			ok = true
		}
	}
	return sum, ok
}

// hist is a cumulative histogram: ascending upper bounds (the last +Inf) and the count of
// observations at or below each. It is small and immutable once built.
type hist struct {
	le  []float64
	cum []float64
}

// histOf converts a parsed histogram. Prometheus text always carries the +Inf bucket; it
// is added from the sample count when a source leaves it out.
func histOf(h *dto.Histogram) hist {
	var out hist
	for _, b := range h.GetBucket() {
		out.le = append(out.le, b.GetUpperBound())
		out.cum = append(out.cum, float64(b.GetCumulativeCount()))
	}
	if n := len(out.le); n == 0 || !math.IsInf(out.le[n-1], 1) {
		out.le = append(out.le, math.Inf(1))
		out.cum = append(out.cum, float64(h.GetSampleCount()))
	}
	return out
}

// sumHistFamily adds up a histogram family's metrics whose labels pass keep. Metrics
// with other bucket bounds than the first are left out and counted in skipped.
func sumHistFamily(fams map[string]*dto.MetricFamily, name string, keep func(map[string]string) bool) (h hist, ok bool, skipped int) {
	f := fams[name]
	if f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
		return hist{}, false, 0
	}
	for _, m := range f.GetMetric() {
		if m.Histogram == nil || keep != nil && !keep(labelsOf(m)) {
			continue
		}
		x := histOf(m.GetHistogram())
		if !ok {
			h, ok = x, true
			continue
		}
		if s, same := h.add(x); same {
			h = s
		} else {
			skipped++
		}
	}
	return h, ok, skipped
}

func (h hist) sameBounds(o hist) bool {
	if len(h.le) != len(o.le) {
		return false
	}
	for i := range h.le {
		if h.le[i] != o.le[i] {
			return false
		}
	}
	return true
}

// add returns h+o; false when their bounds differ.
func (h hist) add(o hist) (hist, bool) {
	if !h.sameBounds(o) {
		return hist{}, false
	}
	out := hist{le: h.le, cum: make([]float64, len(h.cum))}
	for i := range h.cum {
		out.cum[i] = h.cum[i] + o.cum[i]
	}
	return out, true
}

// sub returns h−o, the observations made between an earlier snapshot o and h; false when
// the bounds differ or any count went down (the source restarted between them).
func (h hist) sub(o hist) (hist, bool) {
	if !h.sameBounds(o) {
		return hist{}, false
	}
	out := hist{le: h.le, cum: make([]float64, len(h.cum))}
	for i := range h.cum {
		if h.cum[i] < o.cum[i] {
			return hist{}, false
		}
		out.cum[i] = h.cum[i] - o.cum[i]
	}
	return out, true
}

// count is the number of observations.
func (h hist) count() float64 {
	if len(h.cum) == 0 {
		return 0
	}
	return h.cum[len(h.cum)-1]
}

// quantile estimates the q-quantile (0 ≤ q ≤ 1) the way PromQL's histogram_quantile
// does, so that the figures of the direct collectors and of Prometheus agree: find the
// bucket holding rank q·count and interpolate linearly inside it, the first bucket
// starting at 0 (when its bound is positive); a rank in the +Inf bucket gives the highest
// finite bound. NaN when the histogram is empty.
func (h hist) quantile(q float64) float64 {
	n := h.count()
	if n == 0 || len(h.le) < 2 {
		return math.NaN()
	}
	rank := q * n
	i := sort.Search(len(h.cum), func(i int) bool { return h.cum[i] >= rank })
	if i >= len(h.le)-1 {
		return h.le[len(h.le)-2]
	}
	lo, below := 0.0, 0.0
	if i > 0 {
		lo, below = h.le[i-1], h.cum[i-1]
	} else if h.le[0] <= 0 {
		return h.le[0]
	}
	inBucket := h.cum[i] - below
	if inBucket == 0 {
		return h.le[i]
	}
	return lo + (h.le[i]-lo)*(rank-below)/inBucket
}

// formatFloat prints a float without exponent noise, for query texts and messages.
func formatFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
