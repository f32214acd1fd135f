package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/service-mesh-performance/smp/internal/grpcecho"
	"github.com/service-mesh-performance/smp/internal/rawio"
)

// Header names of the contract between services (and with smp's checks).
// HTTP/2 and gRPC carry them lower-cased.
const (
	headerService = "X-Smp-Service"
	headerHops    = "X-Smp-Hops"
	mdService     = "x-smp-service"
	mdHops        = "x-smp-hops"
)

const numPropagated = 10

// propagated are the tracing headers a mesh expects an application to pass
// from its inbound request to its outbound calls (Istio's list, without the
// vendor-specific ones), lower-cased as HTTP/2 and gRPC metadata carry them.
func propagated() [numPropagated]string {
	return [...]string{"x-request-id", "traceparent", "tracestate", "b3", "x-b3-traceid",
		"x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags", "x-ot-span-context"}
}

// inbound is what an upstream call takes from the request being served.
type inbound struct {
	// path is the HTTP path and query ("/" for a request that came over gRPC).
	path string
	// trace holds the propagated headers present, as name, value pairs.
	trace []string
}

// maxMessage bounds how much of an upstream's error reply is quoted, so a
// long chain of failures stays one readable line.
const maxMessage = 512

// callResult is the outcome of one upstream call.
type callResult struct {
	hops    int    // the upstream's x-smp-hops, 0 if absent or malformed
	outcome string // one of the outcome constants
	err     error  // nil when outcome is ok
}

// caller calls one upstream. Implementations are safe for concurrent use.
type caller interface {
	call(ctx context.Context, in inbound) callResult
}

// clients are the connection pools of one Run, shared by all its upstreams.
type clients struct {
	h1        []*h1Caller        // http1, one pool per upstream
	transport *http.Transport    // h2c
	conns     []*grpc.ClientConn // grpc, one per upstream
}

func (cl *clients) close() {
	for _, h := range cl.h1 {
		h.close()
	}
	if cl.transport != nil {
		cl.transport.CloseIdleConnections()
	}
	for _, cc := range cl.conns {
		_ = cc.Close()
	}
}

// newCallers builds one caller per upstream.
//
// HTTP/1.1 uses one keep-alive pool per upstream of up to maxIdlePerHost
// idle connections: a connection is opened for every concurrent call and
// kept, so at steady state no call pays a handshake. h2c uses the standard
// library's HTTP/2 transport with prior knowledge (http.Protocols with only
// UnencryptedHTTP2; the same code as golang.org/x/net/http2 with AllowHTTP,
// bundled): it multiplexes calls over one connection and opens another when
// the upstream's MAX_CONCURRENT_STREAMS is reached. gRPC uses one
// grpc.ClientConn per upstream, whose reconnect backoff is capped at 1s
// (grpc-go's default grows to 120s) so that an upstream that comes up or
// back a little later is used within a second.
func newCallers(c Config) ([]caller, *clients, error) {
	cl := &clients{}
	if len(c.Upstreams) == 0 || c.UpstreamProtocol == TCP {
		// A TCP upstream is reached by relaying TCPAddr's connections (tcp.go); HTTP
		// requests to such a service call no upstream.
		return nil, cl, nil
	}
	d := &net.Dialer{Timeout: c.UpstreamTimeout, KeepAlive: 30 * time.Second}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return rawio.Wrap(conn), nil
	}
	callers := make([]caller, 0, len(c.Upstreams))
	switch c.UpstreamProtocol {
	case HTTP1:
		for _, u := range c.Upstreams {
			h := newH1Caller(u.Addr, dial)
			cl.h1 = append(cl.h1, h)
			callers = append(callers, h)
		}
	case H2C:
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		cl.transport = &http.Transport{
			DialContext:         dial,
			Protocols:           &p,
			MaxIdleConnsPerHost: maxIdlePerHost,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true, // the body is as the upstream served it
		}
		for _, u := range c.Upstreams {
			callers = append(callers, &httpCaller{base: "http://" + u.Addr, transport: cl.transport})
		}
	case GRPC:
		bo := backoff.DefaultConfig
		bo.BaseDelay = 50 * time.Millisecond
		bo.MaxDelay = time.Second
		for _, u := range c.Upstreams {
			cc, err := grpc.NewClient("passthrough:///"+u.Addr,
				grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
					return dial(ctx, "tcp", addr)
				}),
				grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: c.UpstreamTimeout}),
				grpc.WithUserAgent("smp-app"),
			)
			if err != nil {
				cl.close()
				return nil, nil, fmt.Errorf("grpc client for upstream %s (%s): %w", u.Name, u.Addr, err)
			}
			cl.conns = append(cl.conns, cc)
			callers = append(callers, &grpcCaller{cc: cc})
		}
	default:
		return nil, nil, fmt.Errorf("upstream protocol %q: unknown", c.UpstreamProtocol)
	}
	return callers, cl, nil
}

