package sidecar

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/service-mesh-performance/smp/internal/pki"
	"github.com/service-mesh-performance/smp/internal/proc"
)

// nginx's configuration for a sidecar, in one file, nginx.conf:
//
//   - an http server per listener; HTTP/1.1 goes through proxy_pass to an upstream
//     block with a keepalive pool (proxy_http_version 1.1, Connection ""), HTTP/2 and
//     gRPC through grpc_pass, nginx's only HTTP/2 client (`listen … http2` downstream);
//   - strict inbound: `ssl_verify_client on` with ssl_client_certificate the run's CA;
//     towards upstreams: proxy_ssl_certificate/…_key, proxy_ssl_trusted_certificate,
//     proxy_ssl_verify on and proxy_ssl_name <service> (grpc_ssl_* for HTTP/2);
//   - permissive inbound: a stream server on the public port with ssl_preread routes
//     by $ssl_preread_protocol ("" = not TLS) to one of two http servers on unix
//     sockets in the work directory; this needs the stream module (Debian package
//     libnginx-mod-stream), loaded with load_module;
//   - buffering off both ways (proxy_buffering, proxy_request_buffering), as a
//     sidecar streams;
//   - TCP: stream servers instead (stream module): proxy_pass to the app or, with
//     proxy_ssl and the same certificate directives, to the upstream sidecar; the
//     inbound terminates mTLS with ssl_verify_client, and in permissive mode the same
//     splitter passes to a TLS and a plaintext stream server; the http context keeps
//     only the admin server;
//   - worker_processes from Concurrency; pid, error log and every temporary path in
//     the work directory, so that many instances run side by side without root;
//   - an admin server: /stats (stub_status) and /ready.
//
// Runs as root get `user root;` (Check notes who runs it): nginx would otherwise drop
// its workers to nobody, who can neither reach the unix sockets nor the temporary
// paths in a 0700 work directory.

func nginxImpl() implementation {
	return implementation{
		binary:       "nginx",
		installHint:  "apt-get install nginx-light",
		versionArgs:  []string{"-V"},
		parseVersion: parseNginxVersion,
		supports:     nginxSupports,
		render:       renderNginx,
		counters:     nginxCounters,
	}
}

func parseNginxVersion(out string, t *Tool) {
	if os.Geteuid() == 0 {
		t.nginxUser = "root"
		if u, err := user.Current(); err == nil {
			t.nginxUser = u.Username
		}
	}
	if m := regexp.MustCompile(`nginx version: nginx/(\S+)`).FindStringSubmatch(out); m != nil {
		t.Version = m[1]
	}
	args := ""
	if i := strings.Index(out, "configure arguments:"); i >= 0 {
		args = out[i:]
	}
	opt := func(name string) bool {
		return regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(name) + `(\s|$)`).MatchString(args)
	}
	if opt("--with-http_ssl_module") {
		t.Features = append(t.Features, "ssl")
	}
	if opt("--with-http_v2_module") {
		t.Features = append(t.Features, "http2")
	}
	if !opt("--without-http_grpc_module") {
		t.Features = append(t.Features, "grpc")
	}
	if opt("--with-http_stub_status_module") {
		t.Features = append(t.Features, "stub_status")
	}
	preread := opt("--with-stream_ssl_preread_module")
	switch {
	case opt("--with-stream") && preread:
		t.Features = append(t.Features, "stream")
	case opt("--with-stream=dynamic") && preread:
		dir := "/usr/lib/nginx/modules"
		if m := regexp.MustCompile(`--modules-path=(\S+)`).FindStringSubmatch(args); m != nil {
			dir = m[1]
		}
		so := filepath.Join(dir, "ngx_stream_module.so")
		if _, err := os.Stat(so); err == nil {
			t.Features = append(t.Features, "stream")
			t.nginxStreamModule = so
		}
	}
}

func nginxSupports(p Protocol, m MTLSMode, t Tool) error {
	if !t.has("stub_status") {
		return fmt.Errorf("nginx at %s lacks the stub_status module, which smp reads counters from", t.Path)
	}
	if m != Off && !t.has("ssl") {
		return fmt.Errorf("nginx at %s is built without the SSL module; mtls %s needs it", t.Path, m)
	}
	if p != HTTP1 && (!t.has("http2") || !t.has("grpc")) {
		return fmt.Errorf("nginx at %s lacks the HTTP/2 or gRPC module; protocol %s needs both", t.Path, p)
	}
	if m == Permissive && !t.has("stream") {
		return fmt.Errorf("mtls permissive needs nginx's stream module with ssl_preread; install it with: apt-get install libnginx-mod-stream")
	}
	if p == TCP && !t.has("stream") {
		return fmt.Errorf("protocol tcp needs nginx's stream module; install it with: apt-get install libnginx-mod-stream")
	}
	return nil
}

