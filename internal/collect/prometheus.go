package collect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/service-mesh-performance/smp/internal/mesh"
	"github.com/service-mesh-performance/smp/result"
)

// PrometheusConfig configures the Prometheus collector. Zero values mean the defaults.
type PrometheusConfig struct {
	// URL of the Prometheus server (its HTTP API is under /api/v1). Required.
	URL string
	// BearerTokenFile holds a token sent with every request.
	BearerTokenFile string
	// Interval is the step of the peak subqueries and should be Prometheus's scrape
	// interval for these series. Default: 1s.
	Interval time.Duration
	// Job is the scrape job whose cAdvisor series are used (on the local platform: whose
	// process series). Default: detected (see the package documentation).
	Job string
	// Queries replace default queries by name (DefaultQueries lists the names).
	Queries map[string]string
	// Profile is the mesh profile of the arm measured: its selectors and latency
	// histograms. Default: the baseline on Kubernetes (no proxies).
	Profile mesh.Profile
	// TargetsFile, when set, is written at Start with the local targets' metrics
	// endpoints in Prometheus's file_sd format (and emptied at Stop), for a Prometheus
	// whose file_sd_configs read it: the local platform's ports are picked at run time.
	TargetsFile string
	// Client makes the requests. Default: a client without proxy settings.
	Client *http.Client
}

func (c PrometheusConfig) withDefaults() PrometheusConfig {
	if c.Interval == 0 {
		c.Interval = defaultInterval
	}
	if c.Profile.Mesh == "" {
		c.Profile, _ = mesh.For(mesh.Kubernetes, "", "")
	}
	return c
}

// Validate reports every problem with a (defaulted) configuration.
func (c PrometheusConfig) Validate() error {
	var errs []error
	if u, err := url.Parse(c.URL); c.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url %q is not the http(s) URL of a Prometheus server", c.URL))
	}
	if c.Interval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("interval %v is below 10ms", c.Interval))
	}
	defaults := DefaultQueries()
	for _, name := range sortedKeys(c.Queries) {
		if _, ok := defaults[name]; !ok {
			errs = append(errs, fmt.Errorf("query %q is not one smp runs; the names are: %s", name, strings.Join(sortedKeys(defaults), ", ")))
		}
	}
	return errors.Join(errs...)
}

// Prometheus measures components through a Prometheus server's HTTP API, with instant
// queries at the window's end over ranges as long as the window. See the package
// documentation for the queries, the traps they avoid and the window semantics.
type Prometheus struct {
	cfg       PrometheusConfig
	api       promv1.API
	queries   map[string]string
	transport http.RoundTripper

	mu      sync.Mutex
	state   int
	targets []Target
	notes   Notes
}

var (
	_ Collector = (*Prometheus)(nil)
	_ Noter     = (*Prometheus)(nil)
)

// NewPrometheus returns a Prometheus collector; it fails on an invalid configuration. It
// does not contact the server.
func NewPrometheus(cfg PrometheusConfig) (*Prometheus, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	var rt http.RoundTripper = &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}
	if cfg.Client != nil && cfg.Client.Transport != nil {
		rt = cfg.Client.Transport
	}
	if cfg.BearerTokenFile != "" {
		rt = bearerRoundTripper{next: rt, file: cfg.BearerTokenFile}
	}
	client, err := api.NewClient(api.Config{Address: cfg.URL, RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	q := DefaultQueries()
	for k, v := range cfg.Queries {
		q[k] = v
	}
	return &Prometheus{cfg: cfg, api: promv1.NewAPI(client), queries: q, transport: rt}, nil
}

// bearerRoundTripper adds the token of a file (read on each request: tokens rotate).
type bearerRoundTripper struct {
	next http.RoundTripper
	file string
}

func (b bearerRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	tok, err := os.ReadFile(b.file)
	if err != nil {
		return nil, fmt.Errorf("bearer token: %w", err)
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	return b.next.RoundTrip(r)
}

// Name returns "prometheus".
func (p *Prometheus) Name() string { return "prometheus" }

// Start records the targets and, with TargetsFile set, writes the local targets'
// endpoints for Prometheus's file-based discovery. It fails only when that file cannot
// be written; an unreachable server is found (and reported per component) by Collect.
func (p *Prometheus) Start(_ context.Context, targets []Target) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == stateRunning {
		return errors.New("prometheus: already started")
	}
	p.targets = append([]Target(nil), targets...)
	if p.cfg.TargetsFile != "" {
		if err := writeFileSD(p.cfg.TargetsFile, targets); err != nil {
			return fmt.Errorf("prometheus: %w", err)
		}
	}
	p.state = stateRunning
	return nil
}

// Stop empties the targets file, so that Prometheus stops scraping endpoints that are
// going away. It is idempotent; Collect still answers after it (the data is in
// Prometheus).
func (p *Prometheus) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == stateRunning && p.cfg.TargetsFile != "" {
		_ = writeFileSD(p.cfg.TargetsFile, nil)
	}
	if p.state == stateRunning {
		p.state = stateStopped
	}
	p.closeIdle()
}

