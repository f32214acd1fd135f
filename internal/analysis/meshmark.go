package analysis

import (
	"math"

	"github.com/service-mesh-performance/smp/result"
)

// MeshMarkVersion is the version of the MeshMark definition computed here
// (docs/meshmark.md). Change it with any change to the inputs, weights or formula.
const MeshMarkVersion = 1

// meshMarkInput is one input of the MeshMark definition.
type meshMarkInput struct {
	name   string
	unit   string
	weight float64
	// required inputs must be present for a score; an optional one that is missing gives
	// its weight to the others and marks the score partial.
	required bool
	// cost returns the arm's cost (for goodput: its output); ok false with a reason when it
	// cannot be computed.
	cost func(ad *armData) (v float64, reason string)
	// higherIsBetter: efficiency is arm / baseline instead of baseline / arm.
	higherIsBetter bool
}

// meshMarkInputs are the inputs of MeshMark version 1 and their weights: the four
// dimensions weigh the same (a quarter each), because the SMP project never defined
// weights and no evidence says that one matters more than another for every user;
// latency's quarter is split between the median and the tail.
func meshMarkInputs() []meshMarkInput {
	return []meshMarkInput{
		{name: "latency.p50", unit: "ms", weight: 0.125, required: true, cost: latencyCost(50)},
		{name: "latency.p99", unit: "ms", weight: 0.125, required: true, cost: latencyCost(99)},
		{name: "goodput", unit: "rps", weight: 0.25, required: true, cost: goodput, higherIsBetter: true},
		{name: "cpu", unit: "mcores_per_krps", weight: 0.25, cost: cpuPerKRPS},
		{name: "memory", unit: "bytes", weight: 0.25, cost: memoryCost},
	}
}

// meshMark scores arm ad against base (docs/meshmark.md): 100 × Σ wᵢ·eᵢ / Σ wᵢ over the
// inputs present, with eᵢ = min(1, baseline cost / arm cost) (arm / baseline for goodput).
// An arm that delivered no successful request has latency and goodput efficiency 0. The
// score is absent when a required input of the baseline cannot be computed. Errors are
// returned only for undecodable histograms.
func meshMark(base, ad *armData) (*result.MeshMark, error) {
	// Decode first, so that latencyCost only sees decodable histograms.
	for _, x := range []*armData{base, ad} {
		if _, err := x.dist("latency"); err != nil {
			return nil, err
		}
	}
	m := &result.MeshMark{Version: MeshMarkVersion}
	var present float64
	complete := true
	for _, in := range meshMarkInputs() {
		mi := result.MeshMarkInput{Name: in.name, Unit: in.unit, Weight: in.weight}
		bv, why := in.cost(base)
		if why != "" {
			mi.Missing = "baseline: " + why
		} else {
			av, why := in.cost(ad)
			switch {
			case why == errNothingDelivered:
				mi.Baseline, mi.Efficiency = bv, 0
			case why != "":
				mi.Missing = why
			default:
				mi.Baseline, mi.Value, mi.Efficiency = bv, av, efficiency(bv, av, in.higherIsBetter)
			}
		}
		if mi.Missing != "" {
			if in.required {
				complete = false
			} else {
				m.Partial = true
			}
		} else {
			present += in.weight
		}
		m.Inputs = append(m.Inputs, mi)
	}
	if !complete {
		m.Partial = false
		return m, nil
	}
	var score float64
	for i := range m.Inputs {
		in := &m.Inputs[i]
		if in.Missing == "" {
			in.Points = 100 * in.Efficiency * in.Weight / present
			score += in.Points
		}
	}
	m.Score = &score
	return m, nil
}

// efficiency is baseline cost / arm cost, or arm output / baseline output, clamped to
// 0..1: an arm never scores above the baseline for doing better than it (that is noise,
// or a different workload), and a free arm scores 1.
func efficiency(base, arm float64, higherIsBetter bool) float64 {
	if higherIsBetter {
		base, arm = arm, base
	}
	if arm <= 0 {
		return 1
	}
	return math.Max(0, math.Min(1, base/arm))
}

// errNothingDelivered is the reason a cost gives for an arm without a successful request:
// its efficiency is then 0, not missing.
const errNothingDelivered = "no request succeeded"

func latencyCost(p float64) func(ad *armData) (float64, string) {
	return func(ad *armData) (float64, string) {
		if len(ad.trials) == 0 {
			return 0, "no measured trials"
		}
		pd, err := ad.dist("latency")
		if err != nil {
			return 0, err.Error()
		}
		if pd.pooled.Count() == 0 {
			return 0, errNothingDelivered
		}
		return ms(pd.pooled.Percentile(p)), ""
	}
}

// goodput is successful requests per second of measured time.
func goodput(ad *armData) (float64, string) {
	var ok, sec float64
	for _, t := range ad.trials {
		ok += float64(t.Counts.Succeeded)
		sec += t.EndTime.Sub(t.StartTime).Seconds()
	}
	switch {
	case sec <= 0:
		return 0, "no measured time"
	case ok == 0:
		return 0, errNothingDelivered
	}
	return ok / sec, ""
}

// sutTotal is the mean over trials of the summed usage of the system under test (app,
// proxy and control-plane components), picked from each role's per-trial totals. A trial
// counts when its app was measured, and (for an arm with a mesh) its proxies too.
func sutTotal(ad *armData, pick func(*roleUsage) []float64) (float64, string) {
	if len(ad.trials) == 0 {
		return 0, "no measured trials"
	}
	app, proxy, cp := pick(ad.role(result.RoleApp)), pick(ad.role(result.RoleProxy)), pick(ad.role(result.RoleControlPlane))
	var sum float64
	n, withApp := 0, 0
	for j := range ad.trials {
		if math.IsNaN(app[j]) {
			continue
		}
		withApp++
		v := app[j]
		switch {
		case !math.IsNaN(proxy[j]):
			v += proxy[j]
		case !ad.meshless:
			continue
		}
		if !math.IsNaN(cp[j]) {
			v += cp[j]
		}
		sum += v
		n++
	}
	switch {
	case withApp == 0:
		return 0, "no app resources were collected" + collectedFrom(ad)
	case n == 0:
		return 0, "the proxies were not measured" + collectedFrom(ad)
	}
	return sum / float64(n), ""
}

// cpuPerKRPS is the CPU of the system under test per 1000 requests per second handled.
func cpuPerKRPS(ad *armData) (float64, string) {
	cpu, why := sutTotal(ad, func(u *roleUsage) []float64 { return u.cpuTotal })
	if why != "" {
		return 0, why
	}
	rps, ok := throughput(ad, ones(len(ad.trials)))
	if !ok || rps <= 0 {
		return 0, "no throughput was measured"
	}
	return cpu / (rps / 1000), ""
}

// memoryCost is the memory of the system under test.
func memoryCost(ad *armData) (float64, string) {
	return sutTotal(ad, func(u *roleUsage) []float64 { return u.memTotal })
}
