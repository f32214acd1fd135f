package kubetest

// The fixtures: nodes, CRDs, fake mesh control planes and the injector.

import (
	"bytes"
	"context"
	"crypto/tls"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"

	"github.com/service-mesh-performance/smp/internal/mesh"
	"github.com/service-mesh-performance/smp/spec"
)

//go:embed crds.yaml
var crdsYAML []byte

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// nodes creates node-a and node-b (pool app) and node-load (tainted smp.dev/role=load:
// NoSchedule), all managed by kwok, and waits until kwok has made them ready.
func (c *Cluster) nodes(ctx context.Context) error {
	mk := func(name string, labels map[string]string, taints []corev1.Taint) *corev1.Node {
		l := map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
			"node.kubernetes.io/instance-type": "m5.large", "topology.kubernetes.io/zone": "test-1a"}
		for k, v := range labels {
			l[k] = v
		}
		capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"), corev1.ResourcePods: resource.MustParse("110")}
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"}, Labels: l},
			Spec: corev1.NodeSpec{Taints: taints},
			Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity,
				NodeInfo: corev1.NodeSystemInfo{KernelVersion: "6.1.0-test", OSImage: "Debian GNU/Linux 12 (bookworm)",
					ContainerRuntimeVersion: "containerd://1.7.24", KubeletVersion: Version, Architecture: "amd64", OperatingSystem: "linux"},
			}}
	}
	for _, n := range []*corev1.Node{
		mk(NodeA, map[string]string{"smp.dev/pool": "app"}, nil),
		mk(NodeB, map[string]string{"smp.dev/pool": "app"}, nil),
		mk(NodeLoad, map[string]string{"smp.dev/role": "load"}, []corev1.Taint{{Key: "smp.dev/role", Value: "load", Effect: corev1.TaintEffectNoSchedule}}),
	} {
		if _, err := c.Client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create node %s: %w", n.Name, err)
		}
	}
	return c.cp.waitFor(ctx, "kwok to make the nodes ready", func() bool {
		nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil || len(nodes.Items) != 3 {
			return false
		}
		for _, n := range nodes.Items {
			ready := false
			for _, cond := range n.Status.Conditions {
				ready = ready || cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue
			}
			if !ready {
				return false
			}
		}
		return true
	})
}

// crds creates the CRDs of crds.yaml and waits until every one is established.
func (c *Cluster) crds(ctx context.Context) error {
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(crdsYAML), 4096)
	var names []string
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("crds.yaml: %w", err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if _, err := dyn.Resource(crdGVR).Create(ctx, u, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create CRD %s: %w", u.GetName(), err)
		}
		names = append(names, u.GetName())
	}
	return c.cp.waitFor(ctx, "the CRDs to be established", func() bool {
		for _, n := range names {
			u, err := dyn.Resource(crdGVR).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return false
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			ok := false
			for _, cond := range conds {
				m, _ := cond.(map[string]any)
				ok = ok || m["type"] == "Established" && m["status"] == "True"
			}
			if !ok {
				return false
			}
		}
		return true
	})
}

// Install creates the fake control plane of a mesh (every Kubernetes profile of it), as
// a default install names and tags its workloads, and waits for its DaemonSets. Safe to
// call again.
func (c *Cluster) Install(ctx context.Context, m spec.MeshType) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.added[m] {
		return nil
	}
	for _, prof := range mesh.KubernetesProfiles() {
		if prof.Mesh != m {
			continue
		}
		for _, comp := range mesh.ClusterOf(prof).Components {
			if err := c.workload(ctx, comp.Namespace, comp.Workload.Kind, comp.Workload.Name, comp.Container); err != nil {
				return err
			}
		}
	}
	c.added[m] = true
	return nil
}

