// Package app is smp's built-in sample application: one service of an
// N-service chain (svc-1 → svc-2 → svc-3, like bookinfo's productpage →
// reviews → ratings) or fan-out (svc-1 calls every other service in
// parallel). One process runs one service (`smp app --config FILE.json`);
// the platform wires the processes together by giving each one the
// addresses of its upstreams, which are either the next services themselves
// (baseline) or the service's own sidecar (mesh arms). The app does not know
// which.
//
// It owns: the listeners (HTTP/1.1 and h2c on one port, gRPC, optional TLS
// with ALPN h2 and http/1.1), the request handler, the upstream clients and
// their connection pools, the simulated work, the service's Prometheus
// metrics and the JSON form of Config. It does not own starting processes,
// sidecars or anything about arms (internal/platform/local does), and it
// never prints: Run reports readiness through a callback and logs through
// Config.Logger (silent by default).
//
// Imports: internal/grpcecho, the standard library, google.golang.org/grpc
// (+ protobuf) and github.com/prometheus/client_golang. Nothing else from
// this module; in particular never spec, platform or sidecar.
//
// # One request
//
// Every request (HTTP, any method and any path except /healthz and
// /metrics; gRPC smp.echo.v1.Echo/Echo) goes through the same steps:
//
//  1. the request body is read to the end and discarded;
//  2. CPUTime of CPU is burnt (see below);
//  3. the handler waits Delay (a runtime timer: up to ~1ms late on an idle
//     machine), or less if the caller gives up;
//  4. every upstream is called (HTTP GET of the same path and query, or
//     gRPC Echo with an empty payload; a request that came over gRPC calls
//     HTTP upstreams with "/") over UpstreamProtocol, all of them in
//     parallel (with Sequential, one after the other in their order, the
//     whole sequence bounded by one UpstreamTimeout), each bounded by
//     UpstreamTimeout; tracing headers
//     (x-request-id, traceparent, tracestate, b3, x-b3-*,
//     x-ot-span-context) are passed on;
//  5. if every upstream answered 2xx (gRPC: OK) the reply is 200 (OK) with
//     ResponseSize bytes (gRPC: a BytesValue of that size); otherwise it is
//     502 (gRPC: UNAVAILABLE) with a one-line message naming each failing
//     upstream and what it said, so a failure deep in a chain reaches the
//     client with its cause: "svc-1: upstream svc-2 (127.0.0.1:9002):
//     answered 502: svc-2: upstream svc-3 (127.0.0.1:9003): dial tcp
//     127.0.0.1:9003: connect: connection refused". A request abandoned by
//     its caller, or cut off because Run is stopping, gets 503 (gRPC: the
//     context's code) and is counted as 499.
//
// Every reply (gRPC: its header metadata, and its trailer on failure, since
// a failed call is sent trailers-only) carries x-smp-service: <Name> and
// x-smp-hops: 1 + the sum of the upstreams' x-smp-hops. An upstream that
// did not send the header counts 0, so hops is the number of smp services
// that provably ran: 3 for a request through a 3-service chain, N for an
// N-service fan-out. A mesh arm that silently short-circuited a hop shows up
// as a lower number.
//
// # Shapes
//
// Besides chains and fan-outs, Shape returns the call graphs of the two apps mesh
// people know, played by smp services with names of their own (shapes.go):
// "bookinfo-shape" (svc-page calls svc-facts, then svc-opinions, which calls
// svc-stars; HTTP/1.1 throughout; replies of about 5 KB, 178, 442 and 48 bytes like
// productpage, details, reviews and ratings) and "emojivoto-shape" (svc-front,
// called over HTTP/1.1, calls svc-glyphs, then svc-ballot, over gRPC, like web's
// vote handler calling emoji and voting). A service that is called over one protocol
// and calls over another needs nothing special here: it serves HTTP and gRPC on their
// listeners and calls over UpstreamProtocol.
//
// # TCP echo
//
// With TCPAddr a service also serves a TCP echo, the L4 workload (tcp.go): at the end of a
// chain every byte read is written back, as fortio's tcp-echo does; elsewhere (upstream
// protocol tcp, one upstream) every connection gets its own connection to the upstream's
// TCP address and bytes are relayed both ways, so that a message crosses every service and
// its echo comes back from the last. There is no framing, so no per-message work
// (CPUTime, Delay) and no hop header: smp_app_tcp_bytes_total{direction} and
// smp_app_tcp_connections_total count what each service carried (bytes are counted before
// they are passed on), and smp_app_tcp_upstream_connections_total{outcome} the relay's
// dials; a relay whose upstream cannot be reached closes its caller's connection.
//
// /healthz answers 200 "ok" without calling upstreams; /metrics serves the
// service's own registry. The gRPC listener also serves grpc.health.v1
// (SERVING for "" and smp.echo.v1.Echo while Run runs). Neither is counted
// as a request.
//
// # CPU time
//
// On Linux CPUTime is burnt by a busy loop that reads the thread's CPU clock
// (CLOCK_THREAD_CPUTIME_ID) with the goroutine locked to its thread, so a
// request costs CPUTime of CPU however contended the machine is: when more
// requests burn at once than there are cores, they take longer in wall time
// but not less CPU, as real work would. The loop spins in slices of about
// half the remaining time (at most 1ms, so a cancelled request stops
// burning within a millisecond), sized from the measured cost of a spin, so
// a burn reads the clock about a dozen times, overshoots by a few
// microseconds and is all user time. Elsewhere the loop reads the wall
// clock instead, which burns less than CPUTime when the thread is
// preempted.
//
// # Shutdown
//
// When ctx is done Run marks gRPC health NOT_SERVING, stops accepting, lets
// in-flight requests finish for up to drainTimeout (2s), then cancels what
// is left, closes every connection and client and returns nil; it returns
// an error only when the configuration is invalid, a listener cannot be
// opened or a server fails on its own. No goroutine outlives Run.
//
// # HTTP/1.1
//
// On a 2-core machine the whole mesh shares one CPU, so the app's CPU per
// request is part of what a quickstart measures. Plain HTTP/1.1 on HTTPAddr
// is therefore served without net/http (h1.go): one goroutine per
// connection reads the request head in place, serves it as above and writes
// the reply in one write, with no background reader, context, header map or
// ResponseWriter per request. It takes HTTP/1.1 requests with an
// origin-form target, a Host header and no body or a Content-Length one (up
// to 1 MiB), except /metrics; everything else (h2c with prior knowledge,
// HTTP/1.0, chunked or Expect bodies, Upgrade, malformed heads, heads over
// 8 KiB) is handed to the net/http server with the bytes already read, on
// the same connection, and served exactly as before. One difference: on the
// fast path a caller that goes away is noticed once its request has been
// served (a non-blocking peek before the reply), not while it is served, so
// its request is counted as 499 but its upstream calls run to the end.
//
// Every TCP connection the app accepts or dials does its reads and writes
// with raw system calls inside syscall.RawConn callbacks (internal/rawio),
// which keeps the Go scheduler from handing its P to another thread and
// waking sysmon around every loopback write. Per request, a service at the
// end of a chain went from about 105µs of CPU to about 45µs, one in the
// middle from about 215µs to about 85µs (the quickstart at 500 rps).
//
// # Clients
//
// HTTP/1.1 upstreams are called over the app's own keep-alive pool per
// upstream (up to 4096 idle connections, last used first, idle for at most
// 90s): the calling goroutine writes the GET and reads the reply itself,
// and a GET that fails on a pooled connection before any answer (closed by
// the upstream while idle) is sent again on a new one, as net/http does. A
// call's deadline and cancellation cut its connection, which is then not
// reused. h2c uses the standard library's HTTP/2 client with prior
// knowledge (http.Protocols with only UnencryptedHTTP2, the bundled copy of
// golang.org/x/net/http2 with AllowHTTP), which multiplexes and opens a
// further connection when MAX_CONCURRENT_STREAMS is reached; gRPC uses one
// grpc.ClientConn per upstream with its reconnect backoff capped at 1s.
//
// # Metrics
//
// Each Run has its own registry (no global state): smp_app_requests_total
// {protocol, code}, smp_app_request_duration_seconds{protocol},
// smp_app_requests_in_flight, smp_app_upstream_calls_total{upstream,
// outcome}, smp_app_upstream_duration_seconds{upstream}, all with a constant
// service label, plus the Go runtime and process collectors. protocol is
// http1, http1-tls, h2c, h2 (TLS) or grpc; code is the HTTP status or the
// gRPC code name, and 499 (nginx's "client closed request") when the caller
// went away, or Run stopped, before the reply; outcome is ok, status (an
// answer that was not 2xx/OK), timeout, error (no answer) or canceled (the
// caller of this service went away first). Series for the usual label
// values exist from the start, at 0.
package app
