package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"

	"github.com/service-mesh-performance/smp/internal/mesh"
	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// Cluster describes the cluster a run used, for the result's environment.
type Cluster struct {
	// Version is the API server's (e.g. v1.37.2).
	Version string
	// Context is the kubeconfig context ("" in cluster).
	Context string
	Nodes   []result.Node
	// CNI is the network plugin guessed from the DaemonSets of kube-system and the
	// plugins' own namespaces ("calico", "cilium", …), with its image version.
	CNI, CNIVersion string
	// Meshes are the meshes found installed, whatever the plan uses.
	Meshes []Detected
}

// nodeLabelsKept are the node labels copied into the result.
var nodeLabelsKept = []string{"topology.kubernetes.io/zone", "topology.kubernetes.io/region",
	"node-role.kubernetes.io/control-plane", "kubernetes.io/os", LoadTaint}

// cniDaemonSets maps a DaemonSet name to the CNI it belongs to. Names are those of each
// plugin's standard install (Calico's manifest and operator, Cilium's chart, flannel's
// kube-flannel.yml, kind's kindnet, Amazon VPC CNI, Azure CNI, Antrea, Weave, kube-router,
// OVN-Kubernetes, GKE's netd).
var cniDaemonSets = map[string]string{
	"calico-node": "calico", "canal": "canal", "cilium": "cilium", "kube-flannel-ds": "flannel",
	"kindnet": "kindnet", "aws-node": "aws-vpc-cni", "azure-cns": "azure-cni", "antrea-agent": "antrea",
	"weave-net": "weave", "kube-router": "kube-router", "ovnkube-node": "ovn-kubernetes", "netd": "gke-netd",
}

// cniNamespaces are where those DaemonSets live.
var cniNamespaces = []string{"kube-system", "kube-flannel", "calico-system", "tigera-operator"}

// Describe implements platform.Platform: the cluster's version, nodes and installed
// meshes in the result's terms, its CNI as a tool (role "cni"), and the kind of load the
// load pods bring (LoadPod.Kind). A cluster that cannot be described is a warning.
func (p *Platform) Describe(ctx context.Context) platform.Environment {
	env := platform.Environment{Load: p.opt.LoadPod.Kind}
	if url, client, err := p.CAdvisorSource(); err == nil {
		env.NodeCAdvisor = &platform.NodeEndpoint{URL: url, Client: client}
	} else {
		env.Warnings = append(env.Warnings, "read the nodes' cAdvisor: "+err.Error())
	}
	cl, err := p.Discover(ctx)
	if err != nil {
		env.Warnings = append(env.Warnings, "describe the cluster: "+err.Error())
		return env
	}
	k := &result.KubernetesEnvironment{Version: cl.Version, Context: cl.Context, Nodes: cl.Nodes}
	for _, m := range cl.Meshes {
		k.Meshes = append(k.Meshes, result.MeshInfo{Type: m.Profile.Mesh, DataPlane: m.Profile.DataPlane, Version: m.Version})
	}
	env.Kubernetes = k
	if cl.CNI != "" {
		env.Tools = append(env.Tools, result.Tool{Name: cl.CNI, Version: cl.CNIVersion, Role: "cni"})
	}
	return env
}

// Discover describes the cluster: version, nodes, CNI, installed meshes.
func (p *Platform) Discover(ctx context.Context) (Cluster, error) {
	return discover(ctx, p.c, p.context)
}

func discover(ctx context.Context, c *clients, contextName string) (Cluster, error) {
	cl := Cluster{Context: contextName}
	v, err := serverVersion(ctx, c)
	if err != nil {
		return cl, fmt.Errorf("read the Kubernetes version: %w", err)
	}
	cl.Version = v.GitVersion
	if cl.Nodes, err = listNodes(ctx, c); err != nil {
		return cl, err
	}
	for _, ns := range cniNamespaces {
		dss, err := c.core.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{})
		if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
			continue
		}
		if err != nil {
			return cl, fmt.Errorf("list DaemonSets in %s: %w", ns, err)
		}
		if name, version := guessCNI(dss.Items); name != "" {
			cl.CNI, cl.CNIVersion = name, version
			break
		}
	}
	for _, prof := range mesh.KubernetesProfiles() {
		if prof.Mesh.IsBaseline() || prof.Mesh == spec.MeshBuiltin {
			continue // nothing installed: smp brings its own sidecar
		}
		d, err := c.detect(ctx, prof, false)
		if err != nil {
			return cl, err
		}
		if d.Installed() {
			cl.Meshes = append(cl.Meshes, d)
		}
	}
	return cl, nil
}

// serverVersion is the API server's /version, bound to ctx (discovery's ServerVersion
// takes none).
func serverVersion(ctx context.Context, c *clients) (version.Info, error) {
	var v version.Info
	body, err := c.core.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return v, err
	}
	return v, json.Unmarshal(body, &v)
}

func nodeOf(n *corev1.Node) result.Node {
	info := n.Status.NodeInfo
	out := result.Node{Name: n.Name, KernelVersion: info.KernelVersion, OSImage: info.OSImage,
		ContainerRuntime: info.ContainerRuntimeVersion, KubeletVersion: info.KubeletVersion, Arch: info.Architecture}
	out.InstanceType = n.Labels["node.kubernetes.io/instance-type"]
	if out.InstanceType == "" {
		out.InstanceType = n.Labels["beta.kubernetes.io/instance-type"]
	}
	if q, ok := n.Status.Capacity[corev1.ResourceCPU]; ok {
		out.Cores, out.CPUMillis = int(q.Value()), q.MilliValue()
	}
	if q, ok := n.Status.Capacity[corev1.ResourceMemory]; ok {
		out.MemoryBytes = q.Value()
	}
	for _, k := range nodeLabelsKept {
		if v, ok := n.Labels[k]; ok {
			if out.Labels == nil {
				out.Labels = map[string]string{}
			}
			out.Labels[k] = v
		}
	}
	for _, t := range n.Spec.Taints {
		if t.Key == LoadTaint {
			if out.Labels == nil {
				out.Labels = map[string]string{}
			}
			out.Labels[LoadTaint] = t.Value
		}
	}
	return out
}

// guessCNI names the CNI among DaemonSets, and its version (the image tag of its first
// container); Cilium wins over a plugin it chains with.
func guessCNI(dss []appsv1.DaemonSet) (name, version string) {
	sort.Slice(dss, func(i, j int) bool { return dss[i].Name < dss[j].Name })
	for _, ds := range dss {
		cni, ok := cniDaemonSets[ds.Name]
		if !ok {
			continue
		}
		v := ""
		if cs := ds.Spec.Template.Spec.Containers; len(cs) > 0 {
			v = mesh.ImageVersion(cs[0].Image)
		}
		if name == "" || cni == "cilium" {
			name, version = cni, v
		}
	}
	return name, strings.TrimSpace(version)
}
