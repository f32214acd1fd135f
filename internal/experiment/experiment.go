// Package experiment runs a test plan: it orders the trials (arms × repetitions,
// interleaved), and for each one deploys the arm, applies the load, collects resource
// usage over the measured window and tears the arm down; then it analyses the whole and
// returns the result document. A failure in one trial is recorded in its result and the
// run goes on; cancelling the context (Ctrl-C) ends the run early with everything torn
// down and the partial result returned.
//
// It also holds the other workflows of the command line, so that cmd/smp only turns
// flags into one call: the plan of a load run against one URL (LoadPlan), the
// certification of an environment with its calibration runs (Certify), and the clean-up
// of what runs left on a cluster (Cleanup).
//
// It reaches platforms through their contract (internal/platform) and opens the one a
// plan names through internal/platform/open; only cmd/smp imports it.
package experiment

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/service-mesh-performance/smp/internal/analysis"
	"github.com/service-mesh-performance/smp/internal/certify"
	"github.com/service-mesh-performance/smp/internal/collect"
	"github.com/service-mesh-performance/smp/internal/engine"
	"github.com/service-mesh-performance/smp/internal/generator"
	"github.com/service-mesh-performance/smp/internal/mesh"
	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/internal/platform/open"
	"github.com/service-mesh-performance/smp/internal/redact"
	"github.com/service-mesh-performance/smp/internal/term"
	"github.com/service-mesh-performance/smp/internal/version"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// Options tune a run. The zero value runs the plan as written, quietly.
type Options struct {
	// Status receives status lines and progress (normally stderr). nil: discard.
	Status io.Writer
	// Progress selects how load progress is shown on Status.
	Progress term.Mode
	// BaseDir is the plan's folder, for relative paths in it.
	BaseDir string
	// SLO adds conditions to the plan's (e.g. from --slo flags).
	SLO []spec.Condition
	// NewPlatform builds the platform for a run; nil uses the one the plan names.
	NewPlatform func(ctx context.Context, plan *spec.Plan, runID string) (platform.Platform, error)
	// Collectors replace the ones the plan names (tests).
	Collectors []collect.Collector
	// Now is the clock for run ids and times; nil uses time.Now.
	Now func() time.Time
	// Certificate is the `smp certify` certificate of this environment, embedded in the
	// result; what makes it not apply (another machine, stale, not a pass) becomes a
	// warning of the run. nil: the run is uncertified.
	Certificate *result.Certificate
	// Redactor replaces the secrets of the plan (and any it finds) in the document, the
	// status lines and the error Run returns. nil: one with a random salt, whose markers
	// compare within this run only (the CLI passes the user's, see internal/redact).
	Redactor *redact.Redactor
}

// TrialPlan is one trial to run.
type TrialPlan struct {
	Arm        spec.Arm
	Repetition int
	Order      int
}

// Schedule orders the trials of a plan: interleaved (each round runs every arm once, in
// plan order), sequential (all repetitions of an arm, then the next) or random (each
// round in an order drawn from the plan's seed, so it is reproducible).
func Schedule(p *spec.Plan) []TrialPlan {
	var out []TrialPlan
	add := func(a spec.Arm, rep int) {
		out = append(out, TrialPlan{Arm: a, Repetition: rep, Order: len(out) + 1})
	}
	switch p.Order {
	case spec.OrderSequential:
		for _, a := range p.Arms {
			for rep := 1; rep <= p.Repetitions; rep++ {
				add(a, rep)
			}
		}
	case spec.OrderRandom:
		r := rand.New(rand.NewPCG(uint64(p.Seed), 0x736d70)) // "smp"
		for rep := 1; rep <= p.Repetitions; rep++ {
			for _, i := range r.Perm(len(p.Arms)) {
				add(p.Arms[i], rep)
			}
		}
	default:
		for rep := 1; rep <= p.Repetitions; rep++ {
			for _, a := range p.Arms {
				add(a, rep)
			}
		}
	}
	return out
}

