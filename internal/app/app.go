package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/service-mesh-performance/smp/internal/grpcecho"
	"github.com/service-mesh-performance/smp/internal/rawio"
)

// Addrs are the addresses a running service listens on, with the ports it
// was given when the Config asked for port 0. An empty field has no
// listener.
type Addrs struct {
	HTTP string `json:"http"`
	GRPC string `json:"grpc"`
	TLS  string `json:"tls"`
	TCP  string `json:"tcp,omitempty"`
}

// ReadyLine is the single line `smp app` writes to stdout once it listens:
// {"ready":true,"http":"127.0.0.1:1234","grpc":"…","tls":"…"}.
type ReadyLine struct {
	Ready bool `json:"ready"`
	Addrs
}

// drainTimeout is how long Run lets in-flight requests finish once ctx is
// done before it cuts them off. It is short because a stopping service is
// the end of a trial (or a Ctrl-C), where nobody waits for answers.
const drainTimeout = 2 * time.Second

// maxConcurrentStreams is what the HTTP/2 listeners allow per connection:
// well above what one client connection of a benchmark multiplexes, so
// the app is never the first limit (Go's default is 250).
const maxConcurrentStreams = 1024

// Run serves c until ctx is done, then stops (see the package
// documentation) and returns nil. ready, if not nil, is called once, after
// every listener is open, with their actual addresses; it runs on Run's
// goroutine, so it must not block for long. Run returns an error without
// calling ready when c is invalid (defaults applied first), the TLS key
// pair does not load or a listener cannot be opened; it returns an error
// after serving when a server fails on its own. If ctx is already done it
// returns nil without listening.
func Run(ctx context.Context, c Config, ready func(Addrs)) error {
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return fmt.Errorf("service %s: invalid configuration: %w", c.Name, err)
	}
	if ctx.Err() != nil {
		return nil
	}
	var tlsConf *tls.Config
	if c.TLSAddr != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return fmt.Errorf("service %s: load TLS key pair: %w", c.Name, err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	lns, err := listen(ctx, c)
	if err != nil {
		return err
	}
	defer func() { lns.close() }() // closes nothing once the servers own them

	callers, cl, err := newCallers(c)
	if err != nil {
		return fmt.Errorf("service %s: %w", c.Name, err)
	}
	defer cl.close()
	m := newMetrics(c)
	svc := newService(c, m, callers)

	// Requests derive from base, not from ctx: they keep running while
	// the servers drain, and are cut off by cancelling base.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	s := newServers(c, svc, tlsConf, base, lns.http)
	if lns.tcp != nil {
		s.tcp = newTCPServer(c, lns.tcp, newTCPMetrics(c, m.reg))
	}
	failed := make(chan error, 5) // one per serving goroutine: a send never blocks
	var wg sync.WaitGroup
	s.serve(ctx, c.Name, lns, &wg, failed)
	addrs := lns.addrs()
	lns = listeners{} // the servers close them now

	c.Logger.Info("serving", "service", c.Name, "http", addrs.HTTP, "grpc", addrs.GRPC, "tls", addrs.TLS, "tcp", addrs.TCP,
		"upstreams", len(c.Upstreams), "upstream_protocol", string(c.UpstreamProtocol))
	if ready != nil {
		ready(addrs)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-failed:
	}
	c.Logger.Info("stopping", "service", c.Name)
	s.shutdown(cancelBase)
	wg.Wait()
	svc.stop()
	return runErr
}

// servers are the servers of one Run: net/http's (h2c, TLS, and what the HTTP/1.1 fast
// path hands over), the fast path, and gRPC's with its health service.
type servers struct {
	http *http.Server
	h1   *h1Server
	grpc *grpc.Server // nil without a gRPC listener
	hs   *health.Server
	tcp  *tcpServer // nil without a TCP listener
}

func newServers(c Config, svc *service, tlsConf *tls.Config, base context.Context, httpLn net.Listener) *servers {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true) // prior knowledge on the plain port
	protocols.SetHTTP2(true)            // ALPN h2 on the TLS port
	s := &servers{
		http: &http.Server{
			Handler:           svc,
			Protocols:         &protocols,
			HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: maxConcurrentStreams},
			TLSConfig:         tlsConf,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       5 * time.Minute,
			BaseContext:       func(net.Listener) context.Context { return base },
			ErrorLog:          slog.NewLogLogger(c.Logger.Handler(), slog.LevelDebug),
		},
		// Plain HTTP/1.1 takes the fast path (h1.go), which hands the rest to http.
		h1: newH1Server(svc, base, httpLn),
	}
	if c.GRPCAddr != "" {
		s.grpc = grpc.NewServer(grpc.WaitForHandlers(true), grpc.MaxConcurrentStreams(maxConcurrentStreams))
		grpcecho.Register(s.grpc, echoServer{svc})
		s.hs = health.NewServer()
		s.hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		s.hs.SetServingStatus(grpcecho.ServiceName, healthpb.HealthCheckResponse_SERVING)
		healthpb.RegisterHealthServer(s.grpc, s.hs)
	}
	return s
}

