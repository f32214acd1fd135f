package report

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/service-mesh-performance/smp/internal/analysis"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// Run is one result document given to `smp compare`, and the label that names it.
type Run struct {
	Label string
	Doc   *result.Document
}

// Comparison is what `smp compare` shows: every arm of every run next to the same arm of
// the reference run, with the differences, their confidence intervals and verdicts.
type Comparison struct {
	// Baseline is the label of the reference run.
	Baseline string    `json:"baseline"`
	Runs     []RunInfo `json:"runs"`
	Arms     []ArmPair `json:"arms"`
	// Warnings say why the runs may not be comparable: different environments,
	// generators or workloads, arms without a partner, single repetitions.
	Warnings []string           `json:"warnings,omitempty"`
	SLO      []result.SLOResult `json:"slo,omitempty"`
	// Pass is false when an SLO condition failed.
	Pass bool `json:"pass"`
}

// RunInfo identifies a compared run.
type RunInfo struct {
	Label       string        `json:"label"`
	ID          string        `json:"id"`
	Name        string        `json:"name"`
	Status      result.Status `json:"status"`
	Time        string        `json:"time"`
	Environment string        `json:"environment"`
}

// ArmPair is one arm of one run against its partner in the reference run.
type ArmPair struct {
	// Arm and BaseArm are the arm's names in the run and in the reference run (the same,
	// unless both runs have a single arm).
	Run     string `json:"run"`
	Arm     string `json:"arm"`
	BaseArm string `json:"base_arm"`
	// Deltas are this run's figures minus the reference run's, with intervals.
	Deltas []result.Delta `json:"deltas"`
	// MeshMark and BaseMeshMark are each run's own MeshMark of the arm (against its own
	// baseline), when the run has one.
	MeshMark     *result.MeshMark `json:"meshmark,omitempty"`
	BaseMeshMark *result.MeshMark `json:"base_meshmark,omitempty"`
	// Imported: a side is another tool's result, so its deltas have no interval.
	Imported bool `json:"imported,omitempty"`
}

