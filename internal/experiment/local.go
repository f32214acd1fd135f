package experiment

import (
	"context"

	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/internal/platform/local"
	"github.com/service-mesh-performance/smp/spec"
)

func newLocal(_ context.Context, plan *spec.Plan, runID string) (platform.Platform, error) {
	return local.New(local.Options{Plan: plan, RunID: runID})
}