const nginxConfigFile = "nginx.conf"

// maxUnixPath is the room for a unix socket path (sun_path is 108 bytes with the NUL).
const maxUnixPath = 107

func renderNginx(s Spec, t Tool) (*Plan, error) {
	n := &nginxConf{s: s}
	wd := s.WorkDir
	n.main(t)
	var inTLS, inPlain string // unix sockets behind the permissive splitter
	if s.Inbound != nil && s.MTLS == Permissive {
		inTLS, inPlain = filepath.Join(wd, "inbound-tls.sock"), filepath.Join(wd, "inbound-plain.sock")
		if len(inTLS) > maxUnixPath || len(inPlain) > maxUnixPath {
			return nil, fmt.Errorf("work_dir %s is too long for unix sockets (at most %d bytes with the socket name)", wd, maxUnixPath)
		}
	}
	if s.Protocol == TCP {
		n.streamTCP(inTLS, inPlain)
		n.httpSettings()
	} else {
		if inTLS != "" {
			n.splitter(inTLS, inPlain)
		}
		n.httpSettings()
		// Each listener is written for its own protocol (Inbound.Protocol,
		// Outbound.Protocol).
		if s.Inbound != nil {
			n.s = s.inboundSpec()
			n.inbound(inTLS, inPlain)
		}
		for i, o := range s.Outbounds {
			n.s = s.outboundSpec(i)
			n.outbound(i, o)
		}
		n.s = s
	}
	n.admin()
	n.line("}")

	admin := "http://" + s.AdminListen
	return &Plan{
		Files: []File{{Name: nginxConfigFile, Data: []byte(n.String())}},
		Cmd: proc.Cmd{
			Name: s.Name,
			Path: t.Path,
			Args: []string{"-p", wd + "/", "-c", filepath.Join(wd, nginxConfigFile), "-e", "stderr", "-g", "daemon off;"},
			Dir:  wd,
		},
		AdminURL: admin,
		StatsURL: admin + "/stats",
		ReadyURL: admin + "/ready",
	}, nil
}

// nginxConf writes nginx.conf for one sidecar.
type nginxConf struct {
	confWriter
	s Spec
}

// http2 is what a listen directive adds for the protocol: " http2" for h2c and gRPC.
func (n *nginxConf) http2() string {
	if n.s.Protocol != HTTP1 {
		return " http2"
	}
	return ""
}

// main writes the main context: modules, user, workers, pid, logs, events.
func (n *nginxConf) main(t Tool) {
	s := n.s
	n.line("# Generated by smp: sidecar %s (protocol %s, mtls %s).", s.Name, s.Protocol, s.MTLS)
	if (s.MTLS == Permissive || s.Protocol == TCP) && t.nginxStreamModule != "" {
		n.line("load_module %s;", t.nginxStreamModule)
	}
	if t.nginxUser != "" {
		n.line("user %s;", t.nginxUser)
	}
	if s.Concurrency > 0 {
		n.line("worker_processes %d;", s.Concurrency)
	}
	n.line("pid %s;", filepath.Join(s.WorkDir, "nginx.pid"))
	n.line("error_log stderr warn;")
	n.line("")
	n.line("events {")
	n.line("    worker_connections 10000;")
	n.line("}")
	n.line("")
}

// splitter writes permissive mTLS's stream server, which passes TLS connections to the
// inTLS socket and plaintext ones to inPlain, by the first bytes (ssl_preread).
func (n *nginxConf) splitter(inTLS, inPlain string) {
	n.line("stream {")
	n.splitterServer(inTLS, inPlain)
	n.line("}")
	n.line("")
}

// splitterServer writes the splitter's map and server inside a stream block.
func (n *nginxConf) splitterServer(inTLS, inPlain string) {
	n.line("    map $ssl_preread_protocol $smp_inbound {")
	n.line(`        ""      unix:%s;`, inPlain)
	n.line("        default unix:%s;", inTLS)
	n.line("    }")
	n.line("    server {")
	n.line("        listen %s;", n.s.Inbound.Listen)
	n.line("        ssl_preread on;")
	n.line("        preread_timeout %s;", nginxDuration(handshakeTimeout))
	n.line("        proxy_pass $smp_inbound;")
	n.line("    }")
}

