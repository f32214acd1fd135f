package experiment

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/internal/sysinfo"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// describeEnvironment adds what the platform knows about where the run happens (the CPU
// split, the cluster and its CNI) to the result's environment; what it could not find
// out becomes a warning of the run.
func describeEnvironment(doc *result.Document, env platform.Environment) {
	doc.Environment.LoadGeneratorCPUs, doc.Environment.SystemCPUs = env.LoadGeneratorCPUs, env.SystemCPUs
	doc.Warnings = append(doc.Warnings, env.Warnings...)
	if env.Kubernetes != nil {
		doc.Environment.Kubernetes = env.Kubernetes
		doc.Environment.ID = environmentID(doc.Environment)
	}
	for _, t := range env.Tools {
		addTool(doc, t)
	}
}

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
