package layout

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestFuzzTargetsRunInCI: every Go fuzz target of the repository is listed in
// scripts/fuzz (which CI runs), every listed one exists, and each has a seed corpus under
// its package's testdata (testdata/fuzz/<target>, or seeds its body reads from testdata).
func TestFuzzTargetsRunInCI(t *testing.T) {
	root := "../.."
	listed := map[string]string{} // target → package
	f, err := os.Open(filepath.Join(root, "scripts", "fuzz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line := regexp.MustCompile(`^\s*"(\./\S+) (Fuzz\w+)[ "]`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := line.FindStringSubmatch(sc.Text()); m != nil {
			listed[m[2]] = strings.TrimPrefix(m[1], "./")
		}
	}
	found := map[string]string{}
	fuzzFunc := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(f \*testing\.F\) \{`)
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range fuzzFunc.FindAllSubmatchIndex(src, -1) {
			name := string(src[m[2]:m[3]])
			pkg, _ := filepath.Rel(root, filepath.Dir(path))
			found[name] = filepath.ToSlash(pkg)
			corpus := filepath.Join(filepath.Dir(path), "testdata", "fuzz", name)
			body := string(src[m[1]:])
			if end := strings.Index(body, "\n}\n"); end >= 0 {
				body = body[:end]
			}
			if _, err := os.Stat(corpus); err != nil && !strings.Contains(body, "testdata") {
				t.Errorf("%s (%s) has no seed corpus: add testdata/fuzz/%s", name, pkg, name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, pkg := range found {
		if listed[name] != pkg {
			t.Errorf("%s (%s) is not in scripts/fuzz; add \"./%s %s\"", name, pkg, pkg, name)
		}
	}
	for name := range listed {
		if _, ok := found[name]; !ok {
			t.Errorf("scripts/fuzz lists %s, which no test file defines", name)
		}
	}
	if len(found) < 15 {
		names := make([]string, 0, len(found))
		for n := range found {
			names = append(names, n)
		}
		slices.Sort(names)
		t.Errorf("found only %v; the search went wrong", names)
	}
}

// TestFuzzDeadlineRace holds scripts/fuzz's deadline_race to what it forgives: Go 1.26's
// coordinator reporting -fuzztime's own deadline as a failure (golang/go#75804; it failed
// a CI run at load 10), and nothing else. A failure with another reason, or one that wrote
// a failing input, still fails the run.
func TestFuzzDeadlineRace(t *testing.T) {
	script, err := os.ReadFile(filepath.Join("..", "..", "scripts", "fuzz"))
	if err != nil {
		t.Fatal(err)
	}
	fn := regexp.MustCompile(`(?ms)^deadline_race\(\) \{.*?^\}`).Find(script)
	if fn == nil {
		t.Fatal("scripts/fuzz has no deadline_race function")
	}
	const race = "fuzz: elapsed: 3s, execs: 24018 (0/sec), new interesting: 0 (total: 254)\n--- FAIL: FuzzAgentStart (3.11s)\n    context deadline exceeded\nFAIL\nexit status 1\nFAIL\tpkg\t3.122s\n"
	const crash = "--- FAIL: FuzzAgentStart (0.40s)\n    --- FAIL: FuzzAgentStart (0.00s)\n        fuzz_test.go:40: decoded a start with no rate\n    Failing input written to testdata/fuzz/FuzzAgentStart/0123\n    To re-run:\n    go test -run=FuzzAgentStart/0123\nFAIL\n"
	const other = "--- FAIL: FuzzAgentStart (3.11s)\n    context deadline exceeded\n    fuzz_test.go:40: decoded a start with no rate\nFAIL\n"
	for _, c := range []struct {
		name, log string
		newInput  bool
		forgiven  bool
	}{
		{"the deadline alone", race, false, true},
		{"a finding", crash, true, false},
		{"the deadline and another reason", other, false, false},
		{"the deadline, but an input was written", race, true, false},
	} {
		dir := t.TempDir()
		corpus := filepath.Join(dir, "corpus")
		if err := os.Mkdir(corpus, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(corpus, "seed"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		log := filepath.Join(dir, "log")
		if err := os.WriteFile(log, []byte(c.log), 0o644); err != nil {
			t.Fatal(err)
		}
		check := string(fn) + "\nbefore=$(ls \"$2\")\n"
		if c.newInput {
			check += "touch \"$2/0123\"\n"
		}
		check += "deadline_race \"$1\" \"$before\" \"$2\"\n"
		err := exec.Command("bash", "-c", check, "fuzz", log, corpus).Run()
		if forgiven := err == nil; forgiven != c.forgiven {
			t.Errorf("%s: forgiven %v, want %v (%v)", c.name, forgiven, c.forgiven, err)
		}
	}
}
