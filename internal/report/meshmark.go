package report

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/service-mesh-performance/smp/internal/analysis"
	"github.com/service-mesh-performance/smp/result"
)

// formatScore prints a MeshMark: "44.1 [39.0, 49.6]" (with its interval), "71.3
// (partial)", "58.0 (v1)" for a score of an older definition, or "—" when there is none.
func formatScore(m *result.MeshMark) string {
	if m == nil || m.Score == nil {
		return "—"
	}
	s := fmt.Sprintf("%.1f", *m.Score)
	if m.CILow != nil && m.CIHigh != nil {
		s += fmt.Sprintf(" [%.1f, %.1f]", *m.CILow, *m.CIHigh)
	}
	if m.Partial {
		s += " (partial)"
	}
	if m.Version != analysis.MeshMarkVersion {
		s += fmt.Sprintf(" (v%d)", m.Version)
	}
	return s
}

// inputGroup merges latency.p50 and latency.p99 into "latency" for the short explanation.
func inputGroup(name string) string {
	if strings.HasPrefix(name, "latency.") {
		return "latency"
	}
	return name
}

// meshMarkLosses says where an arm lost points, largest first: "latency -23.4, cpu -17.8";
// missing inputs are named; "no loss" when it lost (almost) nothing.
func meshMarkLosses(m *result.MeshMark) string {
	if m == nil {
		return ""
	}
	if m.Invalid != "" {
		return "no score: " + m.Invalid
	}
	if m.Score == nil {
		var why []string
		for _, in := range m.Inputs {
			if in.Missing != "" {
				why = append(why, in.Name+": "+in.Missing)
			}
		}
		return "no score: " + strings.Join(why, "; ")
	}
	type loss struct {
		name string
		v    float64
	}
	var order []string
	lost := map[string]float64{}
	var missing []string
	for _, in := range m.Inputs {
		if in.Missing != "" {
			missing = append(missing, in.Name)
			continue
		}
		g := inputGroup(in.Name)
		if _, ok := lost[g]; !ok {
			order = append(order, g)
		}
		lost[g] += inputLoss(m, in)
	}
	var ls []loss
	for _, g := range order {
		if lost[g] >= 0.05 {
			ls = append(ls, loss{g, lost[g]})
		}
	}
	sort.SliceStable(ls, func(i, j int) bool { return ls[i].v > ls[j].v })
	var parts []string
	for _, l := range ls {
		parts = append(parts, fmt.Sprintf("%s -%.1f", l.name, l.v))
	}
	if len(parts) == 0 {
		parts = append(parts, "no loss")
	}
	s := strings.Join(parts, ", ")
	if len(missing) > 0 {
		s += "; without " + strings.Join(missing, ", ")
	}
	return s
}

// inputLoss is how many points the arm lost on an input: version 2 records it; in
// version 1 it is the input's share less the points it added.
func inputLoss(m *result.MeshMark, in result.MeshMarkInput) float64 {
	if m.Version >= 2 {
		return in.Lost
	}
	return maxPoints(m, in) - in.Points
}

// maxPoints is what an input adds at efficiency 1 in a version-1 score: its weight's
// share of the weights present, in points.
func maxPoints(m *result.MeshMark, in result.MeshMarkInput) float64 {
	var present float64
	for _, x := range m.Inputs {
		if x.Missing == "" {
			present += x.Weight
		}
	}
	if present == 0 {
		return 0
	}
	return 100 * in.Weight / present
}

// formatCost prints a MeshMark input's value in its unit.
func formatCost(v float64, unit string) string {
	switch unit {
	case "ms":
		return FormatMS(v) + " ms"
	case "rps":
		return fmt.Sprintf("%.1f rps", v)
	case "mcores_per_krps":
		return fmt.Sprintf("%.0f m per 1000 rps", v)
	case "ratio":
		return fmt.Sprintf("%.2f%%", 100*v)
	case "bytes":
		return FormatBytes(v)
	}
	return fmt.Sprintf("%g %s", v, unit)
}

// meshMarkTable shows each arm's score and, per input, the points it earned of those it
// could, with the baseline's and the arm's figures. nil when no arm has a MeshMark.
func meshMarkTable(s *Summary) *table {
	var arms []ArmSummary
	for _, a := range s.Arms {
		if a.MeshMark != nil {
			arms = append(arms, a)
		}
	}
	if len(arms) == 0 {
		return nil
	}
	t := &table{id: "meshmark", title: "MeshMark",
		note: "0–100, where 100 is no cost over " + s.Baseline + "; [95% interval]; per input: the factor it multiplies the score by and the points it lost (version 1: points earned of those possible); docs/meshmark.md", numeric: true}
	t.header = []string{""}
	score := []string{"score"}
	for _, a := range arms {
		t.header = append(t.header, a.Name)
		score = append(score, formatScore(a.MeshMark))
	}
	t.rows = append(t.rows, score)
	invalid := []string{"no score"}
	for _, a := range arms {
		invalid = append(invalid, a.MeshMark.Invalid)
	}
	if slices.ContainsFunc(invalid[1:], func(s string) bool { return s != "" }) {
		t.rows = append(t.rows, invalid)
	}
	for i, in := range arms[0].MeshMark.Inputs {
		row := []string{fmt.Sprintf("%s (%.1f%%)", in.Name, 100*in.Weight)}
		if in.Weight == 0 {
			row[0] = in.Name + " (factor)" // open-loop goodput: it can only take points away
		}
		for _, a := range arms {
			if i >= len(a.MeshMark.Inputs) {
				row = append(row, "—")
				continue
			}
			x := a.MeshMark.Inputs[i]
			switch {
			case x.Missing != "":
				row = append(row, "missing: "+x.Missing)
			case a.MeshMark.Score == nil:
				row = append(row, fmt.Sprintf("efficiency %.3f (%s → %s)", x.Efficiency, formatCost(x.Baseline, x.Unit), formatCost(x.Value, x.Unit)))
			case a.MeshMark.Version >= 2:
				row = append(row, fmt.Sprintf("×%.3f, -%.1f (%s → %s)", x.Factor, x.Lost, formatCost(x.Baseline, x.Unit), formatCost(x.Value, x.Unit)))
			default:
				row = append(row, fmt.Sprintf("%.1f of %.1f (%s → %s)", x.Points, maxPoints(a.MeshMark, x),
					formatCost(x.Baseline, x.Unit), formatCost(x.Value, x.Unit)))
			}
		}
		t.rows = append(t.rows, row)
	}
	return t
}
