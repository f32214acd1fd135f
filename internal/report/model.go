package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/service-mesh-performance/smp/internal/analysis"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// Summary is what every format of `smp report` shows, computed once from a result
// document. The json format writes it as it is.
type Summary struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Status    result.Status     `json:"status"`
	StartTime time.Time         `json:"start_time"`
	EndTime   time.Time         `json:"end_time"`
	Labels    map[string]string `json:"labels,omitempty"`
	// Baseline names the arm the others are compared with ("" when there is none).
	Baseline string       `json:"baseline,omitempty"`
	Arms     []ArmSummary `json:"arms"`
	// Overhead is the analysis: deltas with confidence intervals and MeshMark, per arm.
	Overhead []result.ArmOverhead   `json:"overhead,omitempty"`
	SLO      []result.SLOResult     `json:"slo,omitempty"`
	Pass     bool                   `json:"pass"`
	Method   *result.AnalysisMethod `json:"method,omitempty"`
	// Plan is the plan as run, as key/value rows for display.
	Plan        []KeyValue         `json:"plan,omitempty"`
	Environment result.Environment `json:"environment"`
	Tools       []result.Tool      `json:"tools,omitempty"`
	// Notes are what a reader must know: failed trials, warnings, run errors.
	Notes []string `json:"notes,omitempty"`

	doc *result.Document
}

// KeyValue is one row of a two-column table.
type KeyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ArmSummary is one arm's repetitions pooled.
type ArmSummary struct {
	Name string `json:"name"`
	// Mesh describes what is in the data path: "builtin (sidecar, mTLS strict)".
	Mesh         string  `json:"mesh"`
	Trials       int     `json:"trials"`
	Failed       int     `json:"failed_trials,omitempty"`
	Requests     int64   `json:"requests"`
	Succeeded    int64   `json:"succeeded"`
	Errors       int64   `json:"errors"`
	Overflow     int64   `json:"overflow,omitempty"`
	ErrorRate    float64 `json:"error_rate"`
	RequestedRPS float64 `json:"requested_rate_rps,omitempty"`
	AchievedRPS  float64 `json:"achieved_rate_rps"`
	ClosedLoop   bool    `json:"closed_loop,omitempty"`
	// RateHeld is false when any trial could not hold the requested rate.
	RateHeld      bool                 `json:"rate_held"`
	Latency       *result.Distribution `json:"latency,omitempty"`
	ServiceTime   *result.Distribution `json:"service_time,omitempty"`
	ErrorsByClass []Count              `json:"errors_by_class,omitempty"`
	StatusCodes   []Count              `json:"status_codes,omitempty"`
	Resources     []ComponentUsage     `json:"resources,omitempty"`
	MeshMark      *result.MeshMark     `json:"meshmark,omitempty"`
}

// Count is a named count.
type Count struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// ComponentUsage is one component's CPU and memory, averaged over the arm's trials that
// measured it.
type ComponentUsage struct {
	Component   string      `json:"component"`
	Role        result.Role `json:"role"`
	CPUMcores   float64     `json:"cpu_mcores"`
	MemoryBytes float64     `json:"memory_bytes"`
	Metric      string      `json:"memory_metric,omitempty"`
	Trials      int         `json:"trials"`
}

// Summarize computes what the reports show. A document without an analysis (or with one
// from before MeshMark) is analysed here, with the plan's SLOs and the default bootstrap,
// so that every report shows the same figures `smp run` would have; a stored analysis is
// otherwise kept as it is. Errors come from undecodable histograms only.
func Summarize(doc *result.Document) (*Summary, error) {
	if doc == nil {
		return nil, fmt.Errorf("report: no result document")
	}
	a, err := completeAnalysis(doc)
	if err != nil {
		return nil, err
	}
	s := &Summary{ID: doc.ID, Name: doc.Name, Status: doc.Status, StartTime: doc.StartTime, EndTime: doc.EndTime,
		Labels: doc.Labels, Environment: doc.Environment, Tools: doc.Tools, Pass: true, doc: doc}
	if a != nil {
		s.Baseline, s.Overhead, s.SLO, s.Pass, s.Method = a.Baseline, a.Overhead, a.SLO, a.Pass, a.Method
	}
	marks := map[string]*result.MeshMark{}
	for _, o := range s.Overhead {
		marks[o.Arm] = o.MeshMark
	}
	for _, arm := range doc.Arms() {
		as, err := summarizeArm(doc, arm)
		if err != nil {
			return nil, err
		}
		as.MeshMark = marks[arm]
		s.Arms = append(s.Arms, as)
	}
	s.Plan = planRows(doc.Plan)
	s.Notes = notes(doc)
	return s, nil
}

