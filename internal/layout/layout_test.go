package layout

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/service-mesh-performance/smp"

// page is the architecture page whose package table states the same rules.
const page = "../../docs/architecture.md"

// rules says, for every package of the module, exactly which packages of the module it
// imports (its tests aside): what docs/architecture.md's table says in its "may import"
// column, and what the code does. A new package, or a new or removed import edge, changes
// the page's row and this rule in the same commit; TestImportRules and
// TestArchitecturePage fail until both agree with the code. No package is allowed
// everything: experiment and cmd/smp, the two that import the most, are listed like the
// others.
var rules = map[string][]string{
	"spec":                       {"internal/input"},
	"result":                     {"spec", "internal/hist", "internal/input"},
	"schema":                     {},
	"internal/hist":              {},
	"internal/proc":              {},
	"internal/pki":               {},
	"internal/term":              {},
	"internal/redact":            {},
	"internal/input":             {},
	"internal/tempdir":           {},
	"internal/version":           {},
	"internal/sysinfo":           {},
	"internal/rawio":             {},
	"internal/h1wire":            {},
	"internal/h1wire/h1wiretest": {},
	"internal/grpcecho":          {},
	"internal/layout":            {},
	"internal/schemagen":         {"spec"},
	"internal/engine":            {"internal/hist", "internal/rawio", "result"},
	"internal/app":               {"internal/grpcecho", "internal/h1wire", "internal/rawio"},
	"internal/sidecar":           {"internal/h1wire", "internal/pki", "internal/proc", "internal/rawio"},
	"internal/mesh":              {"spec"},
	"internal/platform":          {"result", "spec"},
	"internal/platform/carry":    {"internal/app", "internal/sidecar", "spec"},
	"internal/platform/local": {"internal/app", "internal/grpcecho", "internal/pki", "internal/platform", "internal/platform/carry",
		"internal/proc", "internal/sidecar", "internal/tempdir", "result", "spec"},
	"internal/platform/kube": {"internal/app", "internal/mesh", "internal/pki", "internal/platform", "internal/platform/carry",
		"internal/sidecar", "result", "spec"},
	"internal/platform/kube/kubetest": {"internal/mesh", "spec"},
	"internal/platform/external":      {"internal/platform", "spec"},
	"internal/platform/open": {"internal/agent", "internal/platform", "internal/platform/external", "internal/platform/kube",
		"internal/platform/local", "internal/version", "spec"},
	"internal/agent": {"internal/engine", "internal/hist", "internal/pki", "result"},
	"internal/generator": {"internal/agent", "internal/engine", "internal/hist", "internal/platform", "internal/proc",
		"internal/tempdir", "internal/version", "result", "spec"},
	"internal/collect":  {"internal/mesh", "internal/platform", "result"},
	"internal/certify":  {"internal/collect", "internal/hist", "internal/platform", "internal/sysinfo", "result", "spec"},
	"internal/analysis": {"internal/hist", "result", "spec"},
	"internal/report":   {"internal/analysis", "internal/hist", "result", "spec"},
	"internal/history":  {"result"},
	"internal/experiment": {"internal/agent", "internal/analysis", "internal/certify", "internal/collect", "internal/engine",
		"internal/generator", "internal/hist", "internal/mesh", "internal/platform", "internal/platform/open",
		"internal/redact", "internal/sysinfo", "internal/term", "internal/version", "result", "spec"},
	"cmd/smp": {"internal/agent", "internal/analysis", "internal/app", "internal/certify", "internal/experiment",
		"internal/history", "internal/input", "internal/redact", "internal/report", "internal/sidecar", "internal/term",
		"internal/version", "result", "schema", "spec"},
	"bench/cmd/engineload": {"internal/engine"},
	"bench/cmd/soak":       {"internal/engine", "internal/platform", "internal/platform/local", "internal/report", "result", "spec"},
}

// measuring are the packages that measure or run what is measured: presentation (term,
// report) is none of their business (DESIGN.md: computing apart from presenting).
var measuring = []string{"internal/engine", "internal/generator", "internal/agent", "internal/collect", "internal/app",
	"internal/sidecar", "internal/platform", "internal/platform/local", "internal/platform/kube",
	"internal/platform/external", "internal/platform/open", "internal/certify", "internal/analysis"}

type pkg struct{ imports, deps []string }

// packages returns each package of the module with its direct imports and all its
// dependencies (as `go list` reports them, test files excluded).
func packages(t *testing.T) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .Deps \" \"}}", module+"/...")
	cmd.Dir = "../.."
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, errOut.String())
	}
	pkgs := map[string]pkg{}
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), "|", 3)
		if len(parts) != 3 {
			continue
		}
		pkgs[local(parts[0])] = pkg{strings.Fields(parts[1]), strings.Fields(parts[2])}
	}
	return pkgs
}

// local is a module package's path inside the module ("internal/engine"), or "" for a
// package of another module.
func local(path string) string {
	if path == module {
		return "."
	}
	rest, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return ""
	}
	return rest
}

