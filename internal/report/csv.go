package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/service-mesh-performance/smp/result"
)

// csvHeader are the columns of the csv format: one tidy table, one figure per row, so a
// spreadsheet or a dataframe can filter by section, arm and metric.
func csvHeader() []string {
	return []string{"section", "arm", "metric", "unit", "value", "baseline", "delta", "delta_percent",
		"ci_low", "ci_high", "significant", "pass", "note"}
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func optNum(v *float64) string {
	if v == nil {
		return ""
	}
	return num(*v)
}

func optBool(v *bool) string {
	if v == nil {
		return ""
	}
	return strconv.FormatBool(*v)
}

// deltaNote is a delta's verdict and what it rests on: "verdict significant, p 0.0004,
// holm 0.004, resolution 0.001, interval from trials".
func deltaNote(d result.Delta) string {
	var parts []string
	if d.Verdict != "" {
		parts = append(parts, "verdict "+d.Verdict)
	}
	if d.PValue != nil {
		parts = append(parts, "p "+num(*d.PValue))
	}
	if d.PAdjusted != nil {
		parts = append(parts, "holm "+num(*d.PAdjusted))
	}
	if d.Resolution > 0 {
		parts = append(parts, "resolution "+num(d.Resolution))
	}
	if d.Interval != "" {
		parts = append(parts, "interval from "+d.Interval)
	}
	return strings.Join(parts, ", ")
}

// writeCSV writes every figure of the report as a row: per-arm figures (section "arm"),
// resources per component ("resource"), errors and statuses ("errors"), deltas from the
// baseline ("overhead"), MeshMark and its inputs ("meshmark"), SLO results ("slo").
// Numbers are written in full precision, in the unit of the unit column.
func (s *Summary) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	rows := [][]string{csvHeader()}
	row := func(section, arm, metric, unit, value string) []string {
		r := make([]string, len(csvHeader()))
		r[0], r[1], r[2], r[3], r[4] = section, arm, metric, unit, value
		return r
	}
	for _, a := range s.Arms {
		add := func(metric, unit string, v float64) { rows = append(rows, row("arm", a.Name, metric, unit, num(v))) }
		rows = append(rows, row("arm", a.Name, "mesh", "", a.Mesh))
		add("trials", "count", float64(a.Trials))
		if a.Trials == 0 {
			continue
		}
		add("requests", "count", float64(a.Requests))
		add("succeeded", "count", float64(a.Succeeded))
		add("errors", "count", float64(a.Errors))
		add("error_rate", "ratio", a.ErrorRate)
		add("throughput", "rps", a.AchievedRPS)
		if !a.ClosedLoop {
			add("requested_rate", "rps", a.RequestedRPS)
		}
		for _, d := range []struct {
			name string
			dist *result.Distribution
		}{{"latency", a.Latency}, {"service_time", a.ServiceTime}} {
			if d.dist == nil || d.dist.Count == 0 {
				continue
			}
			add(d.name+".min", "ms", d.dist.MinMS)
			add(d.name+".mean", "ms", d.dist.MeanMS)
			for _, p := range d.dist.Percentiles {
				add(d.name+"."+percentileLabel(p.Percentile), "ms", p.ValueMS)
			}
			add(d.name+".max", "ms", d.dist.MaxMS)
		}
		for _, r := range a.Resources {
			rows = append(rows, row("resource", a.Name, "cpu."+r.Component, "mcores", num(r.CPUMcores)),
				row("resource", a.Name, "memory."+r.Component, "bytes", num(r.MemoryBytes)))
			rows[len(rows)-2][12], rows[len(rows)-1][12] = string(r.Role), string(r.Role)+" "+r.Metric
		}
		for _, c := range a.ErrorsByClass {
			rows = append(rows, row("errors", a.Name, "errors."+c.Name, "count", fmt.Sprint(c.Count)))
		}
		for _, c := range a.StatusCodes {
			rows = append(rows, row("errors", a.Name, "status."+c.Name, "count", fmt.Sprint(c.Count)))
		}
	}
	for _, o := range s.Overhead {
		for _, d := range o.Deltas {
			r := row("overhead", o.Arm, d.Metric, d.Unit, num(d.Value))
			r[5], r[6], r[7], r[8], r[9], r[10] = num(d.Baseline), num(d.Delta), optNum(d.DeltaPercent), optNum(d.CILow), optNum(d.CIHigh), optBool(d.Significant)
			r[12] = deltaNote(d)
			rows = append(rows, r)
		}
		if m := o.MeshMark; m != nil {
			r := row("meshmark", o.Arm, "meshmark", "points", optNum(m.Score))
			r[8], r[9] = optNum(m.CILow), optNum(m.CIHigh)
			r[12] = fmt.Sprintf("version %d", m.Version)
			if m.Partial {
				r[12] += ", partial"
			}
			if m.Invalid != "" {
				r[12] += ", invalid: " + m.Invalid
			}
			rows = append(rows, r)
			for _, in := range m.Inputs {
				r := row("meshmark", o.Arm, "meshmark."+in.Name, in.Unit, "")
				if in.Missing == "" {
					r[4], r[5], r[6] = num(in.Value), num(in.Baseline), num(in.Value-in.Baseline)
					r[12] = fmt.Sprintf("efficiency %s, weight %s, points %s", num(in.Efficiency), num(in.Weight), num(in.Points))
					if m.Version >= 2 {
						r[12] = fmt.Sprintf("efficiency %s, weight %s, factor %s, lost %s", num(in.Efficiency), num(in.Weight), num(in.Factor), num(in.Lost))
					}
				} else {
					r[12] = "missing: " + in.Missing
				}
				rows = append(rows, r)
			}
		}
	}
	for _, r := range s.SLO {
		x := row("slo", r.Arm, r.Condition, r.Unit, num(r.Value))
		x[11], x[12] = strconv.FormatBool(r.Pass), r.Message
		if r.Error != "" {
			x[4] = ""
		}
		rows = append(rows, x)
	}
	if err := cw.WriteAll(rows); err != nil {
		return fmt.Errorf("report: csv: %w", err)
	}
	return nil
}