// serve starts a goroutine (counted by wg) per listener; a server that fails on its
// own sends the error to failed.
func (s *servers) serve(ctx context.Context, name string, lns listeners, wg *sync.WaitGroup, failed chan<- error) {
	serve := func(what string, ln net.Listener, fn func(net.Listener) error, closed error) {
		if ln == nil {
			return
		}
		wg.Go(func() {
			if err := fn(ln); err != nil && !errors.Is(err, closed) {
				failed <- fmt.Errorf("service %s: serve %s on %s: %w", name, what, ln.Addr(), err)
			}
		})
	}
	serve("http", lns.http, func(net.Listener) error { return s.h1.serve(ctx) }, net.ErrClosed)
	serve("http", s.h1.fallback, s.http.Serve, http.ErrServerClosed)
	serve("tls", lns.tls, func(ln net.Listener) error { return s.http.ServeTLS(ln, "", "") }, http.ErrServerClosed)
	if s.grpc != nil {
		serve("grpc", lns.grpc, s.grpc.Serve, grpc.ErrServerStopped)
	}
	if s.tcp != nil {
		serve("tcp", lns.tcp, func(net.Listener) error { return s.tcp.serve() }, net.ErrClosed)
	}
}

// shutdown drains the servers for up to drainTimeout, then cancels what is still
// running and closes every connection. It returns once the gRPC handlers have
// returned; HTTP handlers are waited for by service.stop.
func (s *servers) shutdown(cancelBase context.CancelFunc) {
	if s.hs != nil {
		s.hs.Shutdown() // NOT_SERVING, for anyone watching
	}
	if s.tcp != nil {
		s.tcp.shutdown()
	}
	dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		if s.http.Shutdown(dctx) != nil {
			cancelBase()
			_ = s.http.Close()
		}
	})
	wg.Go(func() { s.h1.shutdown(dctx, cancelBase) })
	if gs := s.grpc; gs != nil {
		wg.Go(func() {
			stopped := make(chan struct{})
			go func() { gs.GracefulStop(); close(stopped) }()
			select {
			case <-stopped:
			case <-dctx.Done():
				gs.Stop() // also ends GracefulStop
				<-stopped
			}
		})
	}
	wg.Wait()
	cancelBase()
}

// rawIOListener gives the servers connections that do their I/O with raw system
// calls (internal/rawio).
type rawIOListener struct{ net.Listener }

func (l rawIOListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return rawio.Wrap(c), nil
}

// listeners are Run's listeners; http is always there, grpc, tls and tcp when configured.
type listeners struct{ http, grpc, tls, tcp net.Listener }

// listen opens c's listeners, with raw-syscall I/O; on an error it closes what it
// opened.
func listen(ctx context.Context, c Config) (listeners, error) {
	var lns listeners
	var lc net.ListenConfig
	open := func(what, addr string) (net.Listener, error) {
		if addr == "" {
			return nil, nil
		}
		ln, err := lc.Listen(context.WithoutCancel(ctx), "tcp", addr)
		if err != nil {
			lns.close()
			return nil, fmt.Errorf("service %s: listen %s on %s: %w", c.Name, what, addr, err)
		}
		return rawIOListener{ln}, nil
	}
	var err error
	if lns.http, err = open("http", c.HTTPAddr); err != nil {
		return listeners{}, err
	}
	if lns.grpc, err = open("grpc", c.GRPCAddr); err != nil {
		return listeners{}, err
	}
	if lns.tls, err = open("tls", c.TLSAddr); err != nil {
		return listeners{}, err
	}
	if lns.tcp, err = open("tcp", c.TCPAddr); err != nil {
		return listeners{}, err
	}
	return lns, nil
}

// addrs are the listeners' addresses.
func (l listeners) addrs() Addrs {
	a := Addrs{HTTP: l.http.Addr().String()}
	if l.grpc != nil {
		a.GRPC = l.grpc.Addr().String()
	}
	if l.tls != nil {
		a.TLS = l.tls.Addr().String()
	}
	if l.tcp != nil {
		a.TCP = l.tcp.Addr().String()
	}
	return a
}

// close closes what Run opened if it returns before serving.
func (l listeners) close() {
	for _, ln := range []net.Listener{l.http, l.grpc, l.tls, l.tcp} {
		if ln != nil {
			_ = ln.Close()
		}
	}
}
