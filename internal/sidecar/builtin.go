package sidecar

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/service-mesh-performance/smp/internal/h1wire"
	"github.com/service-mesh-performance/smp/internal/pki"
	"github.com/service-mesh-performance/smp/internal/rawio"
)

// Timeouts of the builtin sidecar. They match what Envoy, haproxy and nginx are given
// in their generated configurations, so that no proxy closes connections the others
// keep.
const (
	handshakeTimeout  = 10 * time.Second
	dialTimeout       = 5 * time.Second
	readHeaderTimeout = 30 * time.Second
	// serverIdleTimeout is longer than clientIdleTimeout so that a pooled connection is
	// dropped by the client that owns it before the server closes it under a request.
	serverIdleTimeout = 120 * time.Second
	clientIdleTimeout = 90 * time.Second
	shutdownTimeout   = 2 * time.Second
	// maxIdlePerHost bounds the HTTP/1.1 keep-alive pool per upstream: above any
	// connection count a benchmark uses, so the pool never forces a reconnect.
	maxIdlePerHost = 4096
)

// Config is the builtin sidecar's configuration: the JSON file `smp sidecar --config`
// reads. Its fields mean what Spec's do.
type Config struct {
	Name        string     `json:"name"`
	Inbound     *Inbound   `json:"inbound,omitempty"`
	Outbounds   []Outbound `json:"outbounds,omitempty"`
	Protocol    Protocol   `json:"protocol,omitempty"`
	MTLS        MTLSMode   `json:"mtls,omitempty"`
	CertFile    string     `json:"cert_file,omitempty"`
	KeyFile     string     `json:"key_file,omitempty"`
	CAFile      string     `json:"ca_file,omitempty"`
	Concurrency int        `json:"concurrency,omitempty"`
	AdminListen string     `json:"admin_listen"`
	// Logger receives errors and debug events. Default: discard.
	Logger *slog.Logger `json:"-"`
}

func (c Config) spec() Spec {
	return Spec{
		Name: c.Name, Inbound: c.Inbound, Outbounds: c.Outbounds, Protocol: c.Protocol, MTLS: c.MTLS,
		CertFile: c.CertFile, KeyFile: c.KeyFile, CAFile: c.CAFile, Concurrency: c.Concurrency,
		AdminListen: c.AdminListen,
	}
}

// BuiltinConfig returns the builtin sidecar's configuration for s.
func (s Spec) BuiltinConfig() Config {
	return Config{
		Name: s.Name, Inbound: s.Inbound, Outbounds: s.Outbounds, Protocol: s.Protocol, MTLS: s.MTLS,
		CertFile: s.CertFile, KeyFile: s.KeyFile, CAFile: s.CAFile, Concurrency: s.Concurrency,
		AdminListen: s.AdminListen,
	}
}

// ReadyLine is the one line `smp sidecar` prints on stdout once it serves.
type ReadyLine struct {
	Ready     bool     `json:"ready"`
	Inbound   string   `json:"inbound,omitempty"`
	Outbounds []string `json:"outbounds"`
	Admin     string   `json:"admin"`
}

// Main is the `smp sidecar --config FILE` process: it reads the JSON configuration
// (unknown fields are errors), sets GOMAXPROCS to Concurrency when it is positive (a
// process-wide setting, which is why Run leaves it alone), logs to stderr, prints one
// ReadyLine to stdout once every listener serves, and runs until ctx is done.
func Main(ctx context.Context, configPath string, stdout, stderr io.Writer) error {
	b, err := os.ReadFile(configPath)
	if err != nil {
		return fmt.Errorf("read sidecar config: %w", err)
	}
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return fmt.Errorf("read sidecar config %s: %w", configPath, err)
	}
	if cfg.Concurrency > 0 {
		runtime.GOMAXPROCS(cfg.Concurrency)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var writeErr error
	err = Run(ctx, cfg, func(a Addrs) {
		writeErr = json.NewEncoder(stdout).Encode(ReadyLine{Ready: true, Inbound: a.Inbound, Outbounds: a.Outbounds, Admin: a.Admin})
	})
	if err == nil && writeErr != nil {
		return fmt.Errorf("write ready line: %w", writeErr)
	}
	return err
}

