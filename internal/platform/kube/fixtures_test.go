package kube

// Fixtures on the test control plane: three kwok nodes (two for the application, one
// tainted load node), the mesh CRDs of testdata/crds.yaml, fake control planes with the
// images a real install runs (so that detection reads real-looking versions), a CNI
// DaemonSet, and an injector: a real mutating admission webhook served by the test
// process, which adds each mesh's proxy container the way the mesh's own injector would
// (kwok runs no webhooks of its own). A fortio server in the test process stands in for
// the load pod behind kwok's port-forward.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"fortio.org/fortio/fhttp"
	"fortio.org/fortio/rapi"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/service-mesh-performance/smp/internal/mesh"
	"github.com/service-mesh-performance/smp/spec"
)

var getOpts = metav1.GetOptions{}

// env is the shared test cluster; nil when the integration tests skip.
var env *testEnv

type testEnv struct {
	cp       *controlPlane
	c        *clients
	echoURL  string // a fortio echo server, the target of load sent through the forward
	stopAll  []func()
	consul   sync.Once
	consulOK error
	setup    time.Duration
}

// proxyImages are the images the injector gives each mesh's proxy (and so the proxy
// versions the tests expect).
var proxyImages = map[string]string{
	"istio-proxy":      "docker.io/istio/proxyv2:1.24.2",
	"linkerd-proxy":    "cr.l5d.io/linkerd/proxy:stable-2.14.10",
	"consul-dataplane": "hashicorp/consul-dataplane:1.6.1",
	"kuma-sidecar":     "docker.io/kumahq/kuma-dp:2.9.1",
}

// controlPlaneImages are the fake control planes' images, by workload name.
var controlPlaneImages = map[string]string{
	"istiod": "docker.io/istio/pilot:1.24.2", "ztunnel": "docker.io/istio/ztunnel:1.24.2",
	"linkerd-destination": "cr.l5d.io/linkerd/controller:stable-2.14.10", "linkerd-identity": "cr.l5d.io/linkerd/controller:stable-2.14.10",
	"linkerd-proxy-injector": "cr.l5d.io/linkerd/controller:stable-2.14.10",
	"consul-server":          "hashicorp/consul:1.20.1", "consul-connect-injector": "hashicorp/consul-k8s-control-plane:1.6.1",
	"kuma-control-plane": "docker.io/kumahq/kuma-cp:2.9.1",
	"cilium":             "quay.io/cilium/cilium:v1.16.3@sha256:62d2a09bbef840a46099ac4c69421c90f84f28d018d479749049011329aa7f28",
	"cilium-operator":    "quay.io/cilium/operator-generic:v1.16.3", "cilium-envoy": "quay.io/cilium/cilium-envoy:v1.29.9",
	"spire-server": "ghcr.io/spiffe/spire-server:1.9.6",
}

func setupEnv() (*testEnv, error) {
	t0 := time.Now()
	e := &testEnv{}
	// The in-process fortio server: REST API under /fortio/ (the load pod's API, reached
	// through kwok's port-forward) and an echo server (the target).
	mux := http.NewServeMux()
	rapi.AddHandlers(nil, mux, "/fortio/", "/fortio/", "")
	fortioLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	fortioSrv := &http.Server{Handler: mux}
	go func() { _ = fortioSrv.Serve(fortioLn) }()
	e.stopAll = append(e.stopAll, func() { _ = fortioSrv.Close() })
	echo := httptest.NewServer(http.HandlerFunc(fhttp.EchoHandler))
	e.echoURL = echo.URL + "/echo"
	e.stopAll = append(e.stopAll, echo.Close)

	cp, err := startControlPlane(fortioLn.Addr().(*net.TCPAddr).Port)
	if err != nil {
		e.stop()
		return nil, err
	}
	e.cp = cp
	e.stopAll = append(e.stopAll, cp.stop)
	if e.c, err = newClients(cp.cfg); err != nil {
		e.stop()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, step := range []func(context.Context) error{e.nodes, e.crds, e.injector, e.controlPlanes} {
		if err := step(ctx); err != nil {
			e.stop()
			return nil, fmt.Errorf("%w\n%s", err, cp.logTail())
		}
	}
	e.setup = time.Since(t0)
	return e, nil
}

func (e *testEnv) stop() {
	for _, f := range slices.Backward(e.stopAll) {
		f()
	}
}

// nodes creates node-a and node-b (pool app, instance type m5.large) and node-load
// (tainted smp.dev/role=load:NoSchedule), all managed by kwok.
func (e *testEnv) nodes(ctx context.Context) error {
	mk := func(name string, labels map[string]string, taints []corev1.Taint) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			Labels: merge(map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
				"node.kubernetes.io/instance-type": "m5.large", "topology.kubernetes.io/zone": "test-1a"}, labels)},
			Spec: corev1.NodeSpec{Taints: taints},
			Status: corev1.NodeStatus{
				Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"), corev1.ResourcePods: resource.MustParse("110")},
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"), corev1.ResourcePods: resource.MustParse("110")},
				NodeInfo: corev1.NodeSystemInfo{KernelVersion: "6.1.0-test", OSImage: "Debian GNU/Linux 12 (bookworm)",
					ContainerRuntimeVersion: "containerd://1.7.24", KubeletVersion: "v1.37.2", Architecture: "amd64", OperatingSystem: "linux"},
			}}
	}
	for _, n := range []*corev1.Node{
		mk("node-a", map[string]string{"smp.dev/pool": "app"}, nil),
		mk("node-b", map[string]string{"smp.dev/pool": "app"}, nil),
		mk("node-load", map[string]string{"smp.dev/role": "load"}, []corev1.Taint{{Key: LoadTaint, Value: RoleLoad, Effect: corev1.TaintEffectNoSchedule}}),
	} {
		if _, err := e.c.core.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create node %s: %w", n.Name, err)
		}
	}
	return waitFor(ctx, "kwok to make the nodes ready", func() bool {
		nodes, err := e.c.core.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil || len(nodes.Items) != 3 {
			return false
		}
		for _, n := range nodes.Items {
			ready := false
			for _, c := range n.Status.Conditions {
				ready = ready || c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue
			}
			if !ready {
				return false
			}
		}
		return true
	})
}

