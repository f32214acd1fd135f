package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Condition is a parsed SLO: "<metric> <op> <value>".
//
// Metrics (all per arm, from pooled repetitions):
//
//	latency.<stat>        stat: min, mean, max, stddev, or pNN (p50, p99, p99.9)   unit: time
//	service_time.<stat>   the same, measured from the actual send                   unit: time
//	start_lag.<stat>      how late requests left compared with the schedule          unit: time
//	error_rate            failed / all requests                                     unit: % or a fraction
//	throughput            achieved requests per second                              unit: rps
//	cpu.<role>[.max]      mean (or peak) CPU per component of a role                unit: m, mcores, cores
//	cpu.<role>.per_krps   the role's total CPU per 1000 requests/s                  unit: m, mcores, cores
//	memory.<role>[.max]   mean (or peak) memory per component of a role             unit: bytes (KiB, MB, …)
//
// Roles: proxy, app, gateway, load_generator, control_plane, node. Prefixed with "overhead." the
// metric is the arm's value minus the baseline's; then a value in % is relative to the
// baseline ("overhead.latency.p99 < 10%").
type Condition struct {
	// Text is the condition as written.
	Text string `json:"text"`
	// Overhead compares with the baseline arm.
	Overhead bool `json:"overhead,omitempty"`
	// Metric without the "overhead." prefix, e.g. "latency.p99".
	Metric string `json:"metric"`
	// Op is one of <, <=, >, >=.
	Op string `json:"op"`
	// Value in the metric's unit: milliseconds for times, a fraction for error_rate, requests
	// per second, millicores, bytes; a fraction of the baseline when Relative.
	Value float64 `json:"value"`
	// Unit of Value: "ms", "ratio", "rps", "mcores", "bytes".
	Unit string `json:"unit"`
	// Relative is set for overhead conditions written in %.
	Relative bool `json:"relative,omitempty"`
}

// Holds reports whether an observed value (in the condition's unit) meets the condition.
func (c Condition) Holds(v float64) bool {
	switch c.Op {
	case "<":
		return v < c.Value
	case "<=":
		return v <= c.Value
	case ">":
		return v > c.Value
	case ">=":
		return v >= c.Value
	}
	return false
}

func (c Condition) String() string { return c.Text }

var (
	conditionRe = regexp.MustCompile(`^\s*([A-Za-z0-9_.]+)\s*(<=|>=|<|>)\s*(.+?)\s*$`)
	statRe      = regexp.MustCompile(`^(min|mean|max|stddev|p(\d+(\.\d+)?))$`)
	numberRe    = regexp.MustCompile(`^([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-zµ%/]*)$`)
)

// Roles a resource metric may name.
var resourceRoles = []string{"proxy", "app", "gateway", "load_generator", "control_plane", "node"}

// MetricNames lists the metric forms a condition may use, for messages and completion.
func MetricNames() []string {
	out := []string{"latency.p99", "latency.p50", "latency.mean", "latency.max", "service_time.p99",
		"start_lag.p99", "error_rate", "throughput"}
	for _, r := range resourceRoles {
		out = append(out, "cpu."+r, "memory."+r)
	}
	return out
}

// ParseCondition parses an SLO condition.
func ParseCondition(text string) (Condition, error) {
	c := Condition{Text: strings.TrimSpace(text)}
	m := conditionRe.FindStringSubmatch(text)
	if m == nil {
		return c, fmt.Errorf("expected \"<metric> <op> <value>\" such as \"latency.p99 < 25ms\", got %q", text)
	}
	metric, op, value := m[1], m[2], m[3]
	if rest, ok := strings.CutPrefix(metric, "overhead."); ok {
		c.Overhead, metric = true, rest
	}
	c.Metric, c.Op = metric, op
	kind, err := metricKind(metric)
	if err != nil {
		return c, err
	}
	num := numberRe.FindStringSubmatch(value)
	if num == nil {
		return c, fmt.Errorf("%q is not a number with an optional unit", value)
	}
	f, err := strconv.ParseFloat(num[1], 64)
	if err != nil {
		return c, fmt.Errorf("%q is not a number", num[1])
	}
	if f < 0 && !c.Overhead {
		return c, fmt.Errorf("%q is negative; only overhead.%s compares a difference, which can be", value, metric)
	}
	unit := num[2]
	if unit == "%" && c.Overhead && kind != "ratio" {
		c.Value, c.Unit, c.Relative = f/100, "ratio", true
		return c, nil
	}
	c.Value, c.Unit, err = convertUnit(kind, f, unit)
	return c, err
}

