package result

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// TestWriteNamesNonFinite: json says only "unsupported value: NaN"; the error names the
// field, so that a NaN that reaches a result (a CI run's only clue) can be traced.
func TestWriteNamesNonFinite(t *testing.T) {
	lost := math.NaN()
	d := &Document{ID: "x", Analysis: &Analysis{Overhead: []ArmOverhead{{Arm: "a", MeshMark: &MeshMark{Inputs: []MeshMarkInput{{Name: "cpu"}, {Name: "memory", Lost: lost}}}}}}}
	err := d.Write(&bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "analysis.overhead[0].meshmark.inputs[1].lost is NaN") {
		t.Fatalf("error %v, want the NaN's path", err)
	}
	if _, err := d.Redacted(nil); err == nil || !strings.Contains(err.Error(), "inputs[1].lost is NaN") {
		t.Fatalf("redact: error %v, want the NaN's path", err)
	}
}
