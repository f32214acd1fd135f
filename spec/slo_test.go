package spec_test

import (
	"math"
	"strings"
	"testing"

	"github.com/service-mesh-performance/smp/spec"
)

func TestParseCondition(t *testing.T) {
	tests := []struct {
		in   string
		want spec.Condition // Text is filled in from in
	}{
		{"latency.p99 < 25ms", spec.Condition{Metric: "latency.p99", Op: "<", Value: 25, Unit: "ms"}},
		{"latency.p99.9 <= 1.5s", spec.Condition{Metric: "latency.p99.9", Op: "<=", Value: 1500, Unit: "ms"}},
		{"latency.p50<500us", spec.Condition{Metric: "latency.p50", Op: "<", Value: 0.5, Unit: "ms"}},
		{"latency.mean < 250µs", spec.Condition{Metric: "latency.mean", Op: "<", Value: 0.25, Unit: "ms"}},
		{"latency.max < 1m", spec.Condition{Metric: "latency.max", Op: "<", Value: 60000, Unit: "ms"}},
		{"latency.stddev < 2ms", spec.Condition{Metric: "latency.stddev", Op: "<", Value: 2, Unit: "ms"}},
		{"service_time.p99 < 20ms", spec.Condition{Metric: "service_time.p99", Op: "<", Value: 20, Unit: "ms"}},
		{"start_lag.p99 < 1ms", spec.Condition{Metric: "start_lag.p99", Op: "<", Value: 1, Unit: "ms"}},
		{"  latency.min >= 100ns  ", spec.Condition{Metric: "latency.min", Op: ">=", Value: 0.0001, Unit: "ms"}},
		{"overhead.latency.p99 < 5ms", spec.Condition{Overhead: true, Metric: "latency.p99", Op: "<", Value: 5, Unit: "ms"}},
		{"overhead.latency.p99 < 10%", spec.Condition{Overhead: true, Metric: "latency.p99", Op: "<", Value: 0.1, Unit: "ratio", Relative: true}},
		{"overhead.latency.p99 < 10 %", spec.Condition{Overhead: true, Metric: "latency.p99", Op: "<", Value: 0.1, Unit: "ratio", Relative: true}},
		{"overhead.cpu.proxy < 20%", spec.Condition{Overhead: true, Metric: "cpu.proxy", Op: "<", Value: 0.2, Unit: "ratio", Relative: true}},
		{"overhead.throughput > 90%", spec.Condition{Overhead: true, Metric: "throughput", Op: ">", Value: 0.9, Unit: "ratio", Relative: true}},
		{"overhead.throughput > -5%", spec.Condition{Overhead: true, Metric: "throughput", Op: ">", Value: -0.05, Unit: "ratio", Relative: true}},
		{"overhead.latency.p50 > -1ms", spec.Condition{Overhead: true, Metric: "latency.p50", Op: ">", Value: -1, Unit: "ms"}},
		{"cpu.proxy.per_krps < 300m", spec.Condition{Metric: "cpu.proxy.per_krps", Op: "<", Value: 300, Unit: "mcores"}},
		{"overhead.error_rate < 1%", spec.Condition{Overhead: true, Metric: "error_rate", Op: "<", Value: 0.01, Unit: "ratio"}},
		{"error_rate < 0.1%", spec.Condition{Metric: "error_rate", Op: "<", Value: 0.001, Unit: "ratio"}},
		{"error_rate <= 0.001", spec.Condition{Metric: "error_rate", Op: "<=", Value: 0.001, Unit: "ratio"}},
		{"error_rate < 1", spec.Condition{Metric: "error_rate", Op: "<", Value: 1, Unit: "ratio"}},
		{"throughput >= 900", spec.Condition{Metric: "throughput", Op: ">=", Value: 900, Unit: "rps"}},
		{"throughput > 1e3rps", spec.Condition{Metric: "throughput", Op: ">", Value: 1000, Unit: "rps"}},
		{"throughput > 50/s", spec.Condition{Metric: "throughput", Op: ">", Value: 50, Unit: "rps"}},
		{"cpu.proxy < 500m", spec.Condition{Metric: "cpu.proxy", Op: "<", Value: 500, Unit: "mcores"}},
		{"cpu.proxy.max < 1.5cores", spec.Condition{Metric: "cpu.proxy.max", Op: "<", Value: 1500, Unit: "mcores"}},
		{"cpu.control_plane < 0.5", spec.Condition{Metric: "cpu.control_plane", Op: "<", Value: 500, Unit: "mcores"}},
		{"memory.proxy < 64MiB", spec.Condition{Metric: "memory.proxy", Op: "<", Value: 64 << 20, Unit: "bytes"}},
		{"memory.node.max < 2GB", spec.Condition{Metric: "memory.node.max", Op: "<", Value: 2e9, Unit: "bytes"}},
		{"memory.app < 1048576", spec.Condition{Metric: "memory.app", Op: "<", Value: 1 << 20, Unit: "bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := spec.ParseCondition(tt.in)
			if err != nil {
				t.Fatalf("ParseCondition: %v", err)
			}
			want := tt.want
			want.Text = strings.TrimSpace(tt.in)
			if math.Abs(got.Value-want.Value) <= 1e-9*math.Abs(want.Value) {
				got.Value = want.Value // float formatting of units (250µs) may differ in the last bit
			}
			if got != want {
				t.Errorf("ParseCondition(%q)\n got %+v\nwant %+v", tt.in, got, want)
			}
			if got.String() != want.Text {
				t.Errorf("String() = %q, want %q", got.String(), want.Text)
			}
		})
	}
}

func TestParseConditionErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"no operator", "latency.p99 = 25ms", `expected "<metric> <op> <value>"`},
		{"empty", "", `expected "<metric> <op> <value>"`},
		{"no value", "latency.p99 <", `expected "<metric> <op> <value>"`},
		{"latency without statistic", "latency < 25ms", `"latency" needs a statistic`},
		{"unknown statistic", "latency.median < 25ms", `"latency.median" needs a statistic`},
		{"percentile 100", "latency.p100 < 25ms", "percentile 100 is out of range: percentiles lie strictly between 0 and 100 (write latency.max for the largest"},
		{"percentile 0", "latency.p0 < 25ms", "percentile 0 is out of range: percentiles lie strictly between 0 and 100 (write latency.max for the largest, latency.min for the smallest)"},
		{"misspelt metric", "latncy.p99 < 25ms", `unknown metric "latncy.p99"; did you mean "latency.p99"?`},
		{"unknown metric", "happiness > 3", `unknown metric "happiness"; use one of`},
		{"time without unit", "latency.p99 < 25", "a time needs a unit: write 25ms or 25s"},
		{"unknown time unit", "latency.p99 < 25 furlongs", `unknown time unit "furlongs"`},
		{"negative value", "latency.p99 < -5ms", `"-5ms" is negative; only overhead.latency.p99 compares a difference`},
		{"word for value", "latency.p99 < fast", `"fast" is not a number`},
		{"error rate over 100%", "error_rate < 5", "more than 100%: write 5% for a percentage"},
		{"error rate in ms", "error_rate < 1ms", `unknown unit "ms" for a rate`},
		{"throughput in bytes", "throughput > 5MB", `unknown unit "MB" for throughput`},
		{"cpu of an unknown role", "cpu.gpu < 1", `"cpu.gpu": write cpu.<role> or cpu.<role>.max`},
		{"cpu.min", "cpu.proxy.min < 1", `"cpu.proxy.min": write cpu.<role>`},
		{"cpu in bytes", "cpu.proxy < 5MiB", `unknown unit "MiB" for CPU`},
		{"memory in furlongs", "memory.proxy < 5furlongs", `unknown unit "furlongs" for memory`},
		{"error_rate with a statistic", "error_rate.p99 < 1%", `unknown metric "error_rate.p99"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := spec.ParseCondition(tt.in)
			if err == nil {
				t.Fatalf("ParseCondition(%q) = %+v, want an error containing %q", tt.in, c, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseCondition(%q) error = %q, want it to contain %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestConditionHolds(t *testing.T) {
	tests := []struct {
		cond string
		v    float64
		want bool
	}{
		{"latency.p99 < 25ms", 24.9, true},
		{"latency.p99 < 25ms", 25, false},
		{"latency.p99 <= 25ms", 25, true},
		{"latency.p99 <= 25ms", 25.1, false},
		{"throughput > 100", 100, false},
		{"throughput > 100", 100.5, true},
		{"throughput >= 100", 100, true},
		{"throughput >= 100", 99, false},
		{"error_rate < 0.1%", 0.0005, true},
		{"error_rate < 0.1%", 0.002, false},
	}
	for _, tt := range tests {
		c, err := spec.ParseCondition(tt.cond)
		if err != nil {
			t.Fatalf("ParseCondition(%q): %v", tt.cond, err)
		}
		if got := c.Holds(tt.v); got != tt.want {
			t.Errorf("%q holds for %g = %v, want %v", tt.cond, tt.v, got, tt.want)
		}
	}
	if (spec.Condition{Op: "=", Value: 1}).Holds(1) {
		t.Error("a condition with an unknown operator holds")
	}
}

// TestSLOShorthand: a string in the slo list is a condition, and SLO.Parse reads it.
func TestSLOShorthand(t *testing.T) {
	p, err := spec.Parse("slo.yaml", []byte("slo:\n  - latency.p99 < 25ms\n  - {condition: error_rate < 1%, arms: [baseline]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.SLO) != 2 || p.SLO[0].Condition != "latency.p99 < 25ms" || p.SLO[1].Arms[0] != "baseline" {
		t.Fatalf("slo = %+v", p.SLO)
	}
	c, err := p.SLO[1].Parse()
	if err != nil || c.Metric != "error_rate" || c.Value != 0.01 {
		t.Errorf("SLO.Parse = %+v, %v", c, err)
	}
}

// TestMetricNamesParse: every metric the completion offers is one the parser accepts (with
// a value in one of its units).
func TestMetricNamesParse(t *testing.T) {
	for _, m := range spec.MetricNames() {
		ok := false
		for _, v := range []string{"1ms", "1", "1%", "1MiB"} {
			if _, err := spec.ParseCondition(m + " < " + v); err == nil {
				ok = true
			}
		}
		if !ok {
			_, err := spec.ParseCondition(m + " < 1")
			t.Errorf("MetricNames offers %q, which does not parse with any unit: %v", m, err)
		}
	}
}
