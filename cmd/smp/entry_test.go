package main

import (
	"strings"
	"testing"

	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// TestRunGatewayEntry runs examples/gateway.yaml's plan, shortened: baseline and builtin
// both behind a builtin gateway, the overhead table with the gateway's own row, and the
// gateway measured on both arms.
func TestRunGatewayEntry(t *testing.T) {
	bin := buildSMP(t)
	plan := writePlan(t, `
name: gateway
repetitions: 1
arms: [baseline, {name: builtin, mesh: builtin, mtls: strict}]
workload:
  entry: {via: gateway, proxy: builtin}
  app: {services: 3}
  rate: 1000        # the gateway's CPU over 2 s must span several of procfs's 10 ms ticks
  connections: 8
  duration: 2s
  warmup: 1s
metrics:
  interval: 250ms   # several resource samples inside a short window
`)
	r, doc := runToResult(t, bin, plan)
	if doc.Status != result.StatusComplete || len(doc.Trials) != 2 || doc.Plan.Workload.Internal == nil || *doc.Plan.Workload.Internal {
		t.Fatalf("status %s, %d trials, internal %v: %v", doc.Status, len(doc.Trials), doc.Plan.Workload.Internal, doc.Errors)
	}
	for _, tr := range doc.Trials {
		roles := map[result.Role]int{}
		for _, res := range tr.Resources {
			roles[res.Role]++
			if res.Role == result.RoleGateway && res.CPUMcoresAvg <= 0 {
				t.Errorf("trial %s: the gateway measured %+v", tr.ID, res)
			}
		}
		wantProxies := map[string]int{"baseline": 0, "builtin": 3}[tr.Arm] // no client-proxy behind a gateway
		if roles[result.RoleGateway] != 1 || roles[result.RoleProxy] != wantProxies || tr.Counts.Failed != 0 {
			t.Errorf("trial %s: roles %v, %d failed; want 1 gateway and %d proxies", tr.ID, roles, tr.Counts.Failed, wantProxies)
		}
	}
	if doc.Analysis == nil || len(doc.Analysis.Overhead) != 1 {
		t.Fatalf("analysis: %+v", doc.Analysis)
	}
	for _, want := range []string{"baseline (baseline)", "Δ builtin", "latency p99", "CPU per proxy", "CPU of the gateway"} {
		if !strings.Contains(r.stdout.String(), want) {
			t.Errorf("the overhead table lacks %q:\n%s", want, r.stdout.String())
		}
	}
}

// TestRunTCP runs examples/tcp.yaml's plan, shortened: protocol tcp over baseline, the
// builtin sidecar and HAProxy with strict mTLS, every echo accounted for.
func TestRunTCP(t *testing.T) {
	requireBinaries(t, "haproxy")
	bin := buildSMP(t)
	plan := writePlan(t, `
name: tcp
repetitions: 1
arms: [baseline, {name: builtin, mesh: builtin, mtls: strict}, {name: haproxy, mesh: haproxy, mtls: strict}]
workload:
  protocol: tcp
  request_size: 1KiB
  app: {services: 2}
  rate: 150
  connections: 8
  duration: 2s
  warmup: 1s
metrics:
  interval: 250ms
`)
	r, doc := runToResult(t, bin, plan)
	if doc.Status != result.StatusComplete || len(doc.Trials) != 3 {
		t.Fatalf("status %s, %d trials: %v", doc.Status, len(doc.Trials), doc.Errors)
	}
	for _, tr := range doc.Trials {
		c := tr.Counts
		if c.Requests < 250 || c.Failed != 0 || tr.StatusCodes["tcp:OK"] != c.Requests || tr.BytesReceived != 1024*c.Requests {
			t.Errorf("trial %s: counts %+v status %v bytes received %d", tr.ID, c, tr.StatusCodes, tr.BytesReceived)
		}
		wantMTLS := spec.MTLSStrict
		if tr.Arm == "baseline" {
			wantMTLS = spec.MTLSOff
		}
		if tr.Mesh.MTLS != wantMTLS {
			t.Errorf("trial %s: mtls %s, want %s", tr.ID, tr.Mesh.MTLS, wantMTLS)
		}
	}
	for _, want := range []string{"Δ builtin", "Δ haproxy", "CPU per proxy"} {
		if !strings.Contains(r.stdout.String(), want) {
			t.Errorf("the overhead table lacks %q:\n%s", want, r.stdout.String())
		}
	}
}
