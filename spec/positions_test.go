package spec_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/service-mesh-performance/smp/spec"
)

// lineCol finds the 1-based line and column of the first occurrence of needle in text, so
// that the tests below state positions by content rather than by counting.
func lineCol(t *testing.T, text, needle string) (int, int) {
	t.Helper()
	i := strings.Index(text, needle)
	if i < 0 {
		t.Fatalf("%q is not in the plan", needle)
	}
	return strings.Count(text[:i], "\n") + 1, i - strings.LastIndex(text[:i], "\n")
}

// mesheryFile is the Meshery example of reference/spec.md §7.4 (with a shorter duration),
// with old→new replacements applied.
func mesheryFile(t *testing.T, oldNew ...string) string {
	t.Helper()
	const base = `test:
  smp_version: v0.0.1
  name: Istio Performance Test
  labels: {}
  clients:
    - internal: false
      load_generator: fortio
      protocol: 1
      connections: 2
      rps: 10
      headers: {}
      cookies: {}
      body: ''
      content_type: ''
      endpoint_urls:
        - 'http://localhost:2323/productpage'
  duration: '30m'
mesh:
  type: 3
`
	out := base
	for i := 0; i+1 < len(oldNew); i += 2 {
		if !strings.Contains(out, oldNew[i]) {
			t.Fatalf("%q is not in the Meshery file", oldNew[i])
		}
		out = strings.Replace(out, oldNew[i], oldNew[i+1], 1)
	}
	return out
}

// TestMesheryPositions: validation runs on the converted, native plan, yet an error in a
// Meshery or SMP file points at the line the user wrote and names the path as written.
func TestMesheryPositions(t *testing.T) {
	tests := []struct {
		name string
		plan string
		at   string // the text the error must point at
		path string
		msg  string
		fix  string
	}{
		{"negative rps", mesheryFile(t, "rps: 10", "rps: -5"),
			"-5", "test.clients[0].rps", "rate must not be negative", "use 0 for closed loop"},
		{"negative connections", mesheryFile(t, "connections: 2", "connections: -1"),
			"-1", "test.clients[0].connections", "connections must be between 1 and 100000", "use 1 to 100000"},
		{"url scheme", mesheryFile(t, "'http://", "'ftp://"),
			"'ftp://", "test.clients[0].endpoint_urls[0]", `unsupported URL scheme "ftp"`, "use http://"},
		{"short duration", mesheryFile(t, "'30m'", "'10ms'"),
			"'10ms'", "test.duration", "too short to measure", "at least 100ms"},
		{"wrk holds no rate", mesheryFile(t, "load_generator: fortio", "load_generator: wrk"),
			"wrk\n", "test.clients[0].load_generator", "wrk is closed loop only", "use wrk2"},
		{"labels", mesheryFile(t, "labels: {}", "labels: {team: a b}"),
			"a b", "test.labels.team", "not a valid Kubernetes label value", "at most 63"},
		{"mesh labels", mesheryFile(t, "type: 3", "type: 3\n  labels: {-x: y}"),
			"y}", "mesh.labels.-x", `label key "-x" is not a valid Kubernetes label key`, "at most 63"},
		{"smp top level", "clients:\n  - connections: -1\n    endpoint_urls: [http://h/]\n",
			"-1", "clients[0].connections", "connections must be between", "use 1 to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := spec.Parse("meshery.yaml", []byte(tt.plan))
			var errs spec.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse error = %v (%T), want spec.Errors", err, err)
			}
			line, col := lineCol(t, tt.plan, tt.at)
			for _, e := range errs {
				if e.Path != tt.path {
					continue
				}
				if e.Line != line || e.Column != col {
					t.Errorf("%s: at %d:%d, want %d:%d (where %q is)", e.Path, e.Line, e.Column, line, col, tt.at)
				}
				if !strings.Contains(e.Message, tt.msg) || !strings.Contains(e.Fix, tt.fix) {
					t.Errorf("error = %q, want message %q and fix %q", e, tt.msg, tt.fix)
				}
				if want := fmt.Sprintf("meshery.yaml:%d:%d: %s: ", line, col, tt.path); !strings.HasPrefix(e.Error(), want) {
					t.Errorf("Error() = %q, want prefix %q", e.Error(), want)
				}
				return
			}
			t.Errorf("no error names %s; got:\n%v", tt.path, err)
		})
	}
}

// TestPlanPos: code that checks a loaded plan against the world (is the mesh installed?)
// finds positions through Pos and Errorf, with the same canonical paths for every shape.
func TestPlanPos(t *testing.T) {
	meshery := mesheryFile(t)
	native := "name: native\narms:\n  - none\n  - mesh: builtin\nworkload:\n  rps: 200\n  connections: 4\n"
	tests := []struct {
		name, file, plan string
		path             string // canonical path asked for
		at               string // where it must point
		shown            string // the path Errorf must show
	}{
		{"meshery rate", "m.yaml", meshery, "workload.rate", "10\n", "test.clients[0].rps"},
		{"meshery mesh", "m.yaml", meshery, "arms[0].mesh", "3\n", "mesh.type"},
		{"meshery duration", "m.yaml", meshery, "workload.duration", "'30m'", "test.duration"},
		{"meshery url", "m.yaml", meshery, "workload.endpoint_urls[0]", "'http", "test.clients[0].endpoint_urls[0]"},
		{"meshery default takes its parent", "m.yaml", meshery, "workload.streams", "internal", "workload.streams"},
		{"native alias", "n.yaml", native, "workload.rate", "200", "workload.rate"},
		{"native arm", "n.yaml", native, "arms[1].mesh", "builtin", "arms[1].mesh"},
		{"native shorthand arm", "n.yaml", native, "arms[0].mesh", "none", "arms[0].mesh"},
		{"native default takes its parent", "n.yaml", native, "workload.timeout", "rps", "workload.timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := spec.Parse(tt.file, []byte(tt.plan))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			line, col := lineCol(t, tt.plan, tt.at)
			file, pos := p.Pos(tt.path)
			if file != tt.file || pos.Line != line || pos.Column != col {
				t.Errorf("Pos(%q) = %s %d:%d, want %s %d:%d (where %q is)", tt.path, file, pos.Line, pos.Column, tt.file, line, col, tt.at)
			}
			e := p.Errorf(tt.path, "install it", "%s is missing", "istio")
			if e.File != tt.file || e.Line != line || e.Column != col || e.Path != tt.shown {
				t.Errorf("Errorf(%q) = %s:%d:%d %s, want %s:%d:%d %s", tt.path, e.File, e.Line, e.Column, e.Path, tt.file, line, col, tt.shown)
			}
			if e.Message != "istio is missing" || e.Fix != "install it" || e.Severity != "error" {
				t.Errorf("Errorf = %+v", e)
			}
		})
	}
	// A plan built in code has no positions, and says so without failing.
	var p spec.Plan
	if file, pos := p.Pos("workload.rate"); file != "" || pos != (spec.Position{}) {
		t.Errorf("Pos on a plan built in code = %q %v, want nothing", file, pos)
	}
	if e := p.Errorf("workload.rate", "fix", "bad"); e.Error() != "workload.rate: bad; fix" {
		t.Errorf("Errorf on a plan built in code = %q", e.Error())
	}
}
