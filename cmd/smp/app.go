package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/service-mesh-performance/smp/internal/redact"
	"github.com/service-mesh-performance/smp/spec"
)

// Exit codes. CI scripts rely on them, so they are part of the CLI's contract (docs/ci.md).
// A command that SIGINT or SIGTERM stopped exits 128 + the signal's number instead
// (interruption).
const (
	exitOK          = 0
	exitFailure     = 1 // the command failed (or, for validate, a plan is invalid)
	exitUsage       = 2 // bad flags or arguments, or a plan that does not load
	exitSLO         = 3 // the run worked and an SLO condition failed
	exitRateNotHeld = 4 // the run measured, but an open-loop trial did not hold the rate asked
)

// streams are where a command reads and writes: data to out, status and errors to err;
// redactor is what keeps secrets out of both (protect), and limits bound what commands
// read. Tests that build streams without protect get no redaction and the default limits.
type streams struct {
	in       io.Reader
	out, err io.Writer
	redactor *redact.Redactor
	limits   *inputLimits
}

// exitError carries an exit code up to run. A silent one has already told the user.
type exitError struct {
	code   int
	err    error
	silent bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// run executes the command line and returns the process exit code. Only run prints
// errors, once, at the top.
func run(ctx context.Context, args []string, s streams) int {
	s = s.protect()
	root := newRootCommand(s)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitFailure
	var ee *exitError
	var planErrs spec.Errors
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case errors.As(err, &planErrs):
		code = exitUsage
	case isUsageError(err):
		code = exitUsage
	}
	if i, ok := interruptedBy(ctx); ok {
		// Whatever the command made of it, it ended because it was told to stop.
		code = i.exitCode()
	}
	if ee != nil && ee.silent {
		return code
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		fmt.Fprintf(s.err, "smp: error:\n%s\n", indent(msg))
	} else {
		fmt.Fprintf(s.err, "smp: error: %s\n", msg)
	}
	if code == exitUsage && isUsageError(err) {
		fmt.Fprintln(s.err, "Run 'smp --help' for usage.")
	}
	return code
}

// isUsageError recognises cobra's and pflag's complaints about the command line.
func isUsageError(err error) bool {
	msg := err.Error()
	for _, prefix := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "invalid argument",
		"flag needs an argument", "accepts ", "requires at least", "requires at most", "required flag"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}

func newRootCommand(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "smp",
		Short: "Measure what a service mesh costs, the Service Mesh Performance way",
		Long: `smp measures what a service mesh costs: added latency across the whole distribution,
lost throughput, errors, and CPU and memory per proxy, against a no-mesh baseline measured
the same way in the same run. It reads a test plan (its own format, an SMP
PerformanceTestConfig, or a Meshery {test:, mesh:} file) and writes a result document that
exports to SMP and fortio formats.

Exit codes: 0 ok, 1 failure, 2 bad usage or invalid plan, 3 an SLO condition failed,
4 a run measured but did not hold the rate asked (--allow-rate-miss accepts it),
130 or 143 stopped by SIGINT or SIGTERM (the partial result is written).`,
		Example: `  smp init > plan.yaml             # a commented plan to start from
  smp validate plan.yaml           # errors point at file:line:col with a fix
  smp schema plan > plan.schema.json
  smp export results/run.json --format smp --yaml
  smp version`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	if s.limits != nil {
		s.limits.bind(root)
	}
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.err)
	helpAsWritten(root, s.out)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: err}
	})
	root.AddCommand(
		newVersionCommand(s),
		newValidateCommand(s),
		newInitCommand(s),
		newSchemaCommand(s),
		newExportCommand(s),
		newAppCommand(s),
		newSidecarCommand(s),
		newRunCommand(s),
		newLoadCommand(s),
		newAgentCommand(s),
		newReportCommand(s),
		newCompareCommand(s),
		newResultsCommand(s),
		newCleanupCommand(s),
		newCertifyCommand(s),
	)
	return root
}

// helpAsWritten prints help past the redactor of out: help is smp's own words, and its
// example header (-H 'Authorization: Bearer x') and the note on --token-file read as
// credentials to the redactor, which replaced the rest of their lines with a marker.
// Help prints no flag values, so a secret on the same command line stays unprinted.
func helpAsWritten(root *cobra.Command, out io.Writer) {
	plain := out
	if u, ok := out.(interface{ Unwrap() io.Writer }); ok {
		plain = u.Unwrap()
	}
	help := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		c.SetOut(plain)
		help(c, args)
		if c == root {
			c.SetOut(out)
		} else {
			c.SetOut(nil) // back to the root's
		}
	})
}
