package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/service-mesh-performance/smp/internal/engine"
)

// Before a run, the controller has every agent send one request of its load until one
// succeeds (Controller.ReachTimeout). A Service is routable some time after its pods
// are ready: kube-proxy, or a mesh's control plane, programs the node seconds later,
// more on a loaded one. Load started before that meets dropped SYNs whose
// retransmissions keep the un-NATed conntrack entry of the first one until the dial's
// timeout; the agents' connections, opened before their clocks start, then start the
// clock late, and a whole trial can be lost to a lag the measurement is not about.

const (
	// defaultReachTimeout bounds the wait for every agent to reach the target.
	defaultReachTimeout = 2 * time.Minute
	// reachRetry spaces one agent's attempts after a failure, which can come at once (a
	// refused connection): the agent must not hammer a target that is coming up.
	reachRetry = 250 * time.Millisecond
)

// ReachCheck is how an agent came to reach the target before the run.
type ReachCheck struct {
	// Attempts is how many requests the agent sent until one succeeded; the target
	// served the last, and may have served any of the others.
	Attempts int
	// After is how long from the first attempt to the end of the one that succeeded.
	After time.Duration
	// FirstError is what the first failed attempt met; empty when the first succeeded.
	FirstError string
	// Unsupported is set when the agent predates PathReach: it was not checked.
	Unsupported bool
}