// completeAnalysis returns the document's analysis, computing it when absent and adding
// MeshMarks an older smp did not compute. doc is not changed.
func completeAnalysis(doc *result.Document) (*result.Analysis, error) {
	stored := doc.Analysis
	missing := stored == nil
	if stored != nil {
		for _, o := range stored.Overhead {
			missing = missing || o.MeshMark == nil
		}
	}
	if !missing {
		return stored, nil
	}
	fresh, err := analysis.Analyze(doc, nil, analysis.Options{})
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	if stored == nil {
		return fresh, nil
	}
	a := *stored
	a.Overhead = make([]result.ArmOverhead, len(stored.Overhead))
	copy(a.Overhead, stored.Overhead)
	for i := range a.Overhead {
		for _, f := range fresh.Overhead {
			if f.Arm == a.Overhead[i].Arm && a.Overhead[i].MeshMark == nil {
				a.Overhead[i].MeshMark = f.MeshMark
			}
		}
	}
	return &a, nil
}

// measured: the analysis's rule for a usable resource figure.
func measured(r result.Resource) bool { return r.Error == "" || r.Samples >= 2 }

func summarizeArm(doc *result.Document, arm string) (ArmSummary, error) {
	as := ArmSummary{Name: arm, Mesh: meshOf(doc, arm), RateHeld: true}
	for _, t := range doc.Trials {
		if t.Arm == arm && t.Status == result.StatusFailed {
			as.Failed++
		}
	}
	trials := doc.TrialsOf(arm)
	as.Trials = len(trials)
	if len(trials) == 0 {
		return as, nil
	}
	tot := doc.Totals(arm)
	as.Requests, as.Succeeded, as.Overflow = tot.Counts.Requests, tot.Counts.Succeeded, tot.Counts.Overflow
	as.Errors = tot.Counts.Failed + tot.Counts.Overflow
	as.ErrorRate = tot.Counts.ErrorRate()
	as.AchievedRPS = tot.AchievedRPS()
	as.ErrorsByClass, as.StatusCodes = sortedCounts(tot.ErrorsByClass), sortedCounts(tot.StatusCodes)
	var reqRate float64
	withService := true
	for _, t := range trials {
		reqRate += t.Load.RequestedRateRPS
		as.ClosedLoop = as.ClosedLoop || t.Load.ClosedLoop
		as.RateHeld = as.RateHeld && t.Load.RateHeld
		withService = withService && t.ServiceTime != nil
	}
	as.RequestedRPS = reqRate / float64(len(trials))
	lat, err := doc.ArmLatency(arm)
	if err != nil {
		return as, fmt.Errorf("report: arm %s: %w", arm, err)
	}
	as.Latency = &lat
	if withService {
		dists := make([]result.Distribution, len(trials))
		for i, t := range trials {
			dists[i] = *t.ServiceTime
		}
		ps, bounds := percentilesOf(doc)
		st, err := result.Pool(dists, ps, bounds)
		if err != nil {
			return as, fmt.Errorf("report: arm %s: service time: %w", arm, err)
		}
		as.ServiceTime = &st
	}
	as.Resources = componentUsage(trials)
	return as, nil
}

