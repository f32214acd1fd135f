package spec_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/service-mesh-performance/smp/spec"
)

// The bad-plan corpus: every file under testdata/invalid is a plan that must not load,
// and says which error it must produce. A YAML file carries its expectations in comment
// lines; a JSON file (which has no comments) in a sidecar file named <file>.want.
//
//	# want: LINE:COL PATH | MESSAGE | FIX
//
// LINE:COL is where the error must point (1-based, as editors count). PATH is the field
// path as the error must name it ("-" for errors about the file as a whole: syntax, an
// empty file). MESSAGE and FIX are substrings of the error's Message and Fix. A file may
// hold several want lines; each must be matched by one of the errors Load returns.

// minCorpus is the number of malformed plans the issue asks for (at least 25, and the
// test plan promises 30); the corpus must not shrink below it unnoticed.
const minCorpus = 30

var wantLine = regexp.MustCompile(`^#\s*want:\s*(\d+):(\d+)\s+(\S+)\s*\|\s*(.+?)\s*\|\s*(.+?)\s*$`)

type wantErr struct {
	line, col      int
	path, msg, fix string
	text           string // the want line, for failure messages
}

// readWants returns the expectations of a corpus file.
func readWants(t *testing.T, file string) []wantErr {
	t.Helper()
	src := file
	if filepath.Ext(file) == ".json" {
		src = file + ".want"
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("read expectations: %v (a JSON corpus file needs a %s.want file)", err, filepath.Base(file))
	}
	var wants []wantErr
	for i, l := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "# want:") {
			continue
		}
		m := wantLine.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			t.Fatalf("%s:%d: malformed want line %q; write # want: LINE:COL PATH | MESSAGE | FIX", src, i+1, l)
		}
		line, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		path := m[3]
		if path == "-" {
			path = ""
		}
		wants = append(wants, wantErr{line: line, col: col, path: path, msg: m[4], fix: m[5], text: strings.TrimSpace(l)})
	}
	if len(wants) == 0 {
		t.Fatalf("%s has no \"# want:\" line; every corpus file must say which error it expects", src)
	}
	return wants
}

func corpusFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"testdata/invalid/*.yaml", "testdata/invalid/*.json"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	return files
}

func TestInvalidCorpus(t *testing.T) {
	files := corpusFiles(t)
	if len(files) < minCorpus {
		t.Fatalf("the bad-plan corpus has %d files, want at least %d", len(files), minCorpus)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			wants := readWants(t, file)
			p, err := spec.Load(file)
			if err == nil {
				t.Fatalf("Load succeeded; want an error like %s", wants[0].text)
			}
			if p != nil {
				t.Errorf("Load returned a plan together with an error")
			}
			errs, ok := err.(spec.Errors)
			if !ok {
				t.Fatalf("Load returned %T (%v), want spec.Errors", err, err)
			}
			if len(errs) == 0 {
				t.Fatal("Load returned an empty spec.Errors")
			}
			var e *spec.Error
			if !errors.As(err, &e) {
				t.Errorf("errors.As cannot find a *spec.Error in %T", err)
			}
			checkEveryError(t, file, errs)
			for _, w := range wants {
				m := matchWant(errs, w)
				if m == nil {
					t.Errorf("no error matches %q; got:\n%s", w.text, dumpErrors(errs))
					continue
				}
				if m.Fix == "" {
					t.Errorf("%s: the error has no fix", m)
				}
				prefix := fmt.Sprintf("%s:%d:%d: ", file, w.line, w.col)
				if w.path != "" {
					prefix += w.path + ": "
				}
				if got := m.Error(); !strings.HasPrefix(got, prefix) {
					t.Errorf("Error() = %q, want it to start with %q", got, prefix)
				}
				if !strings.Contains(errs.Error(), m.Error()) {
					t.Errorf("Errors.Error() does not include %q", m.Error())
				}
			}
		})
	}
}

// checkEveryError holds every error of a bad plan, not only the expected one, to the
// promise of the format: a file, a position, a message and a fix, in file order.
func checkEveryError(t *testing.T, file string, errs spec.Errors) {
	t.Helper()
	for i, e := range errs {
		if e.File != file {
			t.Errorf("error %d (%s): File = %q, want %q", i, e, e.File, file)
		}
		if e.Line < 1 || e.Column < 1 {
			t.Errorf("error %d (%s): position %d:%d, want a line and column ≥ 1", i, e, e.Line, e.Column)
		}
		if e.Message == "" || e.Fix == "" {
			t.Errorf("error %d (%s): want both a message and a fix", i, e)
		}
		if e.Severity != "error" {
			t.Errorf("error %d (%s): severity %q, want \"error\"", i, e, e.Severity)
		}
		if i > 0 {
			prev := errs[i-1]
			if prev.Line > e.Line || prev.Line == e.Line && prev.Column > e.Column {
				t.Errorf("errors out of file order: %d:%d before %d:%d", prev.Line, prev.Column, e.Line, e.Column)
			}
		}
	}
}

func matchWant(errs spec.Errors, w wantErr) *spec.Error {
	for _, e := range errs {
		if e.Line == w.line && e.Column == w.col && e.Path == w.path &&
			strings.Contains(e.Message, w.msg) && strings.Contains(e.Fix, w.fix) {
			return e
		}
	}
	return nil
}

func dumpErrors(errs spec.Errors) string {
	var b strings.Builder
	for _, e := range errs {
		path := e.Path
		if path == "" {
			path = "-"
		}
		fmt.Fprintf(&b, "\t# want: %d:%d %s | %s | %s\n", e.Line, e.Column, path, e.Message, e.Fix)
	}
	return b.String()
}

// TestCorpusSidecars keeps the corpus tidy: a .want file belongs to a JSON plan.
func TestCorpusSidecars(t *testing.T) {
	wants, err := filepath.Glob("testdata/invalid/*.want")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range wants {
		plan := strings.TrimSuffix(w, ".want")
		if filepath.Ext(plan) != ".json" {
			t.Errorf("%s: only JSON plans take a .want file; put the want line in %s itself", w, filepath.Base(plan))
		}
		if _, err := os.Stat(plan); err != nil {
			t.Errorf("%s has no plan beside it: %v", w, err)
		}
	}
}

// TestErrorFormat pins the compiler-style rendering that editors and CI annotators parse.
func TestErrorFormat(t *testing.T) {
	tests := []struct {
		name string
		err  spec.Error
		want string
	}{
		{"everything", spec.Error{File: "plan.yaml", Line: 7, Column: 3, Path: "workload.rat", Message: `unknown field "rat" in workload`, Fix: `did you mean "rate"?`},
			`plan.yaml:7:3: workload.rat: unknown field "rat" in workload; did you mean "rate"?`},
		{"no path", spec.Error{File: "plan.yaml", Line: 1, Column: 1, Message: "the plan is empty", Fix: "start from smp init"},
			"plan.yaml:1:1: the plan is empty; start from smp init"},
		{"no position", spec.Error{File: "plan.yaml", Path: "arms[0].mesh", Message: "istio is not installed"},
			"plan.yaml: arms[0].mesh: istio is not installed"},
		{"no file", spec.Error{Line: 2, Column: 5, Path: "seed", Message: "bad"},
			"2:5: seed: bad"},
		{"message only", spec.Error{Message: "bad"}, "bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
	errs := spec.Errors{&tests[0].err, &tests[1].err}
	if got, want := errs.Error(), tests[0].want+"\n"+tests[1].want; got != want {
		t.Errorf("Errors.Error() = %q, want %q", got, want)
	}
}
