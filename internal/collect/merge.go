package collect

import (
	"fmt"
	"math"

	"github.com/service-mesh-performance/smp/result"
)

// Disagreement thresholds of Merge's cross-check: two collectors disagree about a
// component when their figures differ by more than CrossCheckRatio of the primary figure
// and by more than an absolute floor. The floors keep idle components quiet: procfs and a
// scraped process_cpu_seconds_total both count 10 ms clock ticks, so over a 30 s window
// they may differ by a few mcores on a component that uses almost nothing, which is no
// disagreement worth a warning; 1 MiB is below any process's memory noise.
const (
	CrossCheckRatio  = 0.20
	crossCheckCPU    = 10      // mcores
	crossCheckMemory = 1 << 20 // bytes
)

// Set is one collector's resources of a trial.
type Set struct {
	Source    string
	Resources []result.Resource
}

// noCPU lists the sources that report no CPU: their figures never stand for a component.
func noCPU(source string) bool { return source == "envoy-admin" }

// usable reports whether a figure can stand for the component: measured without error,
// or with an error after at least two samples (as the analysis counts it).
func usable(r result.Resource) bool { return r.Error == "" || r.Samples >= 2 }

// Merge combines the resources of several collectors, given in order of precedence, into
// one entry per component: the first usable figure from a source that measures CPU
// stands for the component, and every other collector's figure of it is kept in its
// CrossChecks, with the difference in percent where both measured the same thing (CPU;
// memory of the same metric). A difference beyond CrossCheckRatio (and the floors above)
// returns a warning; both values stay in the result. A component only Envoy's admin
// endpoint measured gets an entry with no figures and an Error saying so, and the Envoy
// figures as its cross-check, so that its missing CPU is never read as zero.
//
// Components keep the order in which they first appear.
func Merge(sets []Set) ([]result.Resource, []string) {
	type entry struct{ all []result.Resource }
	byComp := map[string]*entry{}
	var order []string
	for _, s := range sets {
		for _, r := range s.Resources {
			e := byComp[r.Component]
			if e == nil {
				e = &entry{}
				byComp[r.Component] = e
				order = append(order, r.Component)
			}
			e.all = append(e.all, r)
		}
	}
	var out []result.Resource
	var warnings []string
	for _, comp := range order {
		all := byComp[comp].all
		primary := -1
		for i, r := range all {
			if !noCPU(r.Source) && usable(r) {
				primary = i
				break
			}
		}
		if primary < 0 {
			for i, r := range all {
				if !noCPU(r.Source) {
					primary = i
					break
				}
			}
		}
		var p result.Resource
		if primary >= 0 {
			p = all[primary]
		} else {
			f := all[0]
			p = result.Resource{Component: f.Component, Role: f.Role, Service: f.Service, PID: f.PID,
				Namespace: f.Namespace, Pod: f.Pod, Container: f.Container, Node: f.Node, Source: f.Source,
				Error: f.Source + " measured this component, and it reports no CPU; its figures are in cross_checks"}
		}
		for i, r := range all {
			if i == primary {
				continue
			}
			c := checkOf(r)
			if usable(p) && primary >= 0 && usable(r) {
				if !noCPU(r.Source) && (p.Samples >= 2 || p.CPUMcoresAvg > 0) && (r.Samples >= 2 || r.CPUMcoresAvg > 0) {
					if d, ok := diffPercent(r.CPUMcoresAvg, p.CPUMcoresAvg); ok {
						c.CPUDiffPercent = &d
						if math.Abs(r.CPUMcoresAvg-p.CPUMcoresAvg) > crossCheckCPU && math.Abs(d) > CrossCheckRatio*100 {
							warnings = append(warnings, fmt.Sprintf("%s: %s measured %.0f mcores of CPU, %s %.0f (%+.0f%%): the collectors disagree by more than %.0f%%; both figures are kept (cross_checks)",
								comp, p.Source, p.CPUMcoresAvg, r.Source, r.CPUMcoresAvg, d, CrossCheckRatio*100))
						}
					}
				}
				if r.MemoryMetric == p.MemoryMetric && r.MemoryBytesAvg > 0 && p.MemoryBytesAvg > 0 {
					if d, ok := diffPercent(float64(r.MemoryBytesAvg), float64(p.MemoryBytesAvg)); ok {
						c.MemoryDiffPercent = &d
						if math.Abs(float64(r.MemoryBytesAvg-p.MemoryBytesAvg)) > crossCheckMemory && math.Abs(d) > CrossCheckRatio*100 {
							warnings = append(warnings, fmt.Sprintf("%s: %s measured %s of memory (%s), %s %s (%+.0f%%): the collectors disagree by more than %.0f%%; both figures are kept (cross_checks)",
								comp, p.Source, mib(p.MemoryBytesAvg), p.MemoryMetric, r.Source, mib(r.MemoryBytesAvg), d, CrossCheckRatio*100))
						}
					}
				}
			}
			p.CrossChecks = append(p.CrossChecks, c)
		}
		out = append(out, p)
	}
	return out, warnings
}

func checkOf(r result.Resource) result.ResourceCheck {
	return result.ResourceCheck{Source: r.Source, Query: r.Query, CPUMcoresAvg: r.CPUMcoresAvg, CPUMcoresMax: r.CPUMcoresMax,
		MemoryBytesAvg: r.MemoryBytesAvg, MemoryBytesMax: r.MemoryBytesMax, MemoryMetric: r.MemoryMetric,
		OtherMemory: r.OtherMemory, Samples: r.Samples, Error: r.Error, Stats: r.Stats}
}

// diffPercent is (v − base) / base × 100, rounded to a tenth; false when base is 0.
func diffPercent(v, base float64) (float64, bool) {
	if base == 0 {
		return 0, false
	}
	return math.Round((v-base)/base*1000) / 10, true
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
