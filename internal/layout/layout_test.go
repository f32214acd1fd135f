package layout

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/service-mesh-performance/smp"

// packages returns each package of the module with its direct imports and all its
// dependencies (as `go list` reports them, test files excluded).
func packages(t *testing.T) map[string]struct{ imports, deps []string } {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .Deps \" \"}}", module+"/...")
	cmd.Dir = "../.."
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, errOut.String())
	}
	pkgs := map[string]struct{ imports, deps []string }{}
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), "|", 3)
		if len(parts) != 3 {
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(parts[0], module), "/")
		pkgs[name] = struct{ imports, deps []string }{strings.Fields(parts[1]), strings.Fields(parts[2])}
	}
	return pkgs
}

func internal(path string) (string, bool) {
	if !strings.HasPrefix(path, module+"/") {
		return "", false
	}
	return strings.TrimPrefix(path, module+"/"), true
}

// TestImportRules enforces DESIGN.md's layering. Each rule says which packages of the
// module a package may import directly; "*" allows any, and external modules are checked
// by the k8s rule below.
func TestImportRules(t *testing.T) {
	allowed := map[string][]string{
		"spec":                       {},
		"result":                     {"spec", "internal/hist"}, // result decodes its own histograms
		"schema":                     {},
		"internal/hist":              {},
		"internal/proc":              {},
		"internal/pki":               {},
		"internal/term":              {},
		"internal/version":           {},
		"internal/sysinfo":           {},
		"internal/layout":            {},
		"internal/grpcecho":          {},
		"internal/engine":            {"internal/hist", "internal/grpcecho", "result"},
		"internal/schemagen":         {"spec"},
		"internal/mesh":              {"spec"},
		"internal/platform":          {"spec", "internal/mesh", "result"},
		"internal/rawio":             {},
		"internal/h1wire":            {},
		"internal/app":               {"internal/hist", "internal/grpcecho", "internal/rawio", "internal/h1wire"},
		"internal/sidecar":           {"internal/proc", "internal/pki", "internal/rawio", "internal/h1wire"},
		"internal/collect":           {"result", "spec", "internal/proc", "internal/mesh", "internal/platform"},
		"internal/analysis":          {"result", "spec", "internal/hist"},
		"internal/report":            {"result", "spec", "internal/analysis", "internal/hist"},
		"internal/history":           {"result"},
		"internal/certify":           {"result", "spec", "internal/hist", "internal/sysinfo", "internal/engine", "internal/collect", "internal/platform"},
		"internal/agent":             {"internal/engine", "internal/hist", "internal/pki", "result"},
		"internal/generator":         {"internal/engine", "internal/hist", "internal/proc", "internal/platform", "internal/version", "internal/agent", "result", "spec"},
		"internal/platform/local":    {"internal/platform", "internal/app", "internal/sidecar", "internal/pki", "internal/mesh", "internal/proc", "internal/grpcecho", "spec", "result"},
		"internal/platform/kube":     {"internal/platform", "internal/mesh", "internal/app", "spec", "result"},
		"internal/platform/external": {"internal/platform", "spec"},
		"internal/platform/open": {"internal/platform", "internal/platform/external", "internal/platform/local", "internal/platform/kube",
			"internal/agent", "internal/version", "spec"},
		// The test control plane (kwok, kube-apiserver, …) for kube's and cmd/smp's tests,
		// and the raw HTTP/1.1 client of the app's, the sidecar's and h1wire's tests;
		// imported by test files only (checked below).
		"internal/platform/kube/kubetest": {"internal/mesh", "spec"},
		"internal/h1wire/h1wiretest":      {},
		"internal/experiment":             {"*"},
		"cmd/smp":                         {"*"},
	}
	pkgs := packages(t)
	for name, p := range pkgs {
		if strings.HasPrefix(name, "bench/") {
			continue // benchmark drivers compare anything with anything
		}
		rule, ok := allowed[name]
		if !ok {
			// A new package: it must be given a rule here (and a row in DESIGN.md's table).
			t.Errorf("package %s has no import rule in internal/layout; add one", name)
			continue
		}
		for _, imp := range p.imports {
			dep, ok := internal(imp)
			if !ok || len(rule) == 1 && rule[0] == "*" {
				continue
			}
			found := false
			for _, a := range rule {
				if dep == a {
					found = true
				}
			}
			if !found {
				t.Errorf("%s imports %s, which its rule does not allow (allowed: %v)", name, dep, rule)
			}
		}
		for _, imp := range p.imports {
			if dep, ok := internal(imp); ok && dep == "internal/experiment" && name != "cmd/smp" {
				t.Errorf("%s imports internal/experiment; only cmd/smp may", name)
			}
		}
		// Heavy dependencies stay confined (style habit 18): the exposition-format parser
		// and the Prometheus API client belong to the collectors.
		for _, imp := range p.imports {
			if (imp == "github.com/prometheus/common/expfmt" || strings.HasPrefix(imp, "github.com/prometheus/client_golang/api")) && name != "internal/collect" {
				t.Errorf("%s imports %s; only internal/collect may", name, imp)
			}
		}
		for _, imp := range p.imports {
			if imp == module+"/internal/platform/kube/kubetest" || imp == module+"/internal/h1wire/h1wiretest" {
				t.Errorf("%s imports %s; only tests may", name, strings.TrimPrefix(imp, module+"/"))
			}
		}
		for _, d := range p.deps {
			if strings.HasPrefix(d, "k8s.io/") && name != "internal/platform/kube" && name != "internal/platform/kube/kubetest" &&
				name != "internal/platform/open" && name != "cmd/smp" && name != "internal/experiment" {
				t.Errorf("%s depends on %s; Kubernetes client code belongs in internal/platform/kube", name, d)
				break
			}
		}
	}
}
