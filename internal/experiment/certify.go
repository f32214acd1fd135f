package experiment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/service-mesh-performance/smp/internal/certify"
	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/internal/platform/open"
	"github.com/service-mesh-performance/smp/internal/sysinfo"
	"github.com/service-mesh-performance/smp/internal/term"
	"github.com/service-mesh-performance/smp/internal/version"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// CertifyOptions are the inputs of Certify, already checked (smp certify's flags). Zero
// values are defaults.
type CertifyOptions struct {
	// Platform is what is certified: spec.PlatformLocal (this machine) or
	// spec.PlatformKubernetes (this machine and a cluster).
	Platform spec.Platform
	// Interval is how long steal time and other tenants' CPU use are observed. Default 1s.
	Interval time.Duration
	// Repetitions identical baseline runs of Duration each calibrate the noise floor;
	// 0 repetitions: no calibration.
	Repetitions int
	Duration    time.Duration
	// NodesFile and PodsFile, when either is set, are saved kubectl output that the
	// cluster checks read instead of a live cluster (offline, no throttling).
	NodesFile, PodsFile string
	// Kubeconfig and Context name the live cluster, checked and calibrated on (defaults
	// as kubectl's).
	Kubeconfig, Context string
	// Inventory is the live cluster as it is read; nil opens the one Kubeconfig and
	// Context name (platform/open).
	Inventory platform.Inventory
	// Observe is how long the proxies' CPU throttling is observed (0: since the
	// containers started).
	Observe time.Duration
	// Status receives status lines and the calibration's progress. nil: discard.
	Status io.Writer
	// Progress selects how the calibration's load progress is shown on Status.
	Progress term.Mode
	// Now is the certificate's clock; nil uses time.Now.
	Now func() time.Time
}

// Certify checks the environment (this machine, and the cluster on Kubernetes), then
// calibrates it with identical baseline runs of certify.CalibrationPlan, and returns the
// certificate, whatever its verdict. A calibration that fails is recorded in the
// certificate; an interruption (ctx) is an error, and no certificate is made.
func Certify(ctx context.Context, o CertifyOptions) (*result.Certificate, error) {
	status := func(format string, a ...any) {
		if o.Status != nil {
			fmt.Fprintf(o.Status, "smp: "+format+"\n", a...)
		}
	}
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	status("checking the machine (%s)", o.Interval)
	checks, err := certify.Inspector{Interval: o.Interval}.Checks(ctx)
	if err != nil {
		return nil, err
	}
	host := certify.HostOf(sysinfo.Read())
	if o.Platform == spec.PlatformKubernetes {
		kubeChecks, nodes, err := checkCluster(ctx, o, status)
		if err != nil {
			return nil, err
		}
		checks = append(checks, kubeChecks...)
		// The certificate's host is the cluster's nodes as much as this machine.
		host.Nodes = nodes
	}
	var cal *result.Calibration
	if o.Repetitions > 0 {
		status("calibrating: %d identical baseline runs of %s", o.Repetitions, spec.Duration(o.Duration))
		if cal, err = calibrate(ctx, o); err != nil {
			return nil, err
		}
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	v := version.Get()
	return certify.New(string(o.Platform), host, checks, cal, v.Version+" "+v.Commit, now()), nil
}

// checkCluster runs the cluster checks on saved kubectl output or on the live cluster,
// and returns the nodes the live cluster listed.
func checkCluster(ctx context.Context, o CertifyOptions, status func(string, ...any)) ([]result.Check, []result.Node, error) {
	if o.NodesFile != "" || o.PodsFile != "" {
		return certify.KubeChecks(ctx, certify.FileSource{NodesFile: o.NodesFile, PodsFile: o.PodsFile}), nil, nil
	}
	inv, where := o.Inventory, "the given inventory"
	if inv == nil {
		var err error
		if inv, where, err = open.Inventory(o.Kubeconfig, o.Context); err != nil {
			return nil, nil, err
		}
	}
	status("checking the cluster at %s", where)
	src := &certify.ClusterSource{Inventory: inv, Observe: o.Observe, Status: status}
	checks := certify.KubeChecks(ctx, src)
	if ctx.Err() != nil {
		return nil, nil, fmt.Errorf("certify: interrupted while checking the cluster; no certificate written: %w", ctx.Err())
	}
	return checks, src.Listed, nil
}

// calibrate runs the calibration plan on the platform being certified (on Kubernetes,
// the cluster the checks looked at) and measures its noise.
func calibrate(ctx context.Context, o CertifyOptions) (*result.Calibration, error) {
	reps, d := o.Repetitions, o.Duration
	plan, err := certify.CalibrationPlan(o.Platform, reps, d)
	if err != nil {
		return nil, err
	}
	plan.Environment.Kubeconfig, plan.Environment.Context = o.Kubeconfig, o.Context
	doc, err := Run(ctx, plan, Options{Status: o.Status, Progress: o.Progress})
	switch {
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		return nil, fmt.Errorf("certify: calibration interrupted; no certificate written: %w", ctx.Err())
	case err != nil:
		return certify.Failed(reps, d, certify.CalibrationDescription, err), nil
	}
	samples, err := certify.SamplesOf(doc)
	if err != nil {
		return certify.Failed(reps, d, certify.CalibrationDescription, err), nil
	}
	return certify.Calibrate(samples, d, certify.CalibrationDescription), nil
}

// Cleanup removes what smp runs left on a Kubernetes cluster (a killed run, a run with
// environment.kubernetes.keep), found by label: everything smp created, or only what run
// (a run id or its key) did when it is not empty. kubeconfig and kubeContext name the
// cluster as for a run. It waits for the namespaces to go, bounded by ctx.
func Cleanup(ctx context.Context, kubeconfig, kubeContext, run string) (platform.Removed, error) {
	return open.Cleanup(ctx, kubeconfig, kubeContext, run)
}
