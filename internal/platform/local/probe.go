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
	if t.TLS != nil {
		conf, err := clientTLS(t.TLS)
		if err != nil {
			return 0, err
		}
		tr.TLSClientConfig = conf
	}
	switch t.Protocol {
	case spec.ProtocolH2C:
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	case spec.ProtocolH2:
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

// clientTLS is the TLS configuration of a Target: the run's CA as the only root and,
// when the target wants one (an mTLS sidecar), the client certificate.
func clientTLS(f *platform.TLSFiles) (*tls.Config, error) {
	roots := x509.NewCertPool()
	pem, err := os.ReadFile(f.CAFile)
	if err != nil {
		return nil, err
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", f.CAFile)
	}
	conf := &tls.Config{RootCAs: roots, ServerName: f.ServerName}
	if f.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, err
		}
		conf.Certificates = []tls.Certificate{cert}
	}
	return conf, nil
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
