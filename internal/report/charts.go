package report

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/result"
)

// maxSeriesPoints is how many points a time series keeps (LTTB): a chart 640 pixels wide
// shows no more, and a 1-hour soak at 1 s intervals would otherwise put 3600 per line.
const maxSeriesPoints = 300

// armColors gives each arm a colour: the baseline dark grey, the others from the
// Okabe–Ito palette, which stays distinguishable to colour-blind readers.
func armColors(s *Summary) map[string]string {
	palette := []string{"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#8c564b", "#7f7f00"}
	out := map[string]string{}
	i := 0
	for _, a := range s.Arms {
		if a.Name == s.Baseline {
			out[a.Name] = "#4d4d4d"
			continue
		}
		out[a.Name] = palette[i%len(palette)]
		i++
	}
	return out
}

func roleColor(r result.Role) string {
	switch r {
	case result.RoleApp:
		return "#0072b2"
	case result.RoleProxy:
		return "#d55e00"
	case result.RoleControlPlane:
		return "#cc79a7"
	case result.RoleNode:
		return "#009e73"
	case result.RoleGateway:
		return "#e69f00"
	}
	return "#999999"
}

func inputColor(name string) string {
	switch name {
	case "latency.p50":
		return "#0072b2"
	case "latency.p99":
		return "#56b4e9"
	case "goodput":
		return "#009e73"
	case "cpu":
		return "#d55e00"
	}
	return "#e69f00"
}

// charts are the HTML report's figures, in order; a chart without data is left out.
func (s *Summary) charts() ([]string, error) {
	colors := armColors(s)
	var out []string
	if c := s.meshMarkChart(); c != nil {
		out = append(out, c.svg())
	}
	if c := s.histogramChart(colors); c != nil {
		out = append(out, c.svg())
	}
	c, err := s.spectrumChart(colors)
	if err != nil {
		return nil, err
	}
	if c != nil {
		out = append(out, c.svg())
	}
	if c := s.overTimeChart(colors, true); c != nil {
		out = append(out, c.svg())
	}
	if c := s.overTimeChart(colors, false); c != nil {
		out = append(out, c.svg())
	}
	if c := s.capacityChart(colors); c != nil {
		out = append(out, c.svg())
	}
	if c := s.resourceChart(true); c != nil {
		out = append(out, c.svg())
	}
	if c := s.resourceChart(false); c != nil {
		out = append(out, c.svg())
	}
	return out, nil
}

func (s *Summary) meshMarkChart() *bars {
	c := &bars{id: "meshmark", title: "MeshMark by arm", max: 100, unit: "points (100 = no cost over " + s.Baseline + ")",
		caption: "Each bar is the arm's score, then the points it lost on each input (docs/meshmark.md); the gap to the score is what the mesh costs."}
	seen := map[string]bool{}
	legend := func(key, label, color string) {
		if !seen[key] {
			seen[key] = true
			c.legend = append(c.legend, legendItem{key, label, color})
		}
	}
	for _, a := range s.Arms {
		m := a.MeshMark
		if m == nil || m.Score == nil {
			continue
		}
		r := barRow{label: a.Name, text: formatScore(m)}
		if m.Version >= 2 {
			r.segs = append(r.segs, segment{key: "score", color: scoreColor, value: *m.Score,
				title: fmt.Sprintf("%s: MeshMark %s", a.Name, formatScore(m))})
			legend("score", "score", scoreColor)
		}
		for _, in := range m.Inputs {
			if in.Missing != "" {
				continue
			}
			seg := segment{key: in.Name, color: inputColor(in.Name), value: in.Points,
				title: fmt.Sprintf("%s: %s: %.1f of %.1f points (%s → %s)", a.Name, in.Name, in.Points, maxPoints(m, in),
					formatCost(in.Baseline, in.Unit), formatCost(in.Value, in.Unit))}
			if m.Version >= 2 {
				seg.value = in.Lost
				seg.title = fmt.Sprintf("%s: %s: lost %.1f points, ×%.3f (%s → %s)", a.Name, in.Name, in.Lost, in.Factor,
					formatCost(in.Baseline, in.Unit), formatCost(in.Value, in.Unit))
			}
			r.segs = append(r.segs, seg)
			legend(in.Name, in.Name, inputColor(in.Name))
		}
		c.rows = append(c.rows, r)
	}
	if len(c.rows) == 0 {
		return nil
	}
	c.ticks = linearTicks(0, 100, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) })
	return c
}

