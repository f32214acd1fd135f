package mesh_test

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/service-mesh-performance/smp/internal/mesh"
	"github.com/service-mesh-performance/smp/spec"
)

// runnable reports whether spec accepts an arm of mesh m in mode dp on platform pf: the
// plan validator is the authority on what smp runs, so this test follows it instead of
// keeping its own list.
func runnable(m, dp, pf string) bool {
	arm := "{mesh: " + m
	if dp != "" {
		arm += ", data_plane: " + dp
	}
	plan := fmt.Sprintf("environment: {platform: %s}\narms: [none, %s}]\n", pf, arm)
	_, err := spec.Parse("plan.yaml", []byte(plan))
	return err == nil
}

// TestEveryRunnableMeshHasAProfile: for every mesh type and mode that a plan may use on
// either platform, For finds exactly one profile, of that platform; and no profile
// exists for a combination spec refuses.
func TestEveryRunnableMeshHasAProfile(t *testing.T) {
	info, ok := spec.Enum(spec.MeshType(""))
	if !ok {
		t.Fatal("spec.MeshType is not an enum")
	}
	modes := []string{"", "sidecar", "ambient", "node"}
	found := 0
	for _, m := range info.Values {
		for _, pf := range []mesh.Platform{mesh.Local, mesh.Kubernetes} {
			for _, dp := range modes {
				if m == "none" && dp != "" || !runnable(m, dp, string(pf)) {
					continue
				}
				found++
				p, ok := mesh.For(pf, spec.MeshType(m), spec.DataPlane(dp))
				if !ok || p.Platform != pf || string(p.Mesh) != m {
					t.Errorf("%s on %s, data_plane %q: spec runs it but there is no profile (found %v)", m, pf, dp, ok)
				}
			}
		}
	}
	if found < 10 {
		t.Fatalf("only %d runnable combinations found; the probe plan is probably wrong", found)
	}
	// Each (mesh, mode, platform) appears once.
	seen := map[string]bool{}
	for _, p := range mesh.Profiles() {
		key := fmt.Sprintf("%s/%s/%s", p.Mesh, p.DataPlane, p.Platform)
		if seen[key] {
			t.Errorf("two profiles for %s", key)
		}
		seen[key] = true
		if p.Mesh != spec.MeshNone && !runnable(string(p.Mesh), string(p.DataPlane), string(p.Platform)) {
			t.Errorf("profile %s on %s: spec does not run it", p.Name(), p.Platform)
		}
		if p.Source == "" {
			t.Errorf("profile %s cites no source", p.Name())
		}
	}
}

func anchored(t *testing.T, what, re string) *regexp.Regexp {
	t.Helper()
	r, err := regexp.Compile("^(?:" + re + ")$")
	if err != nil {
		t.Fatalf("%s: %q does not compile: %v", what, re, err)
	}
	return r
}

