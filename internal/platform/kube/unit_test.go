package kube

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/service-mesh-performance/smp/internal/app"
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

// TestGuessCNI: the CNI is named from its DaemonSet, with its image's version; Cilium
// wins over a plugin it is chained with; an unknown DaemonSet names none.
func TestGuessCNI(t *testing.T) {
	ds := func(name, image string) appsv1.DaemonSet {
		return appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}}}}}
	}
	for _, c := range []struct {
		dss           []appsv1.DaemonSet
		name, version string
	}{
		{[]appsv1.DaemonSet{ds("kube-proxy", "registry.k8s.io/kube-proxy:v1.37.2"), ds("calico-node", "docker.io/calico/node:v3.29.1")}, "calico", "3.29.1"},
		{[]appsv1.DaemonSet{ds("cilium", "quay.io/cilium/cilium:v1.16.3@sha256:62d2"), ds("aws-node", "602401143452.dkr.ecr.us-west-2.amazonaws.com/amazon-k8s-cni:v1.19.0")}, "cilium", "1.16.3"},
		{[]appsv1.DaemonSet{ds("kube-flannel-ds", "ghcr.io/flannel-io/flannel:v0.26.1")}, "flannel", "0.26.1"},
		{[]appsv1.DaemonSet{ds("kube-proxy", "registry.k8s.io/kube-proxy:v1.37.2")}, "", ""},
	} {
		if name, version := guessCNI(c.dss); name != c.name || version != c.version {
			t.Errorf("guessCNI(%s…) = %q %q, want %q %q", c.dss[0].Name, name, version, c.name, c.version)
		}
	}
}