// streamTCP writes the stream block of Protocol TCP: the inbound server(s) in front of
// the app (mTLS terminated as s.MTLS says; permissive through the splitter) and one
// server per outbound, over mTLS to its upstream unless s.MTLS is off.
func (n *nginxConf) streamTCP(inTLS, inPlain string) {
	s := n.s
	n.line("stream {")
	if s.Inbound != nil {
		type inbound struct {
			listen string
			tls    bool
		}
		ins := map[MTLSMode][]inbound{Strict: {{s.Inbound.Listen, true}}, Off: {{s.Inbound.Listen, false}},
			Permissive: {{"unix:" + inTLS, true}, {"unix:" + inPlain, false}}}[s.MTLS]
		if s.MTLS == Permissive {
			n.splitterServer(inTLS, inPlain)
		}
		for _, in := range ins {
			n.line("    server { # inbound")
			if in.tls {
				n.line("        listen %s ssl;", in.listen)
				n.serverTLS()
			} else {
				n.line("        listen %s;", in.listen)
			}
			n.streamPass(s.Inbound.App, false, "")
			n.line("    }")
		}
	}
	for i, o := range s.Outbounds {
		n.line("    server { # outbound-%d", i)
		n.line("        listen %s;", o.Listen)
		n.streamPass(o.Upstream, s.MTLS != Off, o.UpstreamID)
		n.line("    }")
	}
	n.line("}")
	n.line("")
}

// streamPass writes a stream server's proxying to addr, over mTLS when useTLS.
func (n *nginxConf) streamPass(addr string, useTLS bool, upstreamID string) {
	s := n.s
	n.line("        proxy_pass %s;", addr)
	n.line("        proxy_connect_timeout %s;", nginxDuration(dialTimeout))
	n.line("        proxy_timeout %s;", nginxDuration(serverIdleTimeout))
	if !useTLS {
		return
	}
	name := "localhost" // in every certificate of the run's CA: any identity passes
	if svc := pki.ServiceOf(upstreamID); svc != "" {
		name = svc
	}
	n.line("        proxy_ssl on;")
	n.line("        proxy_ssl_certificate %s;", s.CertFile)
	n.line("        proxy_ssl_certificate_key %s;", s.KeyFile)
	n.line("        proxy_ssl_trusted_certificate %s;", s.CAFile)
	n.line("        proxy_ssl_verify on;")
	n.line("        proxy_ssl_verify_depth 2;")
	n.line("        proxy_ssl_name %s;", name)
	n.line("        proxy_ssl_session_reuse on;")
	n.line("        proxy_ssl_protocols TLSv1.2 TLSv1.3;")
}

// httpSettings opens the http context with its settings: no logs, temp paths in the
// work directory, the shared timeouts.
func (n *nginxConf) httpSettings() {
	n.line("http {")
	n.line("    access_log off;")
	n.line("    server_tokens off;")
	for _, tmp := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		n.line("    %s_temp_path %s;", tmp, filepath.Join(n.s.WorkDir, tmp+"_temp"))
	}
	n.line("    keepalive_timeout %s;", nginxDuration(serverIdleTimeout))
	// nginx closes a client connection after 1000 requests by default; the other
	// proxies never do, and a benchmark must not pay reconnects for it.
	n.line("    keepalive_requests 1000000;")
	n.line("    client_header_timeout %s;", nginxDuration(readHeaderTimeout))
	n.line("    client_max_body_size 0;")
	n.line("")
}

// upstream writes an upstream block with its keep-alive pool.
func (n *nginxConf) upstream(name, addr string) {
	n.line("    upstream %s {", name)
	n.line("        server %s;", addr)
	n.line("        keepalive %d;", 1024)
	n.line("        keepalive_requests 1000000;")
	n.line("        keepalive_timeout %s;", nginxDuration(clientIdleTimeout))
	n.line("    }")
	n.line("")
}

// inbound writes the app's upstream and the inbound server(s): one on the inbound
// port, or, in permissive mode, one on each of the splitter's sockets.
func (n *nginxConf) inbound(inTLS, inPlain string) {
	s := n.s
	n.upstream("app", s.Inbound.App)
	type inbound struct {
		listen string
		tls    bool
	}
	var ins []inbound
	switch s.MTLS {
	case Strict:
		ins = []inbound{{s.Inbound.Listen, true}}
	case Off:
		ins = []inbound{{s.Inbound.Listen, false}}
	case Permissive:
		ins = []inbound{{"unix:" + inTLS, true}, {"unix:" + inPlain, false}}
	}
	for _, in := range ins {
		n.line("    server { # inbound")
		if in.tls {
			n.line("        listen %s ssl%s;", in.listen, n.http2())
			n.serverTLS()
		} else {
			n.line("        listen %s%s;", in.listen, n.http2())
		}
		n.line("        location / {")
		n.pass("app", false, "")
		n.line("        }")
		n.line("    }")
		n.line("")
	}
}

// outbound writes outbound i's upstream and server, over mTLS unless s.MTLS is off.
func (n *nginxConf) outbound(i int, o Outbound) {
	name := fmt.Sprintf("upstream_%d", i)
	n.upstream(name, o.Upstream)
	n.line("    server { # outbound-%d", i)
	n.line("        listen %s%s;", o.Listen, n.http2())
	n.line("        location / {")
	n.pass(name, n.s.MTLS != Off, o.UpstreamID)
	n.line("        }")
	n.line("    }")
	n.line("")
}

