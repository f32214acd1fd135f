package experiment

import (
	"context"
	"path/filepath"

	"github.com/service-mesh-performance/smp/internal/agent"
	"github.com/service-mesh-performance/smp/internal/generator"
	"github.com/service-mesh-performance/smp/spec"
)

// agentGenerator is the generator of a plan with workload.agents: the agents listed in
// agent_urls, reached with the credentials in agent_certs; or, without agent_urls, agents
// started in this process on loopback (local platform) or as pods of each arm
// (kubernetes). stop ends what it started.
func agentGenerator(ctx context.Context, plan *spec.Plan, baseDir, runID string) (generator.Generator, func(), error) {
	w := plan.Workload
	if len(w.AgentURLs) > 0 {
		dir := w.AgentCerts
		if !filepath.IsAbs(dir) && baseDir != "" {
			dir = filepath.Join(baseDir, dir)
		}
		creds, err := agent.LoadCredentials(dir, agent.RoleController)
		if err != nil {
			return nil, nil, plan.Errorf("workload.agent_certs", "run `smp agent certs --dir DIR` and point agent_certs at DIR", "%v", err)
		}
		return generator.Distributed{Agents: w.AgentURLs, Credentials: creds, RunID: runID}, func() {}, nil
	}
	if plan.Environment.Platform == spec.PlatformKubernetes && w.App.Kind != spec.AppExternal {
		// The agents are pods of each arm's load namespace (newKube), reached once the arm
		// is deployed (trialGenerator). Until then this generator only names the load.
		return generator.Distributed{Agents: make([]string, w.Agents), RunID: runID}, func() {}, nil
	}
	l, err := agent.StartLocal(ctx, w.Agents, agent.LocalOptions{})
	if err != nil {
		return nil, nil, err
	}
	return generator.Distributed{Agents: l.Addresses, Credentials: l.Controller, RunID: runID, InProcess: true},
		func() { _ = l.Close() }, nil
}