// workload creates one fake workload (and its namespace); a DaemonSet is waited for.
func (c *Cluster) workload(ctx context.Context, ns, kind, name, container string) error {
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, nsObj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	image := ControlPlaneImages[name]
	if image == "" {
		image = "registry.k8s.io/pause:3.10"
	}
	if container == "" {
		container = "main"
	}
	sel := map[string]string{"app": name}
	tpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: container, Image: image}}}}
	one := int32(1)
	var err error
	apps := c.Client.AppsV1()
	meta := metav1.ObjectMeta{Name: name}
	switch kind {
	case "Deployment":
		_, err = apps.Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: meta,
			Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: tpl}}, metav1.CreateOptions{})
	case "StatefulSet":
		_, err = apps.StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: meta,
			Spec: appsv1.StatefulSetSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: tpl}}, metav1.CreateOptions{})
	case "DaemonSet":
		_, err = apps.DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{ObjectMeta: meta,
			Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: tpl}}, metav1.CreateOptions{})
	default:
		return fmt.Errorf("workload kind %s", kind)
	}
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create %s %s/%s: %w", kind, ns, name, err)
	}
	if kind != "DaemonSet" {
		return nil
	}
	return c.cp.waitFor(ctx, "DaemonSet "+ns+"/"+name, func() bool {
		ds, err := apps.DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && ds.Status.DesiredNumberScheduled > 0 && ds.Status.NumberReady == ds.Status.DesiredNumberScheduled
	})
}

// injector registers a mutating webhook, served here, that injects each sidecar mesh's
// proxy container where that mesh's key (label or annotation, namespace or pod) says so.
func (c *Cluster) injector(ctx context.Context) error {
	cert, err := tls.X509KeyPair(c.cp.servingPEM, c.cp.servingKeyPEM)
	if err != nil {
		return err
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(c.inject))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	c.stopAll = append(c.stopAll, srv.Close)
	url := srv.URL + "/inject"
	none := admissionregv1.SideEffectClassNone
	ignore := admissionregv1.Ignore
	cfg := &admissionregv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "smp-test-injector"},
		Webhooks: []admissionregv1.MutatingWebhook{{
			Name:                    "inject.test.smp.dev",
			ClientConfig:            admissionregv1.WebhookClientConfig{URL: &url, CABundle: c.cp.caPEM},
			Rules:                   []admissionregv1.RuleWithOperations{{Operations: []admissionregv1.OperationType{admissionregv1.Create}, Rule: admissionregv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			SideEffects:             &none,
			FailurePolicy:           &ignore,
			AdmissionReviewVersions: []string{"v1"},
		}}}
	_, err = c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{})
	return err
}

