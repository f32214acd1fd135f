package sidecar

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// Protocol is what flows through a sidecar.
type Protocol string

// Protocols.
const (
	// HTTP1 is HTTP/1.1 with keep-alive on every hop.
	HTTP1 Protocol = "http1"
	// H2C is HTTP/2: cleartext with prior knowledge towards the application, h2 (ALPN)
	// over mTLS between sidecars.
	H2C Protocol = "h2c"
	// GRPC is gRPC over HTTP/2, carried like H2C with trailers intact.
	GRPC Protocol = "grpc"
	// TCP is an opaque byte stream (L4): each connection is relayed on a connection of
	// its own, over mTLS between sidecars; nothing is parsed or pooled.
	TCP Protocol = "tcp"
)

// MTLSMode is how sidecars talk to each other.
type MTLSMode string

// mTLS modes, with Istio's meaning.
const (
	// Strict: the inbound listener requires a client certificate from the run's CA;
	// outbound connections use mTLS.
	Strict MTLSMode = "strict"
	// Permissive: the inbound listener accepts mTLS and plaintext on one port (the
	// first byte decides: 0x16 is a TLS handshake); outbound connections use mTLS.
	Permissive MTLSMode = "permissive"
	// Off: plaintext both ways.
	Off MTLSMode = "off"
)

// Spec is one sidecar, described independently of the proxy that implements it. Every
// Kind renders the same Spec into its own configuration, so that arms differ only in
// the proxy. Zero values mean the documented defaults.
type Spec struct {
	// Name identifies the sidecar in file names, logs and metrics, e.g. "svc-1-proxy".
	// Letters, digits, '.', '-' and '_'.
	Name string `json:"name"`
	// Inbound receives traffic for the local application; nil for a sidecar that only
	// sends (the load generator's).
	Inbound *Inbound `json:"inbound,omitempty"`
	// Outbounds are the listeners the local application calls to reach its upstreams,
	// one per upstream.
	Outbounds []Outbound `json:"outbounds,omitempty"`
	// Protocol is what flows through. Default HTTP1.
	Protocol Protocol `json:"protocol,omitempty"`
	// MTLS is the mode between sidecars. Default Strict.
	MTLS MTLSMode `json:"mtls,omitempty"`
	// CertFile, KeyFile and CAFile are PEM files: this sidecar's identity and the run's
	// CA (package pki writes them). Required unless MTLS is Off.
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
	CAFile   string `json:"ca_file,omitempty"`
	// Concurrency is the number of worker threads (Envoy --concurrency, haproxy
	// nbthread, nginx worker_processes, GOMAXPROCS for the builtin). 0 leaves the
	// proxy's default.
	Concurrency int `json:"concurrency,omitempty"`
	// AdminListen is host:port of the admin and stats listener. Required.
	AdminListen string `json:"admin_listen"`
	// WorkDir holds the generated configuration, pid and temporary files. It must exist;
	// the caller removes it. Required by Launch; the builtin Run does not use it.
	WorkDir string `json:"work_dir,omitempty"`
}

// Inbound is the listener in front of the local application.
type Inbound struct {
	// Listen is host:port; port 0 picks a free port.
	Listen string `json:"listen"`
	// App is host:port of the application, reached in plaintext.
	App string `json:"app"`
	// Protocol is what this listener carries, when it differs from the Spec's: a
	// service that is called over one protocol and calls its upstreams over another
	// (emojivoto's web: HTTP/1.1 in, gRPC out). Default: the Spec's Protocol.
	Protocol Protocol `json:"protocol,omitempty"`
}

// Outbound is a listener the application calls, forwarding to one upstream sidecar.
type Outbound struct {
	// Listen is host:port; port 0 picks a free port.
	Listen string `json:"listen"`
	// Upstream is host:port of the upstream sidecar's inbound listener (or, with MTLS
	// Off, of anything that speaks Protocol in plaintext).
	Upstream string `json:"upstream"`
	// UpstreamID is the SPIFFE id the upstream must present. "" accepts any identity
	// issued by the run's CA. Envoy and the builtin check the URI SAN; haproxy and nginx
	// can only check a DNS name, so they check the service name at the end of the id
	// (".../sa/<service>"), which the run's CA puts in the same certificate.
	UpstreamID string `json:"upstream_id,omitempty"`
	// Protocol is what this listener carries, when it differs from the Spec's (see
	// Inbound.Protocol). Default: the Spec's Protocol.
	Protocol Protocol `json:"protocol,omitempty"`
}

// withDefaults returns a copy of s with defaults filled in.
func (s Spec) withDefaults() Spec {
	if s.Protocol == "" {
		s.Protocol = HTTP1
	}
	if s.MTLS == "" {
		s.MTLS = Strict
	}
	s.Outbounds = append([]Outbound(nil), s.Outbounds...)
	if s.Inbound != nil {
		in := *s.Inbound
		s.Inbound = &in
	}
	return s
}

