package report

import (
	"slices"
	"testing"

	"github.com/service-mesh-performance/smp/result"
)

// TestTrialNotesGroupRepeats: a warning several trials share is one line naming them all,
// in the order of first appearance; failures keep their own wording; caveats only when
// asked for.
func TestTrialNotesGroupRepeats(t *testing.T) {
	trials := []result.Trial{
		{ID: "mesh-1", Warnings: []string{"generator stands in for the client sidecar", "rate not held"}},
		{ID: "base-1"},
		{ID: "mesh-2", Warnings: []string{"generator stands in for the client sidecar"}},
		{ID: "base-2", Status: result.StatusFailed, Error: "deploy base: port in use"},
		{ID: "mesh-3", Status: result.StatusFailed, Error: "deploy base: port in use", Warnings: []string{"ignored: failed"}},
	}
	trials[1].Generator.Name, trials[1].Generator.Caveats = "wrk", []string{"uncorrected"}
	got := trialNotes(trials, false)
	want := []string{
		"trials mesh-1, mesh-2: generator stands in for the client sidecar",
		"trial mesh-1: rate not held",
		"trials base-2, mesh-3 failed: deploy base: port in use",
	}
	if !slices.Equal(got, want) {
		t.Errorf("notes\n%q\nwant\n%q", got, want)
	}
	if got := trialNotes(trials, true); !slices.Contains(got, "trial base-1: wrk: uncorrected") || len(got) != 4 {
		t.Errorf("with caveats: %q", got)
	}
}
