package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/service-mesh-performance/smp/internal/grpcecho"
)

// service is what every listener of one Run serves.
type service struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	metrics http.Handler
	callers []caller

	// Built once, shared by every reply (nothing writes to them).
	body          []byte
	contentLength []string
	nameValue     []string
	hopsValues    [][]string // hopsValues[n] = {"n"} for small n
	textPlain     []string
	octetStream   []string

	// handlers counts the HTTP handlers running, so that Run can wait for
	// them: http.Server.Close does not. Adding is refused once stopped.
	mu       sync.RWMutex
	stopped  bool
	handlers sync.WaitGroup
}

var _ grpcecho.EchoServer = echoServer{}

func newService(c Config, m *metrics, callers []caller) *service {
	s := &service{
		cfg:           c,
		log:           c.Logger,
		m:             m,
		metrics:       m.handler(),
		callers:       callers,
		body:          makeBody(c.ResponseSize),
		contentLength: []string{strconv.Itoa(c.ResponseSize)},
		nameValue:     []string{c.Name},
		textPlain:     []string{"text/plain; charset=utf-8"},
		octetStream:   []string{"application/octet-stream"},
	}
	for n := range 1 + len(c.Upstreams) + 64 {
		s.hopsValues = append(s.hopsValues, []string{strconv.Itoa(n)})
	}
	return s
}

// makeBody returns n bytes of readable filler, the same as grpcecho's.
func makeBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

func (s *service) hops(n int) []string {
	if n < len(s.hopsValues) {
		return s.hopsValues[n]
	}
	return []string{strconv.Itoa(n)}
}

// enter registers a running handler; it reports false once Run is stopping.
func (s *service) enter() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.stopped {
		return false
	}
	s.handlers.Add(1)
	return true
}

// stop refuses new handlers and waits for the running ones.
func (s *service) stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.handlers.Wait()
}

// work does what every request does after its body was read: burn CPU,
// wait, call every upstream. It returns the hops the reply reports and, if
// an upstream failed, the message that names it ("" when all succeeded).
func (s *service) work(ctx context.Context, in inbound) (hops int, failure string) {
	burnCPU(ctx, s.cfg.CPUTime)
	if d := s.cfg.Delay; d > 0 && ctx.Err() == nil {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	hops = 1
	if len(s.callers) == 0 || ctx.Err() != nil {
		return hops, ""
	}
	uctx, cancel := context.WithTimeout(ctx, s.cfg.UpstreamTimeout)
	defer cancel()
	if len(s.callers) == 1 {
		r := s.call(ctx, uctx, 0, in)
		if r.err != nil {
			return hops + r.hops, s.describe([]callResult{r})
		}
		return hops + r.hops, ""
	}
	results := make([]callResult, len(s.callers))
	if s.cfg.Sequential {
		for i := range s.callers {
			results[i] = s.call(ctx, uctx, i, in)
		}
	} else {
		var wg sync.WaitGroup
		for i := 1; i < len(s.callers); i++ {
			wg.Go(func() { results[i] = s.call(ctx, uctx, i, in) })
		}
		results[0] = s.call(ctx, uctx, 0, in)
		wg.Wait()
	}
	failed := false
	for _, r := range results {
		hops += r.hops
		failed = failed || r.err != nil
	}
	if failed {
		return hops, s.describe(results)
	}
	return hops, ""
}

// call calls upstream i and counts the outcome. A call that failed without
// an answer once uctx's deadline had passed is a timeout, unless the
// request itself (ctx) was abandoned first. The deadline is compared with
// the clock, not read from uctx.Err: a gRPC upstream enforces the same
// deadline (sent as grpc-timeout) and its RST_STREAM can arrive before
// uctx's own timer has run.
func (s *service) call(ctx, uctx context.Context, i int, in inbound) callResult {
	start := time.Now()
	r := s.callers[i].call(uctx, in)
	if r.err != nil && r.outcome == outcomeError {
		deadline, _ := uctx.Deadline()
		switch {
		case ctx.Err() != nil:
			r.outcome = outcomeCanceled
		case !time.Now().Before(deadline):
			r.outcome = outcomeTimeout
			r.err = fmt.Errorf("no answer within %v", s.cfg.UpstreamTimeout)
		}
	}
	um := s.m.byUp[i]
	um.duration.Observe(time.Since(start).Seconds())
	um.count(r.outcome)
	return r
}

// describe names every failed upstream: "svc-1: upstream svc-2
// (127.0.0.1:9002): answered 502: svc-2: upstream svc-3 (…): …".
func (s *service) describe(results []callResult) string {
	var b strings.Builder
	b.WriteString(s.cfg.Name)
	b.WriteString(": ")
	first := true
	for i, r := range results {
		if r.err == nil {
			continue
		}
		if !first {
			b.WriteString("; ")
		}
		first = false
		u := s.cfg.Upstreams[i]
		if u.Name == u.Addr {
			fmt.Fprintf(&b, "upstream %s: %v", u.Name, r.err)
		} else {
			fmt.Fprintf(&b, "upstream %s (%s): %v", u.Name, u.Addr, r.err)
		}
	}
	msg := b.String()
	s.log.Debug("upstream failed", "error", msg)
	return msg
}

// ServeHTTP answers /healthz and /metrics itself and treats every other
// path as a request to serve.
func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz":
		w.Header()["Content-Type"] = s.textPlain
		_, _ = io.WriteString(w, "ok\n")
		return
	case "/metrics":
		s.metrics.ServeHTTP(w, r)
		return
	}
	if !s.enter() {
		w.Header()["Connection"] = []string{"close"}
		http.Error(w, s.cfg.Name+": shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.handlers.Done()
	start := time.Now()
	pm := s.protoMetrics(r)
	s.m.inFlight.Inc()

	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body) // a broken body shows as a cancelled ctx
	}
	ctx := r.Context()
	hops, failure := s.work(ctx, inbound{path: requestPath(r), trace: httpTrace(r.Header)})

	// Everything is counted before the reply is written, so that a client
	// holding its reply finds it in the metrics. The duration therefore
	// leaves out copying the body to the connection.
	code, counter := http.StatusOK, pm.ok
	switch {
	case ctx.Err() != nil:
		// Either the client went away (it will see nothing) or Run is
		// stopping (it must not see a 200 with no body).
		code, counter, failure = http.StatusServiceUnavailable, pm.gone, s.cfg.Name+": request abandoned"
	case failure != "":
		code, counter = http.StatusBadGateway, pm.bad
	}
	counter.Inc()
	pm.duration.Observe(time.Since(start).Seconds())
	s.m.inFlight.Dec()

	h := w.Header()
	h[headerService] = s.nameValue
	h[headerHops] = s.hops(hops)
	if code != http.StatusOK {
		h["Content-Type"] = s.textPlain
		w.WriteHeader(code)
		_, _ = io.WriteString(w, failure+"\n")
		return
	}
	h["Content-Type"] = s.octetStream
	h["Content-Length"] = s.contentLength
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(s.body)
}

