package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/service-mesh-performance/smp/internal/version"
)

type versionFlags struct {
	output string
}

func newVersionCommand(s streams) *cobra.Command {
	f := &versionFlags{}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print smp's version, commit and Go version",
		Example: `  smp version
  smp version -o json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			info := version.Get()
			switch f.output {
			case "text":
				_, err := fmt.Fprintln(s.out, info.String())
				return err
			case "json":
				enc := json.NewEncoder(s.out)
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			return usageErrorf("unknown output format %q: use text or json", f.output)
		},
	}
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}
