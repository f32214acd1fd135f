package engine

import (
	"time"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/result"
)

// Phase names a part of the run.
type Phase int

const (
	// Warmup is the phase before measurement; its numbers are kept apart.
	Warmup Phase = iota
	// Measure is the measured phase.
	Measure
)

func (p Phase) String() string {
	if p == Warmup {
		return "warmup"
	}
	return "measure"
}

// Error classes, the keys of PhaseResult.Errors.
const (
	ClassRefused  = "refused"  // connection refused (nothing listening)
	ClassReset    = "reset"    // connection reset by peer (RST), broken pipe
	ClassClosed   = "closed"   // EOF or close in the middle of a response
	ClassTimeout  = "timeout"  // no complete response within Timeout
	ClassTLS      = "tls"      // handshake or certificate failure
	ClassProtocol = "protocol" // malformed response, HTTP/2 or gRPC protocol error
	ClassDNS      = "dns"      // name resolution failed
	ClassOverflow = "overflow" // slot skipped by the overflow rule (see doc.go)
	ClassHTTP     = "http"     // a response with a 4xx or 5xx status
	ClassGRPC     = "grpc"     // a gRPC status other than OK
	ClassOther    = "other"
)

// PhaseResult holds what one phase measured. Histograms record
// nanosecond durations (see internal/hist for range and precision).
type PhaseResult struct {
	Start, End time.Time     // UTC wall clock of the phase's scheduled bounds
	Duration   time.Duration // End − Start (shorter when cancelled)

	// Latency is done − intended for every request that succeeded (HTTP
	// 1xx–3xx, gRPC OK, a matching TCP echo): the coordinated-omission-correct
	// view. Its count is Succeeded.
	Latency *hist.Histogram
	// Service is done − actual for the same requests: the uncorrected view.
	Service *hist.Histogram
	// StartLag is actual − intended for every request sent.
	StartLag *hist.Histogram
	// ReadyLag is the StartLag of the requests whose worker was free when
	// they were due: how late the engine itself (its timers, its scheduler,
	// the machine's) started a request it was ready for. The other requests
	// also waited for their connection's previous response. ReadyLagTotal and
	// BusyLagTotal add up the start lag of each kind. Empty in closed loop.
	ReadyLag                    *hist.Histogram
	ReadyLagTotal, BusyLagTotal time.Duration
	// ErrorLatency is done − intended for every request that did not
	// succeed: transport errors and non-success statuses. Its count is Failed.
	ErrorLatency *hist.Histogram

	// Counts are the phase's requests: Requests sent (overflowed slots are not sent),
	// Succeeded (HTTP 1xx–3xx, gRPC OK or a matching TCP echo), Failed (Requests −
	// Succeeded), and Overflow (slots skipped by the overflow rule; also in
	// Errors["overflow"]). Connections are counted per run (Result.Connections), not
	// per phase: ConnectionsOpened stays 0 here.
	result.Counts

	BytesSent     int64 // request bytes written (HTTP/1.1: on the wire; h2/gRPC: bodies)
	BytesReceived int64 // response bytes read (HTTP/1.1: on the wire; h2/gRPC: bodies)

	Status map[string]int64 // "200", "503", "grpc:OK", "grpc:UNAVAILABLE", "tcp:OK"
	Errors map[string]int64 // by class, see the Class constants; they add up to Failed + Overflow
	// ErrorExamples holds, for each class of transport error, the message of one
	// request that failed so ("x509: certificate signed by unknown authority").
	ErrorExamples map[string]string

	// With keep-alive off (HTTP/1.1, TCP), every request opens its own connection and
	// these hold its phases; nil otherwise. Connect is dial start → TCP
	// connected, TLSHandshake TCP connected → handshake done (no samples over
	// plaintext), FirstByte request written → first response byte. Each phase
	// that completed is recorded, whether or not the request then succeeded.
	Connect, TLSHandshake, FirstByte *hist.Histogram
	// Mix counts the requests sent per entry of Config.Requests; nil without a mix.
	Mix []int64
}

// Result is what Run measured. It is complete even when the run was
// cancelled (Cancelled is then true and the measured phase is shorter).
type Result struct {
	Config Config // the effective configuration (defaults applied)

	Warmup  PhaseResult // zero Requests when Config.Warmup is 0
	Measure PhaseResult

	ClosedLoop    bool
	RequestedRate float64 // measured phase: scheduled slots / duration (0 in closed loop)
	AchievedRate  float64 // measured phase: requests sent / duration
	// RateHeld is false when the schedule was not honoured: slots overflowed,
	// or the start-lag p99 exceeded Config.MaxStartLag. RateReason says why
	// (and, when held, what was checked).
	RateHeld   bool
	RateReason string
	// LateCause says why requests left late when the start-lag p99 exceeded
	// Config.MaxStartLag (see lateCause); LateNone otherwise.
	LateCause LateCause
	// Generator is what the engine cost its own process in the measured phase.
	Generator GeneratorStats

	Cancelled   bool
	Connections int64 // connections opened (including reconnects)
	Reconnects  int64 // keep-alive connections found dead and replaced
	Workers     int   // connections × streams

	SeriesInterval time.Duration // may be a multiple of Config.SeriesInterval for long runs
	Series         []Point

	// Schedule describes a seeded open-loop schedule (Poisson, Uniform,
	// RealWorld, or any with a request mix) so that it can be recognised and
	// replayed; nil otherwise.
	Schedule *ScheduleInfo
}

// LateCause names why requests left later than their intended time.
type LateCause string

const (
	LateNone        LateCause = ""
	LateEngine      LateCause = "engine"      // the engine was late for requests it was ready for, or its CPU was saturated
	LateMachine     LateCause = "machine"     // other processes kept the engine's threads off the CPU
	LateConnections LateCause = "connections" // every connection was busy: the target (or too few connections)
)

// Point is one interval of the time series.
type Point struct {
	Offset   time.Duration // interval start, from the start of the measured phase (negative in warm-up)
	Phase    Phase
	Requests int64   // completed in the interval
	Errors   int64   // failed in the interval
	Rate     float64 // completed per second
	P50, P99 time.Duration
	InFlight int64 // sampled at the end of the interval
}

// Progress is passed to Config.Progress once per SeriesInterval.
type Progress struct {
	Phase         Phase
	Elapsed       time.Duration // since the phase started
	PhaseDuration time.Duration
	Requests      int64   // completed in this phase so far
	Errors        int64   // failed in this phase so far
	Rate          float64 // completed per second in the last interval
	RequestedRate float64 // the schedule's rate now; 0 in closed loop
	InFlight      int64
	P50, P99      time.Duration // latency so far in this phase (from interval data)
}
