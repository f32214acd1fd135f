package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/service-mesh-performance/smp/spec"
)

type validateFlags struct {
	output string
}

// validation is the machine-readable verdict on one file.
type validation struct {
	File   string        `json:"file"`
	Valid  bool          `json:"valid"`
	Shape  string        `json:"-"`
	Errors []*spec.Error `json:"errors"`
}

func newValidateCommand(s streams) *cobra.Command {
	f := &validateFlags{}
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check test plans without running them",
		Long: `Validate loads each plan (smp's format, an SMP PerformanceTestConfig or a Meshery
{test:, mesh:} file; YAML or JSON), applies defaults and checks it. Every problem is
reported with file:line:col, the field path and a fix. It exits 1 if any plan is invalid.`,
		Example: `  smp validate plan.yaml
  smp validate examples/*.yaml
  smp validate -o json plan.yaml | jq '.[].errors[].message'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if f.output != "text" && f.output != "json" {
				return usageErrorf("unknown output format %q: use text or json", f.output)
			}
			var results []validation
			invalid := 0
			for _, file := range files {
				v := validation{File: file, Valid: true, Errors: []*spec.Error{}}
				p, err := s.loadPlan(cmd.Context(), file)
				if err != nil {
					v.Valid = false
					invalid++
					var errs spec.Errors
					if errors.As(err, &errs) {
						v.Errors = errs
					} else {
						v.Errors = []*spec.Error{{File: file, Message: err.Error(), Severity: "error"}}
					}
				}
				results = append(results, v)
				if f.output == "text" {
					if v.Valid {
						fmt.Fprintf(s.out, "%s: ok (%s)\n", file, summarizePlan(p))
					}
					for _, e := range v.Errors {
						fmt.Fprintln(s.err, e.Error())
					}
				}
			}
			if f.output == "json" {
				enc := json.NewEncoder(s.out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(results); err != nil {
					return err
				}
			}
			if invalid > 0 {
				return &exitError{code: exitFailure, silent: true, err: fmt.Errorf("%d of %d plans are invalid", invalid, len(files))}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// summarizePlan says in a few words what a valid plan will do.
func summarizePlan(p *spec.Plan) string {
	w := p.Workload
	rate := "closed loop"
	if w.Rate != nil && *w.Rate > 0 {
		rate = fmt.Sprintf("%g rps", *w.Rate)
	}
	trials := len(p.Arms) * p.Repetitions
	per := w.Duration.D()
	if w.Warmup != nil {
		per += w.Warmup.D()
	}
	return fmt.Sprintf("%s × %s = %s of %s, %s over %s on %s, about %s of load",
		plural(len(p.Arms), "arm"), plural(p.Repetitions, "repetition"), plural(trials, "trial"),
		w.Duration, rate, w.Protocol, p.Environment.Platform, totalLoad(per, trials))
}

// totalLoad is trials × per, in hours once it is past what a Duration holds.
func totalLoad(per time.Duration, trials int) string {
	if hours := per.Hours() * float64(trials); hours > 1e6 {
		return fmt.Sprintf("%.0fh", hours)
	}
	return spec.Duration(per * time.Duration(trials)).String()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