func (s *service) protoMetrics(r *http.Request) *protoMetrics {
	p := protoHTTP1
	switch {
	case r.ProtoMajor == 2 && r.TLS != nil:
		p = protoH2
	case r.ProtoMajor == 2:
		p = protoH2C
	case r.TLS != nil:
		p = protoHTTP1TLS
	}
	return s.m.byProto[p]
}

// requestPath is the path and query to call upstreams with, as the client
// sent them.
func requestPath(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		return r.RequestURI
	}
	return r.URL.RequestURI() // absolute-form or "*"
}

func httpTrace(h http.Header) []string {
	var trace []string
	for _, name := range propagated() {
		if v := h.Get(name); v != "" {
			trace = append(trace, name, v)
		}
	}
	return trace
}

func grpcTrace(md metadata.MD) []string {
	var trace []string
	for _, name := range propagated() {
		if v := md.Get(name); len(v) > 0 {
			trace = append(trace, name, v[0])
		}
	}
	return trace
}

// echoServer serves smp.echo.v1.Echo/Echo with the same steps as HTTP. It
// implements grpcecho.EchoServer itself because grpcecho.Server answers
// at once, with no hook to call upstreams first.
type echoServer struct{ s *service }

func (e echoServer) Echo(ctx context.Context, _ *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	s := e.s
	start := time.Now()
	pm := s.m.byProto[protoGRPC]
	s.m.inFlight.Inc()

	md, _ := metadata.FromIncomingContext(ctx)
	hops, failure := s.work(ctx, inbound{path: "/", trace: grpcTrace(md)})
	out := metadata.MD{mdService: s.nameValue, mdHops: s.hops(hops)}
	// As for HTTP, counted before grpc-go sends the reply.
	defer s.m.inFlight.Dec()
	defer func() { pm.duration.Observe(time.Since(start).Seconds()) }()
	switch {
	case ctx.Err() != nil:
		pm.gone.Inc()
		return nil, status.FromContextError(ctx.Err()).Err()
	case failure != "":
		// A failure is sent trailers-only, so the names go in the trailer.
		_ = grpc.SetHeader(ctx, out)
		_ = grpc.SetTrailer(ctx, out)
		pm.bad.Inc()
		return nil, status.Error(codes.Unavailable, failure)
	}
	_ = grpc.SetHeader(ctx, out)
	pm.ok.Inc()
	return &wrapperspb.BytesValue{Value: s.body}, nil
}
