package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/service-mesh-performance/smp/internal/analysis"
	"github.com/service-mesh-performance/smp/internal/certify"
	"github.com/service-mesh-performance/smp/internal/report"
	"github.com/service-mesh-performance/smp/spec"
)

type compareFlags struct {
	baseline string
	slo      []string
	format   string
	output   string
}

func newCompareCommand(s streams) *cobra.Command {
	f := &compareFlags{}
	cmd := &cobra.Command{
		Use:   "compare RESULT RESULT...",
		Short: "Compare runs side by side: deltas with confidence intervals, significance, SLO gates",
		Long: `Compare puts the same arms of several runs side by side (other meshes, versions, days, a
pull request against main): every arm of every run against the same arm of the baseline
run (the first RESULT, or --baseline), paired by name, or the single arm of each when both
runs have one. Each difference has a 95% confidence interval from the spread of the
repetitions, as smp run computes it, and a verdict: "significant, worse", "significant,
better", "no significant change" or "below resolution" (smaller than the instrument can
tell). The verdicts of the whole comparison are one family: Holm's correction holds the
chance of any false "significant" among them to 5%.

A RESULT may also be an SMP PerformanceTestResult or a fortio JSON result (a Meshery or
fortio history): it is marked imported, with what it lacks, and its differences have no
interval or verdict, since its histogram is rebuilt from a summary.

A run measured elsewhere (other cores, CPU, kernel, Kubernetes version, load generator
or workload) is compared all the same, with a warning; so is a run without an smp certify
certificate or whose environment failed certification, runs certified in different
environments, and runs whose calibration was noisy (docs/certify.md). Arms measured once
get intervals that hold the noise of the requests only, and no verdict; a result without
any measured trial is refused (exit 2).

--slo conditions are evaluated on every arm of every run but the baseline run;
overhead.* means "against the same arm of the baseline run": 'overhead.latency.p99 < 5%'
fails when an arm's p99 grew by 5% or more. The exit code is then 3, with one line per
violated condition.`,
		Example: `  smp compare results/main.json results/pr.json
  smp compare main.json pr.json --slo 'overhead.latency.p99 < 5%' --slo 'error_rate < 0.1%'
  smp compare istio.json linkerd.json cilium.json --baseline linkerd --format markdown
  smp compare a.json b.json --format json -o comparison.json
  smp compare smp-run.json fortio.json meshery-result.yaml`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error { return compareCmd(cmd.Context(), s, f, args) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.baseline, "baseline", "", "the run the others are compared with: its file, label (file name without .json) or id (prefix); default the first")
	fl.StringArrayVar(&f.slo, "slo", nil, "an SLO condition on the compared runs, e.g. 'overhead.latency.p99 < 5%' (repeatable; exit 3 when one fails)")
	fl.StringVar(&f.format, "format", "table", "output format: table, markdown, csv or json")
	fl.StringVarP(&f.output, "output", "o", "", "write to FILE instead of standard output")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"table", "markdown", "csv", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// compareCmd compares the runs of the files in args and prints the comparison; exit 3 when an SLO
// condition fails, 2 when a result has no measured trial.
func compareCmd(ctx context.Context, s streams, f *compareFlags, args []string) error {
	format, err := report.ParseFormat(f.format)
	if err != nil || format == report.FormatHTML {
		return usageErrorf("--format %q: use table, markdown, csv or json", f.format)
	}
	var conds []spec.Condition
	for _, text := range f.slo {
		c, err := spec.ParseCondition(text)
		if err != nil {
			return usageErrorf("--slo %q: %v", text, err)
		}
		conds = append(conds, c)
	}
	var runs []report.Run
	for i, path := range args {
		doc, err := s.loadResult(ctx, path)
		if err != nil {
			return err
		}
		runs = append(runs, report.Run{Label: runLabel(path, i, args), Doc: doc})
	}
	base, err := pickBaseline(f.baseline, args, runs)
	if err != nil {
		return err
	}
	c, err := report.Compare(runs, base, conds, analysis.Options{})
	if errors.Is(err, report.ErrNothingMeasured) {
		return &exitError{code: exitUsage, err: err}
	}
	if err != nil {
		return err
	}
	c.Warnings = append(c.Warnings, certificateWarnings(runs, base)...)
	var buf bytes.Buffer
	if err := c.Render(&buf, format); err != nil {
		return err
	}
	if err := writeOutput(s, f.output, buf.Bytes()); err != nil {
		return err
	}
	if !c.Pass {
		return sloFailed(c.SLO)
	}
	return nil
}

// certificateWarnings are smp certify's doubts about comparing each run with the
// baseline run (certify.Compatible): a run from an uncertified environment or one that
// failed certification, certificates of different environments, noisy calibrations.
// Each is said once, however many runs it concerns.
func certificateWarnings(runs []report.Run, base int) []string {
	var out []string
	seen := map[string]bool{}
	for i, r := range runs {
		if i == base {
			continue
		}
		for _, w := range certify.Compatible(runs[base].Doc, r.Doc) {
			if !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
	}
	return out
}

// runLabel names a run by its file name without .json; when two runs would share a
// label, each gets its position too ("run#1", "run#2").
func runLabel(path string, i int, all []string) string {
	label := func(p string) string {
		if p == "-" {
			return "stdin"
		}
		return strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
	}
	l := label(path)
	for j, other := range all {
		if j != i && label(other) == l {
			return fmt.Sprintf("%s#%d", l, i+1)
		}
	}
	return l
}

// pickBaseline finds the --baseline run: by path, label, id, or unique id prefix.
func pickBaseline(want string, paths []string, runs []report.Run) (int, error) {
	if want == "" {
		return 0, nil
	}
	var prefix []int
	for i, r := range runs {
		if paths[i] == want || r.Label == want || r.Doc.ID == want {
			return i, nil
		}
		if strings.HasPrefix(r.Doc.ID, want) {
			prefix = append(prefix, i)
		}
	}
	if len(prefix) == 1 {
		return prefix[0], nil
	}
	var labels []string
	for _, r := range runs {
		labels = append(labels, r.Label)
	}
	if len(prefix) > 1 {
		return 0, usageErrorf("--baseline %q matches %d runs; give more of the id or a label (%s)", want, len(prefix), strings.Join(labels, ", "))
	}
	return 0, usageErrorf("--baseline %q is none of the runs (%s)", want, strings.Join(labels, ", "))
}
