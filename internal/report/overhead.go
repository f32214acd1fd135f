package report

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// metricLabel names an analysis metric in tables.
type metricLabel struct{ metric, label string }

// metricLabels names the analysis metrics in tables, in the order they are shown: the
// latency percentiles that the deltas hold (the plan's metrics.percentiles), ascending,
// or the default ones when there are no deltas; then the other metrics.
func metricLabels(deltas ...[]result.Delta) []metricLabel {
	var ps []float64
	for _, ds := range deltas {
		for _, d := range ds {
			if p, ok := latencyPercentile(d.Metric); ok && !slices.Contains(ps, p) {
				ps = append(ps, p)
			}
		}
	}
	if len(ps) == 0 {
		ps = spec.DefaultPercentiles()
	}
	slices.Sort(ps)
	var out []metricLabel
	for _, p := range ps {
		out = append(out, metricLabel{"latency." + percentileLabel(p), "latency " + percentileLabel(p)})
	}
	return append(out, []metricLabel{
		{"throughput", "throughput"},
		{"error_rate", "error rate"},
		{"cpu.proxy", "CPU per proxy"},
		{"memory.proxy", "memory per proxy"},
		{"cpu.proxy.per_krps", "proxy CPU per 1000 rps"},
		{"cpu.app", "CPU per app service"},
		{"cpu.gateway", "CPU of the gateway"},
		{"handshake", "connection setup per request"},
		{"handshake.tls", "TLS handshake per request"},
		{"max_rate", "highest rate within the SLO"},
	}...)
}

// latencyPercentile reads the percentile of a latency metric ("latency.p99.9" → 99.9).
func latencyPercentile(metric string) (float64, bool) {
	p, ok := strings.CutPrefix(metric, "latency.p")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(p, 64)
	return v, err == nil
}

// FormatValue prints a metric value in its unit.
func FormatValue(v float64, unit string) string {
	switch unit {
	case "ms":
		return FormatMS(v) + " ms"
	case "rps":
		return fmt.Sprintf("%.1f rps", v)
	case "ratio":
		return fmt.Sprintf("%.2f%%", 100*v)
	case "mcores":
		return fmt.Sprintf("%.0f m", v)
	case "bytes":
		return FormatBytes(v)
	}
	return fmt.Sprintf("%g %s", v, unit)
}

// formatDelta prints a difference with its sign, confidence interval and verdict:
// "+0.243 ms [+0.229, +0.258] (+59%)", "+54 m ±3"; "≈" marks a difference that is not significant (or smaller
// than the instrument's resolution) and "?" one without a verdict (arms measured once).
func formatDelta(d result.Delta) string {
	sign := "+"
	if d.Delta < 0 {
		sign = "-"
	}
	var s string
	switch d.Unit {
	case "ratio":
		s = fmt.Sprintf("%s%.2f pp", sign, math.Abs(100*d.Delta))
	default:
		s = sign + strings.TrimPrefix(FormatValue(math.Abs(d.Delta), d.Unit), "-")
	}
	if d.CILow != nil && d.CIHigh != nil && d.Unit == "ms" && d.Interval == result.IntervalTrials {
		// A latency interval from the trials is a ratio's, asymmetric around the delta:
		// its bounds, not a half-width that would hide which side of 0 it lies.
		s += " [" + signedMS(*d.CILow) + ", " + signedMS(*d.CIHigh) + "]"
	} else if d.CILow != nil && d.CIHigh != nil {
		half := (*d.CIHigh - *d.CILow) / 2
		switch d.Unit {
		case "ratio":
			s += fmt.Sprintf(" ±%.2f", 100*half)
		case "ms":
			s += " ±" + FormatMS(half)
		case "bytes":
			s += " ±" + FormatValue(half, d.Unit) // its own unit: ±512.0 KiB on +48.8 MiB
		default:
			s += " ±" + strings.Fields(FormatValue(half, d.Unit))[0]
		}
	}
	if d.DeltaPercent != nil && d.Unit != "ratio" {
		s += fmt.Sprintf(" (%+.0f%%)", *d.DeltaPercent)
	}
	switch {
	case d.Verdict == result.VerdictNone:
		s += " ?"
	case d.Significant != nil && !*d.Significant:
		s += " ≈"
	}
	return s
}

// signedMS prints a difference in ms with its sign: "+0.231", "-1.05".
func signedMS(v float64) string {
	if v < 0 {
		return "-" + FormatMS(-v)
	}
	return "+" + FormatMS(v)
}

// trimMark drops formatDelta's verdict mark, for tables that spell the verdict out.
func trimMark(s string) string { return strings.TrimSuffix(strings.TrimSuffix(s, " ≈"), " ?") }

// verdictLegend says how to read the marks of formatDelta for the deltas shown.
func verdictLegend(overhead []result.ArmOverhead) []string {
	var family, once bool
	conf := 0.95
	for _, o := range overhead {
		for _, d := range o.Deltas {
			family = family || d.PAdjusted != nil
			once = once || d.Verdict == result.VerdictNone && d.Interval == result.IntervalRequests
			if d.Confidence > 0 {
				conf = d.Confidence
			}
		}
	}
	var parts []string
	if family {
		parts = append(parts, fmt.Sprintf("[…] and ±: %.0f%% interval from the spread between repetitions; "+
			"≈: not significant (Holm over each arm's deltas) or below the instrument's resolution", 100*conf))
	}
	if once {
		parts = append(parts, "?: measured once, no verdict: ± holds the sampling noise of the requests, not what a rerun would "+
			"show; plan repetitions: 3 or more")
	}
	return parts
}

