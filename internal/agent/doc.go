// Package agent is distributed load: `smp agent` (Server) runs smp's engine for a
// controller (Controller, used by the distributed generator in internal/generator),
// and the controller merges what the agents measured into one engine.Result, exactly.
// docs/agents.md is the user-facing account.
//
// # Protocol
//
// JSON over HTTP/2 over mutual TLS, three endpoints (ProtocolVersion 1):
//
//   - POST /v1/clock: one NTP-style ping (ClockRequest → ClockReply). The controller
//     pings each agent ClockSamples times and keeps the sample with the shortest round
//     trip (BestSample): offset = ((t2−t1) + (t3−t4)) / 2, known to ± RTT/2.
//   - POST /v1/reach: a ReachRequest (the agent's share) → ReachReply. With CheckOnly
//     the agent checks the load and its allow-list and sends nothing; otherwise it
//     sends one request of the load with its engine and says how it went. Before a run
//     the controller has every agent check, then each repeat the request until one
//     succeeds (reach.go says why: a Service routes some time after its pods are
//     ready), for at most ReachTimeout. An agent that answers 404 predates it and is
//     not checked.
//   - POST /v1/run: a StartRequest (the agent's share of the load and a start time on
//     the agent's clock: the common start plus its offset), answered by a stream of
//     Events, one JSON object per line: accepted, then progress (once per series
//     interval) and heartbeats (at least every second), then result (the engine result
//     with every histogram in HdrHistogram's V2 encoding) or error. The controller
//     keeps the request body open for the whole run; closing it tells the agent to stop
//     and send what it has (Ctrl-C). If the controller disappears, the request's
//     context ends and so does the load: an agent never outlives its controller.
//
// An agent runs one load at a time (409 when busy) and refuses a start more than a
// minute ahead (it could only come from a broken clock estimate).
//
// # Shares, schedules and the common start
//
// Shares splits an engine.Config n ways: rate/n, connections/n, the same streams. The
// even schedules get engine Arrival.Phase (i+½)/n − ½, so the agents' slots together
// are exactly the slots one generator at the full rate would have used (constant,
// uniform, ramp and step alike; engine/startphase_test.go checks it); Poisson agents
// get independent seeds derived from the plan's seed, and a union of independent
// Poisson processes is the Poisson process at the summed rate. Every agent opens its
// connections, then starts its clock at the common instant (engine.Config.StartAt),
// set Lead + 2 × the slowest round trip ahead. Every agent must accept before that
// instant, or the run is called off and no load is sent.
//
// # Merging
//
// HDR histograms with the same range and precision merge by adding bucket counts, so
// the merged histogram is the histogram of the union of all agents' samples: the p99.9
// of four merged agents is the p99.9 one generator would have recorded for the same
// requests, not an average of four p99.9s. The encoding on the wire is lossless
// (clamped counts travel beside it). Counters and status maps add up; phase bounds and
// the time series are moved to the controller's clock by the agents' offsets. Only the
// time series' per-interval P50/P99 are not exact (the largest of the agents', an upper
// bound; the phase histograms are exact).
//
// # Lost agents
//
// An agent whose stream breaks (process killed, connection reset) or that stays silent
// for LostAfter (HTTP/2 pings also close a dead connection within pingAfter +
// pingTimeout) is lost: recorded with the time and its share, while the others run to
// the end of the schedule. Agents send their histograms at the end, so a lost agent's
// samples are missing from the merged result, and the trial says so.
//
// # Security
//
// An agent is a load generator: it must take orders only from its controller. Both
// sides hold certificates from one run CA (Bundle: internal/pki, SPIFFE ids
// spiffe://smp.local/run/<run>/sa/smp-agent and …/sa/smp-controller); the agent
// requires a client certificate that chains to the CA and names the controller role
// of the same run (another agent's certificate is refused), and the controller checks
// the agent's likewise (by SPIFFE id, not host name, so pod IPs and port-forwards
// work). A refused handshake is logged with the peer's address and the reason. An
// optional shared token (Authorization: Bearer) adds a second factor (401 and a log
// line without it). An agent sends load only to the target in a start request, and
// with an AllowList only to targets on it (403 and a log line otherwise).
//
// # For platforms (internal/platform/kube, through internal/experiment)
//
// To run agents as pods (what experiment does for workload.agents on Kubernetes):
// NewBundle(runID, false); put Bundle.AgentFiles() (file name
// → PEM bytes) in a Secret, mount it at a folder D, and run the project's image with
// AgentArgs(DefaultPort, D) as the container's args (`smp agent --listen :7070
// --certs D`); a tcpSocket readiness probe on the port works (an HTTP probe cannot
// present a client certificate). Hand the controller an address per pod that it can
// reach (pod IP in-cluster, a port-forward on localhost outside); URL turns host:port
// into the https:// form. The controller side is Controller{Agents, Credentials:
// Bundle.ControllerCredentials()}; the controller's key never leaves its process.
//
// Imports: internal/engine, internal/hist, internal/pki, result (Counts, which the
// merge adds up with their one Add) and the standard library.
// Nothing here prints; Server and Controller log through an injected *slog.Logger.
package agent