// scoreColor is the MeshMark chart's score segment: a neutral grey, so that the colours
// are the losses.
const scoreColor = "#999999"

// niceLogRange widens [lo, hi] to round values on a log axis and returns ticks: powers of
// ten, and 2 and 5 between them when the range spans two decades or less.
func niceLogRange(lo, hi float64, label func(float64) string) (float64, float64, []tick) {
	if !(lo > 0) {
		lo = 1e-3
	}
	if !(hi > lo) {
		hi = lo * 10
	}
	mults := []float64{1}
	if math.Log10(hi/lo) <= 2 {
		mults = []float64{1, 2, 5}
	}
	var cands []float64
	for e := math.Floor(math.Log10(lo)) - 1; e <= math.Ceil(math.Log10(hi))+1; e++ {
		for _, m := range mults {
			v, _ := strconv.ParseFloat(strconv.FormatFloat(m*math.Pow(10, e), 'g', 6, 64), 64)
			cands = append(cands, v)
		}
	}
	min, max := cands[0], cands[len(cands)-1]
	for _, v := range cands {
		if v <= lo*(1+1e-9) {
			min = v
		}
	}
	for i := len(cands) - 1; i >= 0; i-- {
		if cands[i] >= hi*(1-1e-9) {
			max = cands[i]
		}
	}
	var ticks []tick
	for _, v := range cands {
		if v >= min && v <= max {
			ticks = append(ticks, tick{v, label(v)})
		}
	}
	return min, max, ticks
}

func (s *Summary) histogramChart(colors map[string]string) *plot {
	type armBuckets struct {
		arm string
		bs  []result.Bucket
		n   int64
	}
	var all []armBuckets
	first, last := -1, -1
	var over []string
	for _, a := range s.Arms {
		if a.Latency == nil || a.Latency.Count == 0 || len(a.Latency.Buckets) < 2 {
			continue
		}
		bs := a.Latency.Buckets
		all = append(all, armBuckets{a.Name, bs, a.Latency.Count})
		for i, b := range bs {
			if b.Count == 0 {
				continue
			}
			if b.LeMS == nil {
				over = append(over, fmt.Sprintf("%s: %d above %s ms", a.Name, b.Count, FormatMS(*bs[i-1].LeMS)))
				continue
			}
			if first < 0 || i < first {
				first = i
			}
			last = max(last, i)
		}
	}
	if len(all) == 0 || first < 0 {
		return nil
	}
	bounds := func(bs []result.Bucket, i int) (float64, float64) {
		hi := *bs[i].LeMS
		switch {
		case i > 0:
			return *bs[i-1].LeMS, hi
		case bs[1].LeMS != nil:
			return hi * hi / *bs[1].LeMS, hi // one bucket's ratio below the first bound
		}
		return hi / 10, hi
	}
	lo, _ := bounds(all[0].bs, first)
	_, hi := bounds(all[0].bs, last)
	p := &plot{id: "histogram", title: "Latency histogram", xLabel: "latency (ms, log scale)", yLabel: "% of requests",
		caption: "Share of successful requests per canonical bucket (metrics.buckets), repetitions pooled; " + latencyNote(s.doc) + "."}
	var xmin, xmax float64
	xmin, xmax, p.xTicks = niceLogRange(lo, hi, msLabel)
	p.x = scale{xmin, xmax, true}
	top := 0.0
	for _, ab := range all {
		var pts []point
		l0, _ := bounds(ab.bs, first)
		pts = append(pts, point{l0, 0})
		for i := first; i <= last && i < len(ab.bs); i++ {
			if ab.bs[i].LeMS == nil {
				break
			}
			l, h := bounds(ab.bs, i)
			pct := 100 * float64(ab.bs[i].Count) / float64(ab.n)
			top = math.Max(top, pct)
			pts = append(pts, point{l, pct}, point{h, pct})
		}
		_, hl := bounds(ab.bs, last)
		pts = append(pts, point{hl, 0})
		p.lines = append(p.lines, series{key: ab.arm, color: colors[ab.arm], pts: pts,
			title: fmt.Sprintf("%s: %d requests", ab.arm, ab.n)})
		p.legend = append(p.legend, legendItem{ab.arm, ab.arm, colors[ab.arm]})
	}
	p.yTicks = linearTicks(0, top, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) + "%" })
	p.y = scale{0, p.yTicks[len(p.yTicks)-1].v, false}
	if len(over) > 0 {
		p.caption += " Above the last bucket: " + strings.Join(over, "; ") + "."
	}
	return p
}

