package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/service-mesh-performance/smp/result"
)

// heading is the report's title line.
func (s *Summary) heading() string {
	if s.Name != "" && !strings.Contains(s.ID, s.Name) {
		return "smp report " + s.ID + " (" + s.Name + ")"
	}
	return "smp report " + s.ID
}

// tables are the sections every text-like format shows, in order.
func (s *Summary) tables() []table {
	var out []table
	out = append(out, s.runTable(), s.armsTable(), s.trialsTable())
	if t := overheadTable(&result.Analysis{Baseline: s.Baseline, Overhead: s.Overhead}); t != nil {
		t.note = "differences from the baseline with confidence intervals"
		out = append(out, *t)
	}
	if t := meshMarkTable(s); t != nil {
		out = append(out, *t)
	}
	if t := s.errorsTable(); t != nil {
		out = append(out, *t)
	}
	if t := s.resourcesTable(); t != nil {
		out = append(out, *t)
	}
	if len(s.SLO) > 0 {
		out = append(out, table{id: "slo", title: "SLO", lines: sloLines(s.SLO)})
	}
	if len(s.Plan) > 0 {
		out = append(out, kvTable("plan", "Plan", s.Plan))
	}
	out = append(out, kvTable("environment", "Environment", environmentRows(s.Environment, s.Tools)))
	if len(s.Notes) > 0 {
		out = append(out, table{id: "notes", title: "Notes", lines: s.Notes})
	}
	return out
}

func kvTable(id, title string, kv []KeyValue) table {
	t := table{id: id, title: title}
	for _, r := range kv {
		t.rows = append(t.rows, []string{r.Key, r.Value})
	}
	return t
}

func sloLines(slo []result.SLOResult) []string {
	var out []string
	for _, r := range slo {
		verdict := "ok  "
		if !r.Pass {
			verdict = "FAIL"
		}
		out = append(out, verdict+" "+r.Message)
	}
	return out
}

// formatSpan prints a run's time span in UTC.
func formatSpan(start, end time.Time) string {
	if start.IsZero() {
		return "—"
	}
	s := start.UTC().Format("2006-01-02 15:04:05")
	if end.After(start) {
		e := end.UTC().Format("15:04:05")
		if end.UTC().YearDay() != start.UTC().YearDay() || end.Year() != start.Year() {
			e = end.UTC().Format("2006-01-02 15:04:05")
		}
		s += " – " + e + " UTC (" + end.Sub(start).Round(time.Second).String() + ")"
	} else {
		s += " UTC"
	}
	return s
}

func (s *Summary) runTable() table {
	status := string(s.Status)
	failed := 0
	for _, r := range s.SLO {
		if !r.Pass {
			failed++
		}
	}
	switch {
	case len(s.SLO) == 0:
	case failed == 0:
		status += "; every SLO passed"
	default:
		status += fmt.Sprintf("; %d of %d SLO results failed", failed, len(s.SLO))
	}
	rows := []KeyValue{{"id", s.ID}, {"name", s.Name}, {"status", status}, {"time", formatSpan(s.StartTime, s.EndTime)}}
	if len(s.Labels) > 0 {
		keys := make([]string, 0, len(s.Labels))
		for k := range s.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var kv []string
		for _, k := range keys {
			kv = append(kv, k+"="+s.Labels[k])
		}
		rows = append(rows, KeyValue{"labels", strings.Join(kv, ", ")})
	}
	return kvTable("run", "Run", rows)
}

