// Package generator puts every load generator behind one interface: given a workload and
// a target, run the load and return the load-side half of a trial (counts, histograms,
// time series) in the result document's terms. The builtin engine is used in-process;
// fortio, wrk/wrk2 and nighthawk are adapters added beside it.
//
// Imports: internal/engine, internal/hist, internal/proc, internal/term (for the progress
// vocabulary), result and spec. It never deploys anything and never prints.
package generator

import (
	"context"
	"fmt"
	"time"

	"github.com/service-mesh-performance/smp/internal/term"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// Target is where a generator sends load.
type Target struct {
	URLs []string
	TLS  *TLS
}

// TLS is the client side of TLS towards the target.
type TLS struct {
	CAFile, CertFile, KeyFile, ServerName string
	Insecure                              bool
}

// Job is the load of one trial.
type Job struct {
	Workload spec.Workload
	Metrics  spec.Metrics
	Target   Target
	// BaseDir resolves a relative workload.body_file (the plan's folder).
	BaseDir string
	// Progress, when set, is called about once per metrics.interval from one goroutine.
	Progress func(term.Progress)
}

// Generator runs load.
type Generator interface {
	// Info names the generator, its version and the caveats of its measurements.
	Info() result.GeneratorInfo
	// Run applies the load and returns the trial's load-side fields: Generator, Targets,
	// Warmup, StartTime, EndTime, Load, Counts, ErrorsByClass, StatusCodes, bytes,
	// Latency, ErrorLatency, ServiceTime, StartLag, TimeSeries, Warnings. Failures of the
	// target are counted in the trial, not returned; an error means no load was applied
	// (bad configuration, missing binary). When ctx is cancelled Run returns what was
	// measured so far with Status partial.
	Run(ctx context.Context, job Job) (result.Trial, error)
}

// New returns the generator a plan names.
func New(name spec.Generator) (Generator, error) {
	switch name {
	case spec.GeneratorBuiltin, "":
		return Builtin{}, nil
	}
	return nil, fmt.Errorf("load generator %s is not available in this smp yet; use load_generator: builtin", name)
}

// percentilesAndBounds returns what distributions must report.
func percentilesAndBounds(m spec.Metrics) ([]float64, []time.Duration) {
	p := m.Percentiles
	if len(p) == 0 {
		p = spec.DefaultPercentiles()
	}
	return p, result.BucketBounds(m.Buckets)
}