// run is Run before redaction.
func run(ctx context.Context, plan *spec.Plan, opt Options) (*result.Document, error) {
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	status := opt.Status
	if status == nil {
		status = io.Discard
	}
	status = term.Locked(status) // the agents' controller warns while the progress line is drawn
	start := now()
	id := result.NewID(plan.Name, start)
	doc := result.New(id, plan.Name, start)
	doc.Labels = plan.Labels
	doc.Plan = plan
	doc.Environment = captureEnvironment(plan)
	if c := opt.Certificate; c != nil {
		doc.Certificate = c
		doc.Warnings = append(doc.Warnings, certify.Applies(c, doc.Environment, start)...)
	}
	v := version.Get()
	doc.Tools = append(doc.Tools, result.Tool{Name: "smp", Version: v.Version + " " + v.Commit, Role: "smp"})

	newPlatform := opt.NewPlatform
	if newPlatform == nil {
		newPlatform = open.Platform
	}
	pf, err := newPlatform(ctx, plan, id)
	if err != nil {
		return nil, err
	}
	defer pf.Close()
	if err := pf.Check(ctx); err != nil {
		return nil, err
	}
	env := pf.Describe(ctx)
	describeEnvironment(doc, env)
	// environment.expect against what was found: reported, not enforced (docs/plan.md).
	for _, w := range expectationWarnings(plan.Environment.Expect, doc.Environment) {
		doc.Warnings = append(doc.Warnings, w)
		fmt.Fprintf(status, "smp: warning: %s\n", w)
	}

	runGen, stop, err := runGenerator(ctx, plan, opt.BaseDir, id, env.Load, agentLog(status))
	if err != nil {
		return nil, err
	}
	defer stop()
	// Name the trials' generator from the start, so that the tools and a trial that
	// fails before load say so; one the platform brings is checked here too.
	gen, _, err := trialGenerator(plan, runGen, platform.Load{Kind: env.Load}, id, nil)
	if err != nil {
		return nil, err
	}
	if c, ok := gen.(generator.Checker); ok && env.Load != platform.LoadNone {
		if err := c.Check(ctx, plan.Workload); err != nil {
			return nil, plan.Errorf("workload", "use an http/1.1 workload with keep-alive and one kind of request on Kubernetes", "%v", err)
		}
	}
	doc.Tools = append(doc.Tools, result.Tool{Name: string(gen.Info().Name), Version: gen.Info().Version, Role: "load_generator"})

	schedule := Schedule(plan)
	for _, tp := range schedule {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(status, "smp: trial %d/%d: %s (repetition %d of %d)\n", tp.Order, len(schedule), tp.Arm.Name, tp.Repetition, plan.Repetitions)
		t := runTrial(ctx, plan, pf, runGen, gen.Info(), tp, opt, status, doc, env)
		doc.Trials = append(doc.Trials, t)
		if t.Status == result.StatusFailed {
			fmt.Fprintf(status, "smp: trial %s failed: %s\n", t.ID, t.Error)
			doc.Errors = append(doc.Errors, fmt.Sprintf("trial %s: %s", t.ID, t.Error))
		}
	}
	doc.EndTime = now().UTC()
	doc.Status = runStatus(doc, len(schedule), ctx.Err() != nil)

	a, aerr := analysis.Analyze(doc, opt.SLO, analysis.Options{})
	if aerr != nil {
		doc.Warnings = append(doc.Warnings, "analysis: "+aerr.Error())
	} else {
		doc.Analysis = a
	}
	if ctx.Err() != nil {
		return doc, ctx.Err()
	}
	return doc, nil
}

func runStatus(doc *result.Document, planned int, interrupted bool) result.Status {
	failed := 0
	for _, t := range doc.Trials {
		if t.Status == result.StatusFailed {
			failed++
		}
	}
	switch {
	case interrupted:
		return result.StatusInterrupted
	case failed == len(doc.Trials):
		return result.StatusFailed
	case failed > 0 || len(doc.Trials) < planned:
		return result.StatusPartial
	}
	for _, t := range doc.Trials {
		if t.Status == result.StatusPartial {
			return result.StatusPartial
		}
	}
	return result.StatusComplete
}

