package sidecar

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	// The typed_config extensions the bootstrap uses: importing them registers their
	// types, so that protojson resolves the Any messages and the walk below can
	// validate what they contain.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// envoyTool stands in for an envoy binary, which is not installed where tests run:
// rendering needs only its path.
var envoyTool = Tool{Kind: Envoy, Path: "/usr/local/bin/envoy", Version: "1.37.0"}

// TestEnvoyBootstrapValidates renders a sidecar with an inbound and two outbounds for
// every protocol and mTLS mode, decodes the bootstrap strictly with protojson into
// go-control-plane's Bootstrap (unknown fields and unresolvable typed_config are
// errors) and runs the generated validators on it and on every Any inside it.
func TestEnvoyBootstrapValidates(t *testing.T) {
	for _, p := range []Protocol{HTTP1, H2C, GRPC} {
		for _, m := range []MTLSMode{Strict, Permissive, Off} {
			t.Run(fmt.Sprintf("%s/%s", p, m), func(t *testing.T) {
				plan, bs := renderEnvoyBootstrap(t, p, m)
				checkEnvoyBootstrap(t, plan, bs, p, m)
			})
		}
	}
}

func renderEnvoyBootstrap(t *testing.T, p Protocol, m MTLSMode) (*Plan, *bootstrapv3.Bootstrap) {
	t.Helper()
	plan, data := renderEnvoyJSON(t, p, m)
	bs, err := decodeAndValidate(data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	return plan, bs
}

// renderEnvoyJSON renders a sidecar with an inbound and two outbounds and returns the
// bootstrap file's bytes.
func renderEnvoyJSON(t *testing.T, p Protocol, m MTLSMode) (*Plan, []byte) {
	t.Helper()
	wd := t.TempDir()
	s := Spec{
		Name:     "svc-1-proxy",
		Inbound:  &Inbound{Listen: "127.0.0.1:15006", App: "127.0.0.1:8080"},
		Protocol: p,
		MTLS:     m,
		Outbounds: []Outbound{
			{Listen: "127.0.0.1:15001", Upstream: "127.0.0.1:16006", UpstreamID: "spiffe://smp.local/run/r1/sa/svc-2"},
			{Listen: "127.0.0.1:15002", Upstream: "localhost:17006"},
		},
		CertFile: "/run/smp/svc-1.pem", KeyFile: "/run/smp/svc-1-key.pem", CAFile: "/run/smp/ca.pem",
		Concurrency: 2,
		AdminListen: "127.0.0.1:15000",
		WorkDir:     wd,
	}
	plan, err := Envoy.Render(s, envoyTool)
	if err != nil {
		t.Fatal(err)
	}
	if err := plan.Write(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(wd, envoyConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	return plan, data
}

// decodeAndValidate decodes a bootstrap strictly and validates it and every Any in it.
func decodeAndValidate(data []byte) (*bootstrapv3.Bootstrap, error) {
	bs := new(bootstrapv3.Bootstrap)
	if err := (protojson.UnmarshalOptions{}).Unmarshal(data, bs); err != nil {
		return nil, fmt.Errorf("protojson: %w", err)
	}
	if err := bs.ValidateAll(); err != nil {
		return nil, fmt.Errorf("Bootstrap.ValidateAll: %w", err)
	}
	n, err := validateAnys(bs.ProtoReflect())
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("no typed_config found to validate")
	}
	return bs, nil
}

// validateAnys unpacks every google.protobuf.Any in m, runs ValidateAll on what it
// holds, recursively, and returns how many it checked. An Any of an unregistered type,
// or of a type without validator, is an error.
func validateAnys(m protoreflect.Message) (int, error) {
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return 0, fmt.Errorf("typed_config %s: %w", a.GetTypeUrl(), err)
		}
		v, ok := inner.(interface{ ValidateAll() error })
		if !ok {
			return 0, fmt.Errorf("typed_config %s has no validator", a.GetTypeUrl())
		}
		if err := v.ValidateAll(); err != nil {
			return 0, fmt.Errorf("typed_config %s: %w", a.GetTypeUrl(), err)
		}
		n, err := validateAnys(inner.ProtoReflect())
		return n + 1, err
	}
	n := 0
	var errs []error
	visit := func(v protoreflect.Value) {
		k, err := validateAnys(v.Message())
		n += k
		errs = append(errs, err)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool { visit(mv); return true })
			}
		case fd.Kind() != protoreflect.MessageKind:
		case fd.IsList():
			for i := 0; i < v.List().Len(); i++ {
				visit(v.List().Get(i))
			}
		default:
			visit(v)
		}
		return true
	})
	return n, errors.Join(errs...)
}