// crds applies testdata/crds.yaml and waits until every CRD is established.
func (e *testEnv) crds(ctx context.Context) error {
	data, err := os.ReadFile("testdata/crds.yaml")
	if err != nil {
		return err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var names []string
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return err
		}
		if len(u.Object) == 0 {
			continue
		}
		if _, err := e.c.apply(ctx, u); err != nil {
			return err
		}
		names = append(names, u.GetName())
	}
	return waitFor(ctx, "the CRDs to be established", func() bool {
		for _, n := range names {
			u, err := e.c.dyn.Resource(crdGVR).Get(ctx, n, getOpts)
			if err != nil {
				return false
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			ok := false
			for _, c := range conds {
				m, _ := c.(map[string]any)
				ok = ok || m["type"] == "Established" && m["status"] == "True"
			}
			if !ok {
				return false
			}
		}
		e.c.mapper.Reset()
		return true
	})
}

// controlPlanes creates the fake control planes of every mesh but Consul's (which
// TestCheckMeshAbsent needs absent; ensureConsul adds it), and a calico-node DaemonSet.
func (e *testEnv) controlPlanes(ctx context.Context) error {
	for _, prof := range mesh.KubernetesProfiles() {
		if prof.Mesh == spec.MeshConsul {
			continue
		}
		for _, comp := range mesh.ClusterOf(prof).Components {
			if err := e.workload(ctx, comp); err != nil {
				return err
			}
		}
	}
	return e.workload(ctx, mesh.Component{Namespace: "kube-system", Workload: mesh.Workload{Kind: "DaemonSet", Name: "calico-node"}, Container: "calico-node"})
}

func (e *testEnv) ensureConsul(t *testing.T) {
	t.Helper()
	e.consul.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, comp := range mesh.ClusterOf(mustProfile(t, spec.MeshConsul, "")).Components {
			if e.consulOK = e.workload(ctx, comp); e.consulOK != nil {
				return
			}
		}
	})
	if e.consulOK != nil {
		t.Fatalf("fake consul control plane: %v", e.consulOK)
	}
}

