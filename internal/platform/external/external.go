// Package external is the platform of an application that is already running (a plan
// with workload.app.kind: external, and `smp load URL`): nothing is deployed, and each
// arm is reached at its own endpoint_urls, else the workload's. It has nothing to check,
// describe, tear down or close; the load is the run's own (platform.LoadNone).
//
// Imports: internal/platform, spec.
package external

import (
	"context"
	"fmt"

	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/spec"
)

// Platform reaches the arms of a plan at the URLs the plan gives.
type Platform struct {
	plan *spec.Plan
}

var _ platform.Platform = (*Platform)(nil)

// New returns the platform of plan's external application.
func New(plan *spec.Plan) *Platform { return &Platform{plan: plan} }

// Check implements platform.Platform: the plan's validation already required URLs.
func (*Platform) Check(context.Context) error { return nil }

// Describe implements platform.Platform: nothing is known beyond this machine.
func (*Platform) Describe(context.Context) platform.Environment { return platform.Environment{} }

// Deploy implements platform.Platform: the arm's endpoint_urls, else the workload's.
func (e *Platform) Deploy(_ context.Context, arm spec.Arm) (*platform.Deployment, error) {
	urls := arm.EndpointURLs
	if len(urls) == 0 {
		urls = e.plan.Workload.EndpointURLs
	}
	if len(urls) == 0 {
		return nil, fmt.Errorf("deploy %s: the arm has no endpoint_urls", arm.Name)
	}
	return &platform.Deployment{Arm: arm, Target: platform.Target{URLs: urls, Protocol: e.plan.Workload.Protocol}}, nil
}

// Teardown implements platform.Platform: nothing was started.
func (*Platform) Teardown(context.Context, *platform.Deployment) error { return nil }

// Close implements platform.Platform.
func (*Platform) Close() error { return nil }
