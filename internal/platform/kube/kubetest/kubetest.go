// Package kubetest runs a real Kubernetes control plane for tests: etcd (Debian's
// etcd-server), kube-apiserver, kube-controller-manager and kube-scheduler built from
// k8s.io/kubernetes, and kwok simulating nodes and pods (its fast node and pod stages),
// so that Deployments roll out, DaemonSets fill their nodes and namespaces are finalised
// as on a real cluster. On it, Start puts what smp expects of a cluster with meshes
// installed:
//
//   - three kwok nodes: node-a and node-b (label smp.dev/pool=app, instance type
//     m5.large, 8 cores, 32 GiB) and node-load (label and taint smp.dev/role=load);
//   - the mesh CRDs of crds.yaml (minimal definitions: names, scopes, versions, open
//     schemas), enough for the API server to accept and serve the strict-mTLS objects;
//   - fake control planes of every mesh (workloads with the names and images of a
//     default install, so that detection reads real-looking versions), and a
//     calico-node DaemonSet;
//   - an injector: a real mutating admission webhook, served by the test process, that
//     adds each sidecar mesh's proxy container where the mesh's injection key (label or
//     annotation, namespace or pod) asks for it, as the mesh's own injector would (kwok
//     runs no webhooks), with the requests and limits a pod's Istio or Linkerd resource
//     annotations ask for (ProxyResourceAnnotations). A namespace labelled InjectorOff is
//     skipped: a mesh whose injector missed the pods.
//
// No container runs: pods are Running and Ready because kwok says so. What needs a real
// data path (traffic through a proxy, mTLS on the wire, DNS of a Service) is not here.
// kwok can forward pod ports to local ones (Options.Forward), which stand in for the
// load pods behind a port-forward.
//
// scripts/k8s-binaries builds the binaries into ${XDG_CACHE_HOME:-$HOME/.cache}/smp/k8s/
// <Version>/ (SMP_K8S_DIR overrides the folder). Missing lists what this machine lacks;
// the tests skip without the binaries unless SMP_INTEGRATION=1, when they fail.
//
// Everything listens on 127.0.0.1; certificates come from a CA made for the run; the
// folder of the run (/tmp/smp-kube-test-*) is removed by Stop, and one left by a test
// binary that was killed is removed by the next Start.
//
// Only tests import this package (internal/layout enforces it).
package kubetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/service-mesh-performance/smp/spec"
)

// Version is hack/k8s's k8s.io/kubernetes version: the folder scripts/k8s-binaries
// fills, and what the API server reports.
const Version = "v1.37.2"

// Node names.
const (
	NodeA    = "node-a"
	NodeB    = "node-b"
	NodeLoad = "node-load"
)

// InjectorOff is the namespace label that makes the test injector skip a namespace.
const InjectorOff = "test.smp.dev/injector"

// ProxyImages are the images the injector gives each mesh's proxy container (and so the
// proxy versions tests expect).
var ProxyImages = map[string]string{
	"istio-proxy":      "docker.io/istio/proxyv2:1.24.2",
	"linkerd-proxy":    "cr.l5d.io/linkerd/proxy:stable-2.14.10",
	"consul-dataplane": "hashicorp/consul-dataplane:1.6.1",
	"kuma-sidecar":     "docker.io/kumahq/kuma-dp:2.9.1",
}

// ControlPlaneImages are the fake control planes' images, by workload name; a workload
// not listed runs registry.k8s.io/pause:3.10.
var ControlPlaneImages = map[string]string{
	"istiod": "docker.io/istio/pilot:1.24.2", "ztunnel": "docker.io/istio/ztunnel:1.24.2",
	"linkerd-destination": "cr.l5d.io/linkerd/controller:stable-2.14.10", "linkerd-identity": "cr.l5d.io/linkerd/controller:stable-2.14.10",
	"linkerd-proxy-injector": "cr.l5d.io/linkerd/controller:stable-2.14.10",
	"consul-server":          "hashicorp/consul:1.20.1", "consul-connect-injector": "hashicorp/consul-k8s-control-plane:1.6.1",
	"kuma-control-plane": "docker.io/kumahq/kuma-cp:2.9.1",
	"cilium":             "quay.io/cilium/cilium:v1.16.3@sha256:62d2a09bbef840a46099ac4c69421c90f84f28d018d479749049011329aa7f28",
	"cilium-operator":    "quay.io/cilium/operator-generic:v1.16.3", "cilium-envoy": "quay.io/cilium/cilium-envoy:v1.29.9",
	"spire-server": "ghcr.io/spiffe/spire-server:1.9.6",
}

// Dir is the folder of the binaries.
func Dir() string {
	if d := os.Getenv("SMP_K8S_DIR"); d != "" {
		return d
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "smp", "k8s", Version)
}

