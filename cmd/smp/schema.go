package main

import (
	"github.com/spf13/cobra"

	"github.com/service-mesh-performance/smp/schema"
)

func newSchemaCommand(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "schema [plan|result]",
		Short: "Print the JSON Schema of test plans or result documents",
		Long: `Schema prints a JSON Schema (draft 2020-12) generated from smp's Go types. Point your
editor at the plan schema to get completion and checks while writing plans; the same
files are in the repository under schema/.`,
		Example: `  smp schema plan > plan.schema.json
  # VS Code (YAML extension): first line of a plan
  # yaml-language-server: $schema=./plan.schema.json
  smp schema result | jq '.["$defs"] | keys'`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{"plan\ttest plans", "result\tresult documents"},
		RunE: func(_ *cobra.Command, args []string) error {
			which := "plan"
			if len(args) == 1 {
				which = args[0]
			}
			var data []byte
			switch which {
			case "plan":
				data = schema.Plan()
			case "result":
				data = schema.Result()
			default:
				return usageErrorf("unknown schema %q: use plan or result", which)
			}
			_, err := s.out.Write(data)
			return err
		},
	}
}