// admin writes the admin server: stub_status on /stats, /ready.
func (n *nginxConf) admin() {
	n.line("    server { # admin")
	n.line("        listen %s;", n.s.AdminListen)
	n.line("        location = /stats { stub_status; }")
	n.line(`        location = /ready { return 200 "ready\n"; }`)
	n.line("        location / { return 404; }")
	n.line("    }")
}

// serverTLS terminates mTLS with a client certificate from the run's CA.
func (n *nginxConf) serverTLS() {
	s := n.s
	n.line("        ssl_certificate %s;", s.CertFile)
	n.line("        ssl_certificate_key %s;", s.KeyFile)
	n.line("        ssl_client_certificate %s;", s.CAFile)
	n.line("        ssl_verify_client on;")
	n.line("        ssl_verify_depth 2;")
	n.line("        ssl_protocols TLSv1.2 TLSv1.3;")
}

// pass writes a location's proxying to upstream block name: proxy_pass for HTTP/1.1,
// grpc_pass for h2c and gRPC (nginx's only HTTP/2 upstream), over mTLS when useTLS.
func (n *nginxConf) pass(name string, useTLS bool, upstreamID string) {
	s := n.s
	prefix := "proxy"
	if s.Protocol != HTTP1 {
		scheme := "grpc"
		if useTLS {
			scheme = "grpcs"
		}
		prefix = "grpc"
		n.line("            grpc_pass %s://%s;", scheme, name)
		n.line("            grpc_connect_timeout %s;", nginxDuration(dialTimeout))
		n.line("            grpc_read_timeout %s;", nginxDuration(serverIdleTimeout))
		n.line("            grpc_send_timeout %s;", nginxDuration(serverIdleTimeout))
	} else {
		scheme := "http"
		if useTLS {
			scheme = "https"
		}
		n.line("            proxy_pass %s://%s;", scheme, name)
		n.line("            proxy_http_version 1.1;")
		n.line(`            proxy_set_header Connection "";`)
		n.line("            proxy_set_header Host $http_host;")
		n.line("            proxy_buffering off;")
		n.line("            proxy_request_buffering off;")
		n.line("            proxy_connect_timeout %s;", nginxDuration(dialTimeout))
		n.line("            proxy_read_timeout %s;", nginxDuration(serverIdleTimeout))
		n.line("            proxy_send_timeout %s;", nginxDuration(serverIdleTimeout))
	}
	if useTLS {
		name := "localhost" // in every certificate of the run's CA: any identity passes
		if svc := pki.ServiceOf(upstreamID); svc != "" {
			name = svc
		}
		n.line("            %s_ssl_certificate %s;", prefix, s.CertFile)
		n.line("            %s_ssl_certificate_key %s;", prefix, s.KeyFile)
		n.line("            %s_ssl_trusted_certificate %s;", prefix, s.CAFile)
		n.line("            %s_ssl_verify on;", prefix)
		n.line("            %s_ssl_verify_depth 2;", prefix)
		n.line("            %s_ssl_name %s;", prefix, name)
		n.line("            %s_ssl_session_reuse on;", prefix)
		n.line("            %s_ssl_protocols TLSv1.2 TLSv1.3;", prefix)
	}
}

// nginxDuration writes d in nginx's time format, which is haproxy's.
func nginxDuration(d time.Duration) string { return haproxyDuration(d) }

// nginxCounters reads stub_status:
//
//	Active connections: 2
//	server accepts handled requests
//	 11 11 20
//	Reading: 0 Writing: 1 Waiting: 1
func nginxCounters(ctx context.Context, r statsReader, url string) (Counters, error) {
	body, err := get(ctx, r, url)
	if err != nil {
		return Counters{}, err
	}
	c, err := parseStubStatus(string(body))
	if c.ActiveConnections > 0 {
		c.ActiveConnections-- // the connection this status request came on
	}
	return c, err
}

func parseStubStatus(text string) (Counters, error) {
	m := regexp.MustCompile(`Active connections:\s*(\d+)\s+server accepts handled requests\s+(\d+)\s+(\d+)\s+(\d+)`).FindStringSubmatch(text)
	if m == nil {
		return Counters{}, fmt.Errorf("not nginx stub_status output: %q", text)
	}
	n := func(s string) int64 { v, _ := strconv.ParseInt(s, 10, 64); return v }
	return Counters{
		Requests:          n(m[4]),
		BytesIn:           NotReported,
		BytesOut:          NotReported,
		ActiveConnections: n(m[1]),
		Handshakes:        NotReported,
		Errors:            NotReported,
	}, nil
}