// Run runs the builtin sidecar until ctx is done, then shuts it down (in-flight
// requests get shutdownTimeout) and returns nil. ready, if not nil, is called once,
// with the bound addresses, when every listener serves. A configuration error, or a
// listener that fails, is returned; Run never leaves a listener or goroutine behind.
func Run(ctx context.Context, cfg Config, ready func(Addrs)) error {
	s := cfg.spec().withDefaults()
	if err := s.Validate(); err != nil {
		return fmt.Errorf("sidecar %s: %w", cfg.Name, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("sidecar", s.Name)

	var cr *identity
	if s.MTLS != Off {
		var err error
		if cr, err = loadCredentials(s.CertFile, s.KeyFile, s.CAFile); err != nil {
			return fmt.Errorf("sidecar %s: %w", s.Name, err)
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sc := &sidecar{spec: s, log: log, creds: cr, started: time.Now(), bufs: newBufferPool()}
	if err := sc.listen(); err != nil {
		sc.closeListeners()
		return fmt.Errorf("sidecar %s: %w", s.Name, err)
	}
	// Each frontend can report twice (its accept loop and its server), the admin once:
	// a send never blocks, so shutdown never waits on a stuck reporter.
	errc := make(chan error, 2*len(sc.frontends)+1)
	sc.serve(ctx, errc)
	sc.ready.Store(true)
	if ready != nil {
		ready(sc.addrs())
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		log.Error("listener failed", "err", err)
	}
	sc.shutdown(cancel)
	return err
}

type identity struct {
	cert tls.Certificate
	pool *x509.CertPool
}

func loadCredentials(certFile, keyFile, caFile string) (*identity, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load identity: %w", err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("load CA: no certificate in %s", caFile)
	}
	return &identity{cert: cert, pool: pool}, nil
}

type sidecar struct {
	spec    Spec
	log     *slog.Logger
	creds   *identity
	started time.Time
	bufs    httputil.BufferPool

	frontends  []*frontend
	admin      net.Listener
	adminSrv   *http.Server
	transports []*http.Transport
	ready      atomic.Bool
	wg         sync.WaitGroup
}

// acceptMode is what a frontend accepts on its port.
type acceptMode int

const (
	acceptPlain  acceptMode = iota // plaintext only: outbound listeners, inbound with mTLS off
	acceptTLS                      // mTLS only: strict inbound
	acceptEither                   // mTLS or plaintext, by the first byte: permissive inbound
)

type frontend struct {
	st    *listenerStats
	ln    net.Listener
	mode  acceptMode
	tls   *tls.Config
	conns *h1wire.HandOff // the connections srv serves
	srv   *http.Server    // nil with Protocol TCP
	h1    *h1Proxy        // the HTTP/1.1 fast path; nil unless Protocol is HTTP1
	tcp   *tcpProxy       // the L4 relay; nil unless Protocol is TCP
}

func (sc *sidecar) listen() error {
	s := sc.spec
	if s.Inbound != nil {
		mode := map[MTLSMode]acceptMode{Strict: acceptTLS, Permissive: acceptEither, Off: acceptPlain}[s.MTLS]
		if err := sc.addFrontend("inbound", "inbound", s.Inbound.Listen, s.Inbound.App, s.inboundSpec().Protocol, mode, "", false); err != nil {
			return err
		}
	}
	for i, o := range s.Outbounds {
		if err := sc.addFrontend(fmt.Sprintf("outbound-%d", i), "outbound", o.Listen, o.Upstream, s.outboundSpec(i).Protocol, acceptPlain, o.UpstreamID, s.MTLS != Off); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", s.AdminListen)
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	sc.admin = ln
	return nil
}

// addFrontend opens one listener that carries proto (the Spec's, or the listener's own
// when a service speaks one protocol inbound and another to its upstreams).
func (sc *sidecar) addFrontend(name, direction, listen, target string, proto Protocol, mode acceptMode, upstreamID string, upstreamTLS bool) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("%s listener: %w", name, err)
	}
	st := &listenerStats{name: name, direction: direction, listen: ln.Addr().String(), target: target}
	fe := &frontend{st: st, ln: ln, mode: mode, conns: h1wire.NewHandOff(ln.Addr())}
	sc.frontends = append(sc.frontends, fe)
	if mode != acceptPlain {
		fe.tls = &tls.Config{
			Certificates: []tls.Certificate{sc.creds.cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    sc.creds.pool,
			NextProtos:   []string{"h2", "http/1.1"},
			MinVersion:   tls.VersionTLS12,
		}
	}
	var upTLS *tls.Config
	if upstreamTLS {
		upTLS = sc.upstreamTLS(st, upstreamID)
	}
	if proto == TCP {
		if fe.tls != nil {
			fe.tls.NextProtos = nil // no application protocol to negotiate
		}
		fe.tcp = newTCPProxy(st, target, upTLS)
		return nil
	}
	tr := sc.transport(proto, upTLS)
	sc.transports = append(sc.transports, tr)
	fe.srv = sc.server(fe, tr, target, upstreamTLS)
	if proto == HTTP1 {
		var h1TLS *tls.Config
		if upTLS != nil {
			h1TLS = upTLS.Clone()
			h1TLS.NextProtos = []string{"http/1.1"}
			// The session cache is keyed by ServerName (or else the address); the
			// identity is checked by VerifyConnection, not by name.
			h1TLS.ServerName, _, _ = net.SplitHostPort(target)
		}
		fe.h1 = newH1Proxy(st, sc.log, target, h1TLS, fe.conns)
	}
	return nil
}

// upstreamTLS is the client side of mTLS towards an upstream sidecar: this sidecar's
// identity, the run's CA, and the upstream's SPIFFE id checked on every handshake.
func (sc *sidecar) upstreamTLS(st *listenerStats, upstreamID string) *tls.Config {
	pool := sc.creds.pool
	return &tls.Config{
		Certificates: []tls.Certificate{sc.creds.cert},
		RootCAs:      pool,
		// Peers are authenticated by SPIFFE id, not host name: VerifyConnection checks
		// the chain against the run's CA and the id, on full and resumed handshakes.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			st.upstreamTLS.Add(1)
			raw := make([][]byte, len(cs.PeerCertificates))
			for i, c := range cs.PeerCertificates {
				raw[i] = c.Raw
			}
			return pki.VerifyPeer(raw, pool, x509.ExtKeyUsageServerAuth, upstreamID)
		},
		ClientSessionCache: tls.NewLRUClientSessionCache(256),
		MinVersion:         tls.VersionTLS12,
	}
}

// transport is net/http's connection pool towards one target of protocol proto:
// HTTP/1.1 keep-alive, or one multiplexed HTTP/2 connection (h2c in plaintext, h2 by
// ALPN over TLS, when upTLS is not nil).
func (sc *sidecar) transport(proto Protocol, upTLS *tls.Config) *http.Transport {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return rawio.Wrap(c), nil
		},
		TLSHandshakeTimeout: handshakeTimeout,
		MaxIdleConnsPerHost: maxIdlePerHost,
		IdleConnTimeout:     clientIdleTimeout,
		// A proxy passes Accept-Encoding through untouched; it never adds gzip of its own.
		DisableCompression: true,
	}
	p := new(http.Protocols)
	switch {
	case proto == HTTP1:
		p.SetHTTP1(true)
	case upTLS != nil:
		p.SetHTTP2(true)
	default:
		p.SetUnencryptedHTTP2(true)
	}
	tr.Protocols = p
	tr.TLSClientConfig = upTLS
	return tr
}