// closeIdle closes the idle connections to the server: a trial's collector is not used
// again, and its connections would otherwise stay open.
func (p *Prometheus) closeIdle() {
	rt := p.transport
	if b, ok := rt.(bearerRoundTripper); ok {
		rt = b.next
	}
	if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// fileSDGroup is one entry of Prometheus's file_sd format.
type fileSDGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// writeFileSD writes the targets that have a metrics URL as file_sd groups (one per
// target, with its scheme and path and smp_component/smp_role labels), atomically:
// Prometheus watches the file and must never read half of it.
func writeFileSD(path string, targets []Target) error {
	groups := []fileSDGroup{}
	for _, t := range targets {
		if t.MetricsURL == "" || t.Pod != "" {
			continue
		}
		u, err := url.Parse(t.MetricsURL)
		if err != nil || u.Host == "" {
			continue
		}
		labels := map[string]string{"__scheme__": u.Scheme, "__metrics_path__": u.Path,
			"smp_component": t.Name, "smp_role": string(t.Role)}
		if t.Service != "" {
			labels["smp_service"] = t.Service
		}
		groups = append(groups, fileSDGroup{Targets: []string{u.Host}, Labels: labels})
	}
	data, err := json.MarshalIndent(groups, "", "  ")
	if err != nil {
		return fmt.Errorf("encode targets file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".smp-targets-*.json")
	if err != nil {
		return fmt.Errorf("write targets file: %w", err)
	}
	_, werr := tmp.Write(append(data, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write targets file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write targets file %s: %w", path, err)
	}
	return nil
}

// Notes returns the data plane's latency and the warnings of the last Collect.
func (p *Prometheus) Notes() Notes {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.notes
}

// promRun is the state of one Collect.
type promRun struct {
	p        *Prometheus
	w        Window
	at       time.Time
	vars     map[string]string
	warnings []string
	// byKey: the target each result key (ns/pod/container, or instance) belongs to.
	containers map[string]Target
	processes  map[string]Target
}

// Collect queries Prometheus at the window's end (waiting first until the window is over
// and Prometheus holds a sample past it, at most until two scrape intervals after the
// end) and returns one Resource per target, plus the control plane, the node-level
// data-plane components and the nodes it finds. A server that does not answer, or a
// query that fails, becomes each affected Resource's Error: Collect fails only when
// called before Start or with a reversed window.
func (p *Prometheus) Collect(ctx context.Context, w Window) ([]result.Resource, error) {
	if w.End.Before(w.Start) {
		return nil, fmt.Errorf("prometheus: window ends (%v) before it starts (%v)", w.End, w.Start)
	}
	p.mu.Lock()
	if p.state == stateIdle {
		p.mu.Unlock()
		return nil, errors.New("prometheus: Collect before Start")
	}
	targets := append([]Target(nil), p.targets...)
	p.mu.Unlock()

	// PromQL durations have millisecond resolution: the window is cut to whole
	// milliseconds, keeping its end.
	w.Start = w.End.Add(-w.End.Sub(w.Start).Truncate(time.Millisecond))
	if wait := time.Until(w.End); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	r := &promRun{p: p, w: w, at: w.End, containers: map[string]Target{}, processes: map[string]Target{}}
	res, lat := r.run(ctx, targets)
	p.mu.Lock()
	p.notes = Notes{ProxyLatency: lat, Warnings: r.warnings}
	p.mu.Unlock()
	p.closeIdle()
	return res, nil
}

func (r *promRun) warnf(format string, args ...any) {
	r.warnings = append(r.warnings, "prometheus: "+fmt.Sprintf(format, args...))
}

func (r *promRun) run(ctx context.Context, targets []Target) ([]result.Resource, []result.ProxyLatency) {
	cfg := r.p.cfg
	win := r.w.End.Sub(r.w.Start)
	rateWin := 4 * cfg.Interval
	r.vars = profileVars(cfg.Profile)
	r.vars["window"] = promDuration(win)
	r.vars["step"] = promDuration(cfg.Interval)
	r.vars["rate_window"] = promDuration(rateWin)
	r.vars["peak_range"] = promDuration(win - rateWin)
	r.vars["cadvisor_job"], r.vars["node_job"], r.vars["process_job"] = "", "", ""
	if cfg.Job != "" {
		r.vars["process_job"] = "job=" + promString(cfg.Job) + ","
	}
	var namespaces, instances []string
	for _, t := range targets {
		switch {
		case t.Pod != "" && t.Container != "":
			r.containers[containerKey(t.Namespace, t.Pod, t.Container)] = t
			namespaces = append(namespaces, t.Namespace)
		case t.MetricsURL != "":
			if u, err := url.Parse(t.MetricsURL); err == nil && u.Host != "" {
				r.processes[u.Host] = t
				instances = append(instances, u.Host)
			}
		}
	}
	r.vars["namespaces"] = promRegex(namespaces)
	r.vars["instances"] = promRegex(instances)

	out := map[string]*result.Resource{} // by component
	var order []string
	add := func(res result.Resource) {
		if _, ok := out[res.Component]; !ok {
			order = append(order, res.Component)
		}
		c := res
		out[res.Component] = &c
	}
	for _, t := range targets {
		res := baseResource(t)
		switch {
		case t.Pod != "" && t.Container != "":
			res.MemoryMetric = "working_set"
			res.Error = "no cAdvisor series for this container"
		case t.MetricsURL != "":
			res.MemoryMetric = "rss"
			res.Error = "no process_cpu_seconds_total or process_resident_memory_bytes series from " + t.MetricsURL
		default:
			res.Error = "nothing to find this component's series by: no pod and container, no metrics URL"
		}
		add(res)
	}

	// Fail fast, once, when the server does not answer (a query every PromQL server
	// answers, unlike the build-info endpoint).
	if _, err := r.instant(ctx, "1", r.at); err != nil {
		msg := fmt.Sprintf("Prometheus at %s did not answer: %v", cfg.URL, err)
		r.warnings = append(r.warnings, "prometheus: "+msg)
		for _, c := range order {
			out[c].Error = msg
		}
		return collectOrdered(out, order), nil
	}

	var groups []string
	if len(r.containers) > 0 {
		r.detectCAdvisorJob(ctx)
		if cfg.Profile.PromQL.ProxyContainer != "" {
			groups = append(groups, groupProxy)
		}
		groups = append(groups, groupApp)
	}
	if cfg.Profile.Platform == mesh.Kubernetes {
		if cfg.Profile.PromQL.ControlPlaneNamespace != "" {
			groups = append(groups, groupControlPlane)
		}
		if cfg.Profile.PromQL.NodeNamespace != "" {
			groups = append(groups, groupNodeProxy)
		}
	}
	if len(groups) > 0 && r.vars["cadvisor_job"] == "" && len(r.containers) == 0 {
		r.detectCAdvisorJob(ctx)
	}
	r.waitFresh(ctx)

	for _, g := range groups {
		for _, res := range r.containerGroup(ctx, g) {
			if prev, ok := out[res.Component]; ok {
				// A target: keep its identity, take the figures.
				res.Component, res.Role, res.Service, res.PID = prev.Component, prev.Role, prev.Service, prev.PID
			}
			add(res)
		}
	}
	if len(r.processes) > 0 {
		for _, res := range r.processGroup(ctx) {
			add(res)
		}
	}
	if cfg.Profile.Platform == mesh.Kubernetes {
		for _, res := range r.nodes(ctx) {
			add(res)
		}
	}
	return collectOrdered(out, order), r.latency(ctx)
}

// expected is the number of samples the window holds at one per interval.
func (r *promRun) expected() int { return int(r.w.End.Sub(r.w.Start) / r.p.cfg.Interval) }

func collectOrdered(out map[string]*result.Resource, order []string) []result.Resource {
	res := make([]result.Resource, 0, len(order))
	for _, c := range order {
		res = append(res, *out[c])
	}
	return res
}

func baseResource(t Target) result.Resource {
	r := resourceOf(t)
	r.Source = "prometheus"
	return r
}

func containerKey(ns, pod, container string) string { return ns + "/" + pod + "/" + container }

// promDuration writes d as a PromQL duration (whole milliseconds, e.g. 1m30s or 1s500ms).
func promDuration(d time.Duration) string {
	if d < time.Millisecond {
		d = time.Millisecond
	}
	return model.Duration(d.Truncate(time.Millisecond)).String()
}

// query runs one named query at the window's end and returns its vector; the expanded
// text is returned for the record.
func (r *promRun) query(ctx context.Context, name string, extra map[string]string) (model.Vector, string, error) {
	text := r.p.queries[name]
	vars := r.vars
	if len(extra) > 0 {
		vars = make(map[string]string, len(r.vars)+len(extra))
		for k, v := range r.vars {
			vars[k] = v
		}
		for k, v := range extra {
			vars[k] = v
		}
	}
	text = expand(text, vars)
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	val, warns, _, err := r.p.api.Query(qctx, text, r.at)
	for _, w := range warns {
		r.warnf("query %s: %s", name, w)
	}
	if err != nil {
		return nil, text, fmt.Errorf("query %s (%s): %w", name, text, err)
	}
	vec, ok := val.(model.Vector)
	if !ok {
		return nil, text, fmt.Errorf("query %s (%s) returned a %s, not an instant vector", name, text, val.Type())
	}
	return vec, text, nil
}

// cadvisorJobPreference orders the usual names of the cAdvisor scrape job (meshes.md §9:
// kube-prometheus job="kubelet" with metrics_path="/metrics/cadvisor", the community
// chart's kubernetes-nodes-cadvisor, istio/tools' kubernetes-cadvisor).
func cadvisorJobPreference(job, path string) int {
	switch {
	case job == "kubelet" && path == "/metrics/cadvisor":
		return 0
	case job == "kubernetes-nodes-cadvisor", job == "kubernetes-cadvisor":
		return 1
	case job == "cadvisor":
		return 2
	case path == "/metrics/cadvisor":
		return 3
	}
	return 4
}

// detectCAdvisorJob finds which scrape jobs carry cAdvisor's container series and picks
// one, so that a series scraped twice is not counted twice (istio/tools#175): the plan's
// job when set, else the usual names in order, else the job with most series, else the
// first by name. Several jobs are worth a warning.
func (r *promRun) detectCAdvisorJob(ctx context.Context) {
	vec, _, err := r.query(ctx, "cadvisor_jobs", nil)
	if err != nil {
		r.warnf("finding the cAdvisor job: %v", err)
		return
	}
	type cand struct {
		job, path string
		n         float64
	}
	var cands []cand
	for _, s := range vec {
		cands = append(cands, cand{string(s.Metric["job"]), string(s.Metric["metrics_path"]), float64(s.Value)})
	}
	if want := r.p.cfg.Job; want != "" {
		var mine []cand
		for _, c := range cands {
			if c.job == want {
				mine = append(mine, c)
			}
		}
		if len(mine) == 0 {
			r.warnf("no cAdvisor series from job %q (found: %s); the job matcher stays, so container figures will be missing", want, candNames(cands, func(c cand) string { return c.job + c.path }))
			r.vars["cadvisor_job"] = "job=" + promString(want) + ","
			return
		}
		cands = mine
	}
	if len(cands) == 0 {
		r.warnf("no container_cpu_usage_seconds_total series: is cAdvisor (the kubelet's /metrics/cadvisor) scraped?")
		return
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if pa, pb := cadvisorJobPreference(a.job, a.path), cadvisorJobPreference(b.job, b.path); pa != pb {
			return pa < pb
		}
		if a.n != b.n {
			return a.n > b.n
		}
		return a.job+a.path < b.job+b.path
	})
	pick := cands[0]
	m := "job=" + promString(pick.job) + ","
	if pick.path != "" {
		m += " metrics_path=" + promString(pick.path) + ","
	}
	r.vars["cadvisor_job"] = m
	if len(cands) > 1 {
		r.warnf("container series come from %d scrape jobs (%s); only %s is used, so that nothing is counted twice (set the collector's job to choose)",
			len(cands), candNames(cands, func(c cand) string {
				if c.path != "" {
					return c.job + " " + c.path
				}
				return c.job
			}), strings.TrimSuffix(m, ","))
	}
}

func candNames[T any](cs []T, name func(T) string) string {
	var out []string
	for _, c := range cs {
		out = append(out, name(c))
	}
	return strings.Join(out, ", ")
}

// waitFresh waits until Prometheus holds, for every series the queries read that has
// samples in the window, a sample after the window's end, polling with a deadline: two of
// the series' scrape intervals (estimated from their samples in the window) or two
// collector intervals, whichever is longer, plus a second, after the end. A window that
// ended long ago returns at once. What was not ingested by then is missing from the
// figures, and a warning says so.
func (r *promRun) waitFresh(ctx context.Context) {
	var sel string
	switch {
	case len(r.containers) > 0:
		sel = `container_memory_working_set_bytes{$cadvisor_job ` + containerSelector + `, namespace=~"$namespaces"}`
	case len(r.processes) > 0:
		sel = `process_resident_memory_bytes{$process_job instance=~"$instances"}`
	case r.p.cfg.Profile.Platform == mesh.Kubernetes:
		sel = `container_memory_working_set_bytes{$cadvisor_job ` + containerSelector + `}`
	default:
		return
	}
	sel = expand(sel, r.vars)
	win := r.vars["window"]
	inWindow, spacing := 0.0, r.p.cfg.Interval
	if vec, err := r.instant(ctx, "count(count_over_time("+sel+"["+win+"]))", r.at); err == nil && len(vec) == 1 {
		inWindow = float64(vec[0].Value)
	}
	if vec, err := r.instant(ctx, "max(count_over_time("+sel+"["+win+"]))", r.at); err == nil && len(vec) == 1 {
		if n := float64(vec[0].Value); n > 1 {
			spacing = max(spacing, time.Duration(float64(r.w.End.Sub(r.w.Start))/(n-1)))
		}
	}
	if inWindow == 0 {
		return // nothing to wait for; the figures will say what is missing
	}
	deadline := r.w.End.Add(2*spacing + time.Second)
	poll := time.NewTicker(min(max(spacing/4, 50*time.Millisecond), time.Second))
	defer poll.Stop()
	after := 0.0
	for {
		now := time.Now()
		if d := now.Sub(r.w.End); d >= time.Millisecond {
			if vec, err := r.instant(ctx, "count(count_over_time("+sel+"["+promDuration(d)+"]))", now); err == nil && len(vec) == 1 {
				after = float64(vec[0].Value)
			}
			if after >= inWindow {
				return
			}
		}
		if now.After(deadline) {
			r.warnf("%.0f of %.0f series had no sample after the window's end %s later; their figures miss the window's last part (is the collector's interval Prometheus's scrape interval?)",
				inWindow-after, inWindow, round(now.Sub(r.w.End)))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		}
	}
}

func (r *promRun) instant(ctx context.Context, q string, at time.Time) (model.Vector, error) {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	val, _, _, err := r.p.api.Query(qctx, q, at)
	if err != nil {
		return nil, err
	}
	vec, _ := val.(model.Vector)
	return vec, nil
}

// figures are one group's five queries' results by key.
type figures struct {
	cpu, cpuMax, memAvg, memMax, samples map[string]float64
	texts                                []string
	errs                                 []string
}

// group runs a group's five queries and keys each result by key(labels).
func (r *promRun) group(ctx context.Context, prefix string, key func(model.Metric) string) figures {
	f := figures{}
	peakOK := r.w.End.Sub(r.w.Start) > 4*r.p.cfg.Interval
	for _, q := range []struct {
		suffix string
		into   *map[string]float64
	}{{"_cpu", &f.cpu}, {"_cpu_max", &f.cpuMax}, {"_memory_avg", &f.memAvg}, {"_memory_max", &f.memMax}, {"_samples", &f.samples}} {
		*q.into = map[string]float64{}
		if q.suffix == "_cpu_max" && !peakOK {
			f.texts = append(f.texts, "cpu_max: none (the window is not longer than 4 intervals: the peak is the mean)")
			continue
		}
		vec, text, err := r.query(ctx, prefix+q.suffix, nil)
		f.texts = append(f.texts, strings.TrimPrefix(q.suffix, "_")+": "+text)
		if err != nil {
			f.errs = append(f.errs, err.Error())
			continue
		}
		for _, s := range vec {
			if v := float64(s.Value); !math.IsNaN(v) && !math.IsInf(v, 0) {
				(*q.into)[key(s.Metric)] = v
			}
		}
	}
	return f
}

// resource builds the Resource of one key from a group's figures. expected is the
// number of samples the window holds at one per interval.
func (f figures) resource(k string, base result.Resource, at time.Time, expected int) result.Resource {
	res := base
	res.Query = strings.Join(f.texts, "; ") + "; at " + at.UTC().Format(time.RFC3339Nano)
	res.Error = ""
	cpu, hasCPU := f.cpu[k]
	_, hasMem := f.memAvg[k]
	if hasCPU {
		res.CPUMcoresAvg = cpu * 1000
		res.CPUMcoresMax = res.CPUMcoresAvg
		if mx, ok := f.cpuMax[k]; ok {
			res.CPUMcoresMax = max(mx*1000, res.CPUMcoresAvg)
		}
	}
	if hasMem {
		res.MemoryBytesAvg = int64(math.Round(f.memAvg[k]))
		res.MemoryBytesMax = int64(math.Round(f.memMax[k]))
	}
	res.Samples = int(f.samples[k])
	var notes []string
	notes = append(notes, f.errs...)
	if !hasCPU {
		notes = append(notes, "no CPU figure (fewer than two samples of the CPU counter in the window?)")
	}
	if !hasMem {
		notes = append(notes, "no memory figure")
	}
	if (hasCPU || hasMem) && res.Samples > 0 && res.Samples*2 < expected {
		// rate() divides what it sees by the whole window: samples that cover part of it
		// (failed or late scrapes, a scrape interval longer than the collector's) make
		// the CPU figure too low.
		notes = append(notes, fmt.Sprintf("only %d samples in the window where one per interval makes %d: scrapes failed or came late (or the interval is not Prometheus's scrape interval); rate() under-reads CPU over a window its samples do not cover",
			res.Samples, expected))
	}
	if len(notes) > 0 {
		res.Error = joinNotes(notes)
	}
	return res
}

// keys lists every key any of the five queries returned.
func (f figures) keys() []string {
	seen := map[string]bool{}
	for _, m := range []map[string]float64{f.cpu, f.memAvg, f.memMax} {
		for k := range m {
			seen[k] = true
		}
	}
	return sortedKeys(seen)
}

// containerGroup measures one container group: the targets among its containers keep
// their names; the others (control plane, node-level proxies, meshed pods that are not
// targets) are named namespace/pod/container.
func (r *promRun) containerGroup(ctx context.Context, g string) []result.Resource {
	key := func(m model.Metric) string {
		return containerKey(string(m["namespace"]), string(m["pod"]), string(m["container"]))
	}
	f := r.group(ctx, g, key)
	role := map[string]result.Role{groupProxy: result.RoleProxy, groupApp: result.RoleApp,
		groupControlPlane: result.RoleControlPlane, groupNodeProxy: result.RoleProxy}[g]
	var out []result.Resource
	for _, k := range f.keys() {
		parts := strings.SplitN(k, "/", 3)
		base := result.Resource{Component: k, Role: role, Namespace: parts[0], Pod: parts[1], Container: parts[2],
			Source: "prometheus", MemoryMetric: "working_set"}
		if t, ok := r.containers[k]; ok {
			base = baseResource(t)
			base.MemoryMetric = "working_set"
		}
		out = append(out, f.resource(k, base, r.at, r.expected()))
	}
	// Targets of this group (proxies in the proxy group, the other containers in the app
	// group) that no query returned keep an error, with the queries.
	for k, t := range r.containers {
		mine := g == groupProxy && t.Role == result.RoleProxy ||
			g == groupApp && (t.Role != result.RoleProxy || r.p.cfg.Profile.PromQL.ProxyContainer == "")
		if _, found := f.cpu[k]; found || !mine {
			continue
		}
		if _, found := f.memAvg[k]; found {
			continue
		}
		res := baseResource(t)
		res.MemoryMetric = "working_set"
		res.Query = strings.Join(f.texts, "; ")
		res.Error = joinNotes(append(append([]string(nil), f.errs...), "no series for this container"))
		out = append(out, res)
	}
	if len(f.errs) > 0 && len(out) == 0 {
		r.warnf("%s: %s", g, joinNotes(f.errs))
	}
	return out
}

// processGroup measures the local targets by their metrics endpoint's host:port.
func (r *promRun) processGroup(ctx context.Context) []result.Resource {
	f := r.group(ctx, groupProcess, func(m model.Metric) string { return string(m["instance"]) })
	var out []result.Resource
	for inst, t := range r.processes {
		base := baseResource(t)
		base.MemoryMetric = "rss"
		res := f.resource(inst, base, r.at, r.expected())
		if _, ok := f.cpu[inst]; !ok {
			if _, ok := f.memAvg[inst]; !ok {
				res.Error = joinNotes(append(append([]string(nil), f.errs...),
					"no process_cpu_seconds_total or process_resident_memory_bytes series with instance=\""+inst+"\" (is it scraped? does it export process metrics?)"))
			}
		}
		out = append(out, res)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Component < out[j].Component })
	return out
}

// nodes measures every node node_exporter reports (busy CPU and memory in use), as
// components node/<instance>. Without node_exporter there are none: that is worth a
// warning when the profile's data plane works outside the pods (eBPF, ztunnel).
func (r *promRun) nodes(ctx context.Context) []result.Resource {
	vec, _, err := r.query(ctx, "node_jobs", nil)
	if err == nil && len(vec) > 0 {
		jobs := make([]string, 0, len(vec))
		best, bestN := "", -1.0
		for _, s := range vec {
			j := string(s.Metric["job"])
			jobs = append(jobs, j)
			if n := float64(s.Value); n > bestN || n == bestN && j < best {
				best, bestN = j, n
			}
		}
		r.vars["node_job"] = "job=" + promString(best) + ","
		if len(jobs) > 1 {
			sort.Strings(jobs)
			r.warnf("node_cpu_seconds_total comes from %d scrape jobs (%s); only job=%q is used", len(jobs), strings.Join(jobs, ", "), best)
		}
	}
	if err != nil || len(vec) == 0 {
		if r.p.cfg.Profile.PromQL.NodeCPU {
			r.warnf("no node_cpu_seconds_total series: node CPU, where %s does its work, is not measured (scrape node_exporter)", r.p.cfg.Profile.Name())
		}
		return nil
	}
	f := r.group(ctx, "node", func(m model.Metric) string { return string(m["instance"]) })
	var out []result.Resource
	for _, inst := range f.keys() {
		base := result.Resource{Component: "node/" + inst, Role: result.RoleNode, Node: inst, Source: "prometheus", MemoryMetric: "used"}
		out = append(out, f.resource(inst, base, r.at, r.expected()))
	}
	return out
}

// latency queries each of the profile's latency histograms: per component on the local
// platform, over the application namespaces on Kubernetes.
func (r *promRun) latency(ctx context.Context) []result.ProxyLatency {
	var out []result.ProxyLatency
	for _, lm := range r.p.cfg.Profile.Latency {
		name := lm.Metric
		if lm.Matchers != "" {
			name += "{" + lm.Matchers + "}"
		}
		matchers := ""
		if lm.Matchers != "" {
			matchers = lm.Matchers + ","
		}
		scale := 1.0
		if lm.Seconds {
			scale = 1000
		}
		var by string
		var key func(model.Metric) (string, bool)
		switch {
		case len(r.processes) > 0:
			var inst []string
			for i, t := range r.processes {
				if string(t.Role) == lm.Role {
					inst = append(inst, i)
				}
			}
			if len(inst) == 0 {
				continue
			}
			matchers += `instance=~"` + promRegex(inst) + `",`
			by = "instance,"
			key = func(m model.Metric) (string, bool) {
				t, ok := r.processes[string(m["instance"])]
				return t.Name, ok
			}
		case r.vars["namespaces"] != "":
			if lm.NamespaceLabel != "" {
				matchers += lm.NamespaceLabel + `=~"$namespaces",`
			}
			key = func(model.Metric) (string, bool) { return "", true }
		default:
			continue
		}
		extra := map[string]string{"metric": lm.Metric, "matchers": expand(matchers, r.vars), "by": by}
		byComp := map[string]*result.ProxyLatency{}
		var comps []string
		get := func(c string) *result.ProxyLatency {
			if pl, ok := byComp[c]; ok {
				return pl
			}
			pl := &result.ProxyLatency{Source: "prometheus", Component: c, Name: name}
			byComp[c] = pl
			comps = append(comps, c)
			return pl
		}
		var texts, errs []string
		for _, q := range []struct {
			name string
			set  func(*result.ProxyLatency, float64)
		}{
			{"latency_count", func(pl *result.ProxyLatency, v float64) { pl.Count = v }},
			{"latency_p50", func(pl *result.ProxyLatency, v float64) { pl.P50MS = v * scale }},
			{"latency_p99", func(pl *result.ProxyLatency, v float64) { pl.P99MS = v * scale }},
		} {
			vec, text, err := r.query(ctx, q.name, extra)
			texts = append(texts, text)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			for _, s := range vec {
				c, ok := key(s.Metric)
				if !ok {
					continue
				}
				v := float64(s.Value)
				if math.IsNaN(v) {
					get(c).Error = "no requests in the window"
					continue
				}
				q.set(get(c), v)
			}
		}
		if len(comps) == 0 {
			msg := "no series"
			if len(errs) > 0 {
				msg = joinNotes(errs)
			}
			out = append(out, result.ProxyLatency{Source: "prometheus", Name: name, Query: strings.Join(texts, "; "), Error: msg})
			continue
		}
		sort.Strings(comps)
		for _, c := range comps {
			pl := byComp[c]
			pl.Query = strings.Join(texts, "; ")
			if pl.Count == 0 && pl.Error == "" {
				pl.Error = "no requests in the window"
			}
			if pl.Error != "" {
				pl.P50MS, pl.P99MS = 0, 0
			}
			out = append(out, *pl)
		}
	}
	return out
}
