package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/service-mesh-performance/smp/internal/experiment"
	"github.com/service-mesh-performance/smp/internal/report"
	"github.com/service-mesh-performance/smp/internal/term"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// runCommon are the flags `run` and `load` share.
type runCommon struct {
	slo           []string
	quiet         bool
	progress      string
	errorCeiling  string
	allowRateMiss bool
}

// applyWorkload sets workload.error_ceiling from --error-ceiling, and
// workload.allow_rate_miss from --allow-rate-miss.
func (c *runCommon) applyWorkload(w *spec.Workload) error {
	if c.allowRateMiss {
		w.AllowRateMiss = true
	}
	if c.errorCeiling == "" {
		return nil
	}
	v, err := spec.ParseRatio(c.errorCeiling)
	if err != nil {
		return usageErrorf("--error-ceiling: %v", err)
	}
	if v < 0 || v > 1 {
		return usageErrorf("--error-ceiling %s: use a share between 0%% and 100%%", c.errorCeiling)
	}
	w.ErrorCeiling = &v
	return nil
}

func (c *runCommon) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&c.errorCeiling, "error-ceiling", "", "a trial with more failed requests than this (e.g. 10%) fails the run, exit 1 (workload.error_ceiling, default 10%)")
	cmd.Flags().BoolVar(&c.allowRateMiss, "allow-rate-miss", false, "exit 0 (or 3) when an open-loop trial did not hold its rate, instead of 4 (workload.allow_rate_miss)")
	cmd.Flags().StringArrayVar(&c.slo, "slo", nil, "an SLO condition such as 'latency.p99 < 25ms' (repeatable; exit 3 when one fails)")
	cmd.Flags().BoolVarP(&c.quiet, "quiet", "q", false, "no progress or status lines on stderr")
	cmd.Flags().StringVar(&c.progress, "progress", "auto", "progress display: auto, live, lines or quiet")
	_ = cmd.RegisterFlagCompletionFunc("progress", cobra.FixedCompletions([]string{"auto", "live", "lines", "quiet"}, cobra.ShellCompDirectiveNoFileComp))
}

func (c *runCommon) mode() (term.Mode, error) {
	if c.quiet {
		return term.Quiet, nil
	}
	switch c.progress {
	case "auto":
		return term.Auto, nil
	case "live":
		return term.Live, nil
	case "lines":
		return term.Lines, nil
	case "quiet":
		return term.Quiet, nil
	}
	return 0, usageErrorf("--progress %q: use auto, live, lines or quiet", c.progress)
}

func (c *runCommon) conditions() ([]spec.Condition, error) {
	var out []spec.Condition
	for _, s := range c.slo {
		cond, err := spec.ParseCondition(s)
		if err != nil {
			return nil, usageErrorf("--slo %q: %v", s, err)
		}
		out = append(out, cond)
	}
	return out, nil
}

// runOutput says where a run's result goes and which table is printed.
type runOutput struct {
	file         string              // exact path; "" = <output.dir>/<id>.json
	onlyWithFile bool                // write the result only to file (smp load without -o writes none)
	table        string              // "trial" (smp load) or "overhead" (smp run)
	baseDir      string              // the plan's folder
	html         bool                // also write the HTML report next to the result (--html, output.html)
	certificate  *result.Certificate // embedded in the result (smp run --certificate)
}

// runPlan runs a plan, writes its result, prints the table and turns the outcome into an
// exit code (runOutcome).
func runPlan(ctx context.Context, s streams, plan *spec.Plan, c runCommon, extra []spec.Condition, out runOutput) error {
	mode, err := c.mode()
	if err != nil {
		return err
	}
	flagConds, err := c.conditions()
	if err != nil {
		return err
	}
	opt := experiment.Options{Progress: mode, BaseDir: out.baseDir, SLO: append(extra, flagConds...), Certificate: out.certificate,
		Redactor: s.redactor}
	if mode != term.Quiet {
		opt.Status = s.err
	}
	doc, runErr := experiment.Run(ctx, plan, opt)
	if doc == nil {
		return runErr
	}
	path, htmlPath, err := saveResult(doc, plan, out)
	if err != nil {
		return err
	}
	switch {
	case doc.Status == result.StatusFailed:
		// Nothing was measured: the error below says why, and an empty table would only
		// stand in front of it.
	case out.table == "trial":
		for i := range doc.Trials {
			if doc.Trials[i].Status == result.StatusFailed {
				continue
			}
			if err := report.Trial(s.out, &doc.Trials[i]); err != nil {
				return err
			}
		}
	default:
		if err := report.Overhead(s.out, doc); err != nil {
			return err
		}
	}
	if mode != term.Quiet && path != "" {
		fmt.Fprintf(s.err, "smp: result written to %s\n", path)
		if htmlPath != "" {
			fmt.Fprintf(s.err, "smp: report written to %s\n", htmlPath)
		}
	}
	return runOutcome(doc, runErr, path)
}