// percentileTickLabel names the decade k of the 1/(1−p) axis (x = 10ᵏ): 0 → 0%,
// 1 → 90%, 2 → 99%, 3 → 99.9%, written out rather than computed, to stay exact.
func percentileTickLabel(k int) string {
	switch k {
	case 0:
		return "0%"
	case 1:
		return "90%"
	case 2:
		return "99%"
	}
	return "99." + strings.Repeat("9", k-2) + "%"
}

// spectrumChart is the percentile spectrum as HdrHistogram plots it: latency against
// 1/(1−p) on a log axis, so that 90%, 99%, 99.9% … are evenly spaced.
func (s *Summary) spectrumChart(colors map[string]string) (*plot, error) {
	type armHist struct {
		arm string
		h   *hist.Histogram
	}
	var hs []armHist
	var maxN int64
	lowest, highest := math.Inf(1), 0.0
	for _, a := range s.Arms {
		if a.Latency == nil || a.Latency.Count == 0 {
			continue
		}
		h, err := hist.Decode(a.Latency.Histogram.Data)
		if err != nil {
			return nil, fmt.Errorf("report: arm %s: %w", a.Name, err)
		}
		hs = append(hs, armHist{a.Name, h})
		maxN = max(maxN, h.Count())
		lowest = math.Min(lowest, ms(h.Percentile(50)))
		highest = math.Max(highest, ms(h.Max()))
	}
	if len(hs) == 0 {
		return nil, nil
	}
	// Decades of the axis: as many nines as the largest arm's requests support, 2 to 6.
	decades := min(6, max(2, int(math.Ceil(math.Log10(float64(maxN))))))
	xmax := math.Pow(10, float64(decades))
	p := &plot{id: "spectrum", title: "Latency by percentile", xLabel: "percentile (log scale of 1/(1−p))",
		x:       scale{1, xmax, true},
		caption: "Latency at each percentile of the pooled histogram, as HdrHistogram plots it: each step right adds a nine. A line ends at its arm's maximum."}
	for e := 0; e <= decades; e++ {
		v := math.Pow(10, float64(e))
		p.xTicks = append(p.xTicks, tick{v, percentileTickLabel(e)})
	}
	const perDecade = 20
	for _, ah := range hs {
		n := float64(ah.h.Count())
		var pts []point
		for j := 0; j <= decades*perDecade; j++ {
			x := math.Pow(10, float64(j)/perDecade)
			if x > n {
				break
			}
			pts = append(pts, point{x, ms(ah.h.Percentile(100 * (1 - 1/x)))})
		}
		pts = append(pts, point{math.Min(n, xmax), ms(ah.h.Max())})
		p.lines = append(p.lines, series{key: ah.arm, color: colors[ah.arm], pts: pts,
			title: fmt.Sprintf("%s: p50 %s ms, p99 %s ms, max %s ms", ah.arm, FormatMS(ms(ah.h.Percentile(50))),
				FormatMS(ms(ah.h.Percentile(99))), FormatMS(ms(ah.h.Max())))})
		p.legend = append(p.legend, legendItem{ah.arm, ah.arm, colors[ah.arm]})
	}
	p.yLabel, p.y, p.yTicks = latencyAxis(lowest, highest)
	return p, nil
}

