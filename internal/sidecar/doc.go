// Package sidecar provides the sidecar proxies of smp's local mesh arms: the builtin
// reference sidecar written in Go, and launchers that configure haproxy, nginx and
// Envoy to play the same part. Every sidecar is its own OS process, so that its CPU
// and memory can be measured by PID.
//
// It owns: the shared description of one sidecar (Spec), rendering it into each
// proxy's configuration (Kind.Render → Plan), finding the proxy binaries
// (Kind.Check), starting a sidecar and waiting until it serves (Launch → *Sidecar),
// and reading its own traffic counters in one shape (Counters). It does not own the
// topology (which sidecar talks to which, ports, start order), certificates (package
// pki issues them; Spec only names the files) or resource measurement (by PID, in
// internal/collect).
//
// # The data path
//
// A sidecar has at most one inbound listener, in front of its application (plaintext
// to the app on loopback), and one outbound listener per upstream, which the
// application calls in plaintext and which forwards to the upstream sidecar's inbound
// listener, over mTLS unless MTLS is Off:
//
//	client → A.outbound ─mTLS→ B.inbound → svc-1 → B.outbound ─mTLS→ C.inbound → svc-2
//
// Strict inbound listeners require a client certificate from the run's CA;
// permissive ones also take plaintext on the same port (the first byte decides:
// 0x16 opens a TLS handshake); Off is plaintext both ways. Outbound listeners check
// the upstream's SPIFFE id when Outbound.UpstreamID is set.
//
// Every listener carries Spec.Protocol unless it names its own (Inbound.Protocol,
// Outbound.Protocol): a service called over HTTP/1.1 that calls its upstreams over
// gRPC (emojivoto's web) has a sidecar whose inbound listener is HTTP/1.1 and whose
// outbound listeners are gRPC, h2 over mTLS to the upstream's gRPC inbound. Each
// proxy writes each listener as it would for a sidecar of that one protocol.
//
// # What the local platform calls
//
//	tool, err := kind.Check(ctx, "")          // before starting anything: binary + version,
//	                                          // or *proc.NotFoundError with the install hint
//	err = kind.Supports(protocol, mode, tool) // can this proxy carry it?
//	sc, err := sidecar.Launch(ctx, kind, spec, sidecar.Options{Tool: tool})
//	sc.PID(), sc.Addrs, sc.AdminURL, sc.StatsURL, sc.MetricsURL
//	c, err := sc.Counters(ctx)                // requests, bytes, connections, handshakes, errors
//	err = sc.Stop(ctx)
//
// Launch binds port 0 to a free port (the builtin reports what it bound; for the
// others Launch picks free ports before rendering), writes the configuration into
// Spec.WorkDir, starts the process in its own process group bound to ctx, and waits
// until it serves (every listener bound). Kind.Render alone gives
// the files and the command without starting anything, for dry runs and reports.
//
// # What each kind carries (all with strict, permissive and off mTLS)
//
//	kind     http1  h2c  grpc  notes
//	builtin  yes    yes  yes   `smp sidecar --config FILE.json` (hidden command); its
//	                           own HTTP/1.1 proxy, net/http's reverse proxy for
//	                           HTTP/2 and gRPC, keep-alive and HTTP/2 pools, /stats
//	                           JSON, /metrics, /ready
//	haproxy  yes    yes  yes   haproxy -db -f haproxy.cfg; permissive through a TCP
//	                           splitter (req.ssl_hello_type) to two internal frontends
//	nginx    yes    yes  yes   nginx -p DIR -c nginx.conf -g 'daemon off;'; HTTP/2 and
//	                           gRPC via grpc_pass; permissive needs the stream module
//	                           (Debian: libnginx-mod-stream); counters from stub_status
//	envoy    yes    yes  yes   envoy -c bootstrap.json --concurrency N; rendered and
//	                           validated against go-control-plane, not run here
//
// # The builtin's HTTP/1.1 fast path
//
// On a 2-core machine every proxy and application shares one CPU, so what a request
// costs the builtin in CPU is what the quickstart measures as latency once that CPU
// saturates. With Protocol HTTP1 the builtin therefore does not use net/http on its
// data path (h1proxy.go, h1head.go): one goroutine per downstream connection reads
// a request head in place (no header map, no copy), writes it with the hop-by-hop
// headers removed (Connection and what it names, Keep-Alive, Proxy-Connection,
// Upgrade, TE but "trailers", Proxy-Authenticate, Proxy-Authorization, Trailer) and
// the body in the framing it came in (Content-Length or chunked, trailers included)
// to a pooled upstream connection, then reads the response head in place and copies
// it and its body back. Buffers are flushed when the next read would block, so a
// request or a reply that arrived in one piece leaves in one write, and a streamed
// body moves on as it comes. The upstream pool (plaintext or mTLS with ALPN
// http/1.1, SPIFFE id checked, sessions resumed) is last-in-first-out with
// clientIdleTimeout; a bodiless request that fails on a pooled connection before any
// answer (closed by the upstream while idle) is sent again on a new one, as net/http
// does. Failures are answered as net/http's path answers them (502, 504 on a
// timeout, a gRPC UNAVAILABLE for gRPC content types) and counted in errors_total.
// Differences from httputil.ReverseProxy: X-Forwarded-* headers are passed on
// unchanged rather than removed, no User-Agent is added, a client that goes away is
// noticed when its reply is written rather than while the upstream works, and a
// response head larger than 16 KiB is a 502.
//
// Whatever the fast path does not take is served by net/http on the same
// connection, bytes already read included: HTTP/1.0, CONNECT, Upgrade (WebSocket),
// h2c with prior knowledge, absolute-form or "*" targets, request heads over 16 KiB,
// a Transfer-Encoding other than chunked, ambiguous lengths, anything malformed; and
// h2 negotiated by ALPN. H2C and gRPC are served by net/http's HTTP/2 server,
// httputil.ReverseProxy and its HTTP/2 Transport, as before.
//
// Every TCP connection the builtin accepts or dials (both paths) does its reads and
// writes with raw system calls inside syscall.RawConn callbacks (rawio_linux.go): the
// sockets are non-blocking, and an ordinary syscall makes the scheduler hand the P to
// another thread whenever a loopback write is preempted for more than 20µs, and wakes
// a sleeping sysmon that then polls every 20µs while the process is busy. Measured
// with perf at 500 rps on one shared CPU, sysmon and the scheduler were a third of a
// sidecar's CPU. Per request, a sidecar leg went from about 230µs of CPU to about
// 65µs (HTTP/1.1, strict mTLS; bench_test.go and the quickstart).
//
// UpstreamID: the builtin and Envoy check the URI SAN; haproxy (verifyhost) and nginx
// (proxy_ssl_name/grpc_ssl_name) check the DNS SAN <service> that the run's CA issues
// in the same certificate.
//
// Imports: internal/proc, internal/pki, the standard library and
// prometheus/client_golang (the builtin's /metrics, on its own registry). Tests also
// use grpc and go-control-plane (Envoy's protos, to validate bootstraps).
package sidecar