// saveResult writes the result document where out says (nowhere for smp load without
// -o) and, when asked, the HTML report next to it; it returns both paths ("": none).
func saveResult(doc *result.Document, plan *spec.Plan, out runOutput) (path, htmlPath string, err error) {
	path = out.file
	if path == "" && !out.onlyWithFile {
		path = filepath.Join(plan.Output.Dir, doc.ID+".json")
	}
	if path == "" {
		return "", "", nil
	}
	if err := doc.Save(path); err != nil {
		return "", "", err
	}
	if out.html || plan.Output.HTML {
		htmlPath = strings.TrimSuffix(path, filepath.Ext(path)) + ".html"
		if err := writeHTMLReport(doc, htmlPath); err != nil {
			return "", "", err
		}
	}
	return path, htmlPath, nil
}

// runOutcome turns a run's outcome into the command's error and exit code, following
// the document's own verdict (Analysis.Outcome): 1 when nothing could be measured or a
// trial is not a measurement (report.RunFailure: no request succeeded, too many failed),
// 4 when an open-loop trial did not hold its rate (report.RateNotHeld), 3 when an SLO
// condition failed. An interrupted run is an error that run turns into 128 + the signal.
func runOutcome(doc *result.Document, runErr error, path string) error {
	if errors.Is(runErr, context.Canceled) || doc.Status == result.StatusInterrupted {
		if path == "" {
			return &exitError{code: exitFailure, err: errors.New("interrupted")}
		}
		return &exitError{code: exitFailure, err: fmt.Errorf("interrupted; the partial result is in %s", path)}
	}
	if doc.Status == result.StatusFailed {
		return &exitError{code: exitFailure, err: fmt.Errorf("no trial produced a measurement: %s", strings.Join(doc.Errors, "; "))}
	}
	if why := report.RunFailure(doc); why != "" {
		return &exitError{code: exitFailure, err: errors.New(why)}
	}
	a := doc.Analysis
	if a == nil {
		return nil
	}
	if a.Outcome == result.OutcomeRateNotHeld {
		lines := []string{report.RateNotHeld(doc) + "; the result is written, but not at the rate asked (--allow-rate-miss accepts such a run)"}
		if !a.Pass {
			lines = append(lines, sloFailed(a.SLO).Error())
		}
		return &exitError{code: exitRateNotHeld, err: errors.New(strings.Join(lines, "\n"))}
	}
	if !a.Pass {
		return sloFailed(a.SLO)
	}
	return nil
}

// sloFailed is the exit 3 of a run or comparison whose SLO conditions did not all pass,
// with one line per failed condition.
func sloFailed(rs []result.SLOResult) error {
	var lines []string
	for _, r := range rs {
		if !r.Pass {
			lines = append(lines, "SLO failed: "+r.Message)
		}
	}
	return &exitError{code: exitSLO, err: errors.New(strings.Join(lines, "\n"))}
}

// writeHTMLReport writes the self-contained HTML report of doc to path.
func writeHTMLReport(doc *result.Document, path string) error {
	var buf bytes.Buffer
	if err := report.Render(&buf, doc, report.FormatHTML); err != nil {
		return err
	}
	if err := writeFileAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	return nil
}

type runFlags struct {
	arms        []string
	repetitions int
	duration    time.Duration
	output      string
	resultsDir  string
	html        bool
	kubeconfig  string
	kubeContext string
	findMax     bool
	certificate string
	common      runCommon
}

func newRunCommand(s streams) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run PLAN",
		Short: "Run a test plan: deploy each arm, load it, measure, compare with the baseline",
		Long: `Run executes a test plan: for each trial (arms × repetitions, interleaved) it deploys the
application and the arm's proxies, checks that traffic really goes through every proxy,
warms up, measures, collects CPU and memory over the measured window, and tears down.
Then it compares every arm with the baseline and prints the overhead table.

The result document is written to <output.dir>/<id>.json (./results by default), or to
-o FILE; with --html (or output.html: true in the plan) the HTML report goes next to it,
as <id>.html. Ctrl-C (SIGINT) or SIGTERM stops the run, tears everything down and writes
the partial result.
The exit code is 3 when an SLO condition fails (plan's slo section or --slo); 4 when a
trial measured but did not hold its open-loop rate (requests skipped, or sent late: the
target, the connections or the machine could not keep up), unless --allow-rate-miss
(workload.allow_rate_miss) accepts it; 1 when a trial is not a measurement: none of its
requests succeeded, or more than workload.error_ceiling (--error-ceiling, default 10%)
failed; 130 or 143 when SIGINT or SIGTERM stopped it. When several apply, the code is
the first of 130/143, 1, 4 and 3, and the result document's analysis.outcome says the
same (docs/ci.md).

A plan with environment.platform: kubernetes runs on the cluster that --kubeconfig and
--context name (else the plan's environment.kubeconfig and context, else $KUBECONFIG or
~/.kube/config and its current context, else the in-cluster service account): each arm
gets its own namespaces, the meshes must already be installed (smp detects them and checks
every pod's proxy container and the strict-mTLS objects), and the load runs in the
cluster: workload.agents smp agent pods per arm, or else fortio's server in a pod
(docs/kubernetes.md). smp cleanup removes what a killed run left there.

--find-max (or workload.find_max) measures each arm's capacity instead of one rate: short
open-loop steps, doubling from find_max.start_rate (halving while even that is too much),
then bisecting, find the highest rate whose p99 and error rate stay within find_max's
limits (docs/capacity.md). The newest smp certify certificate in the results folder is
embedded in the result (--certificate), and smp compare warns about runs from
uncertified or different environments (docs/certify.md).`,
		Example: `  smp run examples/quickstart.yaml
  smp run plan.yaml --arms baseline,builtin --repetitions 3 --duration 1m
  smp run plan.yaml --slo 'overhead.latency.p99 < 5ms' -o result.json
  smp run plan.yaml --html            # results/<id>.json and results/<id>.html
  smp run cluster.yaml --kubeconfig ~/.kube/bench --context bench`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runCmd(cmd.Context(), s, f, args[0]) },
	}
	f.bind(cmd)
	return cmd
}