// workload creates one fake control-plane workload (and its namespace).
func (e *testEnv) workload(ctx context.Context, comp mesh.Component) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: comp.Namespace}}
	if _, err := e.c.core.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	image := controlPlaneImages[comp.Workload.Name]
	if image == "" {
		image = "registry.k8s.io/pause:3.10"
	}
	name := comp.Container
	if name == "" {
		name = "main"
	}
	sel := map[string]string{"app": comp.Workload.Name}
	tpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: image}}}}
	one := int32(1)
	var err error
	apps := e.c.core.AppsV1()
	switch comp.Workload.Kind {
	case "Deployment":
		_, err = apps.Deployments(comp.Namespace).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: comp.Workload.Name},
			Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: tpl}}, metav1.CreateOptions{})
	case "StatefulSet":
		_, err = apps.StatefulSets(comp.Namespace).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: comp.Workload.Name},
			Spec: appsv1.StatefulSetSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: tpl}}, metav1.CreateOptions{})
	case "DaemonSet":
		_, err = apps.DaemonSets(comp.Namespace).Create(ctx, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: comp.Workload.Name},
			Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: tpl}}, metav1.CreateOptions{})
	}
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create %s %s/%s: %w", comp.Workload.Kind, comp.Namespace, comp.Workload.Name, err)
	}
	if comp.Workload.Kind == "DaemonSet" {
		return waitFor(ctx, "DaemonSet "+comp.Workload.Name, func() bool {
			ds, err := apps.DaemonSets(comp.Namespace).Get(ctx, comp.Workload.Name, getOpts)
			return err == nil && daemonSetReady(ds)
		})
	}
	return nil
}

func mustProfile(t *testing.T, m spec.MeshType, dp spec.DataPlane) mesh.Profile {
	t.Helper()
	p, ok := mesh.For(mesh.Kubernetes, m, dp)
	if !ok {
		t.Fatalf("no profile for %s %s", m, dp)
	}
	return p
}

// injectorOff is the namespace label that makes the test injector skip a namespace: a
// mesh whose injector missed the pods.
const injectorOff = "test.smp.dev/injector"

// injector registers a mutating webhook, served here, that injects each sidecar mesh's
// proxy container where that mesh's key (label or annotation, namespace or pod) says so.
func (e *testEnv) injector(ctx context.Context) error {
	cert, err := tls.X509KeyPair(e.cp.servingPEM, e.cp.servingKeyPEM)
	if err != nil {
		return err
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(e.inject))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	e.stopAll = append(e.stopAll, srv.Close)
	url := srv.URL + "/inject"
	none := admissionregv1.SideEffectClassNone
	ignore := admissionregv1.Ignore
	cfg := &admissionregv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "smp-test-injector"},
		Webhooks: []admissionregv1.MutatingWebhook{{
			Name:                    "inject.test.smp.dev",
			ClientConfig:            admissionregv1.WebhookClientConfig{URL: &url, CABundle: e.cp.caPEM},
			Rules:                   []admissionregv1.RuleWithOperations{{Operations: []admissionregv1.OperationType{admissionregv1.Create}, Rule: admissionregv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			SideEffects:             &none,
			FailurePolicy:           &ignore,
			AdmissionReviewVersions: []string{"v1"},
		}}}
	_, err = e.c.core.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{})
	return err
}

func (e *testEnv) inject(w http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(w, "bad review", http.StatusBadRequest)
		return
	}
	resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
	var pod corev1.Pod
	if err := json.Unmarshal(review.Request.Object.Raw, &pod); err == nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		ns, err := e.c.core.CoreV1().Namespaces().Get(ctx, review.Request.Namespace, getOpts)
		cancel()
		if err == nil && ns.Labels[injectorOff] == "" {
			var patch []map[string]any
			for _, prof := range mesh.KubernetesProfiles() {
				if prof.DataPlane != spec.DataPlaneSidecar || !wantsInjection(prof, ns, &pod) {
					continue
				}
				name := prof.Proxy.Containers[0]
				patch = append(patch, map[string]any{"op": "add", "path": "/spec/containers/-",
					"value": corev1.Container{Name: name, Image: proxyImages[name]}})
			}
			if len(patch) > 0 {
				data, _ := json.Marshal(patch)
				pt := admissionv1.PatchTypeJSONPatch
				resp.Patch, resp.PatchType = data, &pt
			}
		}
	}
	review.Response = resp
	review.Request = nil
	_ = json.NewEncoder(w).Encode(review)
}

// wantsInjection applies a mesh's injection keys as its injector reads them: the pod's
// key wins (enabled or disabled), else the namespace's.
func wantsInjection(p mesh.Profile, ns *corev1.Namespace, pod *corev1.Pod) bool {
	get := func(k *mesh.Key, labels, ann map[string]string) (string, bool) {
		if k == nil {
			return "", false
		}
		if k.Kind == mesh.Annotation {
			v, ok := ann[k.Name]
			return v, ok
		}
		v, ok := labels[k.Name]
		return v, ok
	}
	if v, ok := get(p.Injection.Pod, pod.Labels, pod.Annotations); ok {
		return v == p.Injection.Pod.Value
	}
	if v, ok := get(p.Injection.Namespace, ns.Labels, ns.Annotations); ok {
		return v == p.Injection.Namespace.Value
	}
	return false
}
