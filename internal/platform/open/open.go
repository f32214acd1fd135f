// Package open opens the platform a plan names: platform/external for an application
// that is already running, platform/local, or platform/kube with the load pods the plan
// asks for. It is the one place that knows every platform implementation and how a
// plan's workload maps onto one, so that the experiment sees only the platform
// contract (internal/platform) and platform/kube stays free of smp's agent protocol.
//
// Imports: internal/platform and its implementations, internal/agent (the credentials
// and command line of agent pods), internal/version (the image of smp's own pods), spec.
package open

import (
	"context"
	"fmt"

	"github.com/service-mesh-performance/smp/internal/agent"
	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/internal/platform/external"
	"github.com/service-mesh-performance/smp/internal/platform/kube"
	"github.com/service-mesh-performance/smp/internal/platform/local"
	"github.com/service-mesh-performance/smp/internal/version"
	"github.com/service-mesh-performance/smp/spec"
)

// Platform opens the platform of a plan (validated, with defaults) for the run runID.
// Nothing is deployed yet; Close releases what it holds.
func Platform(_ context.Context, plan *spec.Plan, runID string) (platform.Platform, error) {
	if plan.Workload.App.Kind == spec.AppExternal {
		return external.New(plan), nil
	}
	switch plan.Environment.Platform {
	case spec.PlatformLocal:
		return local.New(local.Options{Plan: plan, RunID: runID})
	case spec.PlatformKubernetes:
		lp, err := kubeLoadPod(plan.Workload, runID)
		if err != nil {
			return nil, err
		}
		// smp run's --kubeconfig and --context have overridden the plan's
		// environment.kubeconfig and context before it gets here.
		return kube.New(kube.Options{Plan: plan, RunID: runID, Version: version.Get().Version, LoadPod: lp})
	}
	return nil, plan.Errorf("environment.platform", "use platform: local or kubernetes, or an external app with endpoint_urls",
		"the %s platform is not available in this smp yet", plan.Environment.Platform)
}

// agentCertsDir is where an agent pod finds its credentials (the Secret's mount).
const agentCertsDir = "/etc/smp/agent"

// kubeLoadPod is what runs in each arm's load namespace: fortio's server, driven through
// its REST API; or, with workload.agents and no agent_urls, that many smp agents of
// smp's image, holding certificates of a CA made for this run, whose controller side
// each deployment's Load hands back. With agent_urls the agents named there send the
// load, and the fortio pod is deployed but not driven.
func kubeLoadPod(w spec.Workload, runID string) (kube.LoadPod, error) {
	switch {
	case w.Agents == 0:
		return kube.DefaultLoadPod(), nil
	case len(w.AgentURLs) > 0:
		lp := kube.DefaultLoadPod()
		lp.Kind = platform.LoadNone
		return lp, nil
	}
	b, err := agent.NewBundle(runID, false)
	if err != nil {
		return kube.LoadPod{}, fmt.Errorf("credentials for the agent pods: %w", err)
	}
	ctrl := b.ControllerFiles()
	return kube.LoadPod{Args: agent.AgentArgs(agent.DefaultPort, agentCertsDir), Port: agent.DefaultPort,
		Replicas: int32(w.Agents), Files: b.AgentFiles(), FilesDir: agentCertsDir, Kind: platform.LoadAgents,
		Credentials: &platform.AgentCredentials{CA: ctrl[agent.CAFile], Cert: ctrl[agent.CertFile(agent.RoleController)],
			Key: ctrl[agent.KeyFile(agent.RoleController)], Token: b.Token}}, nil
}

// Inventory opens the live cluster that kubeconfig and kubeContext name (an explicit
// kubeconfig, else $KUBECONFIG, else ~/.kube/config, else in cluster; the context named,
// else the current one) for reading, and says where it is, for messages: the API server's
// address and the context. Nothing is asked of the cluster yet.
func Inventory(kubeconfig, kubeContext string) (inv platform.Inventory, where string, err error) {
	k, err := kube.NewInventory(kube.Access{Kubeconfig: kubeconfig, Context: kubeContext})
	if err != nil {
		return nil, "", err
	}
	where = k.Host()
	if k.Context() != "" {
		where += " (context " + k.Context() + ")"
	}
	return k, where, nil
}

// Cleanup deletes what smp runs left on the cluster that kubeconfig and kubeContext name
// (as Inventory finds it), found by label: everything smp created, or only what run (a
// run id or its key) did when it is not empty. It waits for the namespaces to go,
// bounded by ctx.
func Cleanup(ctx context.Context, kubeconfig, kubeContext, run string) (platform.Removed, error) {
	return kube.Cleanup(ctx, kube.Access{Kubeconfig: kubeconfig, Context: kubeContext}, run)
}