// TestSelectorsCompileAndSelect: every PromQL regex compiles as PromQL reads it
// (anchored), matches every container the profile names, and none of the cAdvisor traps
// (container="" for the pod aggregate, "POD" for the pause container) nor an ordinary
// application container.
func TestSelectorsCompileAndSelect(t *testing.T) {
	for _, p := range mesh.Profiles() {
		q := p.PromQL
		if q.ProxyContainer != "" {
			r := anchored(t, p.Name()+" proxy", q.ProxyContainer)
			for _, c := range p.Proxy.Containers {
				if !r.MatchString(c) {
					t.Errorf("%s: proxy regex %q misses container %q", p.Name(), q.ProxyContainer, c)
				}
			}
			for _, trap := range []string{"", "POD", "app", "svc-1", "discovery"} {
				if r.MatchString(trap) {
					t.Errorf("%s: proxy regex %q matches %q", p.Name(), q.ProxyContainer, trap)
				}
			}
			if q.ProxyContainer != p.Proxy.ContainerRegex {
				t.Errorf("%s: PromQL proxy regex %q differs from Proxy.ContainerRegex %q", p.Name(), q.ProxyContainer, p.Proxy.ContainerRegex)
			}
		}
		if p.Platform == mesh.Local && p.Proxy.ContainerRegex != "" {
			r := anchored(t, p.Name()+" local proxies", p.Proxy.ContainerRegex)
			if !r.MatchString("client-proxy") || !r.MatchString("svc-2-proxy") || r.MatchString("svc-2") {
				t.Errorf("%s: %q does not tell the local sidecars from the services", p.Name(), p.Proxy.ContainerRegex)
			}
		}
		if q.ControlPlaneNamespace != "" {
			r := anchored(t, p.Name()+" control-plane namespaces", q.ControlPlaneNamespace)
			for _, ns := range p.ControlPlane.Namespaces {
				if !r.MatchString(ns) {
					t.Errorf("%s: control-plane namespace regex %q misses %q", p.Name(), q.ControlPlaneNamespace, ns)
				}
			}
			if r.MatchString("default") || r.MatchString("smp-baseline") {
				t.Errorf("%s: control-plane namespace regex %q matches an application namespace", p.Name(), q.ControlPlaneNamespace)
			}
			pod := anchored(t, p.Name()+" control-plane pods", q.ControlPlanePod)
			for _, w := range p.ControlPlane.Workloads {
				if !pod.MatchString(w.Name + "-7d9f8b6c5d-x2x4z") {
					t.Errorf("%s: control-plane pod regex %q misses a pod of %s", p.Name(), q.ControlPlanePod, w.Name)
				}
			}
		}
		if (q.NodeNamespace != "") != (len(p.NodeComponents) > 0) {
			t.Errorf("%s: node selectors %+v but %d node components", p.Name(), q, len(p.NodeComponents))
		}
		if q.NodeNamespace != "" {
			ns := anchored(t, p.Name()+" node namespace", q.NodeNamespace)
			pod := anchored(t, p.Name()+" node pods", q.NodePod)
			ctr := anchored(t, p.Name()+" node containers", q.NodeContainer)
			for _, n := range p.NodeComponents {
				if !ns.MatchString(n.Namespace) || !pod.MatchString(n.Workload.Name+"-8xk2p") || !ctr.MatchString(n.Container) {
					t.Errorf("%s: node selectors %q/%q/%q miss %s/%s/%s", p.Name(), q.NodeNamespace, q.NodePod, q.NodeContainer,
						n.Namespace, n.Workload.Name, n.Container)
				}
				if n.Metrics.Port == 0 || !strings.HasPrefix(n.Metrics.Path, "/") {
					t.Errorf("%s: node component %s has no metrics endpoint", p.Name(), n.Workload.Name)
				}
			}
			if !q.NodeCPU {
				t.Errorf("%s has node-level components but does not ask for node CPU", p.Name())
			}
		}
		for _, l := range p.Latency {
			if l.Metric == "" || strings.HasSuffix(l.Metric, "_bucket") || (l.Role != "proxy" && l.Role != "app") {
				t.Errorf("%s: latency metric %+v", p.Name(), l)
			}
		}
	}
}

