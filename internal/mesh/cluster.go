package mesh

import (
	"strings"

	"github.com/service-mesh-performance/smp/spec"
)

// This file holds what internal/platform/kube needs beyond Profile to work with a mesh
// that somebody else installed on a cluster: how to tell that it is there (its CRDs and
// control-plane workloads), where its version is written (an image tag), and which of its
// strict-mTLS objects smp must scope to the run instead of changing a shared one. It is
// data, like profiles.go; the Kubernetes calls are internal/platform/kube's.

// Cluster is how smp finds and uses an installed mesh on Kubernetes.
type Cluster struct {
	// CRDs are CustomResourceDefinition names (plural.group) that must be present: the
	// kinds smp applies, or, for a mesh smp applies none of, one the mesh always installs.
	CRDs []string
	// Components are the control-plane and node workloads that must exist (unless
	// Optional) for the mesh to count as installed.
	Components []Component
	// RunMesh is set for a mesh whose strict-mTLS object is a cluster-wide singleton that
	// the user's own traffic depends on (Kuma's Mesh "default"): smp creates its own,
	// named after the run, and puts its namespaces in it, rather than changing theirs.
	RunMesh *RunMesh
	// Peers is how a namespaced strict-mTLS policy admits a client from another namespace
	// (the load generator's), for a mesh whose policy otherwise admits only its own
	// namespace; nil when the policy does not restrict sources (Istio, Linkerd, Consul's
	// allow-all intention, Kuma's mesh-wide permission).
	Peers *Peers
}

// Component is one workload of an installed mesh.
type Component struct {
	Namespace string
	Workload  Workload
	// Container whose image tag is the component's version ("" = the first container).
	Container string
	// Version: this component's image tag is the mesh's version.
	Version bool
	// Optional components do not make the mesh absent (cilium-envoy, embedded in the agent
	// before Cilium 1.16). StrictOnly components are required only for strict mTLS
	// (SPIRE for Cilium's mutual authentication).
	Optional, StrictOnly bool
}

// RunMesh says how a run gets a mesh object of its own.
type RunMesh struct {
	// Kind of the profile's StrictMTLS object that smp creates per run (renamed) instead
	// of applying over the shared one.
	Kind string
	// Label that puts a namespace, and the mesh's other objects, into a named mesh.
	Label string
}

// Peers says where a policy's list of admitted sources is and how one source namespace
// is written in it.
type Peers struct {
	// Kind of the StrictMTLS object concerned.
	Kind string
	// NamespaceLabel is the label that selects a source by namespace in the policy's
	// source selectors (Cilium: k8s:io.kubernetes.pod.namespace).
	NamespaceLabel string
}

// ClusterOf returns the Kubernetes facts of a profile (the zero value for the baseline
// and the local kinds). Sources: meshes.md §7 (control-plane namespaces, DaemonSets), the
// CRDs named in §7's strict-mTLS column; the workload and container names are those of
// each mesh's default install (istioctl/Helm charts), as profiles.go notes.
func ClusterOf(p Profile) Cluster {
	if p.Platform != Kubernetes {
		return Cluster{}
	}
	switch p.Mesh {
	case spec.MeshIstio:
		c := Cluster{CRDs: []string{"peerauthentications.security.istio.io"},
			Components: []Component{{Namespace: "istio-system", Workload: Workload{"Deployment", "istiod"}, Container: "discovery", Version: true}}}
		if p.DataPlane == spec.DataPlaneAmbient {
			c.Components = append(c.Components, Component{Namespace: "istio-system", Workload: Workload{"DaemonSet", "ztunnel"}, Container: "istio-proxy"})
		}
		return c
	case spec.MeshLinkerd:
		// smp applies no Linkerd CRD (strict mTLS is a namespace annotation); Server is
		// installed by every Linkerd since 2.11, the release that reads that annotation.
		return Cluster{CRDs: []string{"servers.policy.linkerd.io"}, Components: []Component{
			{Namespace: "linkerd", Workload: Workload{"Deployment", "linkerd-destination"}, Container: "destination", Version: true},
			{Namespace: "linkerd", Workload: Workload{"Deployment", "linkerd-identity"}, Container: "identity"},
			{Namespace: "linkerd", Workload: Workload{"Deployment", "linkerd-proxy-injector"}, Container: "proxy-injector"},
		}}
	case spec.MeshConsul:
		return Cluster{CRDs: []string{"serviceintentions.consul.hashicorp.com"}, Components: []Component{
			{Namespace: "consul", Workload: Workload{"StatefulSet", "consul-server"}, Container: "consul", Version: true},
			{Namespace: "consul", Workload: Workload{"Deployment", "consul-connect-injector"}},
		}}
	case spec.MeshKuma:
		return Cluster{CRDs: []string{"meshes.kuma.io", "meshtrafficpermissions.kuma.io"},
			Components: []Component{{Namespace: "kuma-system", Workload: Workload{"Deployment", "kuma-control-plane"}, Container: "control-plane", Version: true}},
			RunMesh:    &RunMesh{Kind: "Mesh", Label: "kuma.io/mesh"}}
	case spec.MeshCilium:
		return Cluster{CRDs: []string{"ciliumnetworkpolicies.cilium.io"}, Components: []Component{
			{Namespace: "kube-system", Workload: Workload{"DaemonSet", "cilium"}, Container: "cilium-agent", Version: true},
			{Namespace: "kube-system", Workload: Workload{"Deployment", "cilium-operator"}},
			{Namespace: "kube-system", Workload: Workload{"DaemonSet", "cilium-envoy"}, Optional: true},
			{Namespace: "cilium-spire", Workload: Workload{"StatefulSet", "spire-server"}, StrictOnly: true},
		}, Peers: &Peers{Kind: "CiliumNetworkPolicy", NamespaceLabel: "k8s:io.kubernetes.pod.namespace"}}
	}
	return Cluster{}
}

// ImageVersion is the version an image reference carries: its tag without a leading
// "v" ("docker.io/istio/pilot:1.24.2" → "1.24.2", "quay.io/cilium/cilium:v1.16.3@sha256:…"
// → "1.16.3", "cr.l5d.io/linkerd/controller:stable-2.14.10" → "stable-2.14.10"); "" when
// it has no tag (a digest only, or "latest" implied).
func ImageVersion(image string) string {
	ref, _, _ := strings.Cut(image, "@")
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if colon <= slash { // no tag, or the colon is a registry's port
		return ""
	}
	tag := ref[colon+1:]
	if len(tag) > 1 && tag[0] == 'v' && tag[1] >= '0' && tag[1] <= '9' {
		tag = tag[1:]
	}
	return tag
}

// KubernetesProfiles are the profiles of the meshes smp measures on a cluster, the
// baseline first.
func KubernetesProfiles() []Profile {
	var out []Profile
	for _, p := range Profiles() {
		if p.Platform == Kubernetes {
			out = append(out, p)
		}
	}
	return out
}
