package sidecar

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/service-mesh-performance/smp/internal/pki"
)

// childEnv makes the test binary run as a builtin sidecar (`<test binary> sidecar
// --config FILE`), so that Launch(Builtin) starts a real process without a built smp.
const childEnv = "SMP_SIDECAR_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(sidecarChild(os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

func sidecarChild(args []string) int {
	if len(args) != 3 || args[0] != builtinSubcommand || args[1] != "--config" {
		fmt.Fprintf(os.Stderr, "sidecar child: unexpected arguments %q\n", args)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Main(ctx, args[2], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "smp: error:", err)
		return 1
	}
	return 0
}

// integration reports whether missing programs must fail tests instead of skipping them.
func integration() bool { return os.Getenv("SMP_INTEGRATION") == "1" }

// needTool returns kind k's tool, or skips (fails with SMP_INTEGRATION=1) when it is
// not installed.
func needTool(t testing.TB, k Kind) Tool {
	t.Helper()
	tool, err := k.Check(context.Background(), "")
	if err != nil {
		if integration() {
			t.Fatalf("SMP_INTEGRATION=1 and %s is not usable: %v", k, err)
		}
		t.Skipf("%s not usable (set SMP_INTEGRATION=1 to fail instead): %v", k, err)
	}
	return tool
}

// runPKI is one run's CA with identities for the test's services, written to a
// directory.
type runPKI struct {
	ca     *pki.CA
	dir    string
	caFile string
	files  map[string]pki.Files
	ids    map[string]*pki.Identity
}

func newRunPKI(t testing.TB, services ...string) *runPKI {
	t.Helper()
	ca, err := pki.NewCA("test-run")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile, err := ca.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := &runPKI{ca: ca, dir: dir, caFile: caFile, files: map[string]pki.Files{}, ids: map[string]*pki.Identity{}}
	for _, svc := range services {
		id, err := ca.Issue(svc)
		if err != nil {
			t.Fatal(err)
		}
		f, err := id.WriteFiles(dir)
		if err != nil {
			t.Fatal(err)
		}
		p.files[svc], p.ids[svc] = f, id
	}
	return p
}

// spec fills in the identity of svc.
func (p *runPKI) spec(s Spec, svc string) Spec {
	s.CertFile, s.KeyFile, s.CAFile = p.files[svc].Cert, p.files[svc].Key, p.caFile
	return s
}

// clientTLS is a TLS client presenting svc's identity and trusting the run's CA.
func (p *runPKI) clientTLS(svc string, h2 bool) *tls.Config {
	c := &tls.Config{
		Certificates: []tls.Certificate{p.ids[svc].TLS},
		RootCAs:      p.ca.Pool(),
		ServerName:   "localhost",
		NextProtos:   []string{"http/1.1"},
	}
	if h2 {
		c.NextProtos = []string{"h2"}
	}
	return c
}

// testApp is the application behind a sidecar: an HTTP server (HTTP/1.1 and h2c) or
// a real gRPC server with the health service and a streaming method that fails with
// trailers after data.
type testApp struct {
	addr   string
	hits   atomic.Int64
	protos chan int // ProtoMajor of HTTP requests, newest last (buffered, never blocks)
}

func startApp(t testing.TB, p Protocol) *testApp {
	t.Helper()
	a := &testApp{protos: make(chan int, 1024)}
	if p == GRPC {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		count := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			a.hits.Add(1)
			return h(ctx, req)
		}
		countStream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			a.hits.Add(1)
			return h(srv, ss)
		}
		s := grpc.NewServer(grpc.UnaryInterceptor(count), grpc.StreamInterceptor(countStream))
		hs := health.NewServer()
		hs.SetServingStatus("app", healthpb.HealthCheckResponse_SERVING)
		healthpb.RegisterHealthServer(s, hs)
		s.RegisterService(trailersServiceDesc(), nil)
		go func() { _ = s.Serve(ln) }()
		t.Cleanup(s.Stop)
		a.addr = ln.Addr().String()
		return a
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.hits.Add(1)
		select {
		case a.protos <- r.ProtoMajor:
		default:
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("X-App", "yes")
		fmt.Fprintf(w, "hello over HTTP/%d %s", r.ProtoMajor, r.URL.Path)
	}))
	ps := new(http.Protocols)
	ps.SetHTTP1(true)
	ps.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = ps
	srv.Start()
	t.Cleanup(srv.Close)
	a.addr = srv.Listener.Addr().String()
	return a
}

// lastProto is the HTTP major version of the app's latest request.
func (a *testApp) lastProto() int {
	last := 0
	for {
		select {
		case p := <-a.protos:
			last = p
		default:
			return last
		}
	}
}

// The trailers service: one server-streaming method that sends one message, sets a
// trailer and fails with RESOURCE_EXHAUSTED, the shape that breaks proxies which lose
// HTTP/2 trailers.
const (
	trailersService = "smp.test.Trailers"
	trailersMethod  = "/" + trailersService + "/Fail"
)

