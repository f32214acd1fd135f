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
//	builtin  yes    yes  yes   `smp sidecar --config FILE.json` (hidden command); Go
//	                           net/http reverse proxy, keep-alive and HTTP/2 pools,
//	                           /stats JSON, /metrics, /ready
//	haproxy  yes    yes  yes   haproxy -db -f haproxy.cfg; permissive through a TCP
//	                           splitter (req.ssl_hello_type) to two internal frontends
//	nginx    yes    yes  yes   nginx -p DIR -c nginx.conf -g 'daemon off;'; HTTP/2 and
//	                           gRPC via grpc_pass; permissive needs the stream module
//	                           (Debian: libnginx-mod-stream); counters from stub_status
//	envoy    yes    yes  yes   envoy -c bootstrap.json --concurrency N; rendered and
//	                           validated against go-control-plane, not run here
//
// UpstreamID: the builtin and Envoy check the URI SAN; haproxy (verifyhost) and nginx
// (proxy_ssl_name/grpc_ssl_name) check the DNS SAN <service> that the run's CA issues
// in the same certificate.
//
// Imports: internal/proc, internal/pki, the standard library and
// prometheus/client_golang (the builtin's /metrics, on its own registry). Tests also
// use grpc and go-control-plane (Envoy's protos, to validate bootstraps).
package sidecar