// armsTable is every arm's own figures, repetitions pooled.
func (s *Summary) armsTable() table {
	t := table{id: "arms", title: "Arms", note: "repetitions pooled; " + latencyNote(s.doc), numeric: true}
	t.header = []string{""}
	for _, a := range s.Arms {
		t.header = append(t.header, a.Name)
	}
	type rowFn func(a ArmSummary) string
	add := func(label string, f rowFn) {
		row := []string{label}
		for _, a := range s.Arms {
			if a.Trials == 0 && label != "mesh" && label != "trials" {
				row = append(row, "—")
				continue
			}
			row = append(row, f(a))
		}
		t.rows = append(t.rows, row)
	}
	add("mesh", func(a ArmSummary) string { return a.Mesh })
	add("trials", func(a ArmSummary) string {
		if a.Failed > 0 {
			return fmt.Sprintf("%d measured, %d failed", a.Trials, a.Failed)
		}
		return fmt.Sprint(a.Trials)
	})
	add("requests", func(a ArmSummary) string { return fmt.Sprint(a.Requests) })
	add("throughput", func(a ArmSummary) string {
		v := fmt.Sprintf("%.1f rps", a.AchievedRPS)
		if !a.ClosedLoop && a.RequestedRPS > 0 {
			held := "held"
			if !a.RateHeld {
				held = "NOT HELD"
			}
			v += fmt.Sprintf(" of %.6g (%s)", a.RequestedRPS, held)
		}
		return v
	})
	add("errors", func(a ArmSummary) string { return fmt.Sprintf("%d (%.2f%%)", a.Errors, 100*a.ErrorRate) })
	// The percentiles of the first measured arm name the rows; every arm has the plan's.
	var ps []float64
	for _, a := range s.Arms {
		if a.Latency != nil {
			for _, p := range a.Latency.Percentiles {
				ps = append(ps, p.Percentile)
			}
			break
		}
	}
	pick := func(d *result.Distribution, p float64) string {
		if d == nil || d.Count == 0 {
			return "—"
		}
		for _, x := range d.Percentiles {
			if x.Percentile == p {
				return FormatMS(x.ValueMS) + " ms"
			}
		}
		return "—"
	}
	for _, p := range ps {
		add("latency "+percentileLabel(p), func(a ArmSummary) string { return pick(a.Latency, p) })
	}
	add("latency max", func(a ArmSummary) string {
		if a.Latency == nil || a.Latency.Count == 0 {
			return "—"
		}
		return FormatMS(a.Latency.MaxMS) + " ms"
	})
	add("latency mean", func(a ArmSummary) string {
		if a.Latency == nil || a.Latency.Count == 0 {
			return "—"
		}
		return FormatMS(a.Latency.MeanMS) + " ms"
	})
	hasService := false
	for _, a := range s.Arms {
		hasService = hasService || a.ServiceTime != nil
	}
	if hasService {
		for _, p := range []float64{50, 99} {
			add("service time "+percentileLabel(p), func(a ArmSummary) string { return pick(a.ServiceTime, p) })
		}
	}
	if len(s.Overhead) > 0 {
		add("MeshMark", func(a ArmSummary) string {
			if a.Name == s.Baseline {
				return "100 (reference)"
			}
			return formatScore(a.MeshMark)
		})
	}
	return t
}

// trialsTable lists every trial in the order it ran, so that drift across repetitions
// (and a failed or short trial) is visible behind the pooled figures.
func (s *Summary) trialsTable() table {
	t := table{id: "trials", title: "Trials", note: "in the order they ran", numeric: true,
		header: []string{"trial", "status", "requests", "throughput", "errors", "p50", "p99", "max"}}
	pct := func(d result.Distribution, p float64) string {
		for _, x := range d.Percentiles {
			if x.Percentile == p {
				return FormatMS(x.ValueMS) + " ms"
			}
		}
		return "—"
	}
	for _, tr := range s.doc.Trials {
		status := string(tr.Status)
		if tr.Status == result.StatusFailed {
			t.rows = append(t.rows, []string{tr.ID, status, "—", "—", "—", "—", "—", "—"})
			continue
		}
		if !tr.Load.ClosedLoop && !tr.Load.RateHeld && tr.Load.RequestedRateRPS > 0 {
			status += ", rate not held"
		}
		row := []string{tr.ID, status, fmt.Sprint(tr.Counts.Requests), fmt.Sprintf("%.1f rps", tr.Load.AchievedRateRPS),
			fmt.Sprintf("%d (%.2f%%)", tr.Counts.Failed+tr.Counts.Overflow, 100*tr.Counts.ErrorRate())}
		if tr.Latency.Count == 0 {
			row = append(row, "—", "—", "—")
		} else {
			row = append(row, pct(tr.Latency, 50), pct(tr.Latency, 99), FormatMS(tr.Latency.MaxMS)+" ms")
		}
		t.rows = append(t.rows, row)
	}
	return t
}

