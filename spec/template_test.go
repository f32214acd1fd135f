package spec_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/service-mesh-performance/smp/spec"
)

// TestTemplateIsValid: what `smp init` prints is a plan smp accepts, for each platform and
// the meshes it offers there.
func TestTemplateIsValid(t *testing.T) {
	tests := []struct {
		name     string
		opt      spec.TemplateOptions
		platform spec.Platform
		arms     []string // name:mesh
	}{
		{"defaults", spec.TemplateOptions{}, spec.PlatformLocal, []string{"baseline:none", "builtin:builtin"}},
		{"local proxies", spec.TemplateOptions{Platform: spec.PlatformLocal, Meshes: []spec.MeshType{spec.MeshBuiltin, spec.MeshEnvoy, spec.MeshHAProxy, spec.MeshNginx}},
			spec.PlatformLocal, []string{"baseline:none", "builtin:builtin", "envoy:envoy", "haproxy:haproxy", "nginx:nginx"}},
		{"local baseline only", spec.TemplateOptions{Meshes: []spec.MeshType{spec.MeshNone}}, spec.PlatformLocal, []string{"baseline:none"}},
		{"kubernetes default", spec.TemplateOptions{Platform: spec.PlatformKubernetes}, spec.PlatformKubernetes, []string{"baseline:none", "istio:istio"}},
		{"kubernetes meshes", spec.TemplateOptions{Platform: spec.PlatformKubernetes, Meshes: []spec.MeshType{spec.MeshIstio, spec.MeshLinkerd, spec.MeshConsul, spec.MeshKuma, spec.MeshCilium}},
			spec.PlatformKubernetes, []string{"baseline:none", "istio:istio", "linkerd:linkerd", "consul:consul", "kuma:kuma", "cilium:cilium"}},
		{"kubernetes with none listed", spec.TemplateOptions{Platform: spec.PlatformKubernetes, Meshes: []spec.MeshType{spec.MeshNone, spec.MeshLinkerd}},
			spec.PlatformKubernetes, []string{"baseline:none", "linkerd:linkerd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := spec.Template(tt.opt)
			if err != nil {
				t.Fatalf("Template: %v", err)
			}
			if !strings.HasPrefix(string(out), "# ") || strings.Count(string(out), "#") < 10 {
				t.Errorf("the template is not commented:\n%s", out)
			}
			p, err := spec.Parse("plan.yaml", out)
			if err != nil {
				t.Fatalf("the template does not load: %v\n%s", err, out)
			}
			if p.Environment.Platform != tt.platform {
				t.Errorf("platform = %s, want %s", p.Environment.Platform, tt.platform)
			}
			if got := armSummary(p); !reflect.DeepEqual(got, tt.arms) {
				t.Errorf("arms = %v, want %v", got, tt.arms)
			}
			if p.Baseline != "baseline" {
				t.Errorf("baseline = %q, want baseline", p.Baseline)
			}
			if len(p.SLO) == 0 {
				t.Error("the template has no SLO to show how they are written")
			}
			for i, s := range p.SLO {
				if _, err := s.Parse(); err != nil {
					t.Errorf("slo[%d] %q: %v", i, s.Condition, err)
				}
			}
		})
	}
}

func TestTemplateErrors(t *testing.T) {
	tests := []struct {
		name string
		opt  spec.TemplateOptions
		want string
	}{
		{"istio on local", spec.TemplateOptions{Meshes: []spec.MeshType{spec.MeshIstio}}, "mesh istio is not available on the local platform"},
		{"envoy on kubernetes", spec.TemplateOptions{Platform: spec.PlatformKubernetes, Meshes: []spec.MeshType{spec.MeshEnvoy}}, "mesh envoy is not available on the kubernetes platform"},
		{"metadata-only mesh", spec.TemplateOptions{Platform: spec.PlatformKubernetes, Meshes: []spec.MeshType{spec.MeshTanzu}}, "mesh tanzu is not available"},
		{"one bad among good", spec.TemplateOptions{Meshes: []spec.MeshType{spec.MeshBuiltin, spec.MeshLinkerd}}, "mesh linkerd is not available on the local platform"},
		{"a mesh twice", spec.TemplateOptions{Meshes: []spec.MeshType{spec.MeshEnvoy, spec.MeshEnvoy}}, "mesh envoy is given twice"},
		{"unknown platform", spec.TemplateOptions{Platform: "docker"}, `unknown platform "docker"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := spec.Template(tt.opt)
			if err == nil {
				t.Fatalf("Template succeeded, want an error containing %q:\n%s", tt.want, out)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
			if out != nil {
				t.Errorf("Template returned output together with an error")
			}
		})
	}
}
