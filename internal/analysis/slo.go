package analysis

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// errUncomputable marks a metric that cannot be computed for an arm; its message says why.
type errUncomputable struct{ reason string }

func (e errUncomputable) Error() string { return e.reason }

func uncomputable(format string, args ...any) error {
	return errUncomputable{fmt.Sprintf(format, args...)}
}

// slo is one condition to evaluate and the arms it names.
type slo struct {
	text     string
	cond     spec.Condition
	parseErr error
	arms     []string
}

// slos evaluates the plan's SLOs and then the extra conditions, each on every arm it
// applies to, in that order.
func (a *analyzer) slos(extra []spec.Condition) ([]result.SLOResult, error) {
	var items []slo
	if a.doc.Plan != nil {
		for _, s := range a.doc.Plan.SLO {
			c, err := s.Parse()
			items = append(items, slo{text: strings.TrimSpace(s.Condition), cond: c, parseErr: err, arms: s.Arms})
		}
	}
	for _, c := range extra {
		text := c.Text
		if text == "" {
			text = conditionText(c)
		}
		items = append(items, slo{text: text, cond: c})
	}
	var out []result.SLOResult
	for _, it := range items {
		if it.parseErr != nil {
			out = append(out, result.SLOResult{Condition: it.text, Error: it.parseErr.Error(),
				Message: fmt.Sprintf("%s: cannot be evaluated: %v", it.text, it.parseErr)})
			continue
		}
		arms := it.arms
		if len(arms) == 0 {
			for _, name := range a.arms {
				if !it.cond.Overhead || name != a.baseline {
					arms = append(arms, name)
				}
			}
		}
		if len(arms) == 0 {
			why := "no arm was measured"
			if it.cond.Overhead {
				why = "there is no arm besides the baseline to compare"
			}
			out = append(out, result.SLOResult{Condition: it.text, Unit: it.cond.Unit, Error: why,
				Message: fmt.Sprintf("%s: cannot be evaluated: %s", it.text, why)})
			continue
		}
		for _, arm := range arms {
			r, err := a.evaluate(it, arm)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// evaluate checks one condition on one arm. Metrics that cannot be computed fail the
// condition with the reason; only undecodable histograms are errors.
func (a *analyzer) evaluate(it slo, arm string) (result.SLOResult, error) {
	ref := reference{label: arm}
	switch {
	case a.baseline == "":
		ref.missing = "the plan has no baseline arm"
	case arm == a.baseline:
		ref.missing = "this is the baseline arm; overhead is measured against it"
	default:
		ref.ad, ref.name, ref.noun = a.arm(a.baseline), "baseline "+a.baseline, "baseline"
		ref.vs = func(v string) string { return "vs baseline " + v }
	}
	return evaluateOn(it, arm, a.arm(arm), ref)
}

// reference is what an arm's overhead conditions are measured against, and how messages
// name the two.
type reference struct {
	label   string   // names the arm evaluated: "builtin", or "pr builtin" across runs
	ad      *armData // the reference arm; nil when missing says why there is none
	missing string
	name    string                    // names the reference arm: "baseline baseline", "main builtin"
	noun    string                    // names the reference in a sentence: "baseline", "main"
	vs      func(value string) string // "vs baseline 10.6ms", "vs 10.6ms in main"
	// zeroSame makes a relative overhead of 0 over 0 a change of 0% (across runs: an arm
	// without proxies in both), where within a run it is undefined.
	zeroSame bool
}

// evaluateOn checks one condition on arm ad (named arm in the result; it may have no
// trials), overhead conditions against ref.
func evaluateOn(it slo, arm string, ad *armData, ref reference) (result.SLOResult, error) {
	c := it.cond
	label := c.Metric
	if c.Overhead {
		label = "overhead." + c.Metric
	}
	res := result.SLOResult{Condition: it.text, Arm: arm, Unit: c.Unit}
	fail := func(err error) (result.SLOResult, error) {
		var u errUncomputable
		if !errors.As(err, &u) {
			return res, err
		}
		res.Error = u.reason
		res.Message = fmt.Sprintf("%s: %s cannot be evaluated: %s", ref.label, label, u.reason)
		return res, nil
	}
	v, err := ad.value(c.Metric)
	if err != nil {
		return fail(err)
	}
	unit := metricUnit(c.Metric)
	if !c.Overhead {
		res.Value, res.Pass = v, c.Holds(v)
		res.Message = fmt.Sprintf("%s: %s = %s, %s", ref.label, label, format(v, unit), verdict(c, res.Pass))
		return res, nil
	}
	if ref.ad == nil {
		return fail(uncomputable("%s", ref.missing))
	}
	bv, err := ref.ad.value(c.Metric)
	if err != nil {
		var u errUncomputable
		if errors.As(err, &u) {
			return fail(uncomputable("%s: %s", ref.name, u.reason))
		}
		return res, err
	}
	d := v - bv
	shown := signed(format(d, unit), d)
	if c.Relative {
		over := bv
		if bv == 0 && v == 0 && ref.zeroSame {
			over = 1 // 0 over 0 across runs: no change
		}
		if over == 0 {
			return fail(uncomputable("the %s's %s is 0, so an overhead in %% is undefined", ref.noun, c.Metric))
		}
		d = d / over
		shown = signed(formatSig(d*100)+"%", d)
	}
	res.Value, res.Pass = d, c.Holds(d)
	short := strings.TrimPrefix(c.Metric, "latency.")
	res.Message = fmt.Sprintf("%s: %s = %s (%s %s %s), %s", ref.label, label, shown, short,
		format(v, unit), ref.vs(format(bv, unit)), verdict(c, res.Pass))
	return res, nil
}

// value computes a metric (spec.Condition's names, without "overhead.") for an arm, in
// the condition's unit: ms, ratio, rps, mcores or bytes.
func (ad *armData) value(metric string) (float64, error) {
	if ad == nil || len(ad.trials) == 0 {
		return 0, uncomputable("the arm has no measured trials")
	}
	w := ones(len(ad.trials))
	family, stat, _ := strings.Cut(metric, ".")
	switch family {
	case "latency", "service_time", "start_lag":
		return distStat(ad, family, stat)
	case "error_rate":
		if v, ok := errorRate(ad, w); ok {
			return v, nil
		}
		return 0, uncomputable("no requests were due")
	case "throughput":
		if v, ok := throughput(ad, w); ok {
			return v, nil
		}
		return 0, uncomputable("the trials have no measured duration")
	case "cpu", "memory":
		if r, ok := strings.CutSuffix(stat, ".per_krps"); ok && family == "cpu" {
			if result.Role(r) == result.RoleProxy && proxyFixed(ad) {
				return 0, nil
			}
			cpu, ok := weightedMean(ad.role(result.Role(r)).cpuTotal, w)
			rps, ok2 := throughput(ad, w)
			if !ok || !ok2 || rps <= 0 {
				return 0, uncomputable("no %s CPU or no throughput was measured for this arm%s", r, collectedFrom(ad))
			}
			return cpu / (rps / 1000), nil
		}
		role, peak := stat, false
		if r, ok := strings.CutSuffix(stat, ".max"); ok {
			role, peak = r, true
		}
		u := ad.role(result.Role(role))
		var v float64
		var ok bool
		switch {
		case result.Role(role) == result.RoleProxy && proxyFixed(ad):
			return 0, nil // no mesh, no proxies: they use nothing
		case peak && family == "cpu":
			v, ok = u.cpuPeak, !math.IsNaN(u.cpuPeak)
		case peak:
			v, ok = u.memPeak, !math.IsNaN(u.memPeak)
		case family == "cpu":
			v, ok = weightedMean(u.cpuMean, w)
		default:
			v, ok = weightedMean(u.memMean, w)
		}
		if !ok {
			return 0, uncomputable("no %s resources were collected for this arm%s", role, collectedFrom(ad))
		}
		return v, nil
	}
	return 0, uncomputable("unknown metric %q", metric)
}

// collectedFrom names the sources whose results the arm has, or says there were none.
func collectedFrom(ad *armData) string {
	seen := map[string]bool{}
	var srcs []string
	for _, t := range ad.trials {
		for _, r := range t.Resources {
			if r.Source != "" && !seen[r.Source] {
				seen[r.Source] = true
				srcs = append(srcs, r.Source)
			}
		}
	}
	if len(srcs) == 0 {
		return " (no collector reported anything)"
	}
	return " (collected by " + strings.Join(srcs, ", ") + ")"
}

// distStat computes a statistic of an arm's pooled distribution of one kind: latency,
// service_time or start_lag.
func distStat(ad *armData, family, stat string) (float64, error) {
	pd, err := ad.dist(family)
	if err != nil {
		return 0, err
	}
	h := pd.pooled
	if h.Count() == 0 {
		if family == "latency" {
			return 0, uncomputable("no request succeeded")
		}
		return 0, uncomputable("no %s was recorded", family)
	}
	switch stat {
	case "min":
		return ms(h.Min()), nil
	case "mean":
		return ms(h.Mean()), nil
	case "max":
		return ms(h.Max()), nil
	case "stddev":
		return ms(h.StdDev()), nil
	}
	if p, ok := strings.CutPrefix(stat, "p"); ok {
		if v, err := strconv.ParseFloat(p, 64); err == nil {
			return ms(h.Percentile(v)), nil
		}
	}
	return 0, uncomputable("unknown statistic %q", stat)
}

// metricUnit is the unit a metric is computed in.
func metricUnit(metric string) string {
	family, _, _ := strings.Cut(metric, ".")
	switch family {
	case "latency", "service_time", "start_lag":
		return "ms"
	case "error_rate":
		return "ratio"
	case "throughput":
		return "rps"
	case "cpu":
		return "mcores"
	}
	return "bytes"
}

// verdict says how a value relates to the threshold: "< 25ms ok" or "not < 25ms".
func verdict(c spec.Condition, pass bool) string {
	t := threshold(c)
	if pass {
		return c.Op + " " + t + " ok"
	}
	return "not " + c.Op + " " + t
}

// threshold is the condition's value as the user wrote it ("25ms", "0.1%"), or formatted
// from Value when the condition was built in code.
func threshold(c spec.Condition) string {
	if i := strings.Index(c.Text, c.Op); c.Text != "" && i >= 0 {
		if t := strings.TrimSpace(c.Text[i+len(c.Op):]); t != "" {
			return t
		}
	}
	if c.Relative {
		return formatSig(c.Value*100) + "%"
	}
	return format(c.Value, c.Unit)
}

func conditionText(c spec.Condition) string {
	m := c.Metric
	if c.Overhead {
		m = "overhead." + m
	}
	return m + " " + c.Op + " " + threshold(c)
}

// format writes a value in a unit with three significant digits: 31.2ms, 0.12%, 498 rps,
// 412m (millicores), 31.5MiB.
func format(v float64, unit string) string {
	switch unit {
	case "ms":
		return formatSig(v) + "ms"
	case "ratio":
		return formatSig(v*100) + "%"
	case "rps":
		return formatSig(v) + " rps"
	case "mcores":
		return formatSig(v) + "m"
	case "bytes":
		a := math.Abs(v)
		for _, u := range []struct {
			name string
			size float64
		}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
			if a >= u.size {
				return formatSig(v/u.size) + u.name
			}
		}
		return formatSig(v) + "B"
	}
	return formatSig(v)
}

// signed puts a + before a non-negative formatted number.
func signed(s string, v float64) string {
	if v >= 0 && !strings.HasPrefix(s, "+") {
		return "+" + s
	}
	return s
}

// formatSig writes v with three significant digits, without trailing zeros; whole
// numbers of four digits or more keep all their digits.
func formatSig(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	decimals := max(0, 2-int(math.Floor(math.Log10(math.Abs(v)))))
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}
