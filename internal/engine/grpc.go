package engine

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/service-mesh-performance/smp/internal/grpcecho"
)

const healthCheckMethod = "/grpc.health.v1.Health/Check"

// grpcFactory runs unary calls over Connections grpc.ClientConns, each
// shared by Streams workers (grpc-go multiplexes them as HTTP/2 streams and
// honours the server's MAX_CONCURRENT_STREAMS).
type grpcFactory struct {
	r      *run
	creds  credentials.TransportCredentials
	method string
	conns  []*grpc.ClientConn
	dialer net.Dialer
}

func newGRPCFactory(r *run) (*grpcFactory, error) {
	f := &grpcFactory{r: r, creds: insecure.NewCredentials(), method: healthCheckMethod}
	if r.ep.tls {
		conf, err := clientTLS(r.cfg.TLS, r.ep, []string{"h2"})
		if err != nil {
			return nil, err
		}
		f.creds = credentials.NewTLS(conf)
	}
	if r.cfg.GRPCCall == Echo {
		f.method = grpcecho.FullMethod
	}
	return f, nil
}

func (f *grpcFactory) open(ctx context.Context, conns, streams int) ([]caller, error) {
	f.conns = make([]*grpc.ClientConn, conns)
	callers := make([]caller, 0, conns*streams)
	for i := range f.conns {
		cc, err := grpc.NewClient("passthrough:///"+f.r.ep.hostPort,
			grpc.WithTransportCredentials(f.creds),
			grpc.WithAuthority(f.r.ep.host),
			grpc.WithUserAgent("smp"),
			// Our own dialer counts every TCP connection, reconnects included.
			grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
				c, err := f.dialer.DialContext(ctx, "tcp", addr)
				if err == nil {
					f.r.stats.connections.Add(1)
				}
				return c, err
			}),
		)
		if err != nil {
			f.close()
			return nil, fmt.Errorf("grpc client for %s: %w", f.r.ep.hostPort, err)
		}
		f.conns[i] = cc
		for range streams {
			callers = append(callers, f.newCaller(cc))
		}
	}
	// Connect every ClientConn before the clock starts; one that does not
	// become ready in time is left to fail its first calls.
	var wg sync.WaitGroup
	for _, cc := range f.conns {
		wg.Go(func() {
			wctx, cancel := context.WithTimeout(ctx, f.r.cfg.Timeout)
			defer cancel()
			cc.Connect()
			for s := cc.GetState(); s != connectivity.Ready; s = cc.GetState() {
				if s == connectivity.TransientFailure || !cc.WaitForStateChange(wctx, s) {
					return
				}
			}
		})
	}
	wg.Wait()
	return callers, ctx.Err()
}

func (f *grpcFactory) newCaller(cc *grpc.ClientConn) *grpcCaller {
	c := &grpcCaller{f: f, cc: cc}
	if f.r.cfg.GRPCCall == Echo {
		req := &wrapperspb.BytesValue{Value: f.r.cfg.Body}
		c.req, c.resp = req, &wrapperspb.BytesValue{}
	} else {
		c.req, c.resp = &healthpb.HealthCheckRequest{Service: f.r.cfg.GRPCService}, &healthpb.HealthCheckResponse{}
	}
	c.reqSize = int64(proto.Size(c.req))
	return c
}

func (f *grpcFactory) connections() int64 { return f.r.stats.connections.Load() }
func (f *grpcFactory) reconnects() int64 {
	// grpc-go reconnects on its own and does not say when; every TCP
	// connection beyond the pool's size is one.
	return max(0, f.r.stats.connections.Load()-int64(len(f.conns)))
}
func (f *grpcFactory) close() {
	for _, cc := range f.conns {
		if cc != nil {
			cc.Close()
		}
	}
}

// grpcCaller is one stream slot: its request and response messages are
// reused for every call.
type grpcCaller struct {
	f       *grpcFactory
	cc      *grpc.ClientConn
	req     proto.Message
	resp    proto.Message
	reqSize int64
}

func (c *grpcCaller) do(ctx context.Context, ps *phaseStats, deadline time.Duration) (int, error) {
	rctx, cancel := context.WithDeadline(ctx, c.f.r.base.Add(deadline))
	err := c.cc.Invoke(rctx, c.f.method, c.req, c.resp)
	cancel()
	ps.bytesSent += c.reqSize
	code := status.Code(err)
	key := grpcStatusBase + int(code)
	if code > codes.Unauthenticated {
		key = grpcStatusBase + int(codes.Unknown)
	}
	if err == nil {
		ps.bytesRecv += int64(proto.Size(c.resp))
		return key, nil
	}
	// A status is a response unless it stands for a transport failure, which
	// grpc-go reports only as UNAVAILABLE/DEADLINE_EXCEEDED/… with text.
	switch code {
	case codes.DeadlineExceeded:
		return key, &classified{class: classTimeout, err: err}
	case codes.Unavailable, codes.Internal, codes.Unknown, codes.Canceled:
		msg := status.Convert(err).Message()
		if strings.Contains(msg, "transport") || strings.Contains(msg, "connection") || strings.Contains(msg, "EOF") {
			cls := classifyText(msg)
			if cls == classOther {
				cls = classClosed
			}
			return key, &classified{class: cls, err: err}
		}
	}
	return key, nil
}

func (c *grpcCaller) abort() { c.cc.Close() }
func (c *grpcCaller) close() {}
