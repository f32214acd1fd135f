package collect_test

import (
	"strings"
	"testing"

	"github.com/service-mesh-performance/smp/internal/collect"
	"github.com/service-mesh-performance/smp/result"
)

func TestMerge(t *testing.T) {
	res := func(comp, src string, cpu float64, mem int64, metric string, samples int, errText string) result.Resource {
		return result.Resource{Component: comp, Role: result.RoleProxy, Source: src, CPUMcoresAvg: cpu, CPUMcoresMax: cpu,
			MemoryBytesAvg: mem, MemoryBytesMax: mem, MemoryMetric: metric, Samples: samples, Error: errText}
	}
	const m = 1 << 20
	sets := []collect.Set{
		{Source: "procfs", Resources: []result.Resource{
			res("agree", "procfs", 100, 50*m, "rss", 30, ""),
			res("cpu-off", "procfs", 100, 50*m, "rss", 30, ""),
			res("mem-off", "procfs", 100, 50*m, "rss", 30, ""),
			res("idle", "procfs", 2, 10*m, "rss", 30, ""),
			res("gone", "procfs", 0, 0, "rss", 0, "process 7 was not found"),
		}},
		{Source: "prometheus", Resources: []result.Resource{
			res("agree", "prometheus", 115, 55*m, "rss", 15, ""),
			res("cpu-off", "prometheus", 130, 50*m, "rss", 15, ""),
			res("mem-off", "prometheus", 100, 70*m, "rss", 15, ""),
			res("idle", "prometheus", 9, 10*m+512<<10, "rss", 15, ""), // +350%, but 7 mcores: under the floor
			res("gone", "prometheus", 40, 20*m, "rss", 15, ""),
			res("cp", "prometheus", 10, 80*m, "working_set", 15, ""),
		}},
		{Source: "envoy-admin", Resources: []result.Resource{
			res("agree", "envoy-admin", 0, 9*m, "allocated", 15, ""),
			res("envoy-only", "envoy-admin", 0, 9*m, "allocated", 15, ""),
		}},
	}
	out, warnings := collect.Merge(sets)
	got := map[string]result.Resource{}
	var order []string
	for _, r := range out {
		got[r.Component] = r
		order = append(order, r.Component)
	}
	if strings.Join(order, " ") != "agree cpu-off mem-off idle gone cp envoy-only" {
		t.Errorf("order %v", order)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "cpu-off: procfs measured 100 mcores of CPU, prometheus 130 (+30%)") ||
		!strings.Contains(warnings[1], "mem-off: procfs measured 50.0 MiB of memory (rss), prometheus 70.0 MiB (+40%)") {
		t.Errorf("warnings %q", warnings)
	}
	a := got["agree"]
	if a.Source != "procfs" || len(a.CrossChecks) != 2 || *a.CrossChecks[0].CPUDiffPercent != 15 || *a.CrossChecks[0].MemoryDiffPercent != 10 ||
		a.CrossChecks[1].Source != "envoy-admin" || a.CrossChecks[1].CPUDiffPercent != nil || a.CrossChecks[1].MemoryDiffPercent != nil {
		t.Errorf("agree: %+v", a)
	}
	// A figure that could not be measured gives way to one that could.
	if g := got["gone"]; g.Source != "prometheus" || g.CPUMcoresAvg != 40 || len(g.CrossChecks) != 1 || g.CrossChecks[0].Error == "" {
		t.Errorf("gone: %+v", g)
	}
	// Envoy alone: no figures stand for the component, the Envoy ones are kept beside.
	if e := got["envoy-only"]; e.CPUMcoresAvg != 0 || e.MemoryBytesAvg != 0 || e.Samples != 0 || !strings.Contains(e.Error, "reports no CPU") ||
		len(e.CrossChecks) != 1 || e.CrossChecks[0].MemoryBytesAvg != 9*m {
		t.Errorf("envoy-only: %+v", e)
	}
	if c := got["cp"]; c.Source != "prometheus" || len(c.CrossChecks) != 0 {
		t.Errorf("cp: %+v", c)
	}
}
