package layout

import (
	"bufio"
	"os"
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
