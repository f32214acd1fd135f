package generator

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/service-mesh-performance/smp/internal/agent"
	"github.com/service-mesh-performance/smp/result"
)

// Distributed is the builtin engine run by load agents (internal/agent, `smp agent`):
// the workload is split evenly over the agents, which start together and send their
// histograms back; they are merged exactly into the trial, which lists each agent in
// Trial.Agents. An agent lost during the run makes the trial partial, with the lost
// share stated in its warnings.
type Distributed struct {
	// Agents are the agents' addresses (host:port or https://host:port).
	Agents []string
	// Credentials are the controller's (agent.RoleController) and the run CA.
	Credentials agent.Credentials
	// RunID names the run in the agents' logs.
	RunID string
	// Logger receives the controller's per-agent events; nil discards.
	Logger *slog.Logger
	// InProcess says the agents run inside this process (agent.StartLocal): the trial
	// then warns that they added no capacity.
	InProcess bool
	// Lead overrides how far ahead the common start is set (see agent.Controller).
	Lead time.Duration
	// ReachTimeout bounds the agents' wait for the target before the load
	// (agent.Controller.ReachTimeout; workload.reach_timeout).
	ReachTimeout time.Duration
}

// Info implements Generator.
func (d Distributed) Info() result.GeneratorInfo {
	info := Builtin{}.Info()
	info.Caveats = append(info.Caveats, fmt.Sprintf("load spread over %d agents; the time series' per-interval p50 and p99 "+
		"are the largest of the agents' (an upper bound), the distributions are exact", len(d.Agents)))
	return info
}

// Run implements Generator. The error is for runs that never started (an agent that
// cannot be reached or refuses its share); then no load was sent.
func (d Distributed) Run(ctx context.Context, job Job) (result.Trial, error) {
	cfg, err := EngineConfig(job)
	if err != nil {
		return result.Trial{}, err
	}
	cfg.Progress = nil
	c := agent.Controller{Agents: d.Agents, Credentials: d.Credentials, RunID: d.RunID, Logger: d.Logger, Lead: d.Lead,
		ReachTimeout: d.ReachTimeout}
	c.Progress = job.Progress
	out, err := c.Run(ctx, cfg)
	if err != nil {
		return result.Trial{}, fmt.Errorf("distributed load: %w", err)
	}
	infos := agentInfos(out)
	if out.Result == nil {
		return result.Trial{Generator: d.Info(), Targets: job.Target.URLs, Status: result.StatusFailed,
			Error:     fmt.Sprintf("none of the %d agents completed its share", len(d.Agents)),
			StartTime: out.MeasureStart.UTC(), EndTime: out.MeasureStart.Add(out.Duration).UTC(),
			Agents: infos, Warnings: out.Warnings()}, nil
	}
	t, err := TrialOf(out.Result, d.Info(), job)
	if err != nil {
		return result.Trial{}, err
	}
	t.Agents = infos
	if w := out.Warnings(); len(w) > 0 {
		t.Status = result.StatusPartial
		t.Warnings = append(t.Warnings, w...)
	}
	if d.InProcess {
		t.Warnings = append(t.Warnings, fmt.Sprintf("the %d agents ran inside smp on this machine (no agent_urls on the local "+
			"platform): they exercise distributed load but add no capacity", len(d.Agents)))
	}
	return t, nil
}

func agentInfos(out *agent.Outcome) []result.AgentInfo {
	infos := make([]result.AgentInfo, len(out.Agents))
	for i, a := range out.Agents {
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		info := result.AgentInfo{Address: a.URL, Index: a.Index, Share: a.Share, RequestedRateRPS: a.Config.Rate,
			Connections: a.Config.Connections, ClockOffsetMS: ms(a.Clock.Offset), RTTMS: ms(a.Clock.RTT),
			StartLateMS: ms(a.StartLate), Status: result.AgentStatus(a.State), Requests: a.Requests,
			ReachAttempts: a.Reach.Attempts, ReachedAfterS: a.Reach.After.Seconds()}
		if a.State == agent.StateLost {
			s := a.LostAt.Seconds()
			info.LostAtS = &s
		}
		if a.Err != nil {
			info.Error = a.Err.Error()
		}
		infos[i] = info
	}
	return infos
}