// runTrial deploys an arm, loads it, collects, and tears it down. It never returns an
// error: a failure becomes the trial's status and message.
func runTrial(ctx context.Context, plan *spec.Plan, pf platform.Platform, runGen generator.Generator, named result.GeneratorInfo,
	tp TrialPlan, opt Options, status io.Writer, doc *result.Document, env platform.Environment) result.Trial {
	t := result.Trial{ID: fmt.Sprintf("%s-%d", tp.Arm.Name, tp.Repetition), Arm: tp.Arm.Name,
		Repetition: tp.Repetition, Order: tp.Order, Generator: named,
		Mesh: result.MeshInfo{Type: tp.Arm.Mesh, Version: tp.Arm.Version, DataPlane: tp.Arm.DataPlane,
			MTLS: tp.Arm.MTLS, ProxyConcurrency: tp.Arm.ProxyConcurrency}}
	fail := func(err error) result.Trial {
		t.Status = result.StatusFailed
		t.Error = err.Error()
		if t.StartTime.IsZero() {
			t.StartTime = time.Now().UTC()
			t.EndTime = t.StartTime
		}
		return t
	}

	d, err := pf.Deploy(ctx, tp.Arm)
	if err != nil {
		// Platforms name the arm in their errors ("deploy mesh: …"), as os names the file.
		return fail(err)
	}
	defer func() {
		// Tear down even when the run was interrupted, with a fresh deadline.
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := pf.Teardown(tctx, d); err != nil {
			fmt.Fprintf(status, "smp: teardown of %s: %v\n", tp.Arm.Name, err)
			doc.Warnings = append(doc.Warnings, fmt.Sprintf("teardown of trial %s: %v", t.ID, err))
		}
	}()
	observeDeployment(&t, d, doc)
	gen, loadWarnings, err := trialGenerator(plan, runGen, d.Load, doc.ID, agentLog(status))
	if err != nil {
		return fail(err)
	}
	t.Warnings = append(t.Warnings, loadWarnings...)
	started, warnings := startCollectors(ctx, plan, tp.Arm, opt.Collectors, d, env.NodeCAdvisor)
	t.Warnings = append(t.Warnings, warnings...)
	defer func() {
		for _, c := range started {
			c.Stop()
		}
	}()

	lt, err := applyLoad(ctx, plan, gen, opt, status, tp.Arm.Name, d.Target)
	if err != nil {
		return fail(err)
	}
	lt.ID, lt.Arm, lt.Repetition, lt.Order, lt.Mesh = t.ID, t.Arm, t.Repetition, t.Order, t.Mesh
	lt.Warnings = append(t.Warnings, lt.Warnings...)
	t = lt

	window := collect.Window{Start: t.StartTime, End: t.EndTime}
	t.Resources, t.ProxyLatency, t.Warnings = collectAll(ctx, started, window, t.Warnings)
	if w := saturation(t.Resources, systemCPUs(env, doc.Environment.Cores)); w != "" {
		t.Warnings = append(t.Warnings, w)
	}
	if ctx.Err() != nil && t.Status == result.StatusComplete {
		t.Status = result.StatusPartial
	}
	if why := analysis.NothingSucceeded(t); why != "" && t.Search == nil {
		// Its latency is of no request and its throughput of failures. The trial stays
		// complete; the analysis calls the run failed (Analysis.Failed, exit code 1).
		t.Warnings = append(t.Warnings, why+": the trial has no latency")
	}
	return t
}

// observeDeployment records in the trial (and the run's tools) what the platform found
// deployed: the mesh as observed, its proxies, and the deployment's warnings.
func observeDeployment(t *result.Trial, d *platform.Deployment, doc *result.Document) {
	if d.Mesh.Version != "" {
		t.Mesh.Version = d.Mesh.Version
	}
	t.Mesh.ProxyVersion = d.Mesh.ProxyVersion
	t.Mesh.Proxies = d.Mesh.Proxies
	if d.Mesh.ProxyConcurrency != 0 {
		t.Mesh.ProxyConcurrency = d.Mesh.ProxyConcurrency
	}
	for _, tool := range d.Tools {
		addTool(doc, result.Tool{Name: tool.Name, Version: tool.Version, Path: tool.Path, Role: "proxy"})
	}
	t.Warnings = append(t.Warnings, d.Warnings...)
}

