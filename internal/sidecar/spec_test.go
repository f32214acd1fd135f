package sidecar

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/service-mesh-performance/smp/internal/proc"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/render")

func validSpec() Spec {
	return Spec{
		Name:        "svc-1-proxy",
		Inbound:     &Inbound{Listen: "127.0.0.1:15006", App: "127.0.0.1:8080"},
		Outbounds:   []Outbound{{Listen: "127.0.0.1:15001", Upstream: "127.0.0.1:16006", UpstreamID: "spiffe://smp.local/run/r1/sa/svc-2"}},
		CertFile:    "/w/svc-1.pem",
		KeyFile:     "/w/svc-1-key.pem",
		CAFile:      "/w/ca.pem",
		AdminListen: "127.0.0.1:15000",
		WorkDir:     "/w/svc-1-proxy",
	}
}

func TestSpecValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Spec)
		want   []string // substrings of the error; none: valid
	}{
		{"valid", func(*Spec) {}, nil},
		{"valid without TLS files when mtls is off", func(s *Spec) { s.MTLS, s.CertFile, s.KeyFile, s.CAFile = Off, "", "", "" }, nil},
		{"valid client side only", func(s *Spec) { s.Inbound = nil }, nil},
		{"every problem at once", func(s *Spec) {
			s.Name, s.Protocol, s.MTLS, s.AdminListen, s.CertFile, s.Concurrency = "a b", "h3", "sometimes", "", "", -1
			s.Inbound.App = "127.0.0.1:0"
			s.Outbounds[0].Listen = "15001"
			s.Outbounds[0].UpstreamID = "svc-2"
		}, []string{`name "a b"`, `protocol "h3"`, `mtls "sometimes"`, "inbound.app", "outbounds[0].listen", "outbounds[0].upstream_id", "admin_listen is empty", "concurrency -1"}},
		{"no listener", func(s *Spec) { s.Inbound, s.Outbounds = nil, nil }, []string{"no inbound and no outbound"}},
		{"missing TLS files", func(s *Spec) { s.KeyFile = "" }, []string{"key_file is empty"}},
		{"port only", func(s *Spec) { s.AdminListen = ":15000" }, []string{"give a host"}},
		{"relative work dir", func(s *Spec) { s.WorkDir = "w" }, []string{"absolute path"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpec()
			tc.mutate(&s)
			err := s.withDefaults().Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors with %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range Kinds() {
		if got, err := ParseKind(" " + strings.ToUpper(string(k))); err != nil || got != k {
			t.Errorf("ParseKind(%q) = %q, %v", k, got, err)
		}
	}
	if _, err := ParseKind("linkerd"); err == nil || !strings.Contains(err.Error(), "builtin") {
		t.Errorf("ParseKind(linkerd) = %v, want an error listing the kinds", err)
	}
}

// The version outputs in testdata are captured from Debian 12's haproxy 2.6.12 and
// nginx 1.22.1 (with libnginx-mod-stream installed for the stream module's file).
func TestParseVersions(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	var ht Tool
	parseHAProxyVersion(read("haproxy-vv.txt"), &ht)
	if ht.Version != "2.6.12-1+deb12u4" || !ht.has("ssl") || !ht.has("prometheus-exporter") {
		t.Errorf("haproxy: %+v", ht)
	}
	var nt Tool
	parseNginxVersion(read("nginx-V.txt"), &nt)
	if nt.Version != "1.22.1" {
		t.Errorf("nginx version = %q", nt.Version)
	}
	for _, f := range []string{"ssl", "http2", "grpc", "stub_status"} {
		if !nt.has(f) {
			t.Errorf("nginx features %v lack %s", nt.Features, f)
		}
	}
	if _, err := os.Stat("/usr/lib/nginx/modules/ngx_stream_module.so"); err == nil {
		if !nt.has("stream") || nt.nginxStreamModule != "/usr/lib/nginx/modules/ngx_stream_module.so" {
			t.Errorf("nginx stream module not found: %+v", nt)
		}
	}
	// Envoy's format, from its documentation (no envoy binary here to capture from).
	var et Tool
	parseEnvoyVersion("envoy  version: 816188b86a0a52095b116b107f576324082c7c02/1.30.1/Clean/RELEASE/BoringSSL\n", &et)
	if et.Version != "1.30.1" {
		t.Errorf("envoy version = %q", et.Version)
	}
}

func TestParseStubStatus(t *testing.T) {
	c, err := parseStubStatus("Active connections: 2 \nserver accepts handled requests\n 11 11 20 \nReading: 0 Writing: 1 Waiting: 1 \n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Requests != 20 || c.ActiveConnections != 2 || c.BytesIn != NotReported || c.Handshakes != NotReported {
		t.Errorf("counters = %+v", c)
	}
	if _, err := parseStubStatus("<html>404</html>"); err == nil {
		t.Error("parsed HTML as stub_status")
	}
}

// TestParseEnvoyStats uses a document written in the shape of Envoy's
// /stats?format=json (a list of name/value pairs, text readouts with string values,
// and a histograms entry), not a capture: Envoy does not run here.
func TestParseEnvoyStats(t *testing.T) {
	doc := `{"stats":[
 {"name":"http.inbound.downstream_rq_total","value":7},
 {"name":"http.outbound_0.downstream_rq_total","value":5},
 {"name":"http.admin.downstream_rq_total","value":99},
 {"name":"http.inbound.downstream_cx_rx_bytes_total","value":1000},
 {"name":"http.inbound.downstream_cx_tx_bytes_total","value":2000},
 {"name":"http.inbound.downstream_cx_active","value":2},
 {"name":"http.inbound.downstream_rq_5xx","value":1},
 {"name":"listener.inbound.ssl.handshake","value":3},
 {"name":"listener.admin.downstream_cx_total","value":9},
 {"name":"server.version","value":"1.30.1"},
 {"histograms":{"supported_quantiles":[0,50,100],"computed_quantiles":[]}}
]}`
	c, err := parseEnvoyStats([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := Counters{Requests: 12, BytesIn: 1000, BytesOut: 2000, ActiveConnections: 2, Handshakes: 3, Errors: 1}
	if c != want {
		t.Errorf("counters = %+v, want %+v", c, want)
	}
}

func TestParseHAProxyCSVRejectsOtherText(t *testing.T) {
	if _, err := parseHAProxyCSV(strings.NewReader("<html>stats</html>\n")); err == nil {
		t.Error("parsed HTML as haproxy CSV")
	}
}

// renderTool is a tool as Check finds it on Debian 12, with fixed paths so that the
// golden files do not depend on the machine.
func renderTool(k Kind) Tool {
	switch k {
	case HAProxy:
		return Tool{Kind: k, Path: "/usr/sbin/haproxy", Version: "2.6.12", Features: []string{"ssl", "prometheus-exporter"}}
	case Nginx:
		return Tool{Kind: k, Path: "/usr/sbin/nginx", Version: "1.22.1", Features: []string{"ssl", "http2", "grpc", "stub_status", "stream"},
			nginxStreamModule: "/usr/lib/nginx/modules/ngx_stream_module.so", nginxUser: "root"}
	case Envoy:
		return envoyTool
	}
	return Tool{Kind: Builtin, Path: "/usr/bin/smp", Version: "builtin"}
}

// TestRenderGolden keeps the generated configurations under review: one golden file
// per kind for a sidecar with an inbound and an outbound, strict mTLS, gRPC, and one
// for permissive HTTP/1.1. Refresh with: go test ./internal/sidecar -run Golden -update
func TestRenderGolden(t *testing.T) {
	for _, k := range Kinds() {
		for _, c := range []struct {
			p Protocol
			m MTLSMode
		}{{GRPC, Strict}, {HTTP1, Permissive}} {
			name := fmt.Sprintf("%s-%s-%s", k, c.p, c.m)
			t.Run(name, func(t *testing.T) {
				s := validSpec()
				s.Protocol, s.MTLS, s.Concurrency = c.p, c.m, 2
				plan, err := k.Render(s, renderTool(k))
				if err != nil {
					t.Fatal(err)
				}
				var b strings.Builder
				fmt.Fprintf(&b, "# command: %s\n# stats: %s\n", commandOf(plan.Cmd), plan.StatsURL)
				for _, f := range plan.Files {
					mode := f.Mode
					if mode == 0 {
						mode = 0o644
					}
					fmt.Fprintf(&b, "# file %s (mode %#o)", f.Name, mode)
					if len(f.Concat) > 0 {
						fmt.Fprintf(&b, " = concatenation of %v\n", f.Concat)
						continue
					}
					fmt.Fprintf(&b, "\n%s", f.Data)
				}
				golden := filepath.Join("testdata", "render", name+".golden")
				if *update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if b.String() != string(want) {
					t.Errorf("%s changed; run with -update and review the diff.\ngot:\n%s", golden, b.String())
				}
			})
		}
	}
}

func commandOf(c proc.Cmd) string {
	return proc.Quote(c.Path) + " " + strings.Join(mapQuote(c.Args), " ")
}

func mapQuote(a []string) []string {
	out := make([]string, len(a))
	for i, s := range a {
		out[i] = proc.Quote(s)
	}
	return out
}

// TestRenderedConfigsCheck asks haproxy (-c) and nginx (-t) themselves whether every
// configuration smp can generate is valid: all protocols × mTLS modes, with and
// without an inbound, several outbounds, with and without UpstreamID and Concurrency.
func TestRenderedConfigsCheck(t *testing.T) {
	for _, k := range []Kind{HAProxy, Nginx} {
		t.Run(string(k), func(t *testing.T) {
			tool := needTool(t, k)
			pk := newRunPKI(t, "svc-1")
			for _, p := range []Protocol{HTTP1, H2C, GRPC} {
				for _, m := range []MTLSMode{Strict, Permissive, Off} {
					for _, variant := range []string{"full", "client-only"} {
						t.Run(fmt.Sprintf("%s/%s/%s", p, m, variant), func(t *testing.T) {
							if err := k.Supports(p, m, tool); err != nil {
								if integration() {
									t.Fatal(err)
								}
								t.Skip(err)
							}
							s := pk.spec(Spec{
								Name:     "svc-1-proxy",
								Inbound:  &Inbound{Listen: "127.0.0.1:15006", App: "127.0.0.1:8080"},
								Protocol: p,
								MTLS:     m,
								Outbounds: []Outbound{
									{Listen: "127.0.0.1:15001", Upstream: "127.0.0.1:16006", UpstreamID: "spiffe://smp.local/run/r/sa/svc-2"},
									{Listen: "127.0.0.1:15002", Upstream: "127.0.0.1:17006"},
								},
								Concurrency: 2,
								AdminListen: "127.0.0.1:15000",
								WorkDir:     shortTempDir(t),
							}, "svc-1")
							if variant == "client-only" {
								s.Inbound, s.Concurrency = nil, 0
							}
							plan, err := k.Render(s, tool)
							if err != nil {
								t.Fatal(err)
							}
							if err := plan.Write(); err != nil {
								t.Fatal(err)
							}
							cmd := plan.Cmd
							switch k {
							case HAProxy:
								cmd.Args = append([]string{"-c"}, cmd.Args...)
							case Nginx:
								cmd.Args = append([]string{"-t", "-q"}, cmd.Args...)
							}
							pr, err := proc.Start(context.Background(), cmd)
							if err != nil {
								t.Fatal(err)
							}
							if err := pr.Wait(); err != nil {
								t.Fatalf("%s rejects its configuration: %v", k, err)
							}
							if out := pr.Output(); strings.Contains(out, "[WARNING]") || strings.Contains(out, "[warn]") {
								t.Errorf("%s warns about its configuration:\n%s", k, out)
							}
						})
					}
				}
			}
		})
	}
}

func TestPickPortsLeavesTheSpecAlone(t *testing.T) {
	s := Spec{Name: "x", Inbound: &Inbound{Listen: "127.0.0.1:0", App: "127.0.0.1:1"},
		Outbounds: []Outbound{{Listen: "127.0.0.1:0", Upstream: "127.0.0.1:2"}}, AdminListen: "127.0.0.1:15000"}
	got, err := pickPorts(s)
	if err != nil {
		t.Fatal(err)
	}
	if s.Inbound.Listen != "127.0.0.1:0" || s.Outbounds[0].Listen != "127.0.0.1:0" {
		t.Errorf("pickPorts changed its argument: %+v %+v", s.Inbound, s.Outbounds)
	}
	for _, a := range got.listenAddrs() {
		if strings.HasSuffix(a, ":0") {
			t.Errorf("port 0 left in %v", got.listenAddrs())
		}
	}
	if got.AdminListen != "127.0.0.1:15000" {
		t.Errorf("a fixed port changed: %s", got.AdminListen)
	}
}

// TestLostPickedPort uses the bind errors nginx and haproxy print (captured from
// TestLaunchPortInUse): Launch picks again only when a port it chose was taken.
func TestLostPickedPort(t *testing.T) {
	asked := Spec{Inbound: &Inbound{Listen: "127.0.0.1:0"}, AdminListen: "127.0.0.1:15000"}
	fixed := Spec{Inbound: &Inbound{Listen: "127.0.0.1:33511"}, AdminListen: "127.0.0.1:15000"}
	for _, tc := range []struct {
		msg  string
		want bool
	}{
		{"2026/11/26 02:46:33 [emerg] 12146#12146: bind() to 127.0.0.1:33511 failed (98: Address already in use)", true},
		{"[ALERT]    (12150) : Binding [haproxy.cfg:15] for frontend inbound: cannot bind socket (Address already in use) for [127.0.0.1:33511]", true},
		{"[ALERT]    (12150) : Binding [haproxy.cfg:15] for frontend admin: cannot bind socket (Address already in use) for [127.0.0.1:15000]", false},
		{"load identity: open /x.pem: no such file or directory (127.0.0.1:33511)", false},
	} {
		if got := lostPickedPort(errors.New(tc.msg), asked, fixed); got != tc.want {
			t.Errorf("lostPickedPort(%q) = %v, want %v", tc.msg, got, tc.want)
		}
	}
}
