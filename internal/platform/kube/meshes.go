package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/service-mesh-performance/smp/internal/mesh"
	"github.com/service-mesh-performance/smp/spec"
)

// keys are labels and annotations to put on a namespace or a pod template.
type keys struct {
	labels, annotations map[string]string
}

// with returns the keys of k and o together (o's win).
func (k keys) with(o keys) keys {
	return keys{labels: merge(k.labels, o.labels), annotations: merge(k.annotations, o.annotations)}
}

func (k *keys) set(key *mesh.Key, value string) {
	if key == nil {
		return
	}
	if k.labels == nil {
		k.labels, k.annotations = map[string]string{}, map[string]string{}
	}
	if key.Kind == mesh.Annotation {
		k.annotations[key.Name] = value
	} else {
		k.labels[key.Name] = value
	}
}

// injection returns the keys that put an arm's namespace and pods into its mesh, and keep
// them out of every other mesh smp knows: the baseline and each mesh arm opt out of the
// others explicitly, so that a cluster-wide default (Consul's connectInject.default,
// Istio's injection by default) cannot put a second proxy, or any proxy, in their pods.
// meshed is false for the load generator of a plan with workload.internal: false.
func injection(p mesh.Profile, in spec.Injection, meshed bool) (ns, pod keys) {
	for _, other := range mesh.KubernetesProfiles() {
		if meshed && other.Mesh == p.Mesh && other.DataPlane == p.DataPlane {
			continue
		}
		if k := other.Injection.Namespace; k != nil && k.Disabled != "" {
			ns.set(k, k.Disabled)
		}
		if k := other.Injection.Pod; k != nil && k.Disabled != "" {
			pod.set(k, k.Disabled)
		}
	}
	if !meshed || p.Mesh.IsBaseline() || in == spec.InjectionManual {
		return ns, pod
	}
	nk, pk := p.Injection.Namespace, p.Injection.Pod
	switch {
	case in == spec.InjectionPod && pk != nil, nk == nil && pk != nil:
		pod.set(pk, pk.Value)
		// Do not leave the namespace saying "disabled" for the same mesh: with Istio a
		// disabled namespace wins over the pod's label.
		if nk != nil {
			delete(ns.labels, nk.Name)
			delete(ns.annotations, nk.Name)
		}
	case nk != nil:
		ns.set(nk, nk.Value)
		if pk != nil {
			delete(pod.labels, pk.Name)
			delete(pod.annotations, pk.Name)
		}
	}
	return ns, pod
}

// runMeshName is the Kuma mesh (or the like) smp creates for a run.
func runMeshName(runKey string) string { return "smp-" + runKey }

// mtlsObjects turns a profile's strict-mTLS objects into objects to apply for an arm:
// AppNamespace becomes the arm's namespace, a patch of the namespace is returned as
// namespace keys (applied with the namespace itself), a run mesh replaces the shared one,
// objects in a mesh's own namespace get the run key in their name, and a policy that
// admits only its own namespace is told about the load generator's.
func mtlsObjects(p mesh.Profile, appNS, loadNS, runKey string, labels map[string]string) (objs []*unstructured.Unstructured, nsKeys keys, err error) {
	c := mesh.ClusterOf(p)
	for _, o := range p.StrictMTLS {
		fields, err := deepCopy(o.Fields)
		if err != nil {
			return nil, nsKeys, fmt.Errorf("%s %s: %w", o.Kind, o.Name, err)
		}
		if o.Patch {
			if o.Kind != "Namespace" || o.Name != mesh.AppNamespace {
				return nil, nsKeys, fmt.Errorf("%s %s: smp applies patches to the arm's namespace only", o.Kind, o.Name)
			}
			md, _ := fields["metadata"].(map[string]any)
			for k, v := range asStrings(md["annotations"]) {
				nsKeys.set(&mesh.Key{Kind: mesh.Annotation, Name: k}, v)
			}
			for k, v := range asStrings(md["labels"]) {
				nsKeys.set(&mesh.Key{Kind: mesh.Label, Name: k}, v)
			}
			continue
		}
		u := &unstructured.Unstructured{Object: fields}
		u.SetAPIVersion(o.APIVersion)
		u.SetKind(o.Kind)
		u.SetName(o.Name)
		objLabels := merge(labels)
		switch o.Namespace {
		case mesh.AppNamespace:
			u.SetNamespace(appNS)
		case "":
		default:
			// A mesh's own namespace is shared with other runs and users.
			u.SetNamespace(o.Namespace)
			u.SetName(o.Name + "-" + runKey)
		}
		if rm := c.RunMesh; rm != nil {
			if o.Kind == rm.Kind {
				u.SetName(runMeshName(runKey))
			} else {
				objLabels[rm.Label] = runMeshName(runKey)
			}
		}
		if pe := c.Peers; pe != nil && o.Kind == pe.Kind {
			admitNamespace(u.Object, pe.NamespaceLabel, loadNS)
		}
		u.SetLabels(objLabels)
		objs = append(objs, u)
	}
	if rm := c.RunMesh; rm != nil {
		nsKeys.set(&mesh.Key{Kind: mesh.Label, Name: rm.Label}, runMeshName(runKey))
	}
	return objs, nsKeys, nil
}

