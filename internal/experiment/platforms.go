package experiment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/service-mesh-performance/smp/internal/agent"
	"github.com/service-mesh-performance/smp/internal/generator"
	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/internal/platform/kube"
	"github.com/service-mesh-performance/smp/internal/sysinfo"
	"github.com/service-mesh-performance/smp/internal/version"
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
	case spec.PlatformKubernetes:
		// The load runs in a pod (fortio's REST API) unless agents are named: a workload it
		// cannot run is a plan error before anything connects.
		if plan.Workload.Agents == 0 {
			if err := (generator.FortioREST{}).Check(ctx, plan.Workload); err != nil {
				return nil, plan.Errorf("workload", "use an http/1.1 workload with keep-alive and one kind of request on Kubernetes", "%v", err)
			}
		}
		return newKube(plan, runID)
	}
	return nil, plan.Errorf("environment.platform", "use platform: local or kubernetes, or an external app with endpoint_urls",
		"the %s platform is not available in this smp yet", plan.Environment.Platform)
}

// kubePlatform is the kubernetes platform as the experiment uses it: kube.Platform, plus
// the conversion of what it finds into the result's terms (kube imports no result), and
// the controller's side of the smp agents it runs as load pods (nil with fortio's).
type kubePlatform struct {
	*kube.Platform
	agents *podAgents
}

// podAgents is what a controller needs to drive the agent pods of a run: its credentials
// from the run's CA (the agents' are in each load namespace's Secret).
type podAgents struct {
	creds agent.Credentials
	runID string
}

// agentCertsDir is where an agent pod finds its credentials (the Secret's mount).
const agentCertsDir = "/etc/smp/agent"

// newKube connects to the cluster the plan names (smp run's --kubeconfig and --context
// override the plan's environment.kubeconfig and context before it gets here). With
// workload.agents and no agent_urls, each arm's load pods are that many smp agents of
// smp's image, holding certificates of a CA made for this run.
func newKube(plan *spec.Plan, runID string) (platform.Platform, error) {
	opt := kube.Options{Plan: plan, RunID: runID, Version: version.Get().Version}
	var agents *podAgents
	if w := plan.Workload; w.Agents > 0 && len(w.AgentURLs) == 0 {
		b, err := agent.NewBundle(runID, false)
		if err != nil {
			return nil, fmt.Errorf("credentials for the agent pods: %w", err)
		}
		creds, err := b.ControllerCredentials()
		if err != nil {
			return nil, fmt.Errorf("credentials for the agent pods: %w", err)
		}
		opt.LoadPod = kube.LoadPod{Args: agent.AgentArgs(agent.DefaultPort, agentCertsDir), Port: agent.DefaultPort,
			Replicas: int32(w.Agents), Files: b.AgentFiles(), FilesDir: agentCertsDir}
		agents = &podAgents{creds: creds, runID: runID}
	}
	p, err := kube.New(opt)
	if err != nil {
		return nil, err
	}
	return kubePlatform{Platform: p, agents: agents}, nil
}

// describe fills the result's environment with the cluster's description: its version,
// nodes and meshes, and the CNI (as a tool with role "cni"). A cluster that cannot be
// described is a warning, not a failure.
func (k kubePlatform) describe(ctx context.Context, doc *result.Document) {
	cl, err := k.Discover(ctx)
	if err != nil {
		doc.Warnings = append(doc.Warnings, "describe the cluster: "+err.Error())
		return
	}
	env := &result.KubernetesEnvironment{Version: cl.Version, Context: cl.Context}
	for _, n := range cl.Nodes {
		env.Nodes = append(env.Nodes, result.Node{Name: n.Name, InstanceType: n.InstanceType, Cores: n.Cores,
			MemoryBytes: n.MemoryBytes, KernelVersion: n.KernelVersion, OSImage: n.OSImage,
			ContainerRuntime: n.ContainerRuntime, KubeletVersion: n.KubeletVersion, Arch: n.Arch, Labels: n.Labels})
	}
	for _, m := range cl.Meshes {
		env.Meshes = append(env.Meshes, result.MeshInfo{Type: m.Profile.Mesh, DataPlane: m.Profile.DataPlane, Version: m.Version})
	}
	doc.Environment.Kubernetes = env
	if cl.CNI != "" {
		addTool(doc, result.Tool{Name: cl.CNI, Version: cl.CNIVersion, Role: "cni"})
	}
	doc.Environment.ID = environmentID(doc.Environment)
}

// describeEnvironment lets a platform that knows more about where the run happens (the
// cluster) add it to the result.
func describeEnvironment(ctx context.Context, pf platform.Platform, doc *result.Document) {
	if k, ok := pf.(kubePlatform); ok {
		k.describe(ctx, doc)
	}
}

// podLoad is implemented by platforms whose load generator runs beside the application
// (kube: agent pods, or a fortio server, in the arm's load namespace, reached by
// port-forward).
type podLoad interface {
	// trialGenerator is the generator of a trial on d: gen, or what runs in d's load
	// pods. The warnings say when that is not the generator the plan names; stop closes
	// what was opened.
	trialGenerator(ctx context.Context, plan *spec.Plan, d *platform.Deployment, gen generator.Generator) (generator.Generator, func(), []string, error)
}

// trialGenerator is the generator of one trial: gen, or, on a platform whose load runs
// in pods, what the platform runs there.
func trialGenerator(ctx context.Context, plan *spec.Plan, pf platform.Platform, d *platform.Deployment, gen generator.Generator) (generator.Generator, func(), []string, error) {
	if pl, ok := pf.(podLoad); ok {
		return pl.trialGenerator(ctx, plan, d, gen)
	}
	return gen, func() {}, nil, nil
}

// trialGenerator is, with workload.agents, the arm's agent pods, each reached through
// its own port-forward (or gen, the agents of agent_urls); without, the in-cluster fortio
// server driven through its REST API.
func (k kubePlatform) trialGenerator(ctx context.Context, plan *spec.Plan, d *platform.Deployment, gen generator.Generator) (generator.Generator, func(), []string, error) {
	switch {
	case k.agents != nil:
		addrs, stop, err := k.LoadEndpoints(ctx, d)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("reach the load agents: %w", err)
		}
		if len(addrs) != plan.Workload.Agents {
			stop()
			return nil, nil, nil, fmt.Errorf("reach the load agents: %d agent pods are ready, workload.agents is %d", len(addrs), plan.Workload.Agents)
		}
		return generator.Distributed{Agents: addrs, Credentials: k.agents.creds, RunID: k.agents.runID}, stop, nil, nil
	case plan.Workload.Agents > 0:
		return gen, func() {}, nil, nil
	}
	base, stop, err := k.LoadEndpoint(ctx, d)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("reach the load pod: %w", err)
	}
	where := ""
	for _, c := range d.Components {
		if c.Role == platform.RoleLoadGenerator {
			where = fmt.Sprintf("pod %s in namespace %s, node %s", c.Pod, c.Namespace, c.Node)
			break
		}
	}
	var warnings []string
	if plan.Workload.LoadGenerator != spec.GeneratorFortio {
		warnings = append(warnings, fmt.Sprintf("load_generator %s runs in the cluster as smp agent pods (set workload.agents); "+
			"without them fortio's server in the load pod ran the load", plan.Workload.LoadGenerator))
	}
	return generator.FortioREST{BaseURL: base, Where: where}, stop, warnings, nil
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
		return nil, fmt.Errorf("deploy %s: the arm has no endpoint_urls", arm.Name)
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