func (sc *sidecar) server(fe *frontend, tr *http.Transport, target string, upstreamTLS bool) *http.Server {
	scheme := "http"
	if upstreamTLS {
		scheme = "https"
	}
	st := fe.st
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = scheme
			pr.Out.URL.Host = target
			pr.Out.Host = pr.In.Host
		},
		Transport:  tr,
		BufferPool: sc.bufs,
		ErrorLog:   slog.NewLogLogger(sc.log.Handler(), slog.LevelDebug),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the client went away; nothing to answer, nothing failed here
			}
			st.errors.Add(1)
			sc.log.Debug("proxy error", "listener", st.name, "target", target, "err", err)
			writeProxyError(w, r, err)
		},
	}
	// FlushInterval stays 0. Responses without a length (gRPC, streams) are flushed
	// after every write by ReverseProxy anyway; one that ended with its headers (a gRPC
	// trailers-only status, which the HTTP/2 client reports with ContentLength 0) must
	// not be flushed early, or the status would leave in HEADERS without END_STREAM
	// and gRPC clients would see "server closed the stream without sending trailers".
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	if fe.mode != acceptPlain {
		p.SetHTTP2(true)
	}
	return &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st.requests.Add(1)
			rp.ServeHTTP(w, r)
		}),
		Protocols:         p,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       serverIdleTimeout,
		ErrorLog:          slog.NewLogLogger(sc.log.Handler(), slog.LevelDebug),
	}
}

