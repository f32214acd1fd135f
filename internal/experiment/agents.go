package experiment

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/service-mesh-performance/smp/internal/agent"
	"github.com/service-mesh-performance/smp/internal/generator"
	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/spec"
)

// runGenerator is the run's own load generator, which sends the load of every deployment
// that brings none (platform.LoadNone): the plan's load_generator or, with
// workload.agents, the agents listed in agent_urls, reached with the credentials in
// agent_certs, or else agents started in this process on loopback — unless the platform
// deploys the agents itself (load: platform.LoadAgents). It is checked before anything
// is deployed: a missing binary or a workload the generator cannot run is a plan error,
// not a failed trial. stop ends what it started.
func runGenerator(ctx context.Context, plan *spec.Plan, baseDir, runID string, load platform.LoadKind, log *slog.Logger) (generator.Generator, func(), error) {
	gen, err := generator.New(plan.Workload.LoadGenerator)
	if err != nil {
		return nil, nil, plan.Errorf("workload.load_generator", "use load_generator: builtin", "%v", err)
	}
	if c, ok := gen.(generator.Checker); ok {
		if err := c.Check(ctx, plan.Workload); err != nil {
			return nil, nil, plan.Errorf("workload.load_generator", generator.Fix(err), "%v", err)
		}
	}
	w := plan.Workload
	switch {
	case w.Agents == 0 || load == platform.LoadAgents:
		// No agents, or the platform deploys them beside the application.
		return gen, func() {}, nil
	case len(w.AgentURLs) > 0:
		dir := w.AgentCerts
		if !filepath.IsAbs(dir) && baseDir != "" {
			dir = filepath.Join(baseDir, dir)
		}
		creds, err := agent.LoadCredentials(dir, agent.RoleController)
		if err != nil {
			return nil, nil, plan.Errorf("workload.agent_certs", "run `smp agent certs --dir DIR` and point agent_certs at DIR", "%v", err)
		}
		return generator.Distributed{Agents: w.AgentURLs, Credentials: creds, RunID: runID, Logger: log, ReachTimeout: w.ReachTimeout.D()},
			func() {}, nil
	}
	l, err := agent.StartLocal(ctx, w.Agents, agent.LocalOptions{})
	if err != nil {
		return nil, nil, err
	}
	return generator.Distributed{Agents: l.Addresses, Credentials: l.Controller, RunID: runID, InProcess: true, Logger: log,
			ReachTimeout: w.ReachTimeout.D()},
		func() { _ = l.Close() }, nil
}

// agentLog shows on status what the agents' controller warns of: an agent that cannot
// reach the target yet (and, later, that it did), or that was lost.
func agentLog(status io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(status, &slog.HandlerOptions{Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{} // the status lines around it carry no time either
			}
			return a
		}}))
}

// trialGenerator chooses the load generator of a trial, and is the only place that
// does: what the deployment brings (load: fortio's REST API or smp agents beside the
// application, reached from here), else the run's own generator. The warnings say when
// that is not the generator the plan names. Before the first deploy (a Load with only
// its Kind) it names the generator the trials will have: agents not yet deployed are
// counted from the plan.
func trialGenerator(plan *spec.Plan, run generator.Generator, load platform.Load, runID string, log *slog.Logger) (generator.Generator, []string, error) {
	switch load.Kind {
	case platform.LoadAgents:
		gen := generator.Distributed{Agents: load.Agents, RunID: runID, Logger: log, ReachTimeout: plan.Workload.ReachTimeout.D()}
		if len(gen.Agents) == 0 {
			gen.Agents = make([]string, plan.Workload.Agents)
		}
		if c := load.Credentials; c != nil {
			creds, err := agent.ParseCredentials(agent.RoleController, c.CA, c.Cert, c.Key, c.Token)
			if err != nil {
				return nil, nil, fmt.Errorf("the load agents' credentials: %w", err)
			}
			gen.Credentials = creds
		}
		return gen, nil, nil
	case platform.LoadFortioREST:
		var warnings []string
		if g := plan.Workload.LoadGenerator; g != spec.GeneratorFortio {
			warnings = append(warnings, fmt.Sprintf("load_generator %s runs in the cluster as smp agent pods (set workload.agents); "+
				"without them fortio's server in the load pod ran the load", g))
		}
		return generator.FortioREST{BaseURL: load.FortioURL, Where: load.Where}, warnings, nil
	}
	return run, nil, nil
}
