package generator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/service-mesh-performance/smp/internal/engine"
	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/internal/proc"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// Job is the load of one trial.
type Job struct {
	Workload spec.Workload
	Metrics  spec.Metrics
	// Target is where the load goes: the deployment's URLs and, towards its first hop,
	// its client TLS (nil: the workload's tls section, or plaintext).
	Target platform.Target
	// BaseDir resolves a relative workload.body_file (the plan's folder).
	BaseDir string
	// Progress, when set, is called about once per metrics.interval from one goroutine
	// with the engine's figures so far (the builtin engine and agents report progress;
	// the external generators do not). Showing them is the caller's business.
	Progress func(engine.Progress)
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

// Checker is implemented by generators that can tell, before anything is deployed,
// whether they can run a workload: the binary is on PATH (and its version is read), and
// the workload asks for nothing the generator cannot do. Run performs the same checks, so
// calling Check first is optional; it only makes the failure come earlier.
type Checker interface {
	Check(ctx context.Context, w spec.Workload) error
}

// Fix suggests how to get past an error from Check, beside its message (which, for a
// missing binary, already says how to install it).
func Fix(err error) string {
	var nf *proc.NotFoundError
	if errors.As(err, &nf) {
		return "use load_generator: builtin until " + nf.Name + " is installed"
	}
	return "change the workload, or use load_generator: builtin"
}

// New returns the generator a plan names. Binaries are not looked for yet: Check or Run
// does that.
func New(name spec.Generator) (Generator, error) {
	switch name {
	case spec.GeneratorBuiltin, "":
		return Builtin{}, nil
	case spec.GeneratorFortio:
		return Fortio{}, nil
	case spec.GeneratorWrk:
		return NewWrk(), nil
	case spec.GeneratorWrk2:
		return NewWrk2(), nil
	case spec.GeneratorNighthawk:
		return NewNighthawk(), nil
	}
	return nil, fmt.Errorf("unknown load generator %q", name)
}

// percentilesAndBounds returns what distributions must report.
func percentilesAndBounds(m spec.Metrics) ([]float64, []time.Duration) {
	p := m.Percentiles
	if len(p) == 0 {
		p = spec.DefaultPercentiles()
	}
	return p, result.BucketBounds(m.Buckets)
}
