package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/service-mesh-performance/smp/result"
)

type exportFlags struct {
	format string
	output string
	arm    string
	yaml   bool
}

func newExportCommand(s streams) *cobra.Command {
	f := &exportFlags{}
	cmd := &cobra.Command{
		Use:   "export RESULT",
		Short: "Convert a result document to SMP or fortio format",
		Long: `Export writes a result document in another format, on standard output or to -o FILE:

  smp     SMP messages: the PerformanceTestConfig, the EnvironmentConfig, and a
          ServiceMeshConfig and PerformanceTestResult per arm (latencies in milliseconds,
          from the pooled histograms). With --arm, one bare PerformanceTestResult.
          --yaml (or -o FILE.yaml) writes YAML.
  fortio  fortio's result JSON (DurationHistogram in seconds with Data buckets and
          Percentiles, RetCodes, ActualQPS, …), which fortio's report browser and Meshery
          read. One object per arm; an array when there are several arms and no --arm.

RESULT is a file written by smp run or smp load, or - for standard input.`,
		Example: `  smp export results/20261126-101500-quickstart-3f9a.json --format smp
  smp export run.json --format smp --arm builtin -o result.yaml
  smp export run.json --format fortio --arm baseline -o baseline.json   # for fortio report`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return exportCmd(cmd.Context(), s, f, args[0]) },
	}
	cmd.Flags().StringVar(&f.format, "format", "smp", "output format: smp or fortio")
	cmd.Flags().StringVarP(&f.output, "output", "o", "", "write to FILE instead of standard output (.yaml/.yml selects YAML)")
	cmd.Flags().StringVar(&f.arm, "arm", "", "export only this arm")
	cmd.Flags().BoolVar(&f.yaml, "yaml", false, "write YAML instead of JSON (smp format)")
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"smp\tSMP messages", "fortio\tfortio result JSON"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// exportCmd writes the result document at path ("-": standard input) in f.format.
func exportCmd(ctx context.Context, s streams, f *exportFlags, path string) error {
	doc, err := s.loadResult(ctx, path)
	if err != nil {
		return err
	}
	abs, _ := filepath.Abs(path)
	opt := result.ExportOptions{Arm: f.arm, YAML: f.yaml, DetailsURI: "file://" + filepath.ToSlash(abs)}
	if path == "-" {
		opt.DetailsURI = "urn:smp:run:" + doc.ID
	}
	if ext := strings.ToLower(filepath.Ext(f.output)); ext == ".yaml" || ext == ".yml" {
		opt.YAML = true
	}
	var buf bytes.Buffer
	switch f.format {
	case "smp":
		err = result.ExportSMP(&buf, doc, opt)
	case "fortio":
		if opt.YAML {
			return usageErrorf("fortio's format is JSON; drop --yaml")
		}
		err = result.ExportFortio(&buf, doc, opt)
	default:
		return usageErrorf("unknown format %q: use smp or fortio", f.format)
	}
	if err != nil {
		return err
	}
	if f.output == "" || f.output == "-" {
		_, err = s.out.Write(buf.Bytes())
		return err
	}
	if err := writeFileAtomic(f.output, buf.Bytes()); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}
