// Package engine is smp's load generator: it schedules requests at a total
// rate (or as fast as possible), sends them over HTTP/1.1, HTTP/2, gRPC or
// TCP (an echo), and measures each one against the time it was supposed to
// be sent.
//
// It owns: the arrival schedule, the workers and their pacing, the protocol
// clients, per-worker histograms and counters, the per-interval time series
// and the Progress callback. It does not own the user-facing plan (package
// spec is converted into the small Config here by its caller), the result
// document (package result), or any printing: the engine returns values and
// calls Config.Progress; internal/term renders them.
//
// Imports: internal/hist, internal/rawio (raw-syscall reads and writes for
// the HTTP/1.1 and HTTP/2 clients), result for Counts only (the counts every layer
// shares, merged by one Add from a worker's phase to an arm's trials), the
// standard library and golang.org/x/net/http2 (its frame and setting
// constants, and HPACK's encoder and Huffman decoder). Nothing else from this
// module; in particular never spec or term, and nothing of result's document
// (internal/generator turns a Result into a trial). grpc-go and protobuf are not linked: the gRPC client is built on
// the engine's own HTTP/2 client (see Protocol clients); the tests use
// grpc-go servers and internal/grpcecho to check it against the real thing.
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
// equals actual and StartLag is all zeros; the workers then record only the
// latency, and the result copies it into Service and counts the zeros into
// StartLag (the figures are identical, and two fewer histogram writes per
// request matter at 60k/s on one core).
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
// Arrival.Phase shifts every count-space point of the even processes by a
// fraction of a slot. It exists for load agents (internal/agent): n agents
// each running 1/n of the rate with phases (i+½)/n − ½ place their slots at
// N⁻¹(m+½) for every m, exactly the schedule of one generator at the full
// rate, ramps and steps included, so agents interleave instead of firing
// together. Poisson agents are decorrelated by their seeds instead.
//
// # Pacing
//
// Deadlines are absolute offsets on the monotonic clock from the start of
// the run; sleeps are never summed. A wait longer than 2ms sleeps on the
// worker's one reused time.Timer until 2ms before the deadline; the rest is
// slept on the worker's timerfd, which Go's netpoller wakes with kernel
// timer precision (a runtime timer can oversleep by up to 1ms when the
// process is idle: the netpoller rounds its sleep up to whole
// milliseconds). The timerfd is armed from inside RawConn.Read's callback,
// so a wait costs one syscall and no speculative read (sleep_linux.go).
// From tickerRate (20k/s, constant-rate schedules) workers wait on the
// runtime timer alone, under one idleTicker per run: with GOMAXPROCS=1 a
// timerfd's expiry is an I/O event, which the scheduler collects only when
// its run queue is empty, so at 40–50k/s a due worker waited behind every
// response being handled (and its syscall cost ~4µs a request), while
// runtime timers are checked at every scheduling round; the ticker (50µs,
// read by one goroutine, since the kernel re-arms an interval timerfd only
// on read) wakes an idle netpoller so that those timers never oversleep to
// its whole millisecond.
// Spinning busy-waits the last part of each wait and, over HTTP/1.1 on
// TCP, busy-polls for the response as long before parking: at light load
// both CPUs idle between requests, and waking from idle (tens of µs on a
// VM) would otherwise be measured. Spinning holds the CPU, so by default
// (Config.Spin 0) it is sized by the rate to cost at most 15% of one core
// and is off above ~15k/s (spin.go); the result reports the spin and the
// generator's own CPU (Result.Generator).
//
// # Why requests left late
//
// Each request's start lag is charged to the engine when its worker was
// free when the request was due (PhaseResult.ReadyLag), else to its
// connection, which was still waiting for the previous response. With the
// process's CPU time and its threads' run delay (schedstat) over the
// measured phase, Result.LateCause names the cause of a lag p99 above
// MaxStartLag: the engine (its CPU saturated, or late for requests it was
// ready for), the machine (other processes held the CPU its threads
// waited for) or the connections (the target).
//
// Measured on the 2-core bench machine (generator and nginx pinned to one
// core each): start-lag p50 14–20µs and p99 35–90µs at 10k/s. Higher open
// rates cost far more CPU per request than the closed loop does (40µs at
// 20k/s, 25µs at 35k/s, against 13µs closed): spaced requests find nginx's
// core idle, so each write pays a cross-CPU wake-up (0.66 IPIs per request
// on nginx's core against 0.004 in closed loop), and the generator's core
// runs 80–90% busy; the lag p99 then grows to 0.3–1ms, more when other
// processes share the core. At 40–50k/s (issue 18) the lag of requests
// whose connection was free had p99 0.39–0.43ms with the core 79–87% busy:
// queueing behind other workers on the one P, where a worker whose timerfd
// had fired was not even queued until the run queue emptied. Neither GC (4
// cycles, all in the first 2ms: the histograms) nor timer slack (a
// timerfd's hrtimer has none) took part; the overall p99 on the shared
// machine (4–131ms) came from scheduler stalls of up to 10ms on the
// generator's core and 17ms on nginx's (perf sched), which the result
// blames on the machine. With runtime timers under the idle ticker
// (measured interleaved, load average 20–28: see bench/README.md) that
// ready-lag p99 fell to 0.21–0.56ms at 40k/s and 0.23–0.30ms at 50k/s
// (0.46–0.66ms before), and the latency p50 from 0.36–1.2ms to
// 0.09–0.14ms; what remains is the queue of a core 75–90% busy (16–22µs of
// CPU per open-loop request, against 9–10µs closed: each spaced request
// wakes nginx's idle core) and the tick. Two other ideas were measured and
// dropped: GOMAXPROCS=2 on the one core (ready-lag p99 1.7–2.3ms: the two
// threads take turns in the kernel's time slices) and runtime timers
// without the ticker (1.0–1.4ms: the idle netpoller's millisecond).
// Measured again with raw system calls (internal/rawio) at a lower machine
// load, the ready-lag p99 at 50k/s was 109–124µs with the core 90% busy;
// the lag p99 over all requests (2.5–27ms) was requests waiting for a
// connection whose response a stalled nginx core held up (bench/README.md).
//
// # Protocol clients
//
// HTTP/1.1 (http1.go) writes a request prepared once and parses the
// response in place from a fixed buffer. On plain TCP the write and the wait
// for the response are one pass through the netpoller (h1raw_unix.go): the
// write runs inside RawConn.Read's callback after the descriptor's readiness
// was reset, so the goroutine parks at once instead of first trying a read
// that on loopback almost always fails with EAGAIN: half of the read
// syscalls before, and most of the CPU per request above what wrk spends.
// A request is now one write and one read (perf: 2.69 syscalls per request
// against 3.15), both raw system calls (internal/rawio; see the HTTP/2
// client below for why): at light rates the process idles between
// requests, and each request's first syscall woke the runtime's sysmon
// (at 1000/s, 3% less CPU per request and p50 0.046ms against 0.059ms,
// interleaved; closed loop, where the process never idles, unchanged).
//
// HTTP/2 and gRPC (h2.go, grpc.go, hpack.go) run on the engine's own
// frame-level client rather than x/net's ClientConn and grpc-go, which cost
// 47µs and 65µs of client CPU per request on the bench machine (allocation,
// channels, a goroutine hand-off per request). Per connection it keeps one
// reader goroutine that parses frames in place and demultiplexes them by
// stream id through a fixed open-addressing table, waking the worker whose
// stream ended; workers append a pre-encoded HEADERS block (and DATA) to the
// connection's write buffer, and whoever finds no write in progress flushes
// everything queued in one syscall. The server's MAX_CONCURRENT_STREAMS is
// read before the first request and honoured (a worker without a free
// stream queues, charged from its intended time); SETTINGS, PING,
// WINDOW_UPDATE, RST_STREAM and GOAWAY are handled (streams a GOAWAY
// refused are retried once on a new connection, counted as a reconnect);
// receive windows are 1GiB so window updates are rare, send windows are
// honoured for bodies; TLS with ALPN h2 and h2c with prior knowledge both
// work. Request timeouts are enforced by one sweeper per run that wakes
// every Timeout/16 and resets expired streams (RST_STREAM CANCEL): no timer
// per request, and a request times out no earlier than its deadline and at
// most Timeout/16 later, as with HTTP/1.1's deadline slack. Response
// headers are decoded by an allocation-free HPACK decoder that keeps the
// dynamic table in a fixed arena and caches Huffman decodings (nginx
// re-sends four Huffman-coded literals on every response).
// A link's socket is read and written with raw system calls (internal/rawio,
// on Linux): the runtime's entersyscall woke its sysmon thread after every
// idle spell of the process, and sysmon, polling every 20µs, then handed the
// one P to another thread whenever a read or write was preempted on the
// shared core (0.29 context switches per h2c request against h2load's 0.03,
// sysmon 8% of the core); without it the h2c client spends about 9% less
// CPU per request (paired, interleaved repetitions; 0.09 context switches
// per request). Over TLS, readiness still comes from the netpoller, one
// reader goroutine per link.
//
// Over plain TCP on Linux (h2c, gRPC without TLS) the links are read by
// pollers instead (h2poll_linux.go): one goroutine per P with an epoll set
// of its own, h2load's event loop beside the engine's workers. What the
// client does while it waits decides what the server spends per request,
// and with the server as the bottleneck that is the throughput. With a
// reader goroutine per link parked in the netpoller, the process went idle
// ~13,000 times a second (16 × 10 h2c against nginx), and nginx, on its
// writes, woke it 0.15-0.26 times per request (h2load: 0.03-0.06;
// sched_wakeup counted on nginx's thread) and wrote into sockets being read
// at that very moment: 1.04-1.11× the nginx CPU per request that h2load
// cost, hence 0.88-0.96× h2load's throughput. In closed loop, when the
// requests in flight keep the server busy for 16 naps (measured from the
// pace of responses), a poller that finds nothing to read naps 10µs (60µs
// with the kernel's timer slack) holding its thread, so the server's writes
// wake no one, then reads everything that came meanwhile in one pass: nginx
// 0.91-0.98× h2load's CPU per request, the client 8µs instead of 14µs, and
// 1.16× h2load's throughput (paired median, bench/README.md). A response arriving during a nap is
// read up to 60µs late, at most 1/16 of the time it was in flight; open
// loop, and closed loop with few or fast requests in flight, never nap.
//
// TCP (tcp.go) writes the body as one message and reads the same number of
// bytes back, comparing them with what it sent (an echo: fortio's tcp-echo,
// the sample app); a complete, matching echo is status "tcp:OK". Keep-alive
// off dials, exchanges and closes per message and records the connect, TLS
// and first-byte times as HTTP/1.1 does.
//
// A gRPC unary call is a POST with content-type application/grpc and
// te: trailers carrying one length-prefixed message; both methods' requests
// are encoded once per run (grpc.health.v1 HealthCheckRequest and the echo
// service's BytesValue have a single length-delimited field). The status is
// grpc-status from the trailers (or from a Trailers-Only response), else
// gRPC's HTTP-status mapping. A call that fails without a response is
// counted under the status grpc-go would report (DEADLINE_EXCEEDED for
// timeouts, UNAVAILABLE for connection failures, the RST_STREAM mapping for
// resets) and in the error class of what actually happened; Errors counts
// a server's non-OK status as class grpc. BytesSent and BytesReceived count
// gRPC message bytes (without the 5-byte prefix), h2 DATA bytes otherwise.
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
// Connections are opened before the warm-up starts. With Config.StartAt the
// clock then waits for that instant, and the schedule is anchored at it even
// when the timer wakes a little late (up to startSlack), so agents on several
// machines share one time origin up to their clock offsets. A slot belongs to the
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