// checkEnvoyBootstrap checks what the mode and protocol must change, on the decoded
// protos.
func checkEnvoyBootstrap(t *testing.T, plan *Plan, bs *bootstrapv3.Bootstrap, p Protocol, m MTLSMode) {
	t.Helper()
	if got := bs.GetAdmin().GetAddress().GetSocketAddress().GetPortValue(); got != 15000 {
		t.Errorf("admin port = %d", got)
	}
	if !slices.Equal(plan.Cmd.Args[len(plan.Cmd.Args)-2:], []string{"--concurrency", "2"}) {
		t.Errorf("args %q lack --concurrency 2", plan.Cmd.Args)
	}
	if !slices.Contains(plan.Cmd.Args, "--disable-hot-restart") {
		t.Errorf("args %q lack --disable-hot-restart", plan.Cmd.Args)
	}
	listeners := bs.GetStaticResources().GetListeners()
	if len(listeners) != 3 {
		t.Fatalf("%d listeners, want 3", len(listeners))
	}
	in := listeners[0]
	chains := in.GetFilterChains()
	var tlsChains, plainChains int
	for _, fc := range chains {
		if fc.GetTransportSocket() == nil {
			plainChains++
			continue
		}
		tlsChains++
		var ctx tlsv3.DownstreamTlsContext
		if err := fc.GetTransportSocket().GetTypedConfig().UnmarshalTo(&ctx); err != nil {
			t.Fatal(err)
		}
		if !ctx.GetRequireClientCertificate().GetValue() {
			t.Error("inbound TLS does not require a client certificate")
		}
		if got := ctx.GetCommonTlsContext().GetValidationContext().GetTrustedCa().GetFilename(); got != "/run/smp/ca.pem" {
			t.Errorf("inbound trusted CA = %q", got)
		}
	}
	want := map[MTLSMode][2]int{Strict: {1, 0}, Permissive: {1, 1}, Off: {0, 1}}[m]
	if tlsChains != want[0] || plainChains != want[1] {
		t.Errorf("inbound has %d TLS and %d plaintext filter chains, want %v", tlsChains, plainChains, want)
	}
	if (m == Permissive) != (len(in.GetListenerFilters()) == 1) {
		t.Errorf("listener filters %v under mtls %s", in.GetListenerFilters(), m)
	}

	clusters := bs.GetStaticResources().GetClusters()
	if len(clusters) != 3 {
		t.Fatalf("%d clusters, want 3", len(clusters))
	}
	for _, c := range clusters {
		raw := c.GetTypedExtensionProtocolOptions()[envoyHTTPOpts]
		h2 := strings.Contains(protojson.Format(raw), "http2ProtocolOptions")
		if h2 != (p != HTTP1) {
			t.Errorf("cluster %s: HTTP/2 = %v under protocol %s", c.GetName(), h2, p)
		}
		ts := c.GetTransportSocket()
		if c.GetName() == "app" || m == Off {
			if ts != nil {
				t.Errorf("cluster %s has a transport socket under mtls %s", c.GetName(), m)
			}
			continue
		}
		var up tlsv3.UpstreamTlsContext
		if err := ts.GetTypedConfig().UnmarshalTo(&up); err != nil {
			t.Fatal(err)
		}
		sans := up.GetCommonTlsContext().GetValidationContext().GetMatchTypedSubjectAltNames()
		switch c.GetName() {
		case "upstream_0":
			if len(sans) != 1 || sans[0].GetMatcher().GetExact() != "spiffe://smp.local/run/r1/sa/svc-2" ||
				sans[0].GetSanType() != tlsv3.SubjectAltNameMatcher_URI {
				t.Errorf("upstream_0 SAN matchers = %v", sans)
			}
		case "upstream_1":
			if len(sans) != 0 {
				t.Errorf("upstream_1 (no UpstreamID) SAN matchers = %v", sans)
			}
			if c.GetType().String() != "STRICT_DNS" {
				t.Errorf("upstream_1 (a host name) discovery = %v", c.GetType())
			}
		}
		if len(up.GetCommonTlsContext().GetTlsCertificates()) != 1 {
			t.Errorf("cluster %s presents no client certificate", c.GetName())
		}
	}
}

// TestEnvoyValidationHasTeeth breaks a valid bootstrap in ways Envoy would reject and
// checks that decodeAndValidate catches each.
func TestEnvoyValidationHasTeeth(t *testing.T) {
	_, data := renderEnvoyJSON(t, GRPC, Strict)
	if _, err := decodeAndValidate(data); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, old, new string }{
		{"unknown field", `"stat_prefix": "inbound",`, `"stat_prefix": "inbound", "no_such_field": 1,`},
		{"unregistered typed_config", `envoy.extensions.filters.http.router.v3.Router`, `envoy.extensions.filters.http.nope.v3.Nope`},
		{"invalid field inside a typed_config", `"stat_prefix": "outbound_0"`, `"stat_prefix": ""`},
		{"port out of range", `"port_value": 15000`, `"port_value": 70000`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(string(data), tc.old, tc.new, 1)
			if bad == string(data) {
				t.Fatalf("%q not found in the bootstrap", tc.old)
			}
			if _, err := decodeAndValidate([]byte(bad)); err == nil {
				t.Fatal("accepted")
			} else {
				t.Log(err)
			}
		})
	}
}