// maxIdlePerHost is far above any concurrency a benchmark drives through
// one service (the engine caps connections × streams at a few thousand),
// so the pool never closes a connection it will need again a moment later.
const maxIdlePerHost = 4096

type httpCaller struct {
	base      string // "http://host:port"
	transport *http.Transport
}

func (h *httpCaller) call(ctx context.Context, in inbound) callResult {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+in.path, nil)
	if err != nil {
		return callResult{outcome: outcomeError, err: err}
	}
	for i := 0; i+1 < len(in.trace); i += 2 {
		req.Header.Set(in.trace[i], in.trace[i+1])
	}
	resp, err := h.transport.RoundTrip(req)
	if err != nil {
		return callResult{outcome: outcomeError, err: err}
	}
	defer resp.Body.Close()
	r := callResult{hops: parseHops(resp.Header.Get(headerHops)), outcome: outcomeOK}
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxMessage))
		_, _ = io.Copy(io.Discard, resp.Body) // so the connection can be reused
		r.outcome = outcomeStatus
		r.err = fmt.Errorf("answered %d: %s", resp.StatusCode, oneLine(msg))
		return r
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return callResult{hops: r.hops, outcome: outcomeError, err: fmt.Errorf("read body: %w", err)}
	}
	return r
}

type grpcCaller struct {
	cc *grpc.ClientConn
}

func (g *grpcCaller) call(ctx context.Context, in inbound) callResult {
	if len(in.trace) > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, in.trace...)
	}
	var header, trailer metadata.MD
	resp := &wrapperspb.BytesValue{}
	err := g.cc.Invoke(ctx, grpcecho.FullMethod, &wrapperspb.BytesValue{}, resp, grpc.Header(&header), grpc.Trailer(&trailer))
	hops := header.Get(mdHops)
	if len(hops) == 0 {
		hops = trailer.Get(mdHops)
	}
	r := callResult{outcome: outcomeOK}
	if len(hops) > 0 {
		r.hops = parseHops(hops[0])
	}
	if err == nil {
		return r
	}
	st := status.Convert(err)
	r.err = fmt.Errorf("answered %s: %s", st.Code(), oneLine([]byte(st.Message())))
	// An smp service that answered sends its name even on failure; without
	// it the error came from the client or the transport (no answer).
	if len(header.Get(mdService)) > 0 || len(trailer.Get(mdService)) > 0 {
		r.outcome = outcomeStatus
	} else {
		r.outcome = outcomeError
		r.err = errors.New(st.Message())
	}
	return r
}

// parseHops reads an x-smp-hops value; anything but a small non-negative
// number counts as 0 hops.
func parseHops(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 1<<20 {
		return 0
	}
	return n
}

// oneLine trims msg to one line of at most maxMessage bytes.
func oneLine(msg []byte) string {
	s := strings.TrimSpace(string(msg))
	if len(s) > maxMessage {
		s = s[:maxMessage] + "…"
	}
	return strings.ReplaceAll(s, "\n", " ")
}