// metricKind returns the unit family of a metric, or an error naming the valid forms.
func metricKind(metric string) (string, error) {
	parts := strings.Split(metric, ".")
	switch parts[0] {
	case "latency", "service_time", "start_lag":
		// The statistic is everything after the first dot: p99.9 holds a dot of its own.
		if stat := strings.TrimPrefix(metric, parts[0]+"."); len(parts) >= 2 && statRe.MatchString(stat) {
			if p := statRe.FindStringSubmatch(stat); p[2] != "" {
				if v, _ := strconv.ParseFloat(p[2], 64); v <= 0 || v >= 100 {
					return "", fmt.Errorf("percentile %s is out of range: percentiles lie strictly between 0 and 100 (write %s.max for the largest, %s.min for the smallest)", p[2], parts[0], parts[0])
				}
			}
			return "time", nil
		}
		return "", fmt.Errorf("%q needs a statistic: %s.p99, .p50, .p99.9, .mean, .min, .max or .stddev", metric, parts[0])
	case "error_rate":
		if len(parts) == 1 {
			return "ratio", nil
		}
	case "throughput":
		if len(parts) == 1 {
			return "rps", nil
		}
	case "cpu", "memory":
		if len(parts) >= 2 && len(parts) <= 3 && slices.Contains(resourceRoles, parts[1]) &&
			(len(parts) == 2 || parts[2] == "max" || parts[0] == "cpu" && parts[2] == "per_krps") {
			if parts[0] == "cpu" {
				return "cpu", nil
			}
			return "bytes", nil
		}
		return "", fmt.Errorf("%q: write %s.<role> or %s.<role>.max with role one of %s", metric, parts[0], parts[0], strings.Join(resourceRoles, ", "))
	}
	if s := suggest(metric, MetricNames()); s != "" {
		return "", fmt.Errorf("unknown metric %q; did you mean %q?", metric, s)
	}
	return "", fmt.Errorf("unknown metric %q; use one of %s", metric, strings.Join(MetricNames(), ", "))
}

func convertUnit(kind string, f float64, unit string) (float64, string, error) {
	switch kind {
	case "time":
		if unit == "" {
			return 0, "", fmt.Errorf("a time needs a unit: write %gms or %gs", f, f)
		}
		d, err := time.ParseDuration(strconv.FormatFloat(f, 'f', -1, 64) + unit)
		if err != nil {
			return 0, "", fmt.Errorf("unknown time unit %q; use ns, us, ms, s or m", unit)
		}
		return float64(d) / float64(time.Millisecond), "ms", nil
	case "ratio":
		switch unit {
		case "%":
			return f / 100, "ratio", nil
		case "":
			if f > 1 {
				return 0, "", fmt.Errorf("an error rate of %g is more than 100%%: write %g%% for a percentage", f, f)
			}
			return f, "ratio", nil
		}
		return 0, "", fmt.Errorf("unknown unit %q for a rate; write a percentage (0.1%%) or a fraction (0.001)", unit)
	case "rps":
		switch unit {
		case "", "rps", "qps", "/s":
			return f, "rps", nil
		}
		return 0, "", fmt.Errorf("unknown unit %q for throughput; use rps", unit)
	case "cpu":
		switch unit {
		case "m", "mcores", "millicores":
			return f, "mcores", nil
		case "", "cores", "core", "vcpu":
			return f * 1000, "mcores", nil
		}
		return 0, "", fmt.Errorf("unknown unit %q for CPU; use m (millicores) or cores", unit)
	case "bytes":
		s, err := ParseSize(strconv.FormatFloat(f, 'f', -1, 64) + unit)
		if err != nil {
			return 0, "", fmt.Errorf("unknown unit %q for memory; use B, KiB, MiB, GiB, KB, MB or GB", unit)
		}
		return float64(s), "bytes", nil
	}
	return 0, "", fmt.Errorf("internal: unknown metric kind %q", kind)
}

// Parse parses the SLO's condition.
func (s SLO) Parse() (Condition, error) { return ParseCondition(s.Condition) }
