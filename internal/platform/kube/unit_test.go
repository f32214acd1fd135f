package kube

import (
	"strings"
	"testing"

	"github.com/service-mesh-performance/smp/internal/mesh"
	"github.com/service-mesh-performance/smp/spec"
)

func TestNamespaces(t *testing.T) {
	app, load := Namespaces("smp", "0123456789", "istio")
	if app != "smp-0123456789-istio" || load != "smp-0123456789-istio-load" {
		t.Errorf("Namespaces = %q, %q", app, load)
	}
	long := strings.Repeat("a", 63)
	a1, l1 := Namespaces("prefix-of-twenty-chr", "0123456789", long)
	a2, _ := Namespaces("prefix-of-twenty-chr", "0123456789", long+"b")
	if len(l1) > 63 || len(a1) > 63 || a1 == a2 {
		t.Errorf("long arm names: %q (%d), %q, %q", l1, len(l1), a1, a2)
	}
	if RunKey("20260101-120000-plan-ab12") != RunKey("20260101-120000-plan-ab12") || len(RunKey("x")) != 10 || RunKey("0123456789") != "0123456789" {
		t.Error("RunKey is not a stable 10-digit key, or does not pass a key through")
	}
}

func TestDefaultImage(t *testing.T) {
	for v, want := range map[string]string{"v0.3.0": DefaultImageRepository + ":0.3.0", "(devel)": DefaultImageRepository + ":latest", "": DefaultImageRepository + ":latest"} {
		if got := DefaultImage(v); got != want {
			t.Errorf("DefaultImage(%q) = %q, want %q", v, got, want)
		}
	}
}

// TestInjection pins the keys each arm's namespaces and pods get.
func TestInjection(t *testing.T) {
	prof := func(m spec.MeshType, dp spec.DataPlane) mesh.Profile {
		p, _ := mesh.For(mesh.Kubernetes, m, dp)
		return p
	}
	cases := []struct {
		name       string
		p          mesh.Profile
		in         spec.Injection
		meshed     bool
		nsLabel    map[string]string
		nsAnn      map[string]string
		podLabel   map[string]string
		podAnn     map[string]string
		nsNoLabel  []string
		podNoLabel []string
	}{
		{name: "baseline opts out of everything", p: prof(spec.MeshNone, ""), meshed: true,
			nsLabel:  map[string]string{"istio-injection": "disabled", "istio.io/dataplane-mode": "none", "kuma.io/sidecar-injection": "disabled"},
			nsAnn:    map[string]string{"linkerd.io/inject": "disabled"},
			podLabel: map[string]string{"sidecar.istio.io/inject": "false"},
			podAnn:   map[string]string{"consul.hashicorp.com/connect-inject": "false", "linkerd.io/inject": "disabled"}},
		{name: "istio namespace", p: prof(spec.MeshIstio, ""), in: spec.InjectionNamespace, meshed: true,
			nsLabel: map[string]string{"istio-injection": "enabled", "istio.io/dataplane-mode": "none"}, podNoLabel: []string{"sidecar.istio.io/inject"}},
		{name: "istio pod", p: prof(spec.MeshIstio, ""), in: spec.InjectionPod, meshed: true,
			podLabel: map[string]string{"sidecar.istio.io/inject": "true"}, nsNoLabel: []string{"istio-injection"}},
		{name: "ambient", p: prof(spec.MeshIstio, spec.DataPlaneAmbient), meshed: true,
			nsLabel: map[string]string{"istio.io/dataplane-mode": "ambient", "istio-injection": "disabled"}},
		{name: "linkerd", p: prof(spec.MeshLinkerd, ""), in: spec.InjectionNamespace, meshed: true,
			nsAnn: map[string]string{"linkerd.io/inject": "enabled"}},
		{name: "consul has only a pod key", p: prof(spec.MeshConsul, ""), in: spec.InjectionNamespace, meshed: true,
			podAnn: map[string]string{"consul.hashicorp.com/connect-inject": "true"}},
		{name: "kuma", p: prof(spec.MeshKuma, ""), in: spec.InjectionNamespace, meshed: true,
			nsLabel: map[string]string{"kuma.io/sidecar-injection": "enabled"}},
		{name: "cilium injects nothing", p: prof(spec.MeshCilium, ""), meshed: true,
			nsLabel: map[string]string{"istio-injection": "disabled"}},
		{name: "unmeshed load generator", p: prof(spec.MeshIstio, ""), in: spec.InjectionNamespace, meshed: false,
			nsLabel: map[string]string{"istio-injection": "disabled"}, podLabel: map[string]string{"sidecar.istio.io/inject": "false"}},
		{name: "manual", p: prof(spec.MeshLinkerd, ""), in: spec.InjectionManual, meshed: true, nsAnn: map[string]string{"istio-injection": ""}},
	}
	for _, c := range cases {
		ns, pod := injection(c.p, c.in, c.meshed)
		check := func(what string, got, want map[string]string) {
			for k, v := range want {
				if v == "" {
					if _, ok := got[k]; ok {
						t.Errorf("%s: %s has %s, want none", c.name, what, k)
					}
					continue
				}
				if got[k] != v {
					t.Errorf("%s: %s %s = %q, want %q (all %v)", c.name, what, k, got[k], v, got)
				}
			}
		}
		check("namespace label", ns.labels, c.nsLabel)
		check("namespace annotation", ns.annotations, c.nsAnn)
		check("pod label", pod.labels, c.podLabel)
		check("pod annotation", pod.annotations, c.podAnn)
		for _, k := range c.nsNoLabel {
			if _, ok := ns.labels[k]; ok {
				t.Errorf("%s: namespace has label %s", c.name, k)
			}
		}
		for _, k := range c.podNoLabel {
			if _, ok := pod.labels[k]; ok {
				t.Errorf("%s: pod has label %s", c.name, k)
			}
		}
	}
}

// TestBuildApp: each app's Deployments and entry.
func TestBuildApp(t *testing.T) {
	for _, c := range []struct {
		app   spec.AppKind
		deps  string
		entry string
	}{
		{spec.AppBuiltin, "svc-1,svc-2,svc-3", "http://svc-1.ns.svc:8080/"},
		{spec.AppBookinfo, "details-v1,ratings-v1,reviews-v1,reviews-v2,reviews-v3,productpage-v1", "http://productpage.ns.svc:9080/productpage"},
		{spec.AppEmojivoto, "emoji-svc,voting-svc,web-svc", "http://web-svc.ns.svc:80/api/list"},
		{spec.AppFortio, "fortio-server", "http://fortio-server.ns.svc:8080/echo"},
	} {
		w := spec.Workload{App: spec.App{Kind: c.app, Services: 3}, Path: "/"}
		set, err := buildApp(w, podEnv{namespace: "ns", replicas: 2}, "img")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(set.deployments, ","); got != c.deps {
			t.Errorf("%s: deployments %s, want %s", c.app, got, c.deps)
		}
		if len(set.entry) != 1 || set.entry[0] != c.entry {
			t.Errorf("%s: entry %v, want %s", c.app, set.entry, c.entry)
		}
	}
}