func (c *Cluster) inject(w http.ResponseWriter, r *http.Request) {
	var review admissionv1.AdmissionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(w, "bad review", http.StatusBadRequest)
		return
	}
	resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
	c.admitted(review.Request.Namespace)
	var pod corev1.Pod
	if err := json.Unmarshal(review.Request.Object.Raw, &pod); err == nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		ns, err := c.Client.CoreV1().Namespaces().Get(ctx, review.Request.Namespace, metav1.GetOptions{})
		cancel()
		if err == nil && ns.Labels[InjectorOff] == "" {
			var patch []map[string]any
			for _, prof := range mesh.KubernetesProfiles() {
				if prof.DataPlane != spec.DataPlaneSidecar || !WantsInjection(prof, ns, &pod) {
					continue
				}
				name := prof.Proxy.Containers[0]
				patch = append(patch, map[string]any{"op": "add", "path": "/spec/containers/-",
					"value": corev1.Container{Name: name, Image: ProxyImages[name], Resources: proxyResources(name, pod.Annotations)}})
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

// ProxyResourceAnnotations are the pod annotations with which Istio's and Linkerd's
// injectors set their proxy's requests and limits, by proxy container, in the order
// CPU request, CPU limit, memory request, memory limit. The test injector honours them
// as those injectors do.
var ProxyResourceAnnotations = map[string][4]string{
	"istio-proxy": {"sidecar.istio.io/proxyCPU", "sidecar.istio.io/proxyCPULimit",
		"sidecar.istio.io/proxyMemory", "sidecar.istio.io/proxyMemoryLimit"},
	"linkerd-proxy": {"config.linkerd.io/proxy-cpu-request", "config.linkerd.io/proxy-cpu-limit",
		"config.linkerd.io/proxy-memory-request", "config.linkerd.io/proxy-memory-limit"},
}

// proxyResources are the requests and limits a pod's annotations ask for its proxy
// (none without them; an unparsable quantity is left out, as the webhook must not fail).
func proxyResources(container string, ann map[string]string) corev1.ResourceRequirements {
	var r corev1.ResourceRequirements
	keys, ok := ProxyResourceAnnotations[container]
	if !ok {
		return r
	}
	for i, k := range keys {
		q, err := resource.ParseQuantity(ann[k])
		if ann[k] == "" || err != nil {
			continue
		}
		list, name := &r.Requests, corev1.ResourceCPU
		if i%2 == 1 {
			list = &r.Limits
		}
		if i >= 2 {
			name = corev1.ResourceMemory
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[name] = q
	}
	return r
}

// WantsInjection applies a mesh's injection keys as its injector reads them: the pod's
// key wins (enabled or disabled), else the namespace's.
func WantsInjection(p mesh.Profile, ns *corev1.Namespace, pod *corev1.Pod) bool {
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

// ProxyPods creates namespace ns with pods whose proxies have known resources, as smp
// certify finds them on a cluster, and waits until every pod is scheduled:
//
//   - "limited": Istio's sidecar injected (pod label), its annotations asking for CPU
//     100m and memory 64Mi, limited to 500m and 128Mi (a limit above the request);
//   - "guaranteed": Linkerd's proxy injected (pod annotation), CPU 250m and memory 32Mi
//     requested and limited alike;
//   - "native": Kuma's kuma-sidecar as a native sidecar (an init container that keeps
//     running), written into the spec by hand: CPU 200m requested, no limit;
//   - "plain": no proxy at all.
//
// The caller deletes the namespace.
func (c *Cluster) ProxyPods(ctx context.Context, ns string) error {
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	app := []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}}
	always := corev1.ContainerRestartPolicyAlways
	pods := []*corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "limited", Labels: map[string]string{"sidecar.istio.io/inject": "true"},
			Annotations: map[string]string{"sidecar.istio.io/proxyCPU": "100m", "sidecar.istio.io/proxyCPULimit": "500m",
				"sidecar.istio.io/proxyMemory": "64Mi", "sidecar.istio.io/proxyMemoryLimit": "128Mi"}},
			Spec: corev1.PodSpec{Containers: app}},
		{ObjectMeta: metav1.ObjectMeta{Name: "guaranteed", Annotations: map[string]string{"linkerd.io/inject": "enabled",
			"config.linkerd.io/proxy-cpu-request": "250m", "config.linkerd.io/proxy-cpu-limit": "250m",
			"config.linkerd.io/proxy-memory-request": "32Mi", "config.linkerd.io/proxy-memory-limit": "32Mi"}},
			Spec: corev1.PodSpec{Containers: app}},
		{ObjectMeta: metav1.ObjectMeta{Name: "native"},
			Spec: corev1.PodSpec{Containers: app, InitContainers: []corev1.Container{{Name: "kuma-sidecar", Image: ProxyImages["kuma-sidecar"],
				RestartPolicy: &always, Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")}}}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "plain"}, Spec: corev1.PodSpec{Containers: app}},
	}
	for _, p := range pods {
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create pod %s/%s: %w", ns, p.Name, err)
		}
	}
	return c.cp.waitFor(ctx, "the pods of "+ns+" to be scheduled", func() bool {
		list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(list.Items) != len(pods) {
			return false
		}
		for _, p := range list.Items {
			if p.Spec.NodeName == "" {
				return false
			}
		}
		return true
	})
}
