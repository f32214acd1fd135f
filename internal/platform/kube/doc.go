// Package kube is the Kubernetes platform: for each arm of a plan it creates a namespace
// for the application and one for the load generator, deploys the sample application
// (smp's builtin app, bookinfo, emojivoto or a fortio echo server) and a load pod,
// switches the arm's mesh on for both namespaces (injection labels or annotations, the
// strict-mTLS objects), waits for every rollout, verifies that the mesh is really in the
// path (every pod carries its proxy container, counted from the pod spec; the mTLS
// objects read back as applied) and hands back the target and the components. Teardown
// deletes the arm's namespaces and the run's cluster-scoped objects and waits for them to
// go; Cleanup finds leftovers of crashed runs by label.
//
// smp never installs a mesh. Check detects the meshes a plan names (their CRDs, control-
// plane workloads and image versions) before anything is created, and reports a missing
// one as a plan error on arms[i].mesh. Describe (through Discover) describes the cluster
// (version, nodes, CNI, meshes) for the result. Inventory reads, for smp certify, the
// nodes, the proxy containers of every pod with their resources, and a node's kubelet
// cAdvisor metrics through the API server's node proxy.
//
// Every object carries app.kubernetes.io/managed-by=smp and smp.dev/run=<run key> (a
// short hash of the run id, which is kept whole in the smp.dev/run-id annotation), and is
// written by server-side apply with field manager "smp". Clients follow client-go's
// conventions: an explicit kubeconfig, else $KUBECONFIG, else ~/.kube/config, else the
// in-cluster service account; an explicit context, else the current one.
//
// The load generator runs in the cluster. LoadPod describes its pods (image, arguments,
// replicas, files in a Secret) and what a deployment's Load reports (fortio's REST API,
// smp agents, or nothing), so that either can be put in them without this package
// knowing their protocol (internal/platform/open puts smp agents there). Deploy opens
// the port-forwards (through the API server, client-go's portforward package) that the
// Load needs and Teardown closes them; what speaks over them is the caller's business.
//
// This is the only package of smp that imports k8s.io/* (besides kubetest, the test
// control plane, which only tests import). Imports: internal/platform,
// internal/mesh, internal/app (the builtin app's configuration format), spec and result
// (the document's vocabulary: nodes, meshes, tools). Never platform/local or generator.
package kube
