package engine

import (
	"encoding/binary"
	"errors"

	"golang.org/x/net/http2"
)

// gRPC unary calls run on the HTTP/2 client of h2.go: a call is a POST of
// one length-prefixed message with content-type application/grpc and
// te: trailers, answered by headers, one message and trailers carrying
// grpc-status (or by headers alone, "Trailers-Only"). Both supported
// methods have tiny, fixed requests, so the message is encoded once per run
// here instead of by a protobuf library, and responses are not decoded:
// their message bytes are counted and their status read from the trailers.
// grpc-go is therefore not linked into the engine at all.

// Method paths. echoMethod must equal grpcecho.FullMethod (a test checks);
// it is repeated here so the engine does not link grpc-go through grpcecho.
const (
	healthCheckMethod = "/grpc.health.v1.Health/Check"
	echoMethod        = "/smp.echo.v1.Echo/Echo"
)

// gRPC status codes the client itself produces.
const (
	grpcCancelled         = 1
	grpcUnknown           = 2
	grpcDeadlineExceeded  = 4
	grpcPermissionDenied  = 7
	grpcResourceExhausted = 8
	grpcUnimplemented     = 12
	grpcInternal          = 13
	grpcUnavailable       = 14
	grpcUnauthenticated   = 16
)

func grpcPath(c Config) string {
	if c.GRPCCall == Echo {
		return echoMethod
	}
	return healthCheckMethod
}

// grpcMessage is the request message in protobuf wire form. Both
// grpc.health.v1.HealthCheckRequest and google.protobuf.BytesValue (the
// echo method's request) have a single length-delimited field 1, which
// proto3 omits when empty.
func grpcMessage(c Config) []byte {
	var v []byte
	if c.GRPCCall == Echo {
		v = c.Body
	} else {
		v = []byte(c.GRPCService)
	}
	if len(v) == 0 {
		return nil
	}
	b := binary.AppendUvarint([]byte{1<<3 | 2}, uint64(len(v)))
	return append(b, v...)
}

// grpcCode is the status of a call that got a response: grpc-status when
// the server sent one, otherwise the code gRPC's HTTP mapping gives
// (doc/http-grpc-status-mapping.md in the gRPC repository), and INTERNAL for
// a 200 that ended without trailers, as grpc-go reports it.
func grpcCode(httpStatus, grpcStatus int) int {
	if grpcStatus >= 0 {
		if grpcStatus >= len(grpcCodeNames) {
			return grpcUnknown
		}
		return grpcStatus
	}
	switch httpStatus {
	case 200:
		return grpcInternal
	case 400:
		return grpcInternal
	case 401:
		return grpcUnauthenticated
	case 403:
		return grpcPermissionDenied
	case 404:
		return grpcUnimplemented
	case 429, 502, 503, 504:
		return grpcUnavailable
	}
	return grpcUnknown
}

// grpcTransportCode is the status a gRPC client reports for a call that
// failed without a response, as grpc-go maps it: so the status counts match
// other gRPC tools while the error class says what actually happened.
func grpcTransportCode(err error) int {
	var rst h2ResetError
	var pe *protocolError
	switch {
	case errors.As(err, &rst):
		switch rst.code {
		case http2.ErrCodeCancel:
			return grpcCancelled
		case http2.ErrCodeRefusedStream:
			return grpcUnavailable
		case http2.ErrCodeFlowControl, http2.ErrCodeEnhanceYourCalm:
			return grpcResourceExhausted
		case http2.ErrCodeInadequateSecurity:
			return grpcPermissionDenied
		}
		return grpcInternal
	case classify(err) == classTimeout:
		return grpcDeadlineExceeded
	case errors.As(err, &pe):
		return grpcInternal
	}
	return grpcUnavailable
}