// moduleImports are the packages of the module that p imports, sorted.
func moduleImports(p pkg) []string {
	var out []string
	for _, imp := range p.imports {
		if l := local(imp); l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

// TestImportRules checks the code against the rules: every package has one, and imports
// exactly what it lists; and the edges the layering forbids whatever the table says.
func TestImportRules(t *testing.T) {
	pkgs := packages(t)
	for name, p := range pkgs {
		rule, ok := rules[name]
		if !ok {
			t.Errorf("package %s has no import rule: add it to internal/layout's rules and a row to docs/architecture.md", name)
			continue
		}
		got := moduleImports(p)
		for _, dep := range got {
			if !slices.Contains(rule, dep) {
				t.Errorf("%s imports %s, which its rule does not list (%v): add the edge to the rule and to its row in docs/architecture.md, or remove the import", name, dep, rule)
			}
		}
		for _, dep := range rule {
			if !slices.Contains(got, dep) {
				t.Errorf("%s's rule lists %s, which it does not import: remove it from the rule and from its row in docs/architecture.md", name, dep)
			}
		}
		checkForbidden(t, name, p)
	}
	for name := range rules {
		if _, ok := pkgs[name]; !ok {
			t.Errorf("internal/layout has a rule for %s, which is not a package of the module: remove it (and its row in docs/architecture.md)", name)
		}
	}
}

// checkForbidden applies the rules the table does not express: heavy dependencies stay
// confined (style habit 18), and the layers keep their direction.
func checkForbidden(t *testing.T, name string, p pkg) {
	t.Helper()
	for _, imp := range p.imports {
		switch l := local(imp); {
		case l == "internal/experiment" && name != "cmd/smp":
			t.Errorf("%s imports internal/experiment; only cmd/smp may", name)
		case l == "internal/platform/kube/kubetest" || l == "internal/h1wire/h1wiretest":
			t.Errorf("%s imports %s; only tests may", name, l)
		case (l == "internal/term" || l == "internal/report") && slices.Contains(measuring, name):
			t.Errorf("%s imports %s: presentation is not the business of a package that measures", name, l)
		case (imp == "github.com/prometheus/common/expfmt" || strings.HasPrefix(imp, "github.com/prometheus/client_golang/api")) &&
			name != "internal/collect":
			t.Errorf("%s imports %s; only internal/collect may", name, imp)
		case strings.HasPrefix(imp, "k8s.io/") && name != "internal/platform/kube" && name != "internal/platform/kube/kubetest":
			t.Errorf("%s imports %s; Kubernetes client code belongs in internal/platform/kube", name, imp)
		}
	}
	// What links client-go at all: the kube platform, and what opens it.
	if !slices.Contains([]string{"internal/platform/kube", "internal/platform/kube/kubetest", "internal/platform/open",
		"internal/experiment", "cmd/smp"}, name) {
		for _, d := range p.deps {
			if strings.HasPrefix(d, "k8s.io/") {
				t.Errorf("%s depends on %s; only internal/platform/kube and what opens it (platform/open, experiment, cmd/smp) may", name, d)
				break
			}
		}
	}
}

// tableRow is one row of the page's package table: `pkg` | owns | may import.
var tableRow = regexp.MustCompile("^\\|\\s*`([^`]+)`\\s*\\|([^|]*)\\|([^|]*)\\|\\s*$")

// pageRules reads the "may import" column of the package table in the page's Packages
// section, with the line of each row.
func pageRules(path string) (map[string][]string, map[string]int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	out, lines := map[string][]string{}, map[string]int{}
	in := false
	for i, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "## ") {
			in = strings.TrimSpace(line) == "## Packages"
			continue
		}
		if !in {
			continue
		}
		m := tableRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name := m[1]
		if _, dup := out[name]; dup {
			return nil, nil, fmt.Errorf("%s:%d: a second row for %s", path, i+1, name)
		}
		deps := []string{}
		for _, d := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(m[3], -1) {
			deps = append(deps, d[1])
		}
		if len(deps) == 0 && strings.TrimSpace(m[3]) != "—" {
			return nil, nil, fmt.Errorf("%s:%d: %s's \"may import\" is %q: list packages in backquotes, or — for none", path, i+1, name, strings.TrimSpace(m[3]))
		}
		if strings.TrimSpace(m[2]) == "" {
			return nil, nil, fmt.Errorf("%s:%d: %s's row does not say what it owns", path, i+1, name)
		}
		out[name], lines[name] = deps, i+1
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("%s: no package table under \"## Packages\"", path)
	}
	return out, lines, nil
}

// TestArchitecturePage checks that docs/architecture.md's package table and the rules
// say the same: the same packages, each with the same imports.
func TestArchitecturePage(t *testing.T) {
	onPage, lines, err := pageRules(page)
	if err != nil {
		t.Fatal(err)
	}
	const at = "docs/architecture.md"
	for name, deps := range onPage {
		rule, ok := rules[name]
		if !ok {
			t.Errorf("%s:%d: %s has a row but no import rule in internal/layout", at, lines[name], name)
			continue
		}
		for _, d := range deps {
			if !slices.Contains(rule, d) {
				t.Errorf("%s:%d: %s may import %s on the page, but not in internal/layout's rule %v", at, lines[name], name, d, rule)
			}
		}
		for _, d := range rule {
			if !slices.Contains(deps, d) {
				t.Errorf("%s:%d: %s's rule in internal/layout lists %s, which its row does not", at, lines[name], name, d)
			}
		}
	}
	for name := range rules {
		if _, ok := onPage[name]; !ok {
			t.Errorf("%s: no row for %s, which internal/layout has a rule for", at, name)
		}
	}
}