func trailersServiceDesc() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: trailersService,
		HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{{
			StreamName:    "Fail",
			ServerStreams: true,
			Handler: func(_ any, ss grpc.ServerStream) error {
				in := new(wrapperspb.BytesValue)
				if err := ss.RecvMsg(in); err != nil {
					return err
				}
				if err := ss.SendMsg(wrapperspb.Bytes([]byte("data before the failure"))); err != nil {
					return err
				}
				ss.SetTrailer(metadata.Pairs("x-smp-trailer", "kept"))
				return status.Error(codes.ResourceExhausted, "failed after data")
			},
		}},
	}
}

// grpcConn dials addr in plaintext, or with tlsCfg.
func grpcConn(t testing.TB, addr string, tlsCfg *tls.Config) *grpc.ClientConn {
	t.Helper()
	creds := insecure.NewCredentials()
	if tlsCfg != nil {
		creds = credentials.NewTLS(tlsCfg)
	}
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// callOnce sends one request to addr over protocol p (with tlsCfg when not nil) and
// returns an error unless the application answered it.
func callOnce(ctx context.Context, p Protocol, addr string, tlsCfg *tls.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if p == GRPC {
		creds := insecure.NewCredentials()
		if tlsCfg != nil {
			creds = credentials.NewTLS(tlsCfg)
		}
		cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			return err
		}
		defer cc.Close()
		resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: "app"}, grpc.WaitForReady(false))
		if err != nil {
			return err
		}
		if resp.Status != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("health: %v", resp.Status)
		}
		return nil
	}
	client := httpClient(p, tlsCfg)
	defer client.CloseIdleConnections()
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+"/hello", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-App") != "yes" {
		return fmt.Errorf("status %s, body %q", resp.Status, body)
	}
	if !strings.HasSuffix(string(body), "/hello") {
		return fmt.Errorf("body %q", body)
	}
	return nil
}

// httpClient speaks protocol p: HTTP/1.1, or HTTP/2 (h2c in plaintext, h2 over TLS).
func httpClient(p Protocol, tlsCfg *tls.Config) *http.Client {
	tr := &http.Transport{TLSClientConfig: tlsCfg, DisableCompression: true}
	ps := new(http.Protocols)
	switch {
	case p == HTTP1:
		ps.SetHTTP1(true)
	case tlsCfg != nil:
		ps.SetHTTP2(true)
	default:
		ps.SetUnencryptedHTTP2(true)
	}
	tr.Protocols = ps
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// launch starts a sidecar of kind k and stops it when the test ends.
func launch(t testing.TB, k Kind, tool Tool, s Spec) *Sidecar {
	t.Helper()
	if s.WorkDir == "" {
		s.WorkDir = shortTempDir(t)
	}
	var env []string
	if k == Builtin {
		env = []string{childEnv + "=1"}
	}
	sc, err := Launch(context.Background(), k, s, Options{Tool: tool, Env: env})
	if err != nil {
		t.Fatalf("launch %s sidecar %s: %v", k, s.Name, err)
	}
	t.Cleanup(func() {
		if err := sc.Stop(context.Background()); err != nil {
			t.Errorf("stop %s: %v", s.Name, err)
		}
		if err := sc.Process().Wait(); err != nil {
			t.Errorf("%s exited with: %v", s.Name, err)
		}
		// Nothing left: no process of its group (nginx workers included), no listener.
		if left := groupMembers(sc.PID()); len(left) > 0 {
			t.Errorf("%s: processes of group %d still running: %v", s.Name, sc.PID(), left)
		}
		for _, a := range sc.Spec.listenAddrs() {
			if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
				c.Close()
				t.Errorf("%s: %s still accepts connections after Stop", s.Name, a)
			}
		}
	})
	return sc
}

// groupMembers lists the live (non-zombie) processes whose process group is pgid.
func groupMembers(pgid int) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp …; comm may contain spaces, so split after ')'.
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// shortTempDir is a temporary directory with a short path: nginx's permissive mode puts
// unix sockets in it, and t.TempDir under a long test name can exceed sun_path.
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "smp-sc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir
}

func counters(t testing.TB, sc *Sidecar) Counters {
	t.Helper()
	c, err := sc.Counters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// foreignTLS is a client presenting an identity from another CA while trusting the
// run's CA, so that only the server's check of the client certificate can fail.
func (p *runPKI) foreignTLS(t testing.TB, h2 bool) *tls.Config {
	t.Helper()
	other := newRunPKI(t, "client")
	c := p.clientTLS("client", h2)
	c.Certificates = []tls.Certificate{other.ids["client"].TLS}
	return c
}

// noCertTLS is a TLS client without a certificate.
func (p *runPKI) noCertTLS(h2 bool) *tls.Config {
	c := p.clientTLS("client", h2)
	c.Certificates = nil
	return c
}
