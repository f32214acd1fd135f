package grpcecho

import (
	"bytes"
	"context"
	"net"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEchoOverTheWire(t *testing.T) {
	tests := []struct {
		name string
		size int
		req  []byte
		want []byte
	}{
		{"fixed size", 5, []byte("ignored"), []byte("abcde")},
		{"empty", 0, []byte("x"), nil},
		{"echo", -1, []byte("hello"), []byte("hello")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			s := grpc.NewServer()
			Register(s, NewServer(tc.size))
			done := make(chan struct{})
			go func() { defer close(done); s.Serve(ln) }()
			defer func() { s.Stop(); <-done }()

			cc, err := grpc.NewClient("passthrough:///"+ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			resp := &wrapperspb.BytesValue{}
			if err := cc.Invoke(context.Background(), FullMethod, &wrapperspb.BytesValue{Value: tc.req}, resp); err != nil {
				t.Fatalf("invoke %s: %v", FullMethod, err)
			}
			if !bytes.Equal(resp.GetValue(), tc.want) {
				t.Errorf("got %q, want %q", resp.GetValue(), tc.want)
			}
		})
	}
}

func TestNames(t *testing.T) {
	if FullMethod != "/smp.echo.v1.Echo/Echo" {
		t.Errorf("FullMethod %q", FullMethod)
	}
	d := ServiceDesc()
	if d.ServiceName != ServiceName || len(d.Methods) != 1 || d.Methods[0].MethodName != MethodName {
		t.Errorf("desc %+v", d)
	}
	if ServiceDesc() == d {
		t.Error("ServiceDesc returns a shared value")
	}
}