// Compare pairs the arms of every run with those of runs[baseline] (by name; when both
// runs have a single arm, those two whatever their names) and measures each pair with
// analysis.Compare: deltas with intervals, and the conditions evaluated on the run's arm,
// overhead conditions against the reference run's same arm. The verdicts of all pairs
// are one family (analysis.ControlFamily). Runs of different
// environments, generators or workloads are compared all the same, with a warning each.
//
// Edge cases: fewer than two runs, a baseline index out of range, or a run without any
// measured trial (ErrNothingMeasured) is an error; an arm without a partner has no deltas
// (its overhead conditions fail saying so) and a warning.
func Compare(runs []Run, baseline int, conds []spec.Condition, opts analysis.Options) (*Comparison, error) {
	if len(runs) < 2 {
		return nil, fmt.Errorf("compare: %d result(s); give at least two", len(runs))
	}
	if baseline < 0 || baseline >= len(runs) {
		return nil, fmt.Errorf("compare: no run %d to compare with", baseline)
	}
	for _, r := range runs {
		if !measuredAny(r.Doc) {
			return nil, fmt.Errorf("compare: %s (%s) has no measured trial: %w", r.Label, r.Doc.ID, ErrNothingMeasured)
		}
	}
	base := runs[baseline]
	c := &Comparison{Baseline: base.Label, Pass: true}
	for _, r := range runs {
		c.Runs = append(c.Runs, RunInfo{Label: r.Label, ID: r.Doc.ID, Name: r.Doc.Name, Status: r.Doc.Status,
			Time: formatSpan(r.Doc.StartTime, r.Doc.EndTime), Environment: r.Doc.Environment.ID})
	}
	for _, r := range runs {
		if line := firstAndMore(analysis.RatesNotHeld(r.Doc)); line != "" {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s was not measured at the rate it asked for: %s", r.Label, line))
		}
		if im := r.Doc.Imported; im != nil {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s is imported from %s, not measured by smp: differences with it have "+
				"no confidence interval or verdict; it lacks %s", r.Label, importName(im.Format), strings.Join(im.Lacks, "; ")))
		}
	}
	baseSum, err := Summarize(base.Doc)
	if err != nil {
		return nil, fmt.Errorf("compare %s: %w", base.Label, err)
	}
	single := map[string]bool{}
	for i, r := range runs {
		if i == baseline {
			continue
		}
		if base.Doc.Imported == nil && r.Doc.Imported == nil {
			// An imported result's environment and workload are unknown; its warning says so.
			c.Warnings = append(c.Warnings, differences(base, r)...)
		}
		sum, err := Summarize(r.Doc)
		if err != nil {
			return nil, fmt.Errorf("compare %s: %w", r.Label, err)
		}
		for _, p := range pairArms(base.Doc, r.Doc) {
			if p.other == "" {
				c.Warnings = append(c.Warnings, fmt.Sprintf("arm %s of %s has no partner in %s", p.base, base.Label, r.Label))
				continue
			}
			bs := analysis.Side{Run: base.Label, Doc: base.Doc, Arm: p.base}
			if p.base == "" {
				bs.Arm = p.other // absent from the baseline run: its conditions say so by name
			}
			os := analysis.Side{Run: r.Label, Doc: r.Doc, Arm: p.other}
			cmp, err := analysis.Compare(bs, os, conds, opts)
			if err != nil {
				return nil, fmt.Errorf("compare %s with %s: %w", r.Label, base.Label, err)
			}
			c.SLO = append(c.SLO, cmp.SLO...)
			c.Pass = c.Pass && cmp.Pass
			if p.base == "" {
				c.Warnings = append(c.Warnings, fmt.Sprintf("arm %s of %s has no partner in %s", p.other, r.Label, base.Label))
				continue
			}
			c.Arms = append(c.Arms, ArmPair{Run: r.Label, Arm: p.other, BaseArm: p.base, Deltas: cmp.Deltas,
				MeshMark: markOf(sum, p.other), BaseMeshMark: markOf(baseSum, p.base), Imported: base.Doc.Imported != nil || r.Doc.Imported != nil})
			for _, side := range []struct {
				label string
				doc   *result.Document
				arm   string
			}{{base.Label, base.Doc, p.base}, {r.Label, r.Doc, p.other}} {
				if n := len(side.doc.TrialsOf(side.arm)); n == 1 && side.doc.Imported == nil {
					single[side.label] = true
				}
			}
		}
	}
	// Every delta shown is a test: the family is the whole comparison.
	families := make([][]result.Delta, len(c.Arms))
	for i, p := range c.Arms {
		families[i] = p.Deltas
	}
	analysis.ControlFamily(families...)
	if len(single) > 0 {
		var labels []string
		for _, r := range runs {
			if single[r.Label] {
				labels = append(labels, r.Label)
			}
		}
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s measured some arms once: their intervals hold the noise of the requests, "+
			"not of a rerun, and give no verdict; plan 3 or more repetitions", strings.Join(labels, " and ")))
	}
	return c, nil
}

// importName says what an imported document was.
func importName(format string) string {
	switch format {
	case result.ImportSMP:
		return "an SMP PerformanceTestResult"
	case result.ImportFortio:
		return "a fortio result"
	}
	return format
}

// ErrNothingMeasured is the error Compare wraps when a result has no measured trial:
// there is nothing to compare, and its SLOs must not pass for want of data.
var ErrNothingMeasured = errors.New("nothing to compare")

// measuredAny reports whether any arm of doc has a measured trial.
func measuredAny(doc *result.Document) bool {
	for _, arm := range doc.Arms() {
		if len(doc.TrialsOf(arm)) > 0 {
			return true
		}
	}
	return false
}