// Missing lists what the control plane needs and this machine lacks.
func Missing() []string {
	var out []string
	for _, b := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		if _, err := os.Stat(filepath.Join(Dir(), "bin", b)); err != nil {
			out = append(out, filepath.Join(Dir(), "bin", b))
		}
	}
	if _, err := os.Stat(filepath.Join(Dir(), "stage")); err != nil {
		out = append(out, filepath.Join(Dir(), "stage"))
	}
	if _, err := exec.LookPath("etcd"); err != nil {
		out = append(out, "etcd (Debian package etcd-server)")
	}
	return out
}

// Required reports whether the tests must run (SMP_INTEGRATION=1): a missing binary is
// then a failure, not a skip.
func Required() bool { return os.Getenv("SMP_INTEGRATION") == "1" }

// Options configure Start.
type Options struct {
	// Forward makes kwok forward a port of every pod (the key) to a port on 127.0.0.1
	// (the value), so that a port-forward to a pod through the API server reaches a
	// server of the test process.
	Forward map[int]int
	// Absent are meshes whose fake control plane Start leaves out (their CRDs are
	// there); Install adds one later.
	Absent []spec.MeshType
}

// Cluster is a running test cluster with its fixtures.
type Cluster struct {
	// Config reaches the API server as system:masters.
	Config *rest.Config
	// Kubeconfig is a kubeconfig file with the same credentials (context smp-test), for
	// what is given a file (smp's --kubeconfig).
	Kubeconfig string
	// Client is a client of Config.
	Client kubernetes.Interface
	// Started is how long the control plane took to answer; Ready how long until the
	// fixtures were in place as well.
	Started, Ready time.Duration

	cp      *controlPlane
	stopAll []func()
	mu      sync.Mutex
	added   map[spec.MeshType]bool
	hookMu  sync.Mutex
	hooks   map[int]func(namespace string)
	hookID  int
}

// OnPodAdmission calls f with the namespace of every pod the API server admits from now
// on (from the injector's webhook: before the pod is stored, so before it can be
// scheduled or ready), until remove is called. f must not block.
func (c *Cluster) OnPodAdmission(f func(namespace string)) (remove func()) {
	c.hookMu.Lock()
	defer c.hookMu.Unlock()
	if c.hooks == nil {
		c.hooks = map[int]func(string){}
	}
	c.hookID++
	id := c.hookID
	c.hooks[id] = f
	return func() {
		c.hookMu.Lock()
		defer c.hookMu.Unlock()
		delete(c.hooks, id)
	}
}

func (c *Cluster) admitted(namespace string) {
	c.hookMu.Lock()
	defer c.hookMu.Unlock()
	for _, f := range c.hooks {
		f(namespace)
	}
}

// Start starts the control plane and puts the fixtures on it. On error nothing is left
// running.
func Start(opt Options) (c *Cluster, err error) {
	t0 := time.Now()
	c = &Cluster{added: map[spec.MeshType]bool{}}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	// Ports are picked free, then handed to the components: another process (the test
	// cluster of another package, under go test ./...) may take one in between. Such a
	// start is tried again with new ports.
	var cp *controlPlane
	for attempt := 1; ; attempt++ {
		cp, err = startControlPlane(opt.Forward)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	if err != nil {
		return c, err
	}
	c.cp = cp
	c.stopAll = append(c.stopAll, cp.stop)
	c.Started = cp.started
	c.Kubeconfig = cp.kubeconfig
	if c.Config, err = clientcmd.BuildConfigFromFlags("", cp.kubeconfig); err != nil {
		return c, err
	}
	c.Config.QPS, c.Config.Burst = 50, 100
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return c, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, step := range []func(context.Context) error{c.nodes, c.crds, c.injector} {
		if err := step(ctx); err != nil {
			return c, fmt.Errorf("%w\n%s", err, cp.logTail())
		}
	}
	for _, m := range []spec.MeshType{spec.MeshIstio, spec.MeshLinkerd, spec.MeshConsul, spec.MeshKuma, spec.MeshCilium} {
		if slices.Contains(opt.Absent, m) {
			continue
		}
		if err := c.Install(ctx, m); err != nil {
			return c, fmt.Errorf("%w\n%s", err, cp.logTail())
		}
	}
	if err := c.workload(ctx, "kube-system", "DaemonSet", "calico-node", "calico-node"); err != nil {
		return c, fmt.Errorf("%w\n%s", err, cp.logTail())
	}
	c.Ready = time.Since(t0)
	return c, nil
}

// Stop stops everything Start started and removes the run's folder.
func (c *Cluster) Stop() {
	for _, f := range slices.Backward(c.stopAll) {
		f()
	}
	c.stopAll = nil
}

// LogTail is the end of every component's log, for a failure message.
func (c *Cluster) LogTail() string {
	if c.cp == nil {
		return ""
	}
	return c.cp.logTail()
}
