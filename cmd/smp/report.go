package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/service-mesh-performance/smp/internal/report"
)

type reportFlags struct {
	format string
	output string
	html   bool
}

func formatNames() []string {
	var out []string
	for _, f := range report.Formats() {
		out = append(out, string(f))
	}
	return out
}

// resolve picks the format: --format, else --html, else the output file's extension,
// else table.
func (f *reportFlags) resolve(cmd *cobra.Command) (report.Format, error) {
	if cmd.Flags().Changed("format") {
		if f.html && f.format != string(report.FormatHTML) {
			return "", usageErrorf("--html and --format %s disagree; give one", f.format)
		}
		format, err := report.ParseFormat(f.format)
		if err != nil {
			return "", usageErrorf("--format: %v", err)
		}
		return format, nil
	}
	if f.html {
		return report.FormatHTML, nil
	}
	if format, ok := report.FormatForPath(f.output); ok {
		return format, nil
	}
	return report.FormatTable, nil
}

// writeOutput writes data to path ("" or "-": standard output), atomically for files.
func writeOutput(s streams, path string, data []byte) error {
	if path == "" || path == "-" {
		_, err := s.out.Write(data)
		return err
	}
	if err := writeFileAtomic(path, data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeFileAtomic writes through a temporary file renamed into place, so that a reader
// never sees half a report. The file is 0600: reports and exports describe the system
// measured, and stay private until their owner shares them.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".smp-report-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func newReportCommand(s streams) *cobra.Command {
	f := &reportFlags{}
	cmd := &cobra.Command{
		Use:   "report RESULT",
		Short: "Show a result: per-arm summary, overhead with confidence intervals, MeshMark, errors, environment",
		Long: `Report renders a result document written by smp run or smp load (or - for standard
input), on standard output or to -o FILE. It also reads an SMP PerformanceTestResult (JSON
or YAML, as Meshery and protobuf write it) and fortio's result JSON, marked as imported,
with what they lack (docs/results.md):

  table     for a terminal (default)
  markdown  GitHub-flavoured tables, for a pull request or a wiki
  html      one self-contained page with charts (latency histogram, percentile spectrum
            of every arm overlaid, latency and throughput over time, CPU and memory per
            component, MeshMark), the tables, the plan and the environment
  csv       one figure per row (section, arm, metric, unit, value, baseline, delta, CI, …)
  json      the report's figures as JSON

Every format shows the same figures: each arm's repetitions pooled, the overhead of every
arm against the baseline with 95% confidence intervals, MeshMark (docs/meshmark.md),
errors by class, SLO verdicts, the plan and the environment. A result without an
analysis is analysed as smp run would have. Without --format the format follows -o's
extension (.html, .md, .csv, .json).`,
		Example: `  smp report results/20261126-101500-quickstart-3f9a.json
  smp report run.json --format markdown >> $GITHUB_STEP_SUMMARY
  smp report run.json -o report.html
  smp load http://127.0.0.1:8080/ -o - -q | smp report - --format csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := f.resolve(cmd)
			if err != nil {
				return err
			}
			doc, err := s.loadResult(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := report.Render(&buf, doc, format); err != nil {
				return err
			}
			return writeOutput(s, f.output, buf.Bytes())
		},
	}
	cmd.Flags().StringVar(&f.format, "format", "table", "output format: "+strings.Join(formatNames(), ", "))
	cmd.Flags().StringVarP(&f.output, "output", "o", "", "write to FILE instead of standard output")
	cmd.Flags().BoolVar(&f.html, "html", false, "same as --format html")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(formatNames(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}