// bind defines the command's flags on f.
func (f *runFlags) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVar(&f.arms, "arms", nil, "run only these arms (comma-separated names)")
	fl.IntVar(&f.repetitions, "repetitions", 0, "measure each arm this many times (overrides the plan)")
	fl.DurationVar(&f.duration, "duration", 0, "length of each measured phase (overrides the plan)")
	fl.StringVarP(&f.output, "output", "o", "", "write the result document to FILE")
	fl.StringVar(&f.resultsDir, "results", "", "folder for the result document (overrides output.dir)")
	fl.BoolVar(&f.html, "html", false, "also write the HTML report next to the result (<result>.html; as output.html: true)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (platform kubernetes; overrides environment.kubeconfig, else $KUBECONFIG, ~/.kube/config, in-cluster)")
	fl.StringVar(&f.kubeContext, "context", "", "kubeconfig context (platform kubernetes; overrides environment.context, else the current context)")
	fl.BoolVar(&f.findMax, "find-max", false, "search each arm's highest rate within find_max's p99 and error-rate limits (workload.find_max's settings or their defaults)")
	fl.StringVar(&f.certificate, "certificate", "auto", "smp certify certificate to embed: FILE, auto (the newest in the results folder) or none")
	f.common.bind(cmd)
}

// runCmd runs the plan at path with the command line's overrides.
func runCmd(ctx context.Context, s streams, f *runFlags, path string) error {
	plan, err := s.loadPlan(ctx, path)
	if err != nil {
		return err
	}
	plan, err = f.override(plan)
	if err != nil {
		return err
	}
	if f.resultsDir != "" {
		plan.Output.Dir = f.resultsDir
	}
	cert, err := resolveCertificate(s, f.certificate, plan.Output.Dir, f.common.quiet)
	if err != nil {
		return err
	}
	return runPlan(ctx, s, plan, f.common, nil,
		runOutput{file: f.output, table: "overhead", baseDir: filepath.Dir(path), html: f.html, certificate: cert})
}

// override applies command-line overrides to a loaded plan and validates it again, so an
// override cannot produce a plan that would not have loaded.
func (f *runFlags) override(plan *spec.Plan) (*spec.Plan, error) {
	p := *plan
	if len(f.arms) > 0 {
		var arms []spec.Arm
		for _, name := range f.arms {
			found := false
			for _, a := range plan.Arms {
				if a.Name == name {
					arms = append(arms, a)
					found = true
				}
			}
			if !found {
				var names []string
				for _, a := range plan.Arms {
					names = append(names, a.Name)
				}
				return nil, usageErrorf("--arms: the plan has no arm %q (arms: %s)", name, strings.Join(names, ", "))
			}
		}
		p.Arms = arms
		if !containsArm(arms, p.Baseline) {
			p.Baseline = ""
		}
	}
	if f.repetitions != 0 {
		p.Repetitions = f.repetitions
	}
	if f.duration != 0 {
		p.Workload.Duration = spec.Duration(f.duration)
	}
	if f.findMax {
		p.Workload.FindMax.Enabled = true
	}
	if err := f.common.applyWorkload(&p.Workload); err != nil {
		return nil, err
	}
	if f.kubeconfig != "" || f.kubeContext != "" {
		if p.Environment.Platform != spec.PlatformKubernetes {
			return nil, usageErrorf("--kubeconfig and --context apply to plans with environment.platform: kubernetes")
		}
		if f.kubeconfig != "" {
			p.Environment.Kubeconfig = f.kubeconfig
		}
		if f.kubeContext != "" {
			p.Environment.Context = f.kubeContext
		}
	}
	full := p.WithDefaults()
	if err := full.Validate(); err != nil {
		return nil, err
	}
	return full, nil
}

func containsArm(arms []spec.Arm, name string) bool {
	for _, a := range arms {
		if a.Name == name {
			return true
		}
	}
	return false
}