func markOf(s *Summary, arm string) *result.MeshMark {
	for _, a := range s.Arms {
		if a.Name == arm {
			return a.MeshMark
		}
	}
	return nil
}

type armPairing struct{ base, other string }

// pairArms pairs the arms of other with those of base by name, or the single arm of each.
// An arm without a partner is paired with "".
func pairArms(base, other *result.Document) []armPairing {
	ba, oa := base.Arms(), other.Arms()
	if len(ba) == 1 && len(oa) == 1 {
		return []armPairing{{ba[0], oa[0]}}
	}
	var out []armPairing
	inOther := map[string]bool{}
	for _, a := range oa {
		inOther[a] = true
	}
	inBase := map[string]bool{}
	for _, a := range ba {
		inBase[a] = true
		if inOther[a] {
			out = append(out, armPairing{a, a})
		} else {
			out = append(out, armPairing{a, ""})
		}
	}
	for _, a := range oa {
		if !inBase[a] {
			out = append(out, armPairing{"", a})
		}
	}
	return out
}

// differences lists what makes two runs' numbers less comparable: the environment (its
// hash, platform, cores, CPU model, memory, kernel, Kubernetes version and nodes), the
// load generator, and the workload.
func differences(base, other Run) []string {
	b, o := base.Doc, other.Doc
	var diffs []string
	add := func(what, bv, ov string) {
		if bv != ov {
			diffs = append(diffs, fmt.Sprintf("%s %s in %s, %s in %s", what, orDash(ov), other.Label, orDash(bv), base.Label))
		}
	}
	be, oe := b.Environment, o.Environment
	add("platform", be.Platform, oe.Platform)
	add("cores", fmt.Sprint(be.Cores), fmt.Sprint(oe.Cores))
	add("CPU model", be.CPUModel, oe.CPUModel)
	add("memory", FormatBytes(float64(be.MemoryBytes)), FormatBytes(float64(oe.MemoryBytes)))
	add("kernel", be.Kernel, oe.Kernel)
	kv := func(e result.Environment) (string, string) {
		if e.Kubernetes == nil {
			return "", ""
		}
		return e.Kubernetes.Version, fmt.Sprint(len(e.Kubernetes.Nodes))
	}
	bk, bn := kv(be)
	ok, on := kv(oe)
	add("Kubernetes", bk, ok)
	add("nodes", bn, on)
	add("load generator", generators(b), generators(o))
	bw, ow := workload(b), workload(o)
	for i := range bw {
		add(bw[i].Key, bw[i].Value, ow[i].Value)
	}
	var out []string
	if be.ID != oe.ID && be.ID != "" && oe.ID != "" {
		out = append(out, fmt.Sprintf("environments differ (%s %s, %s %s)", other.Label, oe.ID, base.Label, be.ID))
	}
	if len(diffs) > 0 {
		out = append(out, "not measured alike: "+strings.Join(diffs, "; "))
	}
	return out
}

