package local

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
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
	"github.com/service-mesh-performance/smp/result"
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

// verifyTCP checks a TCP deployment, which has no header to count hops with: one
// message goes through it on a connection kept open while every proxy is asked whether
// it carries it (an active connection), and every service must have counted its bytes
// (the app counts them before passing them on, so they are counted once the echo is
// back).
func (p *Platform) verifyTCP(ctx context.Context, d *platform.Deployment, st *deployment) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	carried := func(c platform.Component) (float64, error) {
		return scrapeValue(ctx, c.MetricsURL, `smp_app_tcp_bytes_total{direction="in",service="`+c.Name+`"}`)
	}
	before := map[string]float64{}
	for _, c := range d.Components {
		if c.Role == result.RoleApp {
			n, err := carried(c)
			if err != nil {
				return fmt.Errorf("read the metrics of %s: %w", c.Name, err)
			}
			before[c.Name] = n
		}
	}
	conn, err := dialTarget(ctx, d.Target)
	if err != nil {
		return fmt.Errorf("a connection through the deployment failed: %w", err)
	}
	defer conn.Close()
	msg := []byte("smp probe: a message through every service and back")
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(msg); err != nil {
		return fmt.Errorf("a message through the deployment failed: %w", err)
	}
	echo := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, echo); err != nil {
		return fmt.Errorf("a message through the deployment came back short: %w", err)
	}
	if !bytes.Equal(echo, msg) {
		return fmt.Errorf("a message through the deployment came back changed: %q", echo)
	}
	for _, sc := range st.sidecars {
		c, err := sc.Counters(ctx)
		if err != nil {
			return fmt.Errorf("read the counters of %s: %w", sc.Spec.Name, err)
		}
		if c.ActiveConnections < 1 {
			return fmt.Errorf("traffic did not go through %s (it shows no open connection while the probe's is open)", sc.Spec.Name)
		}
	}
	for _, c := range d.Components {
		if c.Role != result.RoleApp {
			continue
		}
		n, err := carried(c)
		if err != nil {
			return fmt.Errorf("read the metrics of %s: %w", c.Name, err)
		}
		if n-before[c.Name] < float64(len(msg)) {
			return fmt.Errorf("the probe did not cross %s (it carried %g bytes of its %d)", c.Name, n-before[c.Name], len(msg))
		}
	}
	return nil
}

// dialTarget opens the load generator's connection to a tcp:// target.
func dialTarget(ctx context.Context, t platform.Target) (net.Conn, error) {
	addr := strings.TrimPrefix(t.URLs[0], "tcp://")
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil || t.TLS == nil {
		return c, err
	}
	conf, err := clientTLS(t.TLS)
	if err != nil {
		c.Close()
		return nil, err
	}
	tc := tls.Client(c, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

// scrapeValue reads one series of a Prometheus text endpoint (0 when absent).
func scrapeValue(ctx context.Context, url, series string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			return strconv.ParseFloat(strings.Fields(rest)[0], 64)
		}
	}
	return 0, nil
}