// writeProxyError answers a request whose upstream failed: gRPC clients get a
// trailers-only UNAVAILABLE (what Envoy sends), others a 502.
func writeProxyError(w http.ResponseWriter, r *http.Request, err error) {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
		h := w.Header()
		h.Set("Content-Type", "application/grpc")
		h.Set("Grpc-Status", "14")
		h.Set("Grpc-Message", "upstream unavailable")
		w.WriteHeader(http.StatusOK)
		return
	}
	status := http.StatusBadGateway
	if errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusGatewayTimeout
	}
	http.Error(w, "sidecar: upstream unavailable", status)
}

func (sc *sidecar) serve(ctx context.Context, errc chan<- error) {
	for _, fe := range sc.frontends {
		sc.wg.Add(1)
		go sc.acceptLoop(ctx, fe, errc)
		if fe.srv == nil {
			continue // TCP: acceptLoop relays every connection itself
		}
		sc.wg.Add(1)
		go func() {
			defer sc.wg.Done()
			if err := fe.srv.Serve(fe.conns); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s: %w", fe.st.name, err)
			}
		}()
	}
	reg := prometheus.NewRegistry()
	stats := make([]*listenerStats, len(sc.frontends))
	for i, fe := range sc.frontends {
		stats[i] = fe.st
	}
	reg.MustRegister(
		newCollector(sc.spec.Name, sc.spec.Protocol, sc.spec.MTLS, stats),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		// The live heap after GC beside the default memstats: what a leak
		// grows, unlike RSS and the heap between collections (bench/soak.sh).
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(sc.document(stats))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		if !sc.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		// The application behind the inbound listener must accept connections too: on
		// Kubernetes it listens on the pod's loopback only, where the kubelet's probes
		// cannot reach it, so the sidecar's readiness stands for both.
		if in := sc.spec.Inbound; in != nil {
			c, err := (&net.Dialer{Timeout: time.Second}).DialContext(r.Context(), "tcp", in.App)
			if err != nil {
				http.Error(w, "the application at "+in.App+" does not accept connections", http.StatusServiceUnavailable)
				return
			}
			_ = c.Close()
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	sc.adminSrv = &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout}
	sc.wg.Add(1)
	go func() {
		defer sc.wg.Done()
		if err := sc.adminSrv.Serve(sc.admin); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("admin: %w", err)
		}
	}()
}

func (sc *sidecar) document(stats []*listenerStats) StatsDocument {
	d := StatsDocument{
		Name:          sc.spec.Name,
		Protocol:      sc.spec.Protocol,
		MTLS:          sc.spec.MTLS,
		Concurrency:   runtime.GOMAXPROCS(0),
		UptimeSeconds: time.Since(sc.started).Seconds(),
		Listeners:     make([]ListenerStats, len(stats)),
	}
	for i, l := range stats {
		d.Listeners[i] = l.snapshot()
	}
	return d
}

// acceptLoop accepts on a frontend and handles each connection in its own goroutine,
// so that a slow handshake never holds up the next accept.
func (sc *sidecar) acceptLoop(ctx context.Context, fe *frontend, errc chan<- error) {
	defer sc.wg.Done()
	err := h1wire.Accept(ctx, fe.ln, sc.log.With("listener", fe.st.name), func(c net.Conn) {
		c = rawio.Wrap(c)
		sc.wg.Add(1)
		go func() {
			defer sc.wg.Done()
			if fe.mode == acceptPlain {
				fe.st.plaintext.Add(1)
				sc.dispatch(fe, fe.st.track(c))
				return
			}
			sc.classify(ctx, fe, c)
		}()
	})
	if err != nil {
		errc <- fmt.Errorf("%s: accept: %w", fe.st.name, err)
	}
}

// tlsRecordHandshake is the first byte of every TLS connection (a handshake record).
const tlsRecordHandshake = 0x16

