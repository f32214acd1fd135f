package grpcecho

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Names of the service and its method, as they appear on the wire.
const (
	ServiceName = "smp.echo.v1.Echo"
	MethodName  = "Echo"
	// FullMethod is what grpc.ClientConn.Invoke takes.
	FullMethod = "/" + ServiceName + "/" + MethodName
)

// EchoServer is the server side of the service.
type EchoServer interface {
	Echo(ctx context.Context, req *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error)
}

// ServiceDesc describes the service to grpc.Server.RegisterService. It is
// a function rather than a package variable so that no caller can change
// what another registers.
func ServiceDesc() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: ServiceName,
		HandlerType: (*EchoServer)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: MethodName,
			Handler:    echoHandler,
		}},
		Metadata: "smp/echo/v1/echo.proto",
	}
}

// Register serves srv on s.
func Register(s *grpc.Server, srv EchoServer) {
	s.RegisterService(ServiceDesc(), srv)
}

// echoHandler has the shape protoc-gen-go-grpc generates for a unary method.
func echoHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(wrapperspb.BytesValue)
	if err := dec(in); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return srv.(EchoServer).Echo(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: FullMethod}
	handler := func(ctx context.Context, req any) (any, error) {
		return srv.(EchoServer).Echo(ctx, req.(*wrapperspb.BytesValue))
	}
	return interceptor(ctx, in, info, handler)
}

// Server answers every call with a fixed payload, or echoes the request.
type Server struct {
	payload []byte
	echo    bool
}

// NewServer returns a server whose responses carry size bytes; size < 0
// echoes each request's bytes back instead.
func NewServer(size int) *Server {
	if size < 0 {
		return &Server{echo: true}
	}
	p := make([]byte, size)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return &Server{payload: p}
}

// Echo implements EchoServer. The payload is shared by all responses:
// marshalling only reads it.
func (s *Server) Echo(_ context.Context, req *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	if s.echo {
		return &wrapperspb.BytesValue{Value: req.GetValue()}, nil
	}
	return &wrapperspb.BytesValue{Value: s.payload}, nil
}