// generators names the load generators (and versions) of a run's measured trials.
func generators(d *result.Document) string {
	var out []string
	seen := map[string]bool{}
	for _, t := range d.Trials {
		if t.Status == result.StatusFailed {
			continue
		}
		g := string(t.Generator.Name)
		if t.Generator.Version != "" {
			g += " " + t.Generator.Version
		}
		if !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	return strings.Join(out, ", ")
}

// workload lists the settings of the load that shape the figures, always the same keys.
func workload(d *result.Document) []KeyValue {
	var w spec.Workload
	if d.Plan != nil {
		w = d.Plan.Workload
	}
	rate := ""
	if d.Plan != nil {
		rate = "closed loop"
		if w.Rate != nil && *w.Rate > 0 {
			rate = fmt.Sprintf("%g rps %s", *w.Rate, w.Arrival.Pattern)
		}
	}
	app := string(w.App.Kind)
	if w.App.Kind == spec.AppBuiltin {
		app = fmt.Sprintf("builtin, %d services, %s, %s", w.App.Services, w.App.Topology, w.App.ResponseSize)
		if w.App.Topology.ShapeServices() > 0 {
			app = fmt.Sprintf("builtin, %s, %d services", w.App.Topology, w.App.Services)
		}
	}
	str := func(v fmt.Stringer, zero bool) string {
		if zero {
			return ""
		}
		return v.String()
	}
	return []KeyValue{{"rate", rate}, {"connections", str(intStr(w.Connections), w.Connections == 0)},
		{"streams", str(intStr(w.Streams), w.Streams == 0)}, {"protocol", string(w.Protocol)},
		{"duration", str(w.Duration, w.Duration == 0)}, {"app", app}, {"endpoints", strings.Join(w.EndpointURLs, " ")}}
}

type intStr int

func (i intStr) String() string { return fmt.Sprint(int(i)) }

// higherIsBetter says which way a metric improves.
func higherIsBetter(metric string) bool { return metric == "throughput" || metric == "max_rate" }

// verdict reads a delta: "significant, worse", "significant, better", "no significant
// change", "below resolution", "no verdict (measured once)", or "" when there is no
// interval.
func verdict(d result.Delta) string {
	switch {
	case d.Verdict == result.VerdictNone && d.Interval == result.IntervalRequests:
		return "no verdict (measured once)"
	case d.Verdict == result.VerdictNone:
		return "no verdict"
	case d.Verdict == result.VerdictBelowResolution:
		return "below resolution"
	case d.Significant == nil:
		return ""
	case !*d.Significant:
		return "no significant change"
	case (d.Delta > 0) == higherIsBetter(d.Metric):
		return "significant, better"
	}
	return "significant, worse"
}

// shortMetric names a metric in a verdict line: p99, throughput, error rate.
func shortMetric(m string) string {
	if _, ok := latencyPercentile(m); ok {
		return strings.TrimPrefix(m, "latency.")
	}
	for _, ml := range metricLabels() {
		if ml.metric == m {
			return ml.label
		}
	}
	return strings.ReplaceAll(m, "_", " ")
}

// verdictMetrics are the metrics a verdict line speaks of.
func verdictMetrics() map[string]bool {
	return map[string]bool{"latency.p50": true, "latency.p99": true, "throughput": true, "error_rate": true,
		"cpu.proxy": true, "memory.proxy": true, "cpu.proxy.per_krps": true, "handshake": true, "max_rate": true}
}

// verdictLine sums up a pair: its significant changes among the verdict metrics
// ("p99 +1.80 ms ±0.300 (+12%) (significant, worse)"), or "no significant change", or
// no verdict.
func verdictLine(p ArmPair) string {
	var parts []string
	keep := verdictMetrics()
	for _, d := range p.Deltas {
		v := verdict(d)
		if !keep[d.Metric] || !strings.HasPrefix(v, "significant") {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s)", shortMetric(d.Metric), trimMark(formatDelta(d)), v))
	}
	if len(parts) == 0 {
		// An imported side has no intervals: a throughput below resolution would
		// otherwise read as a verdict on latencies that were never tested.
		if p.Imported {
			return "no verdict: no confidence intervals (an imported result)"
		}
		for _, d := range p.Deltas {
			if d.Significant != nil {
				return "no significant change"
			}
		}
		return "no verdict"
	}
	return strings.Join(parts, "; ")
}

func (c *Comparison) armLabel(p ArmPair) string {
	if p.Arm == p.BaseArm {
		return p.Arm
	}
	return p.Arm + " vs " + p.BaseArm
}

// tables are the comparison's sections.
func (c *Comparison) tables() []table {
	runs := table{id: "runs", title: "Runs", header: []string{"", "id", "name", "status", "time", "environment"}}
	for _, r := range c.Runs {
		label := r.Label
		if r.Label == c.Baseline {
			label += " (baseline)"
		}
		runs.rows = append(runs.rows, []string{label, r.ID, r.Name, string(r.Status), r.Time, r.Environment})
	}
	out := []table{runs}
	var verdicts []string
	for _, p := range c.Arms {
		t := table{id: "arm-" + p.Run + "-" + p.Arm, title: fmt.Sprintf("%s: %s vs %s", c.armLabel(p), p.Run, c.Baseline),
			note: "95% confidence intervals; verdicts held to a 5% family-wise error over every delta of the comparison (Holm)", numeric: true,
			header: []string{"", c.Baseline, p.Run, "Δ", "verdict"}}
		byMetric := map[string]result.Delta{}
		for _, d := range p.Deltas {
			byMetric[d.Metric] = d
		}
		for _, ml := range metricLabels(p.Deltas) {
			d, ok := byMetric[ml.metric]
			if !ok {
				continue
			}
			v := verdict(d)
			if v == "" {
				v = "—" // no interval: a side has a single repetition
			}
			t.rows = append(t.rows, []string{ml.label, FormatValue(d.Baseline, d.Unit), FormatValue(d.Value, d.Unit),
				trimMark(formatDelta(d)), v})
		}
		if p.MeshMark != nil || p.BaseMeshMark != nil {
			delta := ""
			if p.MeshMark != nil && p.BaseMeshMark != nil && p.MeshMark.Score != nil && p.BaseMeshMark.Score != nil {
				delta = fmt.Sprintf("%+.1f", *p.MeshMark.Score-*p.BaseMeshMark.Score)
			}
			t.rows = append(t.rows, []string{"MeshMark", formatScore(p.BaseMeshMark), formatScore(p.MeshMark), delta, ""})
		}
		if len(t.rows) == 0 {
			t.lines = append(t.lines, "nothing to compare: an arm has no measured trials")
		}
		out = append(out, t)
		verdicts = append(verdicts, fmt.Sprintf("%s (%s vs %s): %s", c.armLabel(p), p.Run, c.Baseline, verdictLine(p)))
	}
	out = append(out, table{id: "verdict", title: "Verdict", lines: verdicts})
	if len(c.SLO) > 0 {
		out = append(out, table{id: "slo", title: "SLO", note: "overhead.* is measured against " + c.Baseline, lines: sloLines(c.SLO)})
	}
	if len(c.Warnings) > 0 {
		out = append(out, table{id: "warnings", title: "Warnings", lines: c.Warnings})
	}
	return out
}

// Render writes the comparison in format f: table, markdown, csv or json.
func (c *Comparison) Render(w io.Writer, f Format) error {
	var labels []string
	for _, r := range c.Runs {
		labels = append(labels, r.Label)
	}
	heading := "smp compare " + strings.Join(labels, " ")
	switch f {
	case FormatTable, "":
		if _, err := fmt.Fprintf(w, "%s\n\n", heading); err != nil {
			return err
		}
		return writeText(w, c.tables())
	case FormatMarkdown:
		return writeMarkdown(w, heading, c.tables())
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(c); err != nil {
			return fmt.Errorf("compare: %w", err)
		}
		return nil
	case FormatCSV:
		cw := csv.NewWriter(w)
		rows := [][]string{{"run", "arm", "base_run", "base_arm", "metric", "unit", "value", "baseline", "delta",
			"delta_percent", "ci_low", "ci_high", "significant", "verdict"}}
		for _, p := range c.Arms {
			for _, d := range p.Deltas {
				rows = append(rows, []string{p.Run, p.Arm, c.Baseline, p.BaseArm, d.Metric, d.Unit, num(d.Value), num(d.Baseline),
					num(d.Delta), optNum(d.DeltaPercent), optNum(d.CILow), optNum(d.CIHigh), optBool(d.Significant), verdict(d)})
			}
		}
		if err := cw.WriteAll(rows); err != nil {
			return fmt.Errorf("compare: csv: %w", err)
		}
		return nil
	}
	return fmt.Errorf("compare: format %q is not available; use table, markdown, csv or json", f)
}