// latencyAxis is a linear axis from 0, or a log one when the values span more than a
// factor of 50 (a mesh arm 100 times slower than the baseline would otherwise flatten
// the baseline onto the axis).
func latencyAxis(lowest, highest float64) (string, scale, []tick) {
	if highest <= 0 {
		highest = 1
	}
	if lowest > 0 && highest/lowest > 50 {
		lo, hi, ticks := niceLogRange(lowest, highest, msLabel)
		return "latency (ms, log scale)", scale{lo, hi, true}, ticks
	}
	ticks := linearTicks(0, highest, msLabel)
	return "latency (ms)", scale{0, ticks[len(ticks)-1].v, false}, ticks
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// overTimeChart plots each trial's time series: p99 (solid) and p50 (dashed) latency, or
// the achieved rate, against seconds into the measured phase.
func (s *Summary) overTimeChart(colors map[string]string, latency bool) *plot {
	var trials []result.Trial
	for _, t := range s.doc.Trials {
		if len(t.TimeSeries) > 0 && t.Status != result.StatusFailed {
			trials = append(trials, t)
		}
	}
	if len(trials) == 0 {
		return nil
	}
	p := &plot{id: "throughput", title: "Throughput over time", xLabel: "seconds into the measured phase", yLabel: "requests per second",
		caption: "Achieved rate per interval (metrics.interval), one line per trial."}
	if latency {
		p = &plot{id: "latency-time", title: "Latency over time", xLabel: "seconds into the measured phase",
			caption: "p99 (solid) and p50 (dashed) per interval, one pair of lines per trial; long series are downsampled (LTTB)."}
	}
	maxT, top, lowest := 0.0, 0.0, math.Inf(1)
	legend := map[string]bool{}
	for _, t := range trials {
		var p50, p99, rate []point
		for _, pt := range t.TimeSeries {
			maxT = math.Max(maxT, pt.OffsetS)
			rate = append(rate, point{pt.OffsetS, pt.RateRPS})
			if pt.Requests > pt.Errors && pt.P99MS > 0 {
				p50 = append(p50, point{pt.OffsetS, pt.P50MS})
				p99 = append(p99, point{pt.OffsetS, pt.P99MS})
			}
		}
		color := colors[t.Arm]
		if latency {
			p99, p50 = lttb(p99, maxSeriesPoints), lttb(p50, maxSeriesPoints)
			for _, pt := range p99 {
				top = math.Max(top, pt.y)
			}
			for _, pt := range p50 {
				if pt.y > 0 {
					lowest = math.Min(lowest, pt.y)
				}
			}
			p.lines = append(p.lines, series{key: t.Arm, color: color, pts: p99, title: t.ID + " p99"},
				series{key: t.Arm, color: color, dash: true, pts: p50, title: t.ID + " p50"})
		} else {
			rate = lttb(rate, maxSeriesPoints)
			for _, pt := range rate {
				top = math.Max(top, pt.y)
			}
			p.lines = append(p.lines, series{key: t.Arm, color: color, pts: rate, title: t.ID})
		}
		if !legend[t.Arm] {
			legend[t.Arm] = true
			p.legend = append(p.legend, legendItem{t.Arm, t.Arm, color})
		}
	}
	p.xTicks = linearTicks(0, maxT, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) })
	p.x = scale{0, p.xTicks[len(p.xTicks)-1].v, false}
	if latency {
		if math.IsInf(lowest, 1) {
			return nil
		}
		p.yLabel, p.y, p.yTicks = latencyAxis(lowest, top)
	} else {
		p.yTicks = linearTicks(0, top, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) })
		p.y = scale{0, p.yTicks[len(p.yTicks)-1].v, false}
	}
	return p
}

