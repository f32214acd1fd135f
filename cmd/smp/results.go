package main

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/service-mesh-performance/smp/internal/history"
	"github.com/service-mesh-performance/smp/internal/report"
)

type resultsFlags struct {
	dir    string
	name   string
	arm    string
	labels []string
	since  string
	quiet  bool
	report reportFlags
}

func newResultsCommand(s streams) *cobra.Command {
	f := &resultsFlags{}
	cmd := &cobra.Command{
		Use:   "results",
		Short: "The history of runs in the results folder: list them, show one",
		Long: `smp run writes every result to the results folder (./results, or the plan's output.dir)
as <id>.json, with an id that sorts by time and names the plan:
20261126-101500-quickstart-3f9a. These commands read that folder.`,
		Example: `  smp results list
  smp results list --name quickstart --since 7d --label branch=main
  smp results show 20261126-1015          # any unique prefix of the id
  smp results show 20261126-1015 --format markdown`,
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().StringVar(&f.dir, "dir", "results", "the results folder")
	cmd.AddCommand(newResultsListCommand(s, f), newResultsShowCommand(s, f))
	return cmd
}

func newResultsListCommand(s streams, f *resultsFlags) *cobra.Command {
	list := &cobra.Command{
		Use:   "list",
		Short: "List the runs in the results folder, oldest first",
		Long: `List shows every result document of the folder, oldest first: its id, start time (UTC),
name, arms, status (with SLO verdicts) and the latency p99 of each arm, repetitions
pooled. Filters combine: --name (a shell pattern), --arm, --label k=v (repeatable; all
must match), --since (a duration back from now such as 24h or 7d, or a date such as
2026-11-01). Files that are not result documents are skipped with a note on stderr.`,
		Example: `  smp results list
  smp results list --dir out --name 'istio-*' --arm istio --since 2026-11-01`,
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error { return resultsList(s, f) },
	}
	list.Flags().StringVar(&f.name, "name", "", "only runs whose name matches this shell pattern")
	list.Flags().StringVar(&f.arm, "arm", "", "only runs with this arm")
	list.Flags().StringArrayVar(&f.labels, "label", nil, "only runs with this label, key=value (repeatable)")
	list.Flags().StringVar(&f.since, "since", "", "only runs started since: a duration back from now (24h, 7d) or a date (2026-11-01)")
	list.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "no notes on stderr")
	return list
}

// resultsList prints the table of the results folder's runs that pass the filters.
func resultsList(s streams, f *resultsFlags) error {
	filter := history.Filter{Name: f.name, Arm: f.arm}
	if len(f.labels) > 0 {
		filter.Labels = map[string]string{}
		for _, kv := range f.labels {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return usageErrorf("--label %q: write key=value", kv)
			}
			filter.Labels[k] = v
		}
	}
	if f.since != "" {
		t, err := history.ParseSince(f.since, time.Now())
		if err != nil {
			return usageErrorf("--%v", err)
		}
		filter.Since = t
	}
	entries, skipped, err := history.List(f.dir, filter)
	if err != nil {
		return err
	}
	if !f.quiet {
		for _, sk := range skipped {
			fmt.Fprintf(s.err, "smp: skipped %s\n", sk)
		}
	}
	if len(entries) == 0 {
		if !f.quiet {
			fmt.Fprintf(s.err, "smp: no results in %s match\n", f.dir)
		}
		return nil
	}
	return history.WriteTable(s.out, entries)
}

func newResultsShowCommand(s streams, f *resultsFlags) *cobra.Command {
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one run's report, found by its id or a unique prefix of it",
		Long: `Show finds a result in the results folder by its id, or any prefix of it that only one
result has, and prints its report, as smp report does (same --format and -o).`,
		Example: `  smp results show 20261126-101500-quickstart-3f9a
  smp results show 20261126-1015 --format html -o run.html`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := f.report.resolve(cmd)
			if err != nil {
				return err
			}
			path, err := history.Find(f.dir, args[0])
			if err != nil {
				return err
			}
			doc, err := s.loadResult(cmd.Context(), path)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := report.Render(&buf, doc, format); err != nil {
				return err
			}
			return writeOutput(s, f.report.output, buf.Bytes())
		},
	}
	show.Flags().StringVar(&f.report.format, "format", "table", "output format: "+strings.Join(formatNames(), ", "))
	show.Flags().StringVarP(&f.report.output, "output", "o", "", "write to FILE instead of standard output")
	show.Flags().BoolVar(&f.report.html, "html", false, "same as --format html")
	_ = show.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(formatNames(), cobra.ShellCompDirectiveNoFileComp))
	return show
}
