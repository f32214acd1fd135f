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

	var lns listeners
	defer func() { lns.close() }() // closes nothing once the servers own them
	var lc net.ListenConfig
	listen := func(what, addr string) (net.Listener, error) {
		if addr == "" {
			return nil, nil
		}
		ln, err := lc.Listen(context.WithoutCancel(ctx), "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("service %s: listen %s on %s: %w", c.Name, what, addr, err)
		}
		ln = rawIOListener{ln}
		lns = append(lns, ln)
		return ln, nil
	}
	httpLn, err := listen("http", c.HTTPAddr)
	if err != nil {
		return err
	}
	grpcLn, err := listen("grpc", c.GRPCAddr)
	if err != nil {
		return err
	}
	tlsLn, err := listen("tls", c.TLSAddr)
	if err != nil {
		return err
	}

	callers, cl, err := newCallers(c)
	if err != nil {
		return fmt.Errorf("service %s: %w", c.Name, err)
	}
	defer cl.close()
	svc := newService(c, newMetrics(c), callers)

	// Requests derive from base, not from ctx: they keep running while
	// the servers drain, and are cut off by cancelling base.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true) // prior knowledge on the plain port
	protocols.SetHTTP2(true)            // ALPN h2 on the TLS port
	srv := &http.Server{
		Handler:           svc,
		Protocols:         &protocols,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: maxConcurrentStreams},
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(c.Logger.Handler(), slog.LevelDebug),
	}

	var gs *grpc.Server
	var hs *health.Server
	if grpcLn != nil {
		gs = grpc.NewServer(grpc.WaitForHandlers(true), grpc.MaxConcurrentStreams(maxConcurrentStreams))
		grpcecho.Register(gs, echoServer{svc})
		hs = health.NewServer()
		hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		hs.SetServingStatus(grpcecho.ServiceName, healthpb.HealthCheckResponse_SERVING)
		healthpb.RegisterHealthServer(gs, hs)
	}

	failed := make(chan error, 3)
	var wg sync.WaitGroup
	serve := func(what string, ln net.Listener, fn func(net.Listener) error, closed error) {
		if ln == nil {
			return
		}
		wg.Go(func() {
			if err := fn(ln); err != nil && !errors.Is(err, closed) {
				failed <- fmt.Errorf("service %s: serve %s on %s: %w", c.Name, what, ln.Addr(), err)
			}
		})
	}
	// Plain HTTP/1.1 takes the fast path (h1.go), which hands the rest to srv.
	h1 := newH1Server(svc, base, httpLn)
	serve("http", httpLn, func(net.Listener) error { return h1.serve(ctx) }, net.ErrClosed)
	serve("http", h1.fallback, srv.Serve, http.ErrServerClosed)
	serve("tls", tlsLn, func(ln net.Listener) error { return srv.ServeTLS(ln, "", "") }, http.ErrServerClosed)
	if gs != nil {
		serve("grpc", grpcLn, gs.Serve, grpc.ErrServerStopped)
	}
	lns = nil // the servers close them now

	addrs := Addrs{HTTP: httpLn.Addr().String()}
	if grpcLn != nil {
		addrs.GRPC = grpcLn.Addr().String()
	}
	if tlsLn != nil {
		addrs.TLS = tlsLn.Addr().String()
	}
	c.Logger.Info("serving", "service", c.Name, "http", addrs.HTTP, "grpc", addrs.GRPC, "tls", addrs.TLS,
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
	shutdown(srv, h1, gs, hs, cancelBase)
	wg.Wait()
	svc.stop()
	return runErr
}

// shutdown drains both servers for up to drainTimeout, then cancels what
// is still running and closes every connection. It returns once the gRPC
// handlers have returned; HTTP handlers are waited for by service.stop.
func shutdown(srv *http.Server, h1 *h1Server, gs *grpc.Server, hs *health.Server, cancelBase context.CancelFunc) {
	if hs != nil {
		hs.Shutdown() // NOT_SERVING, for anyone watching
	}
	dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		if srv.Shutdown(dctx) != nil {
			cancelBase()
			_ = srv.Close()
		}
	})
	wg.Go(func() { h1.shutdown(dctx, cancelBase) })
	if gs != nil {
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
// calls (rawio_linux.go).
type rawIOListener struct{ net.Listener }

func (l rawIOListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return rawio.Wrap(c), nil
}

// listeners closes what Run opened if it returns before serving.
type listeners []net.Listener

func (l listeners) close() {
	for _, ln := range l {
		_ = ln.Close()
	}
}