// capacityChart is the latency-vs-rate curve of capacity searches (workload.find_max):
// each step's p99 (solid) and p50 (dashed) against the rate it asked for, one pair of
// lines per trial (a rate run twice shows its deciding run), and the SLO's p99 limit as
// a grey line. Steps broken by errors or a
// rate the generator could not send are on the curve too; the tooltips say which.
func (s *Summary) capacityChart(colors map[string]string) *plot {
	var trials []result.Trial
	for _, t := range s.doc.Trials {
		if t.Search != nil && len(t.Search.Steps) > 0 && t.Status != result.StatusFailed {
			trials = append(trials, t)
		}
	}
	if len(trials) == 0 {
		return nil
	}
	p := &plot{id: "capacity", title: "Latency vs rate", xLabel: "requested rate (requests per second)",
		caption: "Capacity search (find_max): p99 (solid) and p50 (dashed) of each step against its rate, one pair of lines per trial " +
			"(a marginal step run twice shows its second, deciding run); " +
			"the grey line is the SLO's p99 limit. Each arm's highest rate within the SLO is in the overhead table (max_rate)."}
	maxRate, top, lowest, slo := 0.0, 0.0, math.Inf(1), 0.0
	legend := map[string]bool{}
	for _, t := range trials {
		// A marginal step is run again and the second run decides (findMax): keep the
		// last step at each rate, in rate order.
		last := map[float64]result.SearchStep{}
		for _, st := range t.Search.Steps {
			last[st.RateRPS] = st
		}
		steps := slices.Collect(maps.Values(last))
		slices.SortFunc(steps, func(a, b result.SearchStep) int { return cmp.Compare(a.RateRPS, b.RateRPS) })
		var p50, p99 []point
		for _, st := range steps {
			maxRate = math.Max(maxRate, st.RateRPS)
			if st.P99MS <= 0 {
				continue // no successful request: no latency to plot
			}
			p99 = append(p99, point{st.RateRPS, st.P99MS})
			p50 = append(p50, point{st.RateRPS, st.P50MS})
			top = math.Max(top, st.P99MS)
			if st.P50MS > 0 {
				lowest = math.Min(lowest, st.P50MS)
			}
		}
		slo = math.Max(slo, t.Search.P99MS)
		color := colors[t.Arm]
		title := fmt.Sprintf("%s: max %s", t.ID, t.Search.Outcome())
		p.lines = append(p.lines, series{key: t.Arm, color: color, pts: p99, title: title + " (p99)"},
			series{key: t.Arm, color: color, dash: true, pts: p50, title: title + " (p50)"})
		if !legend[t.Arm] {
			legend[t.Arm] = true
			p.legend = append(p.legend, legendItem{t.Arm, t.Arm, color})
		}
	}
	if math.IsInf(lowest, 1) {
		return nil
	}
	p.xTicks = linearTicks(0, maxRate, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) })
	p.x = scale{0, p.xTicks[len(p.xTicks)-1].v, false}
	if slo > 0 {
		top, lowest = math.Max(top, slo), math.Min(lowest, slo)
		p.lines = append(p.lines, series{key: "slo", color: "#999999", pts: []point{{0, slo}, {p.x.max, slo}},
			title: "SLO: p99 ≤ " + FormatMS(slo) + " ms"})
		p.legend = append(p.legend, legendItem{"slo", "SLO p99", "#999999"})
	}
	p.yLabel, p.y, p.yTicks = latencyAxis(lowest, top)
	return p
}

// resourceChart shows every measured component's mean CPU (or memory), per arm,
// coloured by role.
func (s *Summary) resourceChart(cpu bool) *bars {
	c := &bars{id: "cpu", title: "CPU per component", unit: "millicores",
		caption: "Mean CPU over the measured window, averaged over repetitions."}
	if !cpu {
		c = &bars{id: "memory", title: "Memory per component", unit: "MiB",
			caption: "Mean memory over the measured window (RSS unless the collector says otherwise), averaged over repetitions."}
	}
	seen := map[result.Role]bool{}
	for _, a := range s.Arms {
		for _, r := range a.Resources {
			v, text := r.CPUMcores, fmt.Sprintf("%.0f m", r.CPUMcores)
			if !cpu {
				v, text = r.MemoryBytes/(1<<20), FormatBytes(r.MemoryBytes)
			}
			c.rows = append(c.rows, barRow{label: a.Name + " · " + r.Component, text: text,
				segs: []segment{{key: string(r.Role), color: roleColor(r.Role), value: v,
					title: fmt.Sprintf("%s %s (%s): %s", a.Name, r.Component, r.Role, text)}}})
			if !seen[r.Role] {
				seen[r.Role] = true
				c.legend = append(c.legend, legendItem{string(r.Role), string(r.Role), roleColor(r.Role)})
			}
		}
	}
	if len(c.rows) == 0 {
		return nil
	}
	return c
}