// dispatch serves a connection, plaintext or TLS after its handshake: by the HTTP/1.1
// fast path when the frontend has one (unless ALPN chose h2), or else by the
// frontend's net/http server, which serves a *tls.Conn as HTTPS (h2 or HTTP/1.1 by
// ALPN) and plaintext as HTTP/1.1 or h2c with prior knowledge.
func (sc *sidecar) dispatch(fe *frontend, c net.Conn) {
	if fe.tcp != nil {
		fe.tcp.relay(c)
		return
	}
	if fe.h1 != nil {
		if tc, ok := c.(*tls.Conn); !ok || tc.ConnectionState().NegotiatedProtocol != "h2" {
			fe.h1.serve(c)
			return
		}
	}
	if !fe.conns.Deliver(c) {
		c.Close()
	}
}

// classify reads the first byte of a connection: a TLS handshake is completed here
// (so that its outcome is counted) and the connection dispatched as *tls.Conn;
// anything else is plaintext, served in permissive mode and refused in strict mode.
func (sc *sidecar) classify(ctx context.Context, fe *frontend, raw net.Conn) {
	c := fe.st.track(raw)
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var first [1]byte
	if _, err := io.ReadFull(c, first[:]); err != nil {
		c.Close()
		return
	}
	pc := &peekedConn{Conn: c, first: first[0], pending: true}
	if first[0] != tlsRecordHandshake {
		if fe.mode == acceptTLS {
			fe.st.plaintextRefused.Add(1)
			sc.log.Debug("plaintext connection refused (strict mTLS)", "listener", fe.st.name, "remote", c.RemoteAddr())
			c.Close()
			return
		}
		fe.st.plaintext.Add(1)
		_ = c.SetDeadline(time.Time{})
		stop()
		sc.dispatch(fe, pc)
		return
	}
	tc := tls.Server(pc, fe.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		fe.st.handshakeErrors.Add(1)
		sc.log.Debug("TLS handshake failed", "listener", fe.st.name, "remote", c.RemoteAddr(), "err", err)
		c.Close()
		return
	}
	fe.st.handshakes.Add(1)
	_ = c.SetDeadline(time.Time{})
	stop()
	sc.dispatch(fe, tc)
}

// peekedConn gives back the byte classify read before the rest of the stream.
type peekedConn struct {
	net.Conn
	first   byte
	pending bool
}

func (c *peekedConn) Read(b []byte) (int, error) {
	if c.pending && len(b) > 0 {
		c.pending = false
		b[0] = c.first
		if len(b) == 1 {
			return 1, nil
		}
		n, err := c.Conn.Read(b[1:])
		if err != nil && n == 0 {
			return 1, nil // report the error on the next Read
		}
		return n + 1, err
	}
	return c.Conn.Read(b)
}

func (sc *sidecar) addrs() Addrs {
	a := Addrs{Outbounds: []string{}, Admin: sc.admin.Addr().String()}
	for _, fe := range sc.frontends {
		if fe.st.direction == "inbound" {
			a.Inbound = fe.st.listen
		} else {
			a.Outbounds = append(a.Outbounds, fe.st.listen)
		}
	}
	return a
}

func (sc *sidecar) closeListeners() {
	for _, fe := range sc.frontends {
		fe.ln.Close()
		if fe.conns != nil {
			fe.conns.Close()
		}
	}
	if sc.admin != nil {
		sc.admin.Close()
	}
}

// shutdown stops accepting, aborts handshakes in progress, gives in-flight requests
// shutdownTimeout, closes everything and waits for every goroutine.
func (sc *sidecar) shutdown(cancel context.CancelFunc) {
	sc.ready.Store(false)
	sc.closeListeners()
	cancel()
	ctx, done := context.WithTimeout(context.Background(), shutdownTimeout)
	defer done()
	var wg sync.WaitGroup
	servers := []*http.Server{sc.adminSrv}
	for _, fe := range sc.frontends {
		if fe.srv != nil {
			servers = append(servers, fe.srv)
		}
	}
	for _, srv := range servers {
		wg.Go(func() {
			if err := srv.Shutdown(ctx); err != nil {
				_ = srv.Close()
			}
		})
	}
	for _, fe := range sc.frontends {
		if fe.h1 != nil {
			wg.Go(func() { fe.h1.shutdown(ctx) })
		}
		if fe.tcp != nil {
			wg.Go(fe.tcp.shutdown)
		}
	}
	wg.Wait()
	sc.wg.Wait()
	for _, tr := range sc.transports {
		tr.CloseIdleConnections()
	}
}

// bufferPool recycles ReverseProxy's copy buffers.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(s []byte) { b.p.Put(&s) }