// TestReferenceTable checks the profiles against the facts of shared/reference/meshes.md
// §7 (injection, proxy and init containers, strict mTLS, endpoints) and §9 (selectors),
// quoted here so that a change to either shows.
func TestReferenceTable(t *testing.T) {
	type want struct {
		mesh      spec.MeshType
		dp        spec.DataPlane
		proxy     string   // proxy container regex
		inits     []string // init containers
		nsKey     string   // kind:name=value on the namespace, "" if none
		podKey    string   // kind:name=value on the pod, "" if none
		metrics   string   // port path of the first metrics endpoint
		admin     int
		strict    string // kind/name of the first strict-mTLS object
		cpNS      string
		nodeComps []string
	}
	cases := []want{
		{spec.MeshIstio, spec.DataPlaneSidecar, "istio-proxy", []string{"istio-init", "istio-validation"},
			"label:istio-injection=enabled", "label:sidecar.istio.io/inject=true", "15090 /stats/prometheus", 15000,
			"PeerAuthentication/default", "istio-system", nil},
		{spec.MeshIstio, spec.DataPlaneAmbient, "istio-proxy", nil,
			"label:istio.io/dataplane-mode=ambient", "", "15090 /stats/prometheus", 15000,
			"PeerAuthentication/default", "istio-system", []string{"ztunnel istio-system istio-proxy 15020 /metrics"}},
		{spec.MeshLinkerd, spec.DataPlaneSidecar, "linkerd-proxy", []string{"linkerd-init", "linkerd-network-validator"},
			"annotation:linkerd.io/inject=enabled", "annotation:linkerd.io/inject=enabled", "4191 /metrics", 4191,
			"Namespace/" + mesh.AppNamespace, "linkerd", nil},
		{spec.MeshKuma, spec.DataPlaneSidecar, "kuma-sidecar", []string{"kuma-init"},
			"label:kuma.io/sidecar-injection=enabled", "label:kuma.io/sidecar-injection=enabled", "5670 /metrics", 9901,
			"Mesh/default", "kuma-system", nil},
		{spec.MeshConsul, spec.DataPlaneSidecar, "consul-dataplane|envoy-sidecar|consul-sidecar", []string{"consul-connect-inject-init"},
			"", "annotation:consul.hashicorp.com/connect-inject=true", "20200 /metrics", 19000,
			"ServiceIntentions/smp-allow-all", "consul", nil},
		{spec.MeshCilium, spec.DataPlaneNode, "", nil, "", "", "9965 /metrics", 0,
			"CiliumNetworkPolicy/smp-mutual-auth", "kube-system|cilium-spire",
			[]string{"cilium kube-system cilium-agent 9962 /metrics", "cilium-envoy kube-system cilium-envoy 9964 /metrics"}},
	}
	key := func(k *mesh.Key) string {
		if k == nil {
			return ""
		}
		return fmt.Sprintf("%s:%s=%s", k.Kind, k.Name, k.Value)
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s-%s", c.mesh, c.dp), func(t *testing.T) {
			p, ok := mesh.For(mesh.Kubernetes, c.mesh, c.dp)
			if !ok {
				t.Fatal("no profile")
			}
			var nodes []string
			for _, n := range p.NodeComponents {
				nodes = append(nodes, fmt.Sprintf("%s %s %s %d %s", n.Workload.Name, n.Namespace, n.Container, n.Metrics.Port, n.Metrics.Path))
			}
			got := want{mesh: p.Mesh, dp: p.DataPlane, proxy: p.PromQL.ProxyContainer, inits: p.Proxy.InitContainers,
				nsKey: key(p.Injection.Namespace), podKey: key(p.Injection.Pod), admin: p.AdminPort,
				cpNS: p.PromQL.ControlPlaneNamespace, nodeComps: nodes}
			if len(p.Metrics) > 0 {
				got.metrics = fmt.Sprintf("%d %s", p.Metrics[0].Port, p.Metrics[0].Path)
			}
			if len(p.StrictMTLS) > 0 {
				got.strict = p.StrictMTLS[0].Kind + "/" + p.StrictMTLS[0].Name
			}
			if fmt.Sprint(got) != fmt.Sprint(c) {
				t.Errorf("profile\n got %+v\nwant %+v", got, c)
			}
		})
	}
}

// TestStrictMTLSObjects checks the fields that make mTLS strict, as the reference states
// them.
func TestStrictMTLSObjects(t *testing.T) {
	dig := func(m map[string]any, path ...string) any {
		var v any = m
		for _, k := range path {
			mm, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = mm[k]
		}
		return v
	}
	istio, _ := mesh.For(mesh.Kubernetes, spec.MeshIstio, "")
	if got := dig(istio.StrictMTLS[0].Fields, "spec", "mtls", "mode"); got != "STRICT" {
		t.Errorf("istio PeerAuthentication mode %v", got)
	}
	l, _ := mesh.For(mesh.Kubernetes, spec.MeshLinkerd, "")
	if got := dig(l.StrictMTLS[0].Fields, "metadata", "annotations", "config.linkerd.io/default-inbound-policy"); got != "all-authenticated" || !l.StrictMTLS[0].Patch {
		t.Errorf("linkerd default-inbound-policy %v (patch %v)", got, l.StrictMTLS[0].Patch)
	}
	k, _ := mesh.For(mesh.Kubernetes, spec.MeshKuma, "")
	backends, _ := dig(k.StrictMTLS[0].Fields, "spec", "mtls", "backends").([]any)
	if len(backends) != 1 || dig(backends[0].(map[string]any), "mode") != "STRICT" || dig(backends[0].(map[string]any), "type") != "builtin" ||
		dig(k.StrictMTLS[0].Fields, "spec", "mtls", "enabledBackend") != dig(backends[0].(map[string]any), "name") {
		t.Errorf("kuma Mesh mtls %v", dig(k.StrictMTLS[0].Fields, "spec", "mtls"))
	}
	if !slices.ContainsFunc(k.StrictMTLS, func(o mesh.Object) bool { return o.Kind == "MeshTrafficPermission" }) {
		t.Error("kuma needs a MeshTrafficPermission with mTLS on")
	}
	c, _ := mesh.For(mesh.Kubernetes, spec.MeshCilium, "")
	ingress, _ := dig(c.StrictMTLS[0].Fields, "spec", "ingress").([]any)
	if len(ingress) != 1 || dig(ingress[0].(map[string]any), "authentication", "mode") != "required" {
		t.Errorf("cilium policy ingress %v", ingress)
	}
	if c.StrictMTLSHelm["authentication.mutual.spire.enabled"] != "true" || c.StrictMTLSHelm["encryption.type"] != "wireguard" {
		t.Errorf("cilium helm values %v", c.StrictMTLSHelm)
	}
	// Profiles are built anew: changing one does not change the next.
	c.StrictMTLSHelm["encryption.type"] = "ipsec"
	if again, _ := mesh.For(mesh.Kubernetes, spec.MeshCilium, ""); again.StrictMTLSHelm["encryption.type"] != "wireguard" {
		t.Error("For returned shared state")
	}
}

