package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/service-mesh-performance/smp/internal/experiment"
)

type cleanupFlags struct {
	run        string
	all        bool
	kubeconfig string
	context    string
	timeout    time.Duration
}

// newCleanupCommand is `smp cleanup`: remove what smp left on a cluster.
func newCleanupCommand(s streams) *cobra.Command {
	f := &cleanupFlags{}
	cmd := &cobra.Command{
		Use:   "cleanup (--run ID | --all)",
		Short: "Remove what smp runs left on a Kubernetes cluster (found by label)",
		Long: `Cleanup deletes the namespaces and mesh objects that smp created on a cluster and that
are still there: after a crash, a kill -9, or a run with environment.kubernetes.keep. It
finds them by label (app.kubernetes.io/managed-by=smp, and smp.dev/run=<key> with --run),
deletes them and waits for the namespaces to go. --run takes a run id (the result's id)
or its 10-digit key (the middle of the namespace names).`,
		Example: `  smp cleanup --run 20260101-120000-quickstart-ab12
  smp cleanup --all --context kind-bench`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cleanupCmd(cmd.Context(), s, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.run, "run", "", "remove what this run (id or key) left")
	fl.BoolVar(&f.all, "all", false, "remove what every smp run left")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG, ~/.kube/config, in-cluster)")
	fl.StringVar(&f.context, "context", "", "kubeconfig context (default the current context)")
	fl.DurationVar(&f.timeout, "timeout", 5*time.Minute, "how long to wait for the namespaces to go")
	return cmd
}

func cleanupCmd(ctx context.Context, s streams, f *cleanupFlags) error {
	if (f.run == "") == !f.all {
		return usageErrorf("give exactly one of --run ID and --all")
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	rm, err := experiment.Cleanup(ctx, f.kubeconfig, f.context, f.run)
	for _, ns := range rm.Namespaces {
		fmt.Fprintf(s.out, "namespace %s\n", ns)
	}
	for _, o := range rm.Objects {
		fmt.Fprintln(s.out, o)
	}
	if err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	if len(rm.Namespaces)+len(rm.Objects) == 0 {
		fmt.Fprintln(s.err, "smp: nothing to clean up")
	}
	return nil
}