// startCollectors starts the collectors of a trial (the given ones, else those the plan
// names for the arm) on the deployment's components; one that does not start is a
// warning, and the others go on.
func startCollectors(ctx context.Context, plan *spec.Plan, arm spec.Arm, given []collect.Collector, d *platform.Deployment, nodes *platform.NodeEndpoint) (started []collect.Collector, warnings []string) {
	collectors := given
	if collectors == nil {
		collectors, warnings = collectorsFor(plan, arm, nodes)
	}
	targets := targetsOf(d)
	for _, c := range collectors {
		if err := c.Start(ctx, targets); err != nil {
			warnings = append(warnings, fmt.Sprintf("collector %s did not start: %v", c.Name(), err))
			continue
		}
		started = append(started, c)
	}
	return started, warnings
}

// applyLoad runs the trial's load on target, showing its progress on status, or searches
// the arm's capacity with find_max.
func applyLoad(ctx context.Context, plan *spec.Plan, gen generator.Generator, opt Options, status io.Writer, arm string, target platform.Target) (result.Trial, error) {
	job := generator.Job{Workload: plan.Workload, Metrics: plan.Metrics, BaseDir: opt.BaseDir, Target: target}
	if opt.Progress != term.Quiet && opt.Status != nil {
		pp := term.NewProgressPrinter(status, opt.Progress)
		job.Progress = func(p engine.Progress) { pp.Update(progressLine(p)) }
		defer pp.Done()
	}
	if fm := plan.Workload.FindMax; fm.Enabled {
		return findMax(ctx, gen, job, fm, status, arm)
	}
	return gen.Run(ctx, job)
}

// progressLine is the engine's progress as the status line shows it.
func progressLine(p engine.Progress) term.Progress {
	return term.Progress{Phase: p.Phase.String(), Elapsed: p.Elapsed, PhaseDuration: p.PhaseDuration,
		Requests: p.Requests, Errors: p.Errors, Rate: p.Rate, RequestedRate: p.RequestedRate,
		InFlight: p.InFlight, P50: p.P50, P99: p.P99}
}

// saturationShare is the share of its CPUs above which the system under test queues for
// CPU: at 80% busy, a request arriving at random already waits about as long as it is
// served (M/M/1), so latency says more about CPU than about the mesh.
const saturationShare = 0.8

// saturation warns when the application and its proxies used most of the CPUs they had.
func saturation(res []result.Resource, cpus int) string {
	if cpus <= 0 {
		return ""
	}
	var used float64
	for _, r := range res {
		if r.Role == result.RoleApp || r.Role == result.RoleProxy {
			used += r.CPUMcoresAvg
		}
	}
	if used < saturationShare*float64(cpus)*1000 {
		return ""
	}
	return fmt.Sprintf("the system under test used %.0f%% of its %d CPU(s) (%.0f mcores of apps and proxies, "+
		"not counting the kernel's network work): latency includes waiting for CPU; lower the rate or give it more CPUs",
		used/float64(cpus*10), cpus, used)
}

// systemCPUs is how many CPUs the system under test may use.
func systemCPUs(env platform.Environment, all int) int {
	if env.SystemCPUs != "" {
		return countCPUs(env.SystemCPUs)
	}
	return all
}

// countCPUs counts the CPUs of a list such as "1-3,5".
func countCPUs(list string) int {
	n := 0
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		switch {
		case err1 != nil:
		case !isRange:
			n++
		case err2 == nil && b >= a:
			n += b - a + 1
		}
	}
	return n
}

func addTool(doc *result.Document, tool result.Tool) {
	for _, t := range doc.Tools {
		if t.Name == tool.Name && t.Version == tool.Version {
			return
		}
	}
	doc.Tools = append(doc.Tools, tool)
}

// targetsOf lists what collectors observe: the deployment's components and the load
// generator, which runs in this process.
func targetsOf(d *platform.Deployment) []collect.Target {
	if slices.ContainsFunc(d.Components, func(c platform.Component) bool { return c.Role == result.RoleLoadGenerator }) {
		return slices.Clone(d.Components)
	}
	self := platform.Component{Name: "load-generator", Role: result.RoleLoadGenerator, PID: os.Getpid()}
	return append([]platform.Component{self}, d.Components...)
}

// Collector construction and the cross-check of their results. -------------------------