func TestDefaults(t *testing.T) {
	for m, want := range map[spec.MeshType]spec.DataPlane{spec.MeshNone: "", spec.MeshCilium: spec.DataPlaneNode,
		spec.MeshIstio: spec.DataPlaneSidecar, spec.MeshBuiltin: spec.DataPlaneSidecar} {
		if got := mesh.DefaultDataPlane(m); got != want {
			t.Errorf("DefaultDataPlane(%s) = %q, want %q", m, got, want)
		}
	}
	if _, ok := mesh.For(mesh.Kubernetes, spec.MeshIstio, spec.DataPlaneNode); ok {
		t.Error("istio has no node mode, yet For found a profile")
	}
	for _, pf := range []mesh.Platform{mesh.Local, mesh.Kubernetes} {
		if p, ok := mesh.For(pf, "", ""); !ok || p.Mesh != spec.MeshNone || p.Platform != pf {
			t.Errorf("For(%s, \"\", \"\") = %v on %s, %v; want the baseline", pf, p.Mesh, p.Platform, ok)
		}
	}
	if p, ok := mesh.For(mesh.Kubernetes, spec.MeshBuiltin, ""); !ok || !slices.Equal(p.Proxy.Containers, []string{mesh.BuiltinProxyContainer}) {
		t.Errorf("the builtin sidecar on Kubernetes: %v, %v; want its profile with container %s", p.Proxy.Containers, ok, mesh.BuiltinProxyContainer)
	}
	if _, ok := mesh.For(mesh.Kubernetes, spec.MeshHAProxy, ""); ok {
		t.Error("haproxy has a Kubernetes profile")
	}
	if p, _ := mesh.For(mesh.Kubernetes, spec.MeshIstio, spec.DataPlaneAmbient); p.Name() != "istio (ambient)" {
		t.Errorf("Name() = %q", p.Name())
	}
}

// TestL4Marks: the meshes that detect or assume a protocol mark a TCP port for it, with
// the port number in place of the placeholder; the others need nothing.
func TestL4Marks(t *testing.T) {
	const port = 7070
	for _, c := range []struct {
		mesh         spec.MeshType
		dp           spec.DataPlane
		prefix       string
		pod, service map[string]string
	}{
		{spec.MeshIstio, spec.DataPlaneSidecar, "tcp-", nil, nil},
		{spec.MeshIstio, spec.DataPlaneAmbient, "tcp-", nil, nil},
		{spec.MeshLinkerd, "", "", map[string]string{"config.linkerd.io/opaque-ports": "7070"}, map[string]string{"config.linkerd.io/opaque-ports": "7070"}},
		{spec.MeshKuma, "", "", nil, map[string]string{"7070.service.kuma.io/protocol": "tcp"}},
	} {
		p, ok := mesh.For(mesh.Kubernetes, c.mesh, c.dp)
		if !ok || p.L4 == nil {
			t.Fatalf("%s %s: no L4 marking", c.mesh, c.dp)
		}
		if p.L4.PortNamePrefix != c.prefix || p.L4.Purpose == "" {
			t.Errorf("%s: port name prefix %q (purpose %q)", c.mesh, p.L4.PortNamePrefix, p.L4.Purpose)
		}
		if got := p.L4.Annotations(p.L4.PodAnnotations, port); !maps.Equal(got, c.pod) {
			t.Errorf("%s: pod annotations %v, want %v", c.mesh, got, c.pod)
		}
		if got := p.L4.Annotations(p.L4.ServiceAnnotations, port); !maps.Equal(got, c.service) {
			t.Errorf("%s: service annotations %v, want %v", c.mesh, got, c.service)
		}
	}
	for _, m := range []spec.MeshType{spec.MeshConsul, spec.MeshCilium, spec.MeshNone} {
		if p, _ := mesh.For(mesh.Kubernetes, m, ""); p.L4 != nil {
			t.Errorf("%s marks TCP ports (%+v); it proxies an unmarked port as TCP already", m, p.L4)
		}
	}
}
