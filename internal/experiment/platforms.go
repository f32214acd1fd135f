package experiment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/internal/sysinfo"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// defaultPlatform picks the platform a plan names.
func defaultPlatform(ctx context.Context, plan *spec.Plan, runID string) (platform.Platform, error) {
	if plan.Workload.App.Kind == spec.AppExternal {
		return external{plan: plan}, nil
	}
	switch plan.Environment.Platform {
	case spec.PlatformLocal:
		return newLocal(ctx, plan, runID)
	}
	return nil, plan.Errorf("environment.platform", "use platform: local, or an external app with endpoint_urls",
		"the %s platform is not available in this smp yet", plan.Environment.Platform)
}

// external is the platform of an application that is already running: nothing is
// deployed, and each arm is reached at its own endpoint_urls or the workload's.
type external struct{ plan *spec.Plan }

func (e external) Deploy(_ context.Context, arm spec.Arm) (*platform.Deployment, error) {
	urls := arm.EndpointURLs
	if len(urls) == 0 {
		urls = e.plan.Workload.EndpointURLs
	}
	if len(urls) == 0 {
		return nil, fmt.Errorf("arm %s has no endpoint_urls", arm.Name)
	}
	return &platform.Deployment{Arm: arm, Target: platform.Target{URLs: urls, Protocol: e.plan.Workload.Protocol}}, nil
}

func (external) Teardown(context.Context, *platform.Deployment) error { return nil }

// captureEnvironment describes where the run happens.
func captureEnvironment(plan *spec.Plan) result.Environment {
	h := sysinfo.Read()
	env := result.Environment{
		Platform: string(plan.Environment.Platform), Hostname: h.Hostname, OS: h.OS, Arch: h.Arch,
		Kernel: h.Kernel, CPUModel: h.CPUModel, Cores: h.Cores, MemoryBytes: h.MemoryBytes, GoVersion: h.GoVersion,
	}
	if plan.Workload.App.Kind == spec.AppExternal {
		env.Platform = "external"
	}
	env.ID = environmentID(env)
	return env
}

// environmentID hashes what makes numbers comparable between runs: the same hardware,
// kernel and platform give the same id (the host name does not count).
func environmentID(e result.Environment) string {
	h := sha256.New()
	for _, s := range []string{e.Platform, e.OS, e.Arch, e.Kernel, e.CPUModel, strconv.Itoa(e.Cores), strconv.FormatInt(e.MemoryBytes>>20, 10)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	if k := e.Kubernetes; k != nil {
		h.Write([]byte(k.Version))
		for _, n := range k.Nodes {
			fmt.Fprintf(h, "%s/%d/%d/%s\x00", n.InstanceType, n.Cores, n.MemoryBytes>>20, n.KernelVersion)
		}
	}
	return "env-" + hex.EncodeToString(h.Sum(nil))[:16]
}