// TestBuildLoad: the load pod runs under a ServiceAccount named like the Service that
// selects it (Consul injects only such pods), on the load node when asked.
func TestBuildLoad(t *testing.T) {
	e := podEnv{namespace: "ns-load", replicas: 1, nodeSel: map[string]string{"smp.dev/role": "load"}, tolerations: loadToleration()}
	var svc *corev1.Service
	var dep *appsv1.Deployment
	load, err := buildLoad(DefaultLoadPod(), e, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range load {
		switch o := o.(type) {
		case *corev1.Service:
			svc = o
		case *appsv1.Deployment:
			dep = o
		}
	}
	if svc == nil || dep == nil {
		t.Fatalf("service %v, deployment %v", svc, dep)
	}
	tpl := dep.Spec.Template
	for k, v := range svc.Spec.Selector {
		if tpl.Labels[k] != v {
			t.Errorf("the Service's selector %v does not select the load pod (labels %v)", svc.Spec.Selector, tpl.Labels)
		}
	}
	if svc.Name != loadName || tpl.Spec.ServiceAccountName != svc.Name || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != fortioHTTPPort {
		t.Errorf("service %s %v, service account %s", svc.Name, svc.Spec.Ports, tpl.Spec.ServiceAccountName)
	}
	if len(tpl.Spec.Tolerations) != 1 || tpl.Spec.NodeSelector["smp.dev/role"] != "load" {
		t.Errorf("tolerations %v, node selector %v", tpl.Spec.Tolerations, tpl.Spec.NodeSelector)
	}
}

// TestPoll: a transient error is retried, a permanent one ends the wait, and a wait that
// runs out of time says what it waited for, what it saw last and the last error.
func TestPoll(t *testing.T) {
	calls := 0
	err := poll(context.Background(), "x", func(context.Context) (bool, error) {
		calls++
		if calls == 1 {
			return false, apierrors.NewServiceUnavailable("etcd leader changed")
		}
		return true, nil
	}, nil)
	if err != nil || calls != 2 {
		t.Errorf("transient error: %v after %d calls, want success on the 2nd", err, calls)
	}
	calls = 0
	err = poll(context.Background(), "x", func(context.Context) (bool, error) {
		calls++
		return false, apierrors.NewNotFound(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web")
	}, nil)
	if err == nil || calls != 1 || !apierrors.IsNotFound(err) {
		t.Errorf("permanent error: %v after %d calls", err, calls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = poll(ctx, "the rollout of web", func(context.Context) (bool, error) {
		return false, errors.New("rate: Wait(n=1) would exceed context deadline")
	}, func() string { return "not ready: web" })
	if err == nil || err.Error() != "timed out waiting for the rollout of web: not ready: web (last error: rate: Wait(n=1) would exceed context deadline)" {
		t.Errorf("deadline: %v", err)
	}
}

// TestDocsSections: the plan error for an absent mesh points at docs/kubernetes.md#<mesh>,
// so that page has a section with that anchor for every mesh.
func TestDocsSections(t *testing.T) {
	data, err := os.ReadFile("../../../docs/kubernetes.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range mesh.KubernetesProfiles() {
		if p.Mesh.IsBaseline() || p.Mesh == spec.MeshBuiltin {
			continue // always there: smp brings it (its section is "smp's own sidecar")
		}
		// GitHub's anchor of "## Istio" is #istio.
		if !regexp.MustCompile(`(?mi)^## ` + regexp.QuoteMeta(string(p.Mesh)) + `\s*$`).Match(data) {
			t.Errorf("docs/kubernetes.md has no section \"## %s\" (the anchor Check's error names)", p.Mesh)
		}
	}
}

// TestBuildAppTCP: protocol tcp gives the sample app a TCP echo chain on builtinTCPPort,
// its Services a port every mesh proxies as opaque TCP (named and appProtocol'd as Istio
// reads them), and, per mesh, the annotations of its L4 profile on pods and Services.
func TestBuildAppTCP(t *testing.T) {
	w := spec.Workload{App: spec.App{Kind: spec.AppBuiltin, Services: 2}, Protocol: spec.ProtocolTCP, Path: "/"}
	for _, m := range []spec.MeshType{spec.MeshNone, spec.MeshIstio, spec.MeshLinkerd, spec.MeshKuma, spec.MeshConsul} {
		prof, ok := mesh.For(mesh.Kubernetes, m, "")
		if !ok {
			t.Fatalf("no profile for %s", m)
		}
		set, err := buildApp(w, podEnv{namespace: "ns", replicas: 1}.withL4(prof, w.Protocol), "img")
		l4 := prof.L4
		if l4 == nil {
			l4 = &mesh.L4{} // the mesh needs nothing
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(set.entry) != 1 || set.entry[0] != "tcp://svc-1.ns.svc:7070" {
			t.Errorf("%s: entry %v", m, set.entry)
		}
		for _, o := range set.objects {
			switch o := o.(type) {
			case *corev1.Service:
				var port *corev1.ServicePort
				for i := range o.Spec.Ports {
					if o.Spec.Ports[i].Port == builtinTCPPort {
						port = &o.Spec.Ports[i]
					}
				}
				if port == nil || port.AppProtocol == nil || *port.AppProtocol != "tcp" || !strings.HasPrefix(port.Name, "tcp-") {
					t.Errorf("%s: Service %s has no opaque TCP port: %+v", m, o.Name, o.Spec.Ports)
				}
				if !strings.HasPrefix(port.Name, l4.PortNamePrefix) {
					t.Errorf("%s: port %s lacks the prefix %q", m, port.Name, l4.PortNamePrefix)
				}
				if want := l4.Annotations(l4.ServiceAnnotations, builtinTCPPort); !maps.Equal(o.Annotations, want) && len(o.Annotations)+len(want) > 0 {
					t.Errorf("%s: Service %s annotations %v, want %v", m, o.Name, o.Annotations, want)
				}
			case *appsv1.Deployment:
				for k, v := range l4.Annotations(l4.PodAnnotations, builtinTCPPort) {
					if got := o.Spec.Template.Annotations[k]; got != v {
						t.Errorf("%s: pods of %s have %s=%q, want %q", m, o.Name, k, got, v)
					}
				}
			case *corev1.ConfigMap:
				var cfg app.Config
				if err := json.Unmarshal([]byte(o.Data["app.json"]), &cfg); err != nil {
					t.Fatal(err)
				}
				want := "svc-2:7070"
				if o.Name == "svc-2-config" {
					want = ""
				}
				got := ""
				if len(cfg.Upstreams) > 0 {
					got = cfg.Upstreams[0].Addr
				}
				if cfg.TCPAddr != ":7070" || cfg.UpstreamProtocol != app.TCP || got != want {
					t.Errorf("%s: %s: tcp_addr %q, upstream %q (%s), want :7070 and %q", m, o.Name, cfg.TCPAddr, got, cfg.UpstreamProtocol, want)
				}
			}
		}
	}
}
