package tempdir

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

func TestNewIsPrivate(t *testing.T) {
	dir, err := New(t.TempDir(), "smp-test-")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("mode %v, %v; want 0700", st.Mode().Perm(), err)
	}
	if !alive(dir) {
		t.Error("a folder of this process counts as abandoned")
	}
}

// TestSweep: the folder of a process that was killed goes; the folder of a live
// process, of a pid now used by another process, of another tool (no owner file) and of
// another prefix behave as they should.
func TestSweep(t *testing.T) {
	parent := t.TempDir()
	owner := func(dir, text string) {
		if err := os.WriteFile(filepath.Join(dir, OwnerFile), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A process that has exited: its pid is free.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	dead, _ := New(parent, "smp-run-")
	owner(dead, strconv.Itoa(cmd.Process.Pid)+" 12345\n")
	if err := os.WriteFile(filepath.Join(dead, "ca-key.pem"), []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	reused, _ := New(parent, "smp-run-")
	owner(reused, strconv.Itoa(os.Getpid())+" 1\n") // our pid, but not our start time
	live, _ := New(parent, "smp-run-")
	foreign := filepath.Join(parent, "smp-run-foreign")
	if err := os.Mkdir(foreign, 0o700); err != nil {
		t.Fatal(err)
	}
	other, _ := New(parent, "other-")
	owner(other, strconv.Itoa(cmd.Process.Pid)+" 12345\n")

	removed, err := Sweep(parent, "smp-")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	want := []string{dead, reused}
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	for _, d := range []string{live, foreign, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was removed: %v", d, err)
		}
	}
	for _, d := range want {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s is still there", d)
		}
	}
}
