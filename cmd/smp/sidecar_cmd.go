package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"

	"github.com/spf13/cobra"

	"github.com/service-mesh-performance/smp/internal/sidecar"
)

type sidecarFlags struct {
	config     string
	cpuProfile string
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
			stop, err := startCPUProfile(f.cpuProfile, filepath.Base(filepath.Dir(f.config)))
			if err != nil {
				return err
			}
			defer stop()
			return sidecar.Main(cmd.Context(), f.config, s.out, s.err)
		},
	}
	cmd.Flags().StringVar(&f.config, "config", "", "the sidecar's JSON configuration")
	addCPUProfileFlag(cmd, &f.cpuProfile)
	return cmd
}

// cpuProfileDirEnv names a directory where every `smp sidecar` and `smp app` that
// `smp run` starts writes a CPU profile, NAME.pprof, for as long as it runs: the local
// platform passes its environment on, not flags.
const cpuProfileDirEnv = "SMP_CPUPROFILE_DIR"

// addCPUProfileFlag adds the hidden --cpuprofile flag of `smp sidecar` and `smp app`.
func addCPUProfileFlag(cmd *cobra.Command, dst *string) {
	cmd.Flags().StringVar(dst, "cpuprofile", "", "write a CPU profile (pprof) to FILE until the process stops; "+
		"default $"+cpuProfileDirEnv+"/NAME.pprof when that is set")
	_ = cmd.Flags().MarkHidden("cpuprofile")
}

// startCPUProfile starts profiling to path, or to $SMP_CPUPROFILE_DIR/name.pprof when
// path is empty; neither set: nothing. stop writes the profile out.
func startCPUProfile(path, name string) (stop func(), err error) {
	if path == "" {
		dir := os.Getenv(cpuProfileDirEnv)
		if dir == "" {
			return func() {}, nil
		}
		path = filepath.Join(dir, name+".pprof")
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile %s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