// percentilesOf returns the percentiles and bucket bounds the document's plan asks for.
func percentilesOf(doc *result.Document) ([]float64, []time.Duration) {
	m := (&spec.Plan{}).WithDefaults().Metrics
	if doc.Plan != nil {
		m = doc.Plan.Metrics
		if len(m.Percentiles) == 0 {
			m.Percentiles = spec.DefaultPercentiles()
		}
	}
	return m.Percentiles, result.BucketBounds(m.Buckets)
}

func componentUsage(trials []result.Trial) []ComponentUsage {
	type acc struct {
		u        ComponentUsage
		cpu, mem float64
	}
	byName := map[string]*acc{}
	var order []string
	for _, t := range trials {
		for _, r := range t.Resources {
			if !measured(r) {
				continue
			}
			key := string(r.Role) + "\x00" + r.Component
			a, ok := byName[key]
			if !ok {
				a = &acc{u: ComponentUsage{Component: r.Component, Role: r.Role, Metric: r.MemoryMetric}}
				byName[key] = a
				order = append(order, key)
			}
			a.cpu += r.CPUMcoresAvg
			a.mem += float64(r.MemoryBytesAvg)
			a.u.Trials++
		}
	}
	out := make([]ComponentUsage, 0, len(order))
	for _, k := range order {
		a := byName[k]
		a.u.CPUMcores, a.u.MemoryBytes = a.cpu/float64(a.u.Trials), a.mem/float64(a.u.Trials)
		out = append(out, a.u)
	}
	rank := map[result.Role]int{result.RoleApp: 0, result.RoleProxy: 1, result.RoleGateway: 2, result.RoleControlPlane: 3, result.RoleNode: 4, result.RoleLoadGenerator: 5}
	sort.SliceStable(out, func(i, j int) bool {
		ri, rj := rank[out[i].Role], rank[out[j].Role]
		if ri != rj {
			return ri < rj
		}
		return out[i].Component < out[j].Component
	})
	return out
}