// errorsTable counts failed requests by class and responses by status, per arm.
func (s *Summary) errorsTable() *table {
	type key struct{ kind, name string }
	totals := map[key]int64{}
	per := map[key]map[string]int64{}
	for _, a := range s.Arms {
		for _, c := range a.ErrorsByClass {
			k := key{"error", c.Name}
			totals[k] += c.Count
			if per[k] == nil {
				per[k] = map[string]int64{}
			}
			per[k][a.Name] = c.Count
		}
		for _, c := range a.StatusCodes {
			k := key{"status", c.Name}
			totals[k] += c.Count
			if per[k] == nil {
				per[k] = map[string]int64{}
			}
			per[k][a.Name] = c.Count
		}
	}
	if len(totals) == 0 {
		return nil
	}
	keys := make([]key, 0, len(totals))
	for k := range totals {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].kind != keys[j].kind {
			return keys[i].kind == "error"
		}
		if totals[keys[i]] != totals[keys[j]] {
			return totals[keys[i]] > totals[keys[j]]
		}
		return keys[i].name < keys[j].name
	})
	t := &table{id: "errors", title: "Errors and statuses", note: "failed requests by class; responses by status", numeric: true}
	t.header = []string{""}
	for _, a := range s.Arms {
		t.header = append(t.header, a.Name)
	}
	for _, k := range keys {
		label := "error " + k.name
		if k.kind == "status" {
			label = "status " + k.name
		}
		row := []string{label}
		for _, a := range s.Arms {
			row = append(row, fmt.Sprint(per[k][a.Name]))
		}
		t.rows = append(t.rows, row)
	}
	return t
}

// resourcesTable lists every measured component of every arm.
func (s *Summary) resourcesTable() *table {
	t := &table{id: "resources", title: "Resources", note: "mean over the measured window, averaged over repetitions", numeric: true,
		header: []string{"arm", "component", "role", "CPU", "memory"}}
	for _, a := range s.Arms {
		for _, r := range a.Resources {
			mem := FormatBytes(r.MemoryBytes)
			if r.Metric != "" {
				mem += " " + r.Metric
			}
			t.rows = append(t.rows, []string{a.Name, r.Component, string(r.Role), fmt.Sprintf("%.0f m", r.CPUMcores), mem})
		}
	}
	if len(t.rows) == 0 {
		return nil
	}
	return t
}

func environmentRows(e result.Environment, tools []result.Tool) []KeyValue {
	var rows []KeyValue
	add := func(k, v string) {
		if v != "" {
			rows = append(rows, KeyValue{k, v})
		}
	}
	add("id", e.ID)
	add("platform", e.Platform)
	add("host", e.Hostname)
	osline := e.OS
	if e.Arch != "" {
		osline += "/" + e.Arch
	}
	if e.Kernel != "" {
		osline += ", kernel " + e.Kernel
	}
	add("os", osline)
	cpu := e.CPUModel
	if e.Cores > 0 {
		if cpu != "" {
			cpu += ", "
		}
		cpu += fmt.Sprintf("%d cores", e.Cores)
	}
	add("cpu", cpu)
	if e.MemoryBytes > 0 {
		add("memory", FormatBytes(float64(e.MemoryBytes)))
	}
	if e.LoadGeneratorCPUs != "" || e.SystemCPUs != "" {
		add("cpu sets", fmt.Sprintf("load generator %s, system under test %s", orDash(e.LoadGeneratorCPUs), orDash(e.SystemCPUs)))
	}
	add("go", e.GoVersion)
	if k := e.Kubernetes; k != nil {
		v := k.Version
		if k.Context != "" {
			v += ", context " + k.Context
		}
		if len(k.Nodes) > 0 {
			v += fmt.Sprintf(", %d nodes", len(k.Nodes))
		}
		add("kubernetes", v)
		for _, n := range k.Nodes {
			add("node "+n.Name, fmt.Sprintf("%s %d cores, %s, kernel %s, %s", n.InstanceType, n.Cores, FormatBytes(float64(n.MemoryBytes)), n.KernelVersion, n.ContainerRuntime))
		}
		for _, m := range k.Meshes {
			add("mesh "+string(m.Type), m.Version)
		}
	}
	for _, t := range tools {
		v := t.Version
		if t.Role != "" {
			v += " (" + t.Role + ")"
		}
		add("tool "+t.Name, strings.TrimSpace(v))
	}
	return rows
}
