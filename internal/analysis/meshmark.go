package analysis

import (
	"fmt"
	"math"
	"slices"

	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// MeshMarkVersion is the version of the MeshMark definition computed here
// (docs/meshmark.md). Change it with any change to the inputs, weights or formula.
const MeshMarkVersion = 2

// maxErrorShare is the highest error rate (overflow included) a trial may have and still
// be scored: above it the arm did not do the work the baseline is measured doing, and
// its latency and resources describe a failing system.
const maxErrorShare = 0.01

// meshMarkInput is one input of the MeshMark definition.
type meshMarkInput struct {
	name, unit string
	weight     float64
	// required inputs must be present for a score; an optional one that is missing leaves
	// the score to the others, marked partial, with its interval raised.
	required bool
	// higherIsBetter: efficiency is arm / baseline (capacity) instead of baseline / arm.
	higherIsBetter bool
	// cost returns the arm's pooled cost and each trial's (NaN where a trial has none),
	// or the reason it cannot be computed.
	cost func(ad *armData) (pooled float64, trials []float64, reason string)
}

// meshMarkInputs are the inputs of MeshMark version 2 for a mode. Latency (p50 and p99
// sharing a dimension), CPU and memory weigh the same; capacity joins them as a fourth
// equal dimension only where it can differ between arms (docs/meshmark.md).
func meshMarkInputs(mode string) []meshMarkInput {
	ins := []meshMarkInput{
		{name: "latency.p50", unit: "ms", required: true, cost: latencyCost(50)},
		{name: "latency.p99", unit: "ms", required: true, cost: latencyCost(99)},
		{name: "cpu", unit: "mcores_per_krps", cost: cpuPerKRPS},
		{name: "memory", unit: "bytes", cost: memoryCost},
	}
	switch mode {
	case result.MeshMarkClosedLoop:
		ins = append(ins, meshMarkInput{name: "goodput", unit: "rps", required: true, higherIsBetter: true, cost: goodput})
	case result.MeshMarkCapacity:
		ins = append(ins, meshMarkInput{name: "capacity", unit: "rps", required: true, higherIsBetter: true, cost: capacity})
	}
	dims := 3.0
	if len(ins) == 5 {
		dims = 4
	}
	for i := range ins {
		ins[i].weight = 1 / dims
		if ins[i].name == "latency.p50" || ins[i].name == "latency.p99" {
			ins[i].weight = 1 / dims / 2
		}
	}
	return ins
}

// meshMarkMode says what the trials of both arms could measure of capacity.
func meshMarkMode(base, ad *armData) string {
	trials := slices.Concat(base.trials, ad.trials)
	if len(trials) > 0 && !slices.ContainsFunc(trials, func(t result.Trial) bool { return t.Search == nil }) {
		return result.MeshMarkCapacity
	}
	if slices.ContainsFunc(trials, func(t result.Trial) bool { return t.Load.ClosedLoop }) {
		return result.MeshMarkClosedLoop
	}
	return result.MeshMarkOpenLoop
}

// meshMark scores arm ad against base (docs/meshmark.md): 100 × D × Π eᵢ^(wᵢ/W) over the
// inputs present, with eᵢ = min(1, baseline cost / arm cost) (arm / baseline for
// capacity), W the sum of their weights, and D the arm's share of offered requests that
// succeeded in an open-loop run (1 otherwise). The interval is Student's t over the
// per-trial log contributions (trialSpread). Errors are returned only for undecodable
// histograms.
func (a *analyzer) meshMark(base, ad *armData) (*result.MeshMark, error) {
	for _, x := range []*armData{base, ad} {
		if _, err := x.dist("latency"); err != nil {
			return nil, err
		}
	}
	mode := meshMarkMode(base, ad)
	m := &result.MeshMark{Version: MeshMarkVersion, Mode: mode}
	for _, x := range []*armData{base, ad} {
		if why := a.invalidTrial(x); why != "" {
			m.Invalid = why
		}
	}
	var present []meshMarkInput
	var bTrials, aTrials [][]float64
	var W, Wall float64
	complete := true
	for _, in := range meshMarkInputs(mode) {
		mi := result.MeshMarkInput{Name: in.name, Unit: in.unit, Weight: in.weight}
		Wall += in.weight
		bv, bt, why := in.cost(base)
		av, at, awhy := in.cost(ad)
		switch {
		case why != "":
			mi.Missing = "baseline: " + why
		case awhy != "":
			mi.Missing = awhy
		case !in.higherIsBetter && bv <= 0:
			mi.Missing = "baseline: " + belowResolution(in)
		case !in.higherIsBetter && av <= 0:
			mi.Missing = belowResolution(in)
		default:
			mi.Baseline, mi.Value, mi.Efficiency = bv, av, efficiency(bv, av, in.higherIsBetter)
			present = append(present, in)
			bTrials, aTrials = append(bTrials, bt), append(aTrials, at)
			W += in.weight
		}
		if mi.Missing != "" {
			complete = complete && !in.required
			m.Partial = m.Partial || !in.required
		}
		m.Inputs = append(m.Inputs, mi)
	}
	delivery := 1.0
	if mode == result.MeshMarkOpenLoop {
		bd, ad2 := offeredShare(base), offeredShare(ad)
		delivery = math.Min(1, ad2)
		m.Inputs = append(m.Inputs, result.MeshMarkInput{Name: "goodput", Unit: "ratio", Baseline: bd, Value: ad2, Efficiency: delivery})
	}
	if !complete || m.Invalid != "" || W == 0 {
		m.Partial = false
		return m, nil
	}
	logS := math.Log(delivery)
	for i := range m.Inputs {
		if in := m.Inputs[i]; in.Missing == "" && in.Weight > 0 {
			logS += in.Weight / W * math.Log(in.Efficiency)
		}
	}
	score := 100 * math.Exp(logS)
	m.Score = &score
	shareLosses(m, W, logS)
	a.meshMarkInterval(m, present, bTrials, aTrials, W, Wall, math.Log(delivery))
	return m, nil
}

// belowResolution is why a cost measured as 0 is no input: a component that used no CPU
// tick in the window is not free, it is below what the collector can see, and 0 over any
// cost would score the arm 0 (or 1, the other way round) for the instrument's grain.
func belowResolution(in meshMarkInput) string {
	return fmt.Sprintf("measured 0 %s, below the collector's resolution", in.unit)
}

// shareLosses sets each input's Factor, Efficiency^(w/W), and its part of what the arm
// lost, the 100 − score points split in proportion to each input's term of
// log(score/100). The factors multiply to score/100; the losses add up to 100 − score.
func shareLosses(m *result.MeshMark, W, logS float64) {
	lost := 100 - *m.Score
	for i := range m.Inputs {
		in := &m.Inputs[i]
		if in.Missing != "" {
			continue
		}
		term := math.Log(in.Efficiency)
		if in.Weight > 0 {
			term *= in.Weight / W
		}
		in.Factor = math.Exp(term)
		if logS < 0 && term < 0 {
			in.Lost = lost * term / logS
		}
	}
}

// meshMarkInterval sets the score's interval: log(score) is, apart from the clamps at
// efficiency 1 (left out here, which only widens it), the difference of the arms' mean
// per-trial sums Σ (wᵢ/W)·sᵢ·log costᵢ (sᵢ = −1 for costs, +1 for capacity), so the t
// interval of that difference is the interval of log(score). Missing inputs raise the
// upper end to the score the arm would have if they cost nothing.
func (a *analyzer) meshMarkInterval(m *result.MeshMark, ins []meshMarkInput, bTrials, aTrials [][]float64, W, Wall, logD float64) {
	sums := func(trials [][]float64, k int) []float64 {
		out := make([]float64, k)
		for j := range out {
			for i, in := range ins {
				sign := -1.0
				if in.higherIsBetter {
					sign = 1
				}
				out[j] += in.weight / W * sign * math.Log(trials[i][j])
			}
		}
		return out
	}
	s, ok := trialSpread(sums(bTrials, len(bTrials[0])), sums(aTrials, len(aTrials[0])), false, false)
	if !ok {
		return
	}
	lo, hi, _ := tTest(math.Log(*m.Score/100), s, a.opts.Confidence)
	if m.Partial {
		hi = math.Max(hi, W/Wall*(hi-logD)+logD)
	}
	l, h := math.Min(100, 100*math.Exp(lo)), math.Min(100, 100*math.Exp(hi))
	m.CILow, m.CIHigh, m.Confidence = &l, &h, a.opts.Confidence
}

// invalidTrial says why a trial of the arm cannot be scored, or "": an error rate
// (overflow included) above 1%, or one that breaks an error_rate SLO of the plan that
// applies to the arm.
func (a *analyzer) invalidTrial(ad *armData) string {
	var slos []spec.Condition
	if a.doc != nil && a.doc.Plan != nil {
		for _, s := range a.doc.Plan.SLO {
			c, err := s.Parse()
			if err == nil && !c.Overhead && c.Metric == "error_rate" && (len(s.Arms) == 0 || slices.Contains(s.Arms, ad.name)) {
				slos = append(slos, c)
			}
		}
	}
	for _, t := range ad.trials {
		rate := t.Counts.ErrorRate()
		what := "error rate"
		if t.Counts.Overflow > 0 {
			what = "error rate (overflow included)"
		}
		if rate > maxErrorShare {
			return fmt.Sprintf("trial %s: %s %s exceeds 1%%", t.ID, what, format(rate, "ratio"))
		}
		for _, c := range slos {
			if !c.Holds(rate) {
				return fmt.Sprintf("trial %s: %s %s breaks the SLO %s", t.ID, what, format(rate, "ratio"), conditionText(c))
			}
		}
	}
	return ""
}

// offeredShare is the share of the requests an open-loop schedule offered that
// succeeded: successful requests over the requested rate times the measured time.
func offeredShare(ad *armData) float64 {
	var ok, offered float64
	for _, t := range ad.trials {
		ok += float64(t.Counts.Succeeded)
		offered += t.Load.RequestedRateRPS * t.EndTime.Sub(t.StartTime).Seconds()
	}
	if offered <= 0 {
		return 1
	}
	return ok / offered
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

func latencyCost(p float64) func(ad *armData) (float64, []float64, string) {
	return func(ad *armData) (float64, []float64, string) {
		if len(ad.trials) == 0 {
			return 0, nil, "no measured trials"
		}
		pd, err := ad.dist("latency")
		if err != nil {
			return 0, nil, err.Error()
		}
		if pd.pooled.Count() == 0 {
			return 0, nil, "no request succeeded"
		}
		logs := logPercentiles(pd, p)
		for j := range logs {
			logs[j] = math.Exp(logs[j])
		}
		return ms(pd.pooled.Percentile(p)), logs, ""
	}
}

// goodput is successful requests per second of measured time (closed loop).
func goodput(ad *armData) (float64, []float64, string) {
	per := make([]float64, len(ad.trials))
	var ok, sec float64
	for j, t := range ad.trials {
		s := t.EndTime.Sub(t.StartTime).Seconds()
		ok += float64(t.Counts.Succeeded)
		sec += s
		per[j] = math.NaN()
		if s > 0 && t.Counts.Succeeded > 0 {
			per[j] = float64(t.Counts.Succeeded) / s
		}
	}
	if sec <= 0 || ok == 0 {
		return 0, nil, "no request succeeded in measured time"
	}
	return ok / sec, per, ""
}

// capacity is the highest rate a capacity search found within its SLO (find_max).
func capacity(ad *armData) (float64, []float64, string) {
	per := make([]float64, len(ad.trials))
	var sum float64
	for j, t := range ad.trials {
		if t.Search == nil {
			return 0, nil, fmt.Sprintf("trial %s ran no capacity search", t.ID)
		}
		per[j] = t.Search.MaxRateRPS
		sum += per[j]
	}
	if sum <= 0 {
		return 0, nil, "no rate held the search's SLO"
	}
	return sum / float64(len(per)), per, ""
}

// sutPerTrial is each trial's summed usage of the system under test (app, proxy and
// control-plane components), picked from each role's per-trial totals; NaN for a trial
// whose app was not measured, or (for an arm with a mesh) whose proxies were not.
func sutPerTrial(ad *armData, pick func(*roleUsage) []float64) ([]float64, string) {
	if len(ad.trials) == 0 {
		return nil, "no measured trials"
	}
	app, proxy, cp := pick(ad.role(result.RoleApp)), pick(ad.role(result.RoleProxy)), pick(ad.role(result.RoleControlPlane))
	out := make([]float64, len(ad.trials))
	n, withApp := 0, 0
	for j := range ad.trials {
		out[j] = math.NaN()
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
		out[j] = v
		n++
	}
	switch {
	case withApp == 0:
		return nil, "no app resources were collected" + collectedFrom(ad)
	case n == 0:
		return nil, "the proxies were not measured" + collectedFrom(ad)
	}
	return out, ""
}

// cpuPerKRPS is the CPU of the system under test per 1000 requests per second handled:
// the mean over trials of their summed CPU, over the pooled rate; per trial, each
// trial's CPU over its own rate.
func cpuPerKRPS(ad *armData) (float64, []float64, string) {
	cpu, why := sutPerTrial(ad, func(u *roleUsage) []float64 { return u.cpuTotal })
	if why != "" {
		return 0, nil, why
	}
	mean, _ := weightedMean(cpu, ones(len(cpu)))
	rps, ok := throughput(ad, ones(len(ad.trials)))
	if !ok || rps <= 0 {
		return 0, nil, "no throughput was measured"
	}
	per := make([]float64, len(cpu))
	w := make([]float64, len(cpu))
	for j := range cpu {
		clear(w)
		w[j] = 1
		per[j] = math.NaN()
		if r, ok := throughput(ad, w); ok && r > 0 {
			per[j] = cpu[j] / (r / 1000)
		}
	}
	return mean / (rps / 1000), per, ""
}

// memoryCost is the memory of the system under test, averaged over the trials.
func memoryCost(ad *armData) (float64, []float64, string) {
	mem, why := sutPerTrial(ad, func(u *roleUsage) []float64 { return u.memTotal })
	if why != "" {
		return 0, nil, why
	}
	mean, _ := weightedMean(mem, ones(len(mem)))
	return mean, mem, ""
}
