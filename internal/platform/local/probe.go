package local

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/service-mesh-performance/smp/internal/grpcecho"
	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/spec"
)

// probe sends one request to the target the way the load generator will and returns
// how many services answered it (the app's x-smp-hops).
func probe(ctx context.Context, t platform.Target, w spec.Workload) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if t.Protocol == spec.ProtocolGRPC {
		return probeGRPC(ctx, strings.TrimPrefix(t.URLs[0], "grpc://"))
	}
	tr := &http.Transport{DisableKeepAlives: true}
	switch t.Protocol {
	case spec.ProtocolH2C:
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	case spec.ProtocolH2:
		roots := x509.NewCertPool()
		pem, err := os.ReadFile(t.TLS.CAFile)
		if err != nil {
			return 0, err
		}
		roots.AppendCertsFromPEM(pem)
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, ServerName: t.TLS.ServerName}
		tr.ForceAttemptHTTP2 = true
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URLs[0], nil)
	if err != nil {
		return 0, err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if t.Protocol == spec.ProtocolH2C && resp.ProtoMajor != 2 {
		return 0, fmt.Errorf("the answer came over %s, not HTTP/2", resp.Proto)
	}
	return strconv.Atoi(resp.Header.Get("x-smp-hops"))
}

func probeGRPC(ctx context.Context, addr string) (int, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var header metadata.MD
	out := new(wrapperspb.BytesValue)
	if err := conn.Invoke(ctx, grpcecho.FullMethod, wrapperspb.Bytes([]byte("probe")), out, grpc.Header(&header)); err != nil {
		return 0, err
	}
	if v := header.Get("x-smp-hops"); len(v) > 0 {
		return strconv.Atoi(v[0])
	}
	return 0, fmt.Errorf("no x-smp-hops in the answer")
}