// Overhead writes the table `smp run` prints: one row per metric, the baseline's value,
// and for every other arm its value and the difference from the baseline with its 95%
// confidence interval. "≈" marks a difference that is not significant. The last row is
// the arm's MeshMark and where it lost most. Without a baseline it writes each arm's
// figures side by side.
func Overhead(w io.Writer, doc *result.Document) error {
	t := overheadTable(doc.Analysis)
	if t == nil {
		return armsTable(w, doc, doc.Arms())
	}
	if err := writeGrid(w, "", t.header, t.rows); err != nil {
		return err
	}
	if len(t.lines) > 0 {
		if _, err := fmt.Fprintln(w, "\n"+strings.Join(t.lines, "\n")); err != nil {
			return err
		}
	}
	return writeNotes(w, doc)
}

// overheadTable is the overhead of every arm against the baseline; nil when there is no
// baseline or nothing to compare with it.
func overheadTable(a *result.Analysis) *table {
	if a == nil || a.Baseline == "" || len(a.Overhead) == 0 {
		return nil
	}
	byArm := map[string]map[string]result.Delta{}
	var others []string
	marks := false
	for _, o := range a.Overhead {
		m := map[string]result.Delta{}
		for _, d := range o.Deltas {
			m[d.Metric] = d
		}
		byArm[o.Arm] = m
		others = append(others, o.Arm)
		marks = marks || o.MeshMark != nil
	}
	t := &table{id: "overhead", title: "Overhead vs " + a.Baseline, numeric: true}
	t.header = []string{"", a.Baseline + " (baseline)"}
	for _, arm := range others {
		t.header = append(t.header, arm, "Δ "+arm)
	}
	var all [][]result.Delta
	for _, o := range a.Overhead {
		all = append(all, o.Deltas)
	}
	for _, ml := range metricLabels(all...) {
		var base *result.Delta
		for _, arm := range others {
			if d, ok := byArm[arm][ml.metric]; ok {
				base = &d
				break
			}
		}
		if base == nil {
			continue
		}
		row := []string{ml.label, FormatValue(base.Baseline, base.Unit)}
		if strings.HasPrefix(ml.metric, "cpu.proxy") || ml.metric == "memory.proxy" {
			row[1] = "—" // the baseline has no proxies
		}
		for _, arm := range others {
			d, ok := byArm[arm][ml.metric]
			if !ok {
				row = append(row, "—", "")
				continue
			}
			row = append(row, FormatValue(d.Value, d.Unit), formatDelta(d))
		}
		t.rows = append(t.rows, row)
	}
	t.lines = verdictLegend(a.Overhead)
	if marks {
		row := []string{"MeshMark", "100"}
		for _, o := range a.Overhead {
			row = append(row, formatScore(o.MeshMark), meshMarkLosses(o.MeshMark))
		}
		t.rows = append(t.rows, row)
	}
	return t
}

// armsTable shows each arm's pooled figures when there is nothing to compare with. A
// row missing for an arm (no measured trial) shows "—" in its column.
func armsTable(w io.Writer, doc *result.Document, arms []string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\t"+strings.Join(arms, "\t"))
	var order []string
	cols := make([]map[string]string, len(arms))
	for i, arm := range arms {
		col := map[string]string{}
		cols[i] = col
		set := func(label, v string) {
			if !slices.Contains(order, label) {
				order = append(order, label)
			}
			col[label] = v
		}
		lat, err := doc.ArmLatency(arm)
		tot := doc.Totals(arm)
		if err != nil {
			set("latency", "no measurement")
			continue
		}
		for _, p := range lat.Percentiles {
			// Without a successful request the percentiles are of nothing, not 0 ms.
			v := "—"
			if lat.Count > 0 {
				v = FormatMS(p.ValueMS) + " ms"
			}
			set("latency "+percentileLabel(p.Percentile), v)
		}
		set("throughput", fmt.Sprintf("%.1f rps", tot.AchievedRPS()))
		set("error rate", fmt.Sprintf("%.2f%%", 100*tot.Counts.ErrorRate()))
	}
	for _, label := range order {
		row := []string{label}
		for _, col := range cols {
			row = append(row, cmp.Or(col[label], "—"))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeNotes(w, doc)
}

// writeNotes lists what a reader must know to trust the table: failed trials, warnings
// (a rate not held, a saturated system), SLO verdicts.
func writeNotes(w io.Writer, doc *result.Document) error {
	notes := trialNotes(doc.Trials, false)
	if a := doc.Analysis; a != nil {
		for _, r := range a.SLO {
			verdict := "ok  "
			if !r.Pass {
				verdict = "FAIL"
			}
			notes = append(notes, fmt.Sprintf("SLO %s %s", verdict, r.Message))
		}
	}
	if len(notes) == 0 {
		return nil
	}
	_, err := fmt.Fprintln(w, "\n"+strings.Join(notes, "\n"))
	return err
}