// reach sends one request of a load to its target (ReachRequest) and says how it went.
func (s *Server) reach(w http.ResponseWriter, r *http.Request) {
	var req ReachRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxStartRequest)).Decode(&req); err != nil {
		http.Error(w, "bad reach request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if req.Protocol != ProtocolVersion {
		http.Error(w, fmt.Sprintf("protocol %d: this agent speaks %d", req.Protocol, ProtocolVersion), http.StatusBadRequest)
		return
	}
	cfg, ok := s.admitLoad(w, req.Load, r.RemoteAddr, "reach check")
	if !ok {
		return
	}
	var reply ReachReply
	if !req.CheckOnly {
		var err error
		if reply, err = sendOne(r.Context(), cfg); err != nil {
			http.Error(w, "reach check: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(reply)
}

// sendOne sends one request of cfg's load with the engine that runs the load: a
// schedule of one slot, at its start, on one connection opened first, within the load's
// timeout. Nothing else of cfg's schedule is kept.
func sendOne(ctx context.Context, cfg engine.Config) (ReachReply, error) {
	const rate = 1000
	cfg.Rate, cfg.Arrival = rate, engine.Arrival{Seed: cfg.Arrival.Seed}
	cfg.Duration, cfg.Warmup = time.Second/rate, 0
	cfg.Connections, cfg.Streams, cfg.MaxInflight, cfg.Churn = 1, 1, 0, 0
	cfg.StartAt, cfg.Progress, cfg.Spin, cfg.SeriesInterval = time.Time{}, nil, -1, 0
	res, err := engine.Run(ctx, cfg)
	if err != nil {
		return ReachReply{}, err
	}
	m := res.Measure
	switch {
	case m.Succeeded > 0:
		return ReachReply{Succeeded: true}, nil
	case m.Requests == 0:
		return ReachReply{Error: "no request was sent"}, nil
	}
	return ReachReply{Error: describeFailure(m)}, nil
}

// describeFailure says what sendOne's request met when it failed: its status ("status
// 503", "status grpc:UNAVAILABLE"; any status of a failed phase of one request is not a
// success) or its transport error, with the class's example ("timeout: dial tcp …: i/o
// timeout").
func describeFailure(m engine.PhaseResult) string {
	var parts []string
	for _, st := range slices.Sorted(maps.Keys(m.Status)) {
		parts = append(parts, "status "+st)
	}
	for _, class := range slices.Sorted(maps.Keys(m.Errors)) {
		switch ex := m.ErrorExamples[class]; {
		case ex != "":
			parts = append(parts, class+": "+ex)
		case class != engine.ClassHTTP && class != engine.ClassGRPC: // those are the statuses above
			parts = append(parts, class)
		}
	}
	if len(parts) == 0 {
		return "failed"
	}
	return strings.Join(parts, "; ")
}

// awaitReach has every agent send one request of its share until one succeeds, all at
// once, and records how each got there (AgentRun.Reach). First every agent checks its
// share without sending anything, so that an agent refusing it (allow-list, bad load)
// calls the run off before any request reaches the target. It fails then, or when an
// agent is still failing after ReachTimeout, naming what its last attempt met; nothing
// of the run was started.
func (c *Controller) awaitReach(ctx context.Context, client *http.Client, runs []*AgentRun, log *slog.Logger) error {
	timeout := c.ReachTimeout
	if timeout <= 0 {
		timeout = defaultReachTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	bodies := make([][]byte, len(runs))
	if err := c.eachAgent(runs, func(i int, r *AgentRun) error {
		load, err := loadOf(r.Config)
		if err != nil {
			return fmt.Errorf("agent %s: %w", r.URL, err)
		}
		req := ReachRequest{Protocol: ProtocolVersion, RunID: c.RunID, Load: load, CheckOnly: true}
		check, err := json.Marshal(req)
		if err != nil {
			return fmt.Errorf("agent %s: encode reach request: %w", r.URL, err)
		}
		req.CheckOnly = false
		if bodies[i], err = json.Marshal(req); err != nil {
			return fmt.Errorf("agent %s: encode reach request: %w", r.URL, err)
		}
		_, unsupported, err := postReach(ctx, client, r.URL, c.Credentials.Token, check)
		if err != nil {
			return fmt.Errorf("agent %s: reach check: %w", r.URL, err)
		}
		r.Reach.Unsupported = unsupported
		return nil
	}); err != nil {
		return err
	}
	return c.eachAgent(runs, func(i int, r *AgentRun) error {
		if r.Reach.Unsupported {
			log.Warn("agent does not know the reach check (an older smp): not checked", "agent", r.URL)
			return nil
		}
		if err := c.reachOne(ctx, client, r, bodies[i], timeout, log); err != nil {
			return err
		}
		if r.Reach.Attempts > 1 {
			log.Warn("agent reached the target", "agent", r.URL, "target", r.Config.Target, "attempts", r.Reach.Attempts,
				"after", r.Reach.After.Round(time.Millisecond))
		}
		return nil
	})
}

// reachOne repeats one agent's attempts (see awaitReach) until one succeeds or ctx ends.
func (c *Controller) reachOne(ctx context.Context, client *http.Client, r *AgentRun, body []byte, timeout time.Duration, log *slog.Logger) error {
	first := time.Now()
	var last string
	for {
		reply, _, err := postReach(ctx, client, r.URL, c.Credentials.Token, body)
		switch {
		case err != nil && ctx.Err() == nil:
			return fmt.Errorf("agent %s: reach check: %w", r.URL, err)
		case err == nil:
			r.Reach.Attempts++
			if reply.Succeeded {
				r.Reach.After = time.Since(first)
				return nil
			}
			last = reply.Error
			if r.Reach.FirstError == "" {
				r.Reach.FirstError = last
				log.Warn("agent cannot reach the target yet; trying again until it does", "agent", r.URL,
					"target", r.Config.Target, "error", last, "for_at_most", timeout)
			}
		}
		t := time.NewTimer(reachRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			if errors.Is(ctx.Err(), context.Canceled) { // the run was stopped, not timed out
				return fmt.Errorf("agent %s: stopped while trying to reach %s (%d attempts): %w",
					r.URL, r.Config.Target, r.Reach.Attempts, ctx.Err())
			}
			if last == "" {
				last = ctx.Err().Error()
			}
			return fmt.Errorf("agent %s could not reach %s in %v (%d attempts; the last met %s)",
				r.URL, r.Config.Target, timeout, r.Reach.Attempts, last)
		case <-t.C:
		}
	}
}

// postReach sends one ReachRequest. unsupported says the agent does not know PathReach.
func postReach(ctx context.Context, client *http.Client, agentURL, token string, body []byte) (reply ReachReply, unsupported bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, agentURL+PathReach, bytes.NewReader(body))
	if err != nil {
		return reply, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply, false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return reply, true, nil
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return reply, false, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&reply); err != nil {
		return reply, false, fmt.Errorf("read reply: %w", err)
	}
	return reply, false, nil
}