// Protocols are the protocols s's listeners carry, each once, the Spec's first.
func (s Spec) Protocols() []Protocol {
	s = s.withDefaults()
	out := []Protocol{s.Protocol}
	add := func(p Protocol) {
		for _, q := range out {
			if q == p {
				return
			}
		}
		out = append(out, p)
	}
	if s.Inbound != nil {
		add(s.inboundSpec().Protocol)
	}
	for i := range s.Outbounds {
		add(s.outboundSpec(i).Protocol)
	}
	return out
}

// inboundSpec is s as its inbound listener sees it: the Spec's Protocol replaced by the
// listener's, so that a proxy's renderer writes that listener as for a one-protocol
// sidecar.
func (s Spec) inboundSpec() Spec {
	if s.Inbound != nil && s.Inbound.Protocol != "" {
		s.Protocol = s.Inbound.Protocol
	}
	return s
}

// outboundSpec is s as outbound i sees it (see inboundSpec).
func (s Spec) outboundSpec(i int) Spec {
	if p := s.Outbounds[i].Protocol; p != "" {
		s.Protocol = p
	}
	return s
}

// Validate returns every problem with s (after defaults), joined.
func (s Spec) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.Name == "" {
		add("name is empty")
	} else if !validName(s.Name) {
		add("name %q: only letters, digits, '.', '-' and '_' are allowed", s.Name)
	}
	switch s.Protocol {
	case HTTP1, H2C, GRPC, TCP:
	default:
		add("protocol %q: want %s, %s, %s or %s", s.Protocol, HTTP1, H2C, GRPC, TCP)
	}
	listenerProtocol := func(field string, p Protocol) {
		switch {
		case p == "" || p == s.Protocol:
		case p != HTTP1 && p != H2C && p != GRPC:
			add("%s.protocol %q: want %s, %s or %s", field, p, HTTP1, H2C, GRPC)
		case s.Protocol == TCP:
			// A TCP sidecar relays bytes; its listeners are not HTTP servers.
			add("%s.protocol %s: a sidecar of protocol tcp carries tcp on every listener", field, p)
		}
	}
	if s.Inbound != nil {
		listenerProtocol("inbound", s.Inbound.Protocol)
	}
	for i, o := range s.Outbounds {
		listenerProtocol(fmt.Sprintf("outbounds[%d]", i), o.Protocol)
	}
	switch s.MTLS {
	case Strict, Permissive, Off:
	default:
		add("mtls %q: want %s, %s or %s", s.MTLS, Strict, Permissive, Off)
	}
	if s.Inbound == nil && len(s.Outbounds) == 0 {
		add("no inbound and no outbound listener")
	}
	checkAddr := func(field, addr string, port0 bool) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			add("%s %q: %v", field, addr, err)
			return
		}
		if host == "" {
			add("%s %q: give a host (127.0.0.1), not only a port", field, addr)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 || (n == 0 && !port0) {
			add("%s %q: bad port", field, addr)
		}
	}
	if s.Inbound != nil {
		checkAddr("inbound.listen", s.Inbound.Listen, true)
		checkAddr("inbound.app", s.Inbound.App, false)
	}
	for i, o := range s.Outbounds {
		checkAddr(fmt.Sprintf("outbounds[%d].listen", i), o.Listen, true)
		checkAddr(fmt.Sprintf("outbounds[%d].upstream", i), o.Upstream, false)
		if o.UpstreamID != "" && !strings.HasPrefix(o.UpstreamID, "spiffe://") {
			add("outbounds[%d].upstream_id %q: want a spiffe:// id", i, o.UpstreamID)
		}
	}
	if s.AdminListen == "" {
		add("admin_listen is empty")
	} else {
		checkAddr("admin_listen", s.AdminListen, true)
	}
	if s.MTLS != Off {
		for _, f := range []struct{ name, v string }{{"cert_file", s.CertFile}, {"key_file", s.KeyFile}, {"ca_file", s.CAFile}} {
			if f.v == "" {
				add("%s is empty (required unless mtls is off)", f.name)
			}
		}
	}
	if s.Concurrency < 0 {
		add("concurrency %d is negative", s.Concurrency)
	}
	if s.WorkDir != "" && !filepath.IsAbs(s.WorkDir) {
		add("work_dir %q: want an absolute path", s.WorkDir)
	}
	return errors.Join(errs...)
}

func validName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return s != ""
}

// Addrs are the addresses a running sidecar listens on.
type Addrs struct {
	Inbound   string   `json:"inbound,omitempty"`
	Outbounds []string `json:"outbounds"`
	Admin     string   `json:"admin"`
}
