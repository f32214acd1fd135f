package main

import (
	"github.com/spf13/cobra"

	"github.com/service-mesh-performance/smp/internal/sidecar"
)

type sidecarFlags struct {
	config string
}

// newSidecarCommand is the builtin sidecar process that the local platform starts,
// one per service: hidden, as users never type it.
func newSidecarCommand(s streams) *cobra.Command {
	f := &sidecarFlags{}
	cmd := &cobra.Command{
		Use:    "sidecar --config FILE.json",
		Short:  "Run smp's builtin sidecar proxy (started by the local platform)",
		Hidden: true,
		Long: `Runs the builtin sidecar described by a JSON file (internal/sidecar.Config) until it
receives SIGINT or SIGTERM. Once every listener serves, it prints one line of JSON to
stdout, {"ready":true,"inbound":…,"outbounds":[…],"admin":…}, and nothing else;
logs go to stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.config == "" {
				return usageErrorf("--config is required")
			}
			return sidecar.Main(cmd.Context(), f.config, s.out, s.err)
		},
	}
	cmd.Flags().StringVar(&f.config, "config", "", "the sidecar's JSON configuration")
	return cmd
}