// admitNamespace adds a source selector for namespace ns to every ingress rule of a
// Cilium-style policy (spec.ingress[].fromEndpoints).
func admitNamespace(obj map[string]any, label, ns string) {
	sp, _ := obj["spec"].(map[string]any)
	rules, _ := sp["ingress"].([]any)
	for _, r := range rules {
		rule, ok := r.(map[string]any)
		if !ok {
			continue
		}
		from, _ := rule["fromEndpoints"].([]any)
		rule["fromEndpoints"] = append(from, map[string]any{"matchLabels": map[string]any{label: ns}})
	}
}

func asStrings(v any) map[string]string {
	out := map[string]string{}
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			out[k] = fmt.Sprint(x)
		}
	}
	return out
}

func deepCopy(m map[string]any) (map[string]any, error) {
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	return out, json.Unmarshal(data, &out)
}

// subset reports whether every field of want is in got with the same value (maps
// compared key by key, lists element by element).
func subset(want, got any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if !subset(v, g[k]) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !subset(w[i], g[i]) {
				return false
			}
		}
		return true
	}
	if reflect.DeepEqual(want, got) {
		return true
	}
	return fmt.Sprint(want) == fmt.Sprint(got) // JSON numbers: int64 vs float64
}

// Detected is what smp found of one mesh on the cluster.
type Detected struct {
	Profile mesh.Profile
	// Version is the image tag of the mesh's version component ("" when not found).
	Version string
	// Found lists what is there ("Deployment istio-system/istiod docker.io/istio/pilot:1.24.2");
	// Missing what is not ("CRD peerauthentications.security.istio.io").
	Found, Missing []string
}

// Installed reports whether nothing required is missing.
func (d Detected) Installed() bool { return len(d.Missing) == 0 }

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// detect looks for a mesh's CRDs and workloads. strict: the components needed for strict
// mTLS count as required. An error is returned only when the cluster cannot be asked.
func (c *clients) detect(ctx context.Context, p mesh.Profile, strict bool) (Detected, error) {
	d := Detected{Profile: p}
	cl := mesh.ClusterOf(p)
	for _, name := range cl.CRDs {
		_, err := c.dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			d.Missing = append(d.Missing, "CRD "+name)
		case err != nil:
			return d, fmt.Errorf("look for CRD %s: %w", name, err)
		default:
			d.Found = append(d.Found, "CRD "+name)
		}
	}
	for _, comp := range cl.Components {
		what := comp.Workload.Kind + " " + comp.Namespace + "/" + comp.Workload.Name
		containers, err := c.workloadContainers(ctx, comp.Namespace, comp.Workload)
		if apierrors.IsNotFound(err) {
			if !comp.Optional && (!comp.StrictOnly || strict) {
				d.Missing = append(d.Missing, what)
			}
			continue
		}
		if err != nil {
			return d, fmt.Errorf("look for %s: %w", what, err)
		}
		image := ""
		for _, ct := range containers {
			if comp.Container == "" || ct.Name == comp.Container {
				image = ct.Image
				break
			}
		}
		if image == "" && len(containers) > 0 {
			image = containers[0].Image
		}
		d.Found = append(d.Found, what+" "+image)
		if comp.Version {
			d.Version = mesh.ImageVersion(image)
		}
	}
	return d, nil
}

// workloadContainers returns the pod template's containers of a Deployment, StatefulSet
// or DaemonSet.
func (c *clients) workloadContainers(ctx context.Context, ns string, w mesh.Workload) ([]corev1.Container, error) {
	apps := c.core.AppsV1()
	var tpl corev1.PodTemplateSpec
	switch w.Kind {
	case "Deployment":
		o, err := apps.Deployments(ns).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		tpl = o.Spec.Template
	case "StatefulSet":
		o, err := apps.StatefulSets(ns).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		tpl = o.Spec.Template
	case "DaemonSet":
		o, err := apps.DaemonSets(ns).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		tpl = o.Spec.Template
	default:
		return nil, fmt.Errorf("workload kind %s is not one smp reads", w.Kind)
	}
	return tpl.Spec.Containers, nil
}

// describeMissing is a one-line account of what was not found.
func (d Detected) describeMissing() string {
	return strings.Join(d.Missing, ", ")
}

// proxyContainers lists the proxy containers a pod has: its containers and its native
// sidecars (init containers that keep running, as Istio and Linkerd inject them on
// Kubernetes ≥ 1.29), by the names the profile knows.
func proxyContainers(pod *corev1.Pod, names []string) []corev1.Container {
	var out []corev1.Container
	for _, c := range pod.Spec.Containers {
		if slices.Contains(names, c.Name) {
			out = append(out, c)
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways && slices.Contains(names, c.Name) {
			out = append(out, c)
		}
	}
	return out
}

// allProxyNames are the proxy container names of every Kubernetes profile.
func allProxyNames() []string {
	var out []string
	for _, p := range mesh.KubernetesProfiles() {
		if p.DataPlane == spec.DataPlaneSidecar {
			out = append(out, p.Proxy.Containers...)
		}
	}
	return out
}

// daemonSetReady reports whether a DaemonSet has a ready pod on every node it should.
func daemonSetReady(ds *appsv1.DaemonSet) bool {
	s := ds.Status
	return s.DesiredNumberScheduled > 0 && s.NumberReady == s.DesiredNumberScheduled
}
