package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/service-mesh-performance/smp/spec"
)

type initFlags struct {
	platform string
	meshes   []string
}

func newInitCommand(s streams) *cobra.Command {
	f := &initFlags{}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Print a commented test plan to start from",
		Long: `Init prints a valid, commented test plan on standard output: a baseline arm and one arm
per --mesh, the sample app, a constant-rate open-loop workload, CPU and memory
collection, and SLO conditions. Every field is documented in docs/plan.md.`,
		Example: `  smp init > plan.yaml
  smp init --mesh builtin --mesh haproxy --mesh nginx > proxies.yaml
  smp init --platform kubernetes --mesh istio --mesh linkerd > cluster.yaml`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			opt := spec.TemplateOptions{}
			if f.platform != "" {
				p, err := parseEnum[spec.Platform]("platform", f.platform)
				if err != nil {
					return err
				}
				opt.Platform = p
			}
			for _, m := range f.meshes {
				mt, err := parseEnum[spec.MeshType]("mesh", m)
				if err != nil {
					return err
				}
				opt.Meshes = append(opt.Meshes, mt)
			}
			out, err := spec.Template(opt)
			if err != nil {
				return usageErrorf("%v", err)
			}
			_, err = s.out.Write(out)
			return err
		},
	}
	cmd.Flags().StringVar(&f.platform, "platform", "local", "where the plan runs: local or kubernetes")
	cmd.Flags().StringArrayVar(&f.meshes, "mesh", nil, "a mesh arm to compare with the baseline (repeatable)")
	_ = cmd.RegisterFlagCompletionFunc("platform", enumCompletion[spec.Platform]())
	_ = cmd.RegisterFlagCompletionFunc("mesh", enumCompletion[spec.MeshType]())
	return cmd
}

// parseEnum reads a command-line value with the same rules as the plan decoder (case,
// aliases, SMP names and numbers).
func parseEnum[T ~string](flag, value string) (T, error) {
	var zero T
	info, ok := spec.Enum(zero)
	if !ok {
		return zero, usageErrorf("--%s: not an enum", flag)
	}
	canon, err := spec.ParseEnum(zero, value)
	if err != nil {
		return zero, usageErrorf("--%s: %v (one of: %s)", flag, err, strings.Join(info.Values, ", "))
	}
	return T(canon), nil
}

func enumCompletion[T ~string]() func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	var zero T
	info, _ := spec.Enum(zero)
	var out []string
	for _, v := range info.Values {
		out = append(out, v+"\t"+info.Docs[v])
	}
	return cobra.FixedCompletions(out, cobra.ShellCompDirectiveNoFileComp)
}