// collectorsFor builds every collector the plan names, for one arm (the Prometheus
// collector's default queries come from the arm's mesh profile; a cadvisor collector
// without a URL reads every node through nodes, when the platform gave it); the warnings
// say which could not be built. They are returned in order of precedence (see
// collectAll).
func collectorsFor(plan *spec.Plan, arm spec.Arm, nodes *platform.NodeEndpoint) (out []collect.Collector, warnings []string) {
	pf := mesh.Local
	if plan.Environment.Platform == spec.PlatformKubernetes {
		pf = mesh.Kubernetes
	}
	profile, ok := mesh.For(pf, arm.Mesh, arm.DataPlane)
	if !ok {
		warnings = append(warnings, fmt.Sprintf("no mesh profile for %s (%s) on %s; the prometheus collector uses the baseline's queries", arm.Mesh, arm.DataPlane, pf))
		profile, _ = mesh.For(pf, spec.MeshNone, "")
	}
	// Keep samples for the whole trial, whatever its length.
	retention := plan.Workload.Duration.D() + time.Minute
	if w := plan.Workload.Warmup; w != nil {
		retention += w.D()
	}
	configured := plan.Metrics.Collectors
	if pf == mesh.Local && !slices.ContainsFunc(configured, func(c spec.Collector) bool { return c.Type == spec.CollectorProcfs }) {
		// procfs stays on on the local platform: it is exact per process tree, and the
		// reference the other collectors are cross-checked against.
		configured = append([]spec.Collector{{Type: spec.CollectorProcfs, Interval: plan.Metrics.Interval}}, configured...)
	}
	for _, c := range configured {
		var col collect.Collector
		var err error
		ep := collect.EndpointConfig{Interval: c.Interval.D(), Retention: retention, Port: c.Port, URL: c.URL, BearerTokenFile: c.BearerTokenFile}
		switch c.Type {
		case spec.CollectorProcfs:
			col, err = collect.NewProcFS(collect.ProcFSConfig{Interval: c.Interval.D(), Retention: retention})
		case spec.CollectorPrometheus:
			col, err = collect.NewPrometheus(collect.PrometheusConfig{URL: c.URL, BearerTokenFile: c.BearerTokenFile,
				Interval: c.Interval.D(), Job: c.Job, Queries: c.Queries, Profile: profile, TargetsFile: c.TargetsFile})
		case spec.CollectorEnvoyAdmin:
			col, err = collect.NewEnvoyAdmin(ep)
		case spec.CollectorLinkerdProxy:
			col, err = collect.NewLinkerdProxy(ep)
		case spec.CollectorCAdvisor:
			if nodes != nil && ep.URL == "" {
				// Every node's kubelet, through the API server.
				ep.NodeURL, ep.Client = nodes.URL, nodes.Client
			}
			col, err = collect.NewCAdvisor(ep)
		default:
			err = fmt.Errorf("unknown collector type")
		}
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("collector %s: %v", c.Type, err))
			continue
		}
		out = append(out, col)
	}
	sort.SliceStable(out, func(i, j int) bool { return precedence(out[i].Name()) < precedence(out[j].Name()) })
	return out, warnings
}

// precedence orders collectors for collect.Merge: procfs (the local default, exact per
// process tree) first, then the container-level sources, then the proxies' own figures;
// Envoy's admin endpoint, which reports no CPU, last.
func precedence(name string) int {
	for i, n := range []string{"procfs", "prometheus", "cadvisor", "linkerd-proxy", "envoy-admin"} {
		if n == name {
			return i
		}
	}
	return 99
}

// collectAll asks each started collector for the window, in order, and merges what they
// report: one resource per component (the first collector's that measured it), the
// others' figures kept beside it, and a warning where two disagree by more than 20%
// (collect.Merge). A collector that fails loses only its own figures: the error becomes
// a trial warning.
func collectAll(ctx context.Context, started []collect.Collector, w collect.Window, warnings []string) ([]result.Resource, []result.ProxyLatency, []string) {
	var sets []collect.Set
	var latency []result.ProxyLatency
	for _, c := range started {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		res, err := c.Collect(cctx, w)
		cancel()
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("collector %s: %v", c.Name(), err))
		}
		if n, ok := c.(collect.Noter); ok && err == nil {
			notes := n.Notes()
			latency = append(latency, notes.ProxyLatency...)
			warnings = append(warnings, notes.Warnings...)
		}
		sets = append(sets, collect.Set{Source: c.Name(), Resources: res})
	}
	merged, disagree := collect.Merge(sets)
	return merged, latency, append(warnings, disagree...)
}
