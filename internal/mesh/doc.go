// Package mesh holds the mesh profiles as data: for every mesh type smp runs (the
// baseline, the local sidecars builtin, envoy, haproxy and nginx, and on Kubernetes
// Istio in sidecar and ambient mode, Linkerd, Consul, Kuma and Cilium), how injection is
// switched on, what the proxy and init containers are called, where the control plane
// and the node-level data-plane components live, which ports serve metrics and the admin
// API, which objects make mTLS strict, and the PromQL selectors and latency histograms the
// collectors use.
//
// The facts come from shared/reference/meshes.md (§7 per-mesh table, §8 proxy-native
// metrics, §9 cAdvisor/PromQL cookbook); each profile cites its row, and a fact that the
// reference does not state says where it comes from instead. Strict-mTLS objects are
// plain data (apiVersion, kind, name, fields as maps): turning them into Kubernetes
// objects belongs to internal/platform/kube.
//
// Imports: spec and the standard library only. Never k8s.io/*, collect, platform or
// experiment; the package computes nothing at run time and has no state: Profiles builds
// the table anew on every call, so callers may change what they get.
package mesh
