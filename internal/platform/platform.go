// Package platform defines what every platform (local processes, a Kubernetes cluster,
// an application that is already running) does for a run, and the types they share. It
// holds only the contract; implementations live in platform/local, platform/kube and
// platform/external, which must not import each other.
//
// The contract is the whole of what the experiment asks of a platform (kind's provider
// interface is the model): Platform declares every capability, and what a platform
// knows or brings is data in what its methods return (Environment, Deployment,
// Deployment.Load), never a method found by a type assertion. A platform that has
// nothing to say for a capability implements it as a no-op.
//
// Imports: spec, internal/mesh, result (for the document's vocabulary: nodes, meshes,
// tools).
package platform

import (
	"context"
	"net/http"

	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// Platform runs the arms of one run, one at a time. A run calls Check and Describe once,
// then Deploy and Teardown for every trial, then Close.
type Platform interface {
	// Check makes sure the plan can run here before anything is deployed: every program
	// and mesh an arm needs is there and can carry the workload. A problem with the plan
	// is a spec.Errors pointing at the plan's field; any other error (a cluster that
	// does not answer) stops the run before it starts.
	Check(ctx context.Context) error
	// Describe says what the platform knows about where the run happens, for the
	// result. It does not fail: what it could not find out is in Environment.Warnings.
	Describe(ctx context.Context) Environment
	// Deploy starts the application and the arm's proxies (and the load generator, on
	// a platform that brings its own: Deployment.Load) and returns once every hop
	// answers. On error nothing it started is left running, and the error names the arm
	// ("deploy NAME: …"): callers add nothing.
	Deploy(ctx context.Context, arm spec.Arm) (*Deployment, error)
	// Teardown stops everything Deploy started. It is safe to call more than once and
	// with a cancelled context (it then cleans up as fast as it can).
	Teardown(ctx context.Context, d *Deployment) error
	// Close releases what the platform holds for the run once the last trial is torn
	// down (working directories, CPU pinning, what a crashed teardown left behind).
	Close() error
}

// Environment is what a platform knows about where a run happens.
type Environment struct {
	// LoadGeneratorCPUs and SystemCPUs are the CPU lists ("0", "1-3") that the load
	// generator and the system under test are pinned to; "" when they are not.
	LoadGeneratorCPUs, SystemCPUs string
	// Kubernetes describes the cluster (nil on other platforms, or when it could not
	// be described: a warning then says why).
	Kubernetes *result.KubernetesEnvironment
	// Tools are programs of the environment that take part in every trial (the
	// cluster's CNI, with role "cni").
	Tools []result.Tool
	// Load is the kind of load every deployment of this platform brings
	// (Deployment.Load.Kind), known before the first deploy so that a run names its
	// load generator from the start.
	Load LoadKind
	// NodeCAdvisor, when set, reads the cAdvisor of every node the platform deploys to
	// (Kubernetes: each kubelet's /metrics/cadvisor through the API server), for a
	// cadvisor collector that names no URL.
	NodeCAdvisor *NodeEndpoint
	// Warnings say what could not be found out; they become warnings of the run.
	Warnings []string
}

// NodeEndpoint is an HTTP endpoint of every node: where a node's is, and a client with
// the credentials it takes.
type NodeEndpoint struct {
	URL    func(node string) string
	Client *http.Client
}

// LoadKind says where a deployment's load comes from.
type LoadKind int

const (
	// LoadNone: the platform brings no load generator; the run's own (the plan's
	// load_generator, in this process, or the plan's agents) sends the load to Target.
	LoadNone LoadKind = iota
	// LoadFortioREST: a fortio server deployed beside the application runs the load,
	// driven through its REST API at Load.FortioURL.
	LoadFortioREST
	// LoadAgents: smp agents deployed beside the application run the load, reached at
	// Load.Agents with Load.Credentials.
	LoadAgents
)

// Load says where a deployment's load comes from, as data: the experiment turns it
// into a load generator (one function does: experiment's trialGenerator).
type Load struct {
	Kind LoadKind
	// FortioURL is the base URL of the fortio server's REST API on this machine
	// (http://127.0.0.1:PORT/fortio/), for LoadFortioREST.
	FortioURL string
	// Agents are the addresses (host:port) of the smp agents on this machine, one per
	// agent, for LoadAgents.
	Agents []string
	// Credentials authenticate this process to Agents as their controller.
	Credentials *AgentCredentials
	// Where says where the load runs, for the trial's generator note ("pod P in
	// namespace N, node X").
	Where string
}

// AgentCredentials are a controller's side of the mutual TLS with smp agents, as PEM
// (what agent.ParseCredentials reads): the run CA's certificate, the controller's
// certificate and key, and the optional shared token.
type AgentCredentials struct {
	CA, Cert, Key []byte
	Token         string
}

// Deployment is one arm, up and answering.
type Deployment struct {
	Arm spec.Arm
	// Target is where the load generator sends requests.
	Target Target
	// Components are the processes or containers deployed, for collectors and checks.
	Components []Component
	// Mesh is what was found in the data path (versions, proxy count).
	Mesh MeshObserved
	// Tools are programs that took part (proxies with their versions).
	Tools []Tool
	// Load says where the arm's load comes from: LoadNone, or the load generator the
	// platform deployed beside the application and reaches from this machine until
	// Teardown.
	Load Load
	// Warnings say where the deployment departs from the usual wiring in a way that
	// changes what is measured (e.g. the load generator standing in for a client
	// sidecar); they become warnings of the trial.
	Warnings []string
	// Private is the platform's own state, for Teardown.
	Private any
}

// Target is where to send load.
type Target struct {
	URLs     []string
	Protocol spec.Protocol
	// TLS the load generator uses towards the first hop (nil: plaintext).
	TLS *TLSFiles
}

// TLSFiles are a TLS client's side towards a target: PEM files, the server name to
// verify and, from the plan only (workload.tls.insecure_skip_verify), whether to skip
// verifying the server. Platforms and load generators share this one type.
type TLSFiles struct {
	CAFile, CertFile, KeyFile, ServerName string
	Insecure                              bool
}

// Component is one deployed thing: what collectors measure (collect.Target is this
// type) and what a resource in the result is of.
type Component struct {
	// Name is unique within a deployment: "svc-1", "svc-1-proxy", "client-proxy".
	Name string
	// Role is what it is: result.RoleProxy, RoleApp, RoleLoadGenerator, …
	Role result.Role
	// Service is the application service it belongs to ("" for the client side).
	Service string
	// PID of the process (local platform); its descendants belong to it too.
	PID int
	// Kubernetes coordinates.
	Namespace, Pod, Container, Node string
	// AdminURL serves the proxy's or app's counters (e.g. http://127.0.0.1:15000), used to
	// check that traffic really goes through it.
	AdminURL string
	// MetricsURL serves Prometheus metrics.
	MetricsURL string
}

// MeshObserved is the data plane as found, for the result.
type MeshObserved struct {
	Version          string
	ProxyVersion     string
	ProxyConcurrency int
	Proxies          int
}

// Tool is a program that took part, with its version.
type Tool struct {
	Name, Version, Path string
}

// Capabilities outside a run. A cluster can be read and cleaned up without a plan; these
// are small interfaces and types of their own, implemented by platform/kube and opened
// by platform/open (from a kubeconfig and a context).

// Inventory reads what smp certify checks of a live cluster: its nodes, the mesh proxy
// containers of every pod with their resources, and a node's kubelet cAdvisor metrics
// (the Prometheus text, read through the API server's node proxy). It creates nothing.
type Inventory interface {
	// Nodes lists every node with its capacity and system information, by name.
	Nodes(ctx context.Context) ([]result.Node, error)
	// Proxies lists the proxy containers of every pod that is not finished, sorted by
	// namespace, pod and container.
	Proxies(ctx context.Context) ([]ProxyContainer, error)
	// CAdvisorMetrics reads one node's cAdvisor metrics. Nodes whose kubelet cannot be
	// reached, or that serve none (virtual nodes), fail here.
	CAdvisorMetrics(ctx context.Context, node string) ([]byte, error)
}

// ProxyContainer is one data-plane proxy container of a pod (a sidecar, a waypoint, a
// per-node proxy), with its resources as the pod spec declares them (0: not set).
type ProxyContainer struct {
	Namespace, Pod, Container string
	// Node is where the pod was scheduled ("" while it is pending).
	Node                                 string
	CPURequestMillis, CPULimitMillis     int64
	MemoryRequestBytes, MemoryLimitBytes int64
}

// Removed is what a clean-up of a cluster deleted, found by smp's labels.
type Removed struct {
	// Namespaces deleted (and waited for).
	Namespaces []string
	// Objects deleted outside them ("Mesh smp-1a2b3c4d5e").
	Objects []string
}
