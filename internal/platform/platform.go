// Package platform defines what every platform (local processes, Kubernetes) does for a
// trial: deploy the application and one arm's data plane, say where to send load and what
// was deployed, and tear it all down. It holds only the interface and the shared types;
// implementations live in platform/local and platform/kube, which must not import each
// other.
package platform

import (
	"context"

	"github.com/service-mesh-performance/smp/spec"
)

// Platform deploys and removes one arm at a time.
type Platform interface {
	// Deploy starts the application and the arm's proxies and returns once every hop
	// answers. On error nothing it started is left running, and the error names the arm
	// ("deploy NAME: …"): callers add nothing.
	Deploy(ctx context.Context, arm spec.Arm) (*Deployment, error)
	// Teardown stops everything Deploy started. It is safe to call more than once and
	// with a cancelled context (it then cleans up as fast as it can).
	Teardown(ctx context.Context, d *Deployment) error
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

// TLSFiles are PEM files for a TLS client.
type TLSFiles struct {
	CAFile, CertFile, KeyFile, ServerName string
}

// Role of a component; the values match result.Role.
const (
	RoleProxy         = "proxy"
	RoleApp           = "app"
	RoleLoadGenerator = "load_generator"
	RoleControlPlane  = "control_plane"
	RoleNode          = "node"
)

// Component is one deployed thing.
type Component struct {
	// Name is unique within a deployment: "svc-1", "svc-1-proxy", "client-proxy".
	Name string
	// Role is one of the Role constants.
	Role string
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
