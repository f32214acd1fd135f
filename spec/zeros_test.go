package spec

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestEveryZeroRule writes a zero at each path of zeroRules and expects its error there.
func TestEveryZeroRule(t *testing.T) {
	for _, r := range zeroRules {
		t.Run(r.path, func(t *testing.T) {
			zero := "0"
			if strings.Contains(r.message, "0s") {
				zero = "0s"
			}
			var b strings.Builder
			parts := strings.Split(r.path, ".")
			for i, part := range parts {
				b.WriteString(strings.Repeat("  ", i) + part + ":")
				if i == len(parts)-1 {
					b.WriteString(" " + zero)
				}
				b.WriteString("\n")
			}
			_, err := Parse("zero.yaml", []byte(b.String()))
			errs, _ := err.(Errors)
			for _, e := range errs {
				if e.Path == r.path && e.Message == r.message && e.Fix == r.fix && e.Line == len(parts) {
					return
				}
			}
			t.Errorf("%q:\n%v", b.String(), err)
		})
	}
}

// TestZeroRulesNameTheRealDefault: the fix of a refused zero names the default that
// removing the line gives (WithDefaults in a plan where the field applies), so that the
// advice is true; repetitions' said 1 after its default became 5.
func TestZeroRulesNameTheRealDefault(t *testing.T) {
	named := regexp.MustCompile(`^remove the line for the default \(([^)]+)\)`)
	checked := 0
	for _, r := range zeroRules {
		m := named.FindStringSubmatch(r.fix)
		if m == nil || m[1] == "the duration" {
			continue
		}
		checked++
		t.Run(r.path, func(t *testing.T) {
			plan := "name: z\n"
			switch {
			case strings.HasPrefix(r.path, "workload.find_max."):
				plan += "workload:\n  find_max: {enabled: true}\n"
			case strings.HasPrefix(r.path, "workload.arrival.realworld."):
				plan += "workload:\n  arrival: {pattern: realworld}\n"
			case r.path == "workload.arrival.jitter":
				plan += "workload:\n  arrival: {pattern: uniform}\n"
			}
			p, err := Decode("z.yaml", []byte(plan))
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(p.WithDefaults())
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			for _, key := range strings.Split(r.path, ".") {
				obj, _ := v.(map[string]any)
				v = obj[key]
			}
			got := fmt.Sprint(v)
			if f, ok := v.(float64); ok {
				got = strconv.FormatFloat(f, 'f', -1, 64) // JSON numbers: 1000000, not 1e+06
			}
			if got != m[1] {
				t.Errorf("the fix of a written 0 says %q, but without the line %s is %s", r.fix, r.path, got)
			}
		})
	}
	if checked < 20 {
		t.Errorf("checked %d rules; is the fix's wording still \"remove the line for the default (…)\"?", checked)
	}
}