func sortedCounts(m map[string]int64) []Count {
	out := make([]Count, 0, len(m))
	for k, v := range m {
		if v != 0 {
			out = append(out, Count{k, v})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// meshOf describes an arm's data path from the plan, or from what its trials observed.
func meshOf(doc *result.Document, arm string) string {
	var m result.MeshInfo
	found := false
	for _, t := range doc.TrialsOf(arm) {
		m, found = t.Mesh, true
		break
	}
	if doc.Plan != nil {
		for _, a := range doc.Plan.Arms {
			if a.Name == arm {
				if !found {
					m = result.MeshInfo{Type: a.Mesh, DataPlane: a.DataPlane, MTLS: a.MTLS, Version: a.Version, ProxyConcurrency: a.ProxyConcurrency}
				}
				if m.Type == "" {
					m.Type = a.Mesh
				}
			}
		}
	}
	if m.Type.IsBaseline() {
		return "none"
	}
	s := string(m.Type)
	if m.Version != "" && m.Version != s {
		s += " " + m.Version
	}
	var details []string
	if m.DataPlane != "" {
		details = append(details, string(m.DataPlane))
	}
	if m.MTLS != "" {
		details = append(details, "mTLS "+string(m.MTLS))
	}
	if m.ProxyConcurrency > 0 {
		details = append(details, fmt.Sprintf("%d proxy threads", m.ProxyConcurrency))
	}
	if m.Proxies > 0 {
		details = append(details, fmt.Sprintf("%d proxies", m.Proxies))
	}
	if len(details) > 0 {
		s += " (" + strings.Join(details, ", ") + ")"
	}
	return s
}

// planRows lists the plan's settings that shape the figures.
func planRows(p *spec.Plan) []KeyValue {
	if p == nil {
		return nil
	}
	var rows []KeyValue
	add := func(k, format string, args ...any) { rows = append(rows, KeyValue{k, fmt.Sprintf(format, args...)}) }
	if p.Description != "" {
		add("description", "%s", p.Description)
	}
	var arms []string
	for _, a := range p.Arms {
		arms = append(arms, fmt.Sprintf("%s (%s)", a.Name, a.Mesh))
	}
	add("arms", "%s; baseline %s", strings.Join(arms, ", "), orDash(p.Baseline))
	add("repetitions", "%d, %s order, seed %d", p.Repetitions, p.Order, p.Seed)
	w := p.Workload
	app := string(w.App.Kind)
	if w.App.Kind == spec.AppBuiltin || w.App.Kind == "" {
		app = fmt.Sprintf("builtin: %d services, %s, %s responses", w.App.Services, w.App.Topology, w.App.ResponseSize)
		if w.App.Topology.ShapeServices() > 0 {
			app = fmt.Sprintf("builtin: %s, %d services with the shape's own reply sizes", w.App.Topology, w.App.Services)
		}
		if w.App.CPUTime > 0 {
			app += fmt.Sprintf(", %s CPU per request", w.App.CPUTime)
		}
		if w.App.Delay > 0 {
			app += fmt.Sprintf(", %s delay", w.App.Delay)
		}
	}
	if len(w.EndpointURLs) > 0 {
		app = strings.Join(w.EndpointURLs, ", ")
	}
	add("app", "%s", app)
	rate := "closed loop (as fast as possible)"
	if w.Rate != nil && *w.Rate > 0 {
		rate = fmt.Sprintf("%g rps, %s arrivals", *w.Rate, w.Arrival.Pattern)
	}
	conns := fmt.Sprintf("%d connections", w.Connections)
	if w.Streams > 1 {
		conns += fmt.Sprintf(" × %d streams", w.Streams)
	}
	add("load", "%s, %s, %s, generator %s", rate, w.Protocol, conns, w.LoadGenerator)
	warm := "no warm-up"
	if w.Warmup != nil && *w.Warmup > 0 {
		warm = fmt.Sprintf("after %s of warm-up", *w.Warmup)
	}
	add("duration", "%s measured per trial, %s; timeout %s", w.Duration, warm, w.Timeout)
	var ps []string
	for _, v := range p.Metrics.Percentiles {
		ps = append(ps, percentileLabel(v))
	}
	var cols []string
	for _, c := range p.Metrics.Collectors {
		cols = append(cols, string(c.Type))
	}
	add("metrics", "%s; interval %s; collectors: %s", strings.Join(ps, " "), p.Metrics.Interval, orDash(strings.Join(cols, ", ")))
	add("platform", "%s", p.Environment.Platform)
	for _, s := range p.SLO {
		on := ""
		if len(s.Arms) > 0 {
			on = " (arms " + strings.Join(s.Arms, ", ") + ")"
		}
		add("slo", "%s%s", s.Condition, on)
	}
	return rows
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// notes lists what a reader must know to trust the figures.
func notes(doc *result.Document) []string {
	var out []string
	out = append(out, doc.Errors...)
	out = append(out, doc.Warnings...)
	return append(out, trialNotes(doc.Trials, true)...)
}

// trialNotes lists the failed trials and the trials' warnings (and, with caveats, their
// generators' caveats), one line per distinct text naming every trial it applies to: a
// warning that each repetition or arm repeats is read once.
func trialNotes(trials []result.Trial, caveats bool) []string {
	type note struct {
		failed bool
		text   string
	}
	var order []note
	ids := map[note][]string{}
	add := func(n note, id string) {
		if _, ok := ids[n]; !ok {
			order = append(order, n)
		}
		ids[n] = append(ids[n], id)
	}
	for _, t := range trials {
		if t.Status == result.StatusFailed {
			add(note{failed: true, text: t.Error}, t.ID)
			continue
		}
		for _, w := range t.Warnings {
			add(note{text: w}, t.ID)
		}
		if caveats {
			for _, c := range t.Generator.Caveats {
				add(note{text: string(t.Generator.Name) + ": " + c}, t.ID)
			}
		}
	}
	out := make([]string, 0, len(order))
	for _, n := range order {
		who := "trial " + ids[n][0]
		if len(ids[n]) > 1 {
			who = "trials " + strings.Join(ids[n], ", ")
		}
		if n.failed {
			out = append(out, who+" failed: "+n.text)
		} else {
			out = append(out, who+": "+n.text)
		}
	}
	return out
}
