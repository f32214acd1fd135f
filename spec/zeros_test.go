package spec

import (
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
