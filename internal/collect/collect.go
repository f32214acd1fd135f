package collect

import (
	"context"
	"time"

	"github.com/service-mesh-performance/smp/result"
)

// Target is one component whose resource usage is measured: a process (local platform)
// or a container or node (Kubernetes). Each collector uses the fields it understands
// (procfs: PID; Prometheus: Namespace, Pod and Container, or URL on the local platform;
// cAdvisor: Namespace, Pod, Container; Envoy admin: AdminURL; linkerd-proxy: URL) and
// copies the rest into the result.
type Target struct {
	// Component names it in the result, e.g. "svc-1-sidecar".
	Component string
	// Role is one of the result.Role values: "proxy", "app", "load_generator", …
	Role string
	// Service is the application service it belongs to, if any.
	Service string
	// PID of the process; procfs counts its descendants as part of it.
	PID int
	// Kubernetes coordinates.
	Namespace, Pod, Container, Node string
	// URL of the component's Prometheus metrics endpoint ("" when it has none).
	URL string
	// AdminURL of the proxy's admin endpoint (Envoy admin); collectors use its scheme and
	// host, since admin paths are fixed.
	AdminURL string
}

// Window is a period to report usage over: the measured phase of a trial.
type Window struct {
	Start, End time.Time
}

// Collector measures the resource usage of targets.
//
// The lifecycle is Start, then any number of Collect calls (one per trial window), then
// Stop. A component that cannot be measured is a Resource with its Error set, never a
// failed Collect: collectors report, they do not abort runs.
type Collector interface {
	// Name is the collector's source name, e.g. "procfs"; it becomes Resource.Source.
	Name() string
	// Start begins observing the targets; sampling starts now. It fails only when the
	// collector cannot work at all (no /proc, started twice). Sampling ends when ctx is
	// done or Stop is called.
	Start(ctx context.Context, targets []Target) error
	// Collect returns one Resource per target in the collector's scope (procfs,
	// Prometheus and cAdvisor: every target; Envoy admin and linkerd-proxy: the proxies)
	// with its usage over exactly the window, plus the components it finds itself
	// (Prometheus: control plane, node-level proxies, nodes).
	Collect(ctx context.Context, w Window) ([]result.Resource, error)
	// Stop ends sampling and waits for it to end. It is idempotent; Collect still
	// answers from what was sampled.
	Stop()
}

// Noter is implemented by collectors that learn more in Collect than resource figures:
// the data plane's own latency and warnings about the collection as a whole (which
// cAdvisor job was used, a series missing everywhere). The experiment calls Notes right
// after Collect; it describes that Collect's window.
type Noter interface {
	Notes() Notes
}

// Notes are what a Collect found besides resources.
type Notes struct {
	ProxyLatency []result.ProxyLatency
	Warnings     []string
}
