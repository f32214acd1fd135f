package collect

import (
	"context"
	"time"

	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/result"
)

// Target is one component whose resource usage is measured: a process (local platform)
// or a container or node (Kubernetes), as the platform deployed it. It is the platform's
// Component itself (one type from deployment to collector, no copy at the seam); the
// name says what a collector does with it. Each collector uses the fields it understands
// (procfs: PID; Prometheus: Namespace, Pod and Container, or MetricsURL on the local
// platform; cAdvisor: Namespace, Pod, Container; Envoy admin: AdminURL; linkerd-proxy:
// MetricsURL) and copies the rest into the result (resourceOf).
type Target = platform.Component

// resourceOf is a Resource of t, before any figure: who it is, in the result's terms.
func resourceOf(t Target) result.Resource {
	return result.Resource{Component: t.Name, Role: t.Role, Service: t.Service, PID: t.PID,
		Namespace: t.Namespace, Pod: t.Pod, Container: t.Container, Node: t.Node}
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
