package agent

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/engine"
)

// The controller and its agents trust each other only after mutual TLS, but either side
// may run another version, crash mid-line or be compromised: what one reads from the
// other must never make it panic, and an agent's report must not become numbers that
// contradict themselves in a result. Seed corpora are in testdata/fuzz/<target>;
// scripts/fuzz runs every target for a few seconds in CI.
//
//	go test ./internal/agent -run '^$' -fuzz '^FuzzAgentEvents$' -fuzztime 5m

// FuzzAgentEvents reads an agent's reply to a start request (JSON events, one per line)
// as the controller does, decodes its result, and merges it with itself as a second
// agent's: a result the controller accepts has counts that add up and histograms that
// hold them.
func FuzzAgentEvents(f *testing.F) {
	cfg := engine.Config{Target: "http://127.0.0.1:8080/", Rate: 100, Connections: 2, Duration: time.Second}
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		for {
			var e Event
			if err := dec.Decode(&e); err != nil {
				return
			}
			if e.Progress != nil {
				l := newLiveProgress(2, cfg)
				l.update(0, e.Progress.engine())
				l.update(1, e.Progress.engine())
				_, _ = l.sum()
			}
			if e.Type != EventResult || e.Result == nil {
				continue
			}
			res, err := e.Result.result(cfg, time.Second)
			if err != nil {
				continue
			}
			checkResult(t, "agent result", res)
			parts := []*AgentRun{{Index: 0, Share: 0.5, Result: res}, {Index: 1, Share: 0.5, Result: res}}
			checkResult(t, "merged result", merge(cfg, parts))
		}
	})
}

// checkResult fails t when res contradicts itself.
func checkResult(t *testing.T, what string, res *engine.Result) {
	t.Helper()
	for name, p := range map[string]*engine.PhaseResult{"warmup": &res.Warmup, "measure": &res.Measure} {
		switch {
		case p.Requests < 0 || p.Succeeded < 0 || p.Failed < 0 || p.Overflow < 0 || p.BytesSent < 0 || p.BytesReceived < 0:
			t.Fatalf("%s %s: negative counts %+v", what, name, p)
		case p.Succeeded+p.Failed != p.Requests:
			t.Fatalf("%s %s: succeeded %d + failed %d != requests %d", what, name, p.Succeeded, p.Failed, p.Requests)
		case p.Latency.Count() != p.Succeeded || p.ErrorLatency.Count() != p.Failed:
			t.Fatalf("%s %s: %d latencies for %d ok, %d error latencies for %d failed", what, name,
				p.Latency.Count(), p.Succeeded, p.ErrorLatency.Count(), p.Failed)
		case p.Duration < 0:
			t.Fatalf("%s %s: duration %v", what, name, p.Duration)
		}
		for k, v := range p.Errors {
			if v < 0 {
				t.Fatalf("%s %s: errors[%s] = %d", what, name, k, v)
			}
		}
		for k, v := range p.Status {
			if v < 0 {
				t.Fatalf("%s %s: status[%s] = %d", what, name, k, v)
			}
		}
	}
}

// FuzzAgentStart decodes a start request as the agent does and turns its load into an
// engine configuration; one that converts must convert back to the same load.
func FuzzAgentStart(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var req StartRequest
		if err := json.Unmarshal(data, &req); err != nil {
			return
		}
		cfg, err := req.Load.engineConfig()
		if err != nil || req.Load.TLS != nil {
			return // TLS material does not convert back (the agent holds it in memory)
		}
		back, err := loadOf(cfg)
		if err != nil {
			t.Fatalf("a configuration decoded from the wire does not encode: %v", err)
		}
		again, err := back.engineConfig()
		if err != nil {
			t.Fatalf("a load encoded from a decoded one does not decode: %v", err)
		}
		a, _ := json.Marshal(back)
		b, err := loadOf(again)
		if err != nil {
			t.Fatal(err)
		}
		if bb, _ := json.Marshal(b); !bytes.Equal(a, bb) {
			t.Fatalf("the load changed on a round trip:\n%s\n%s", a, bb)
		}
	})
}
