// Package engine is smp's load generator: it schedules requests at a total
// rate (or as fast as possible), sends them over HTTP/1.1, HTTP/2 or gRPC,
// and measures each one against the time it was supposed to be sent.
//
// It owns: the arrival schedule, the workers and their pacing, the protocol
// clients, per-worker histograms and counters, the per-interval time series
// and the Progress callback. It does not own the user-facing plan (package
// spec is converted into the small Config here by its caller), the result
// document (package result), or any printing: the engine returns values and
// calls Config.Progress; internal/term renders them.
//
// Imports: internal/hist, internal/grpcecho, the standard library,
// golang.org/x/net/http2 and google.golang.org/grpc (+ protobuf). Nothing
// else from this module; in particular never spec, result or term.
//
// # Measurement
//
// Every request has three instants: intended (from the schedule), actual
// (just before the request is handed to the connection) and done (the last
// byte of the response, or the error). For successful requests the engine
// keeps Latency = done − intended (coordinated-omission correct: a request
// that waited for a busy connection, a late timer or a stalled server is
// charged for the wait) and Service = done − actual (what the server and
// network took, the "uncorrected" view); for every request, StartLag =
// actual − intended (how late the engine itself was). ErrorLatency holds
// done − intended of requests that did not succeed (transport errors,
// 4xx/5xx statuses, gRPC codes other than OK), so fast failures never make
// a target look fast. In closed loop (Rate 0) there is no schedule, so intended
// equals actual and StartLag is all zeros.
//
// # Schedule and claim model
//
// A schedule maps slot k to an intended offset from the start of the run.
// It is split in two orthogonal parts: a count-space process (even spacing
// s_k = k+½, uniform jitter s_k = k+½+J·(u_k−½), or Poisson with Exp(1)
// gaps) and a rate shape (constant, linear ramp, steps; warm-up runs at the
// shape's initial rate) whose cumulative count N(t) is inverted to turn s_k
// into a time. Workers (one per connection × stream) claim the next slot
// with one atomic operation (an add for even/uniform, a compare-and-swap on
// the next count-space point for Poisson, seeded so it is reproducible), then
// wait for its time with one reused timer per worker and an optional spin.
// Because slots are claimed from one global sequence, constant arrival is
// evenly spaced across all connections (no synchronised bursts), and a slot
// is never tied to a particular connection: whichever worker is free first
// takes it, and if none is free the slot simply waits as an unclaimed counter
// value, charged from its intended time. There is no queue and no goroutine
// per request, so memory does not depend on how far behind the run is.
//
// # Pacing
//
// Deadlines are absolute offsets on the monotonic clock from the start of
// the run; sleeps are never summed. A wait longer than 2ms sleeps on the
// worker's one reused time.Timer until 2ms before the deadline; the rest is
// slept on the worker's timerfd, which Go's netpoller wakes with kernel
// timer precision (a runtime timer can oversleep by up to 1ms when the
// process is idle: the netpoller rounds its sleep up to whole
// milliseconds). Config.Spin busy-waits the last few µs if asked. Measured
// on the 2-core bench machine (bench/compare.sh): start-lag p50 12–18µs at
// 22k/s; with runtime timers alone the p99 was 11–18ms there.
//
// # Overflow rule
//
// A claimed slot is not sent but counted as overflow (error class
// "overflow", Counts.Overflow, and RateHeld=false) when, at claim time,
// (a) it is already later than Timeout (it could only have produced a
// timeout), or (b) MaxInflight > 0 and more than MaxInflight slots are
// already due after it. Rule (a) bounds the backlog to about Rate×Timeout
// slots; rule (b) lets the user bound the catch-up burst a recovered server
// receives after a stall. Overflowed slots have no latency sample, which is
// why any overflow makes the run report that it could not hold its rate.
//
// # Phases and termination
//
// Connections are opened before the warm-up starts. A slot belongs to the
// phase its intended time falls in (closed loop: the actual time). No slot
// intended at or after the end of the measurement is claimed, and nothing
// is sent after end+Timeout; at that point (or when ctx is cancelled) open
// connections are closed so no request outlives the run. Run therefore
// returns within Warmup+Duration+Timeout plus a few milliseconds.
//
// # Memory
//
// Each worker owns its histograms (latency, service, start lag and error
// latency, per phase, plus two interval-latency histograms that are swapped
// with the collector through a mailbox once per SeriesInterval). They are
// allocated before the run and merged after the workers stop. The time
// series is bounded to maxSeriesPoints by merging neighbouring points.
package engine
