package spec_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/spec"
)

// TestMergeChainIsLinear: anchors that each merge the previous one twice would expand to
// 2^n keys if merges were re-expanded at every use (a "billion laughs" in merge keys).
func TestMergeChainIsLinear(t *testing.T) {
	const n = 40
	var b strings.Builder
	b.WriteString("arms:\n  - &a0 {mesh: builtin, name: a0, proxy_concurrency: 3}\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "  - &a%d {<<: [*a%d, *a%d], name: a%d}\n", i, i-1, i-1, i)
	}
	done := make(chan error, 1)
	var p *spec.Plan
	go func() {
		var err error
		p, err = spec.Parse("chain.yaml", []byte(b.String()))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("Parse of %d chained merges has not finished after a minute", n)
	}
	last := p.Arms[n-1]
	if last.Name != fmt.Sprintf("a%d", n-1) || last.Mesh != spec.MeshBuiltin || last.ProxyConcurrency != 3 {
		t.Errorf("last arm = %+v, want name a%d with mesh and proxy_concurrency merged from a0", last, n-1)
	}
}

func TestParseEnum(t *testing.T) {
	tests := []struct {
		typ  any
		in   string
		want string
	}{
		{spec.MeshType(""), "istio", "istio"},
		{spec.MeshType(""), "ISTIO", "istio"},
		{spec.MeshType(""), "3", "istio"},
		{spec.MeshType(""), "APP_MESH", "app-mesh"},
		{spec.MeshType(""), "1", "app-mesh"},
		{spec.MeshType(""), "12", "cilium"},
		{spec.MeshType(""), "CILIUM_SERVICE_MESH", "cilium"},
		{spec.MeshType(""), "Maesh", "traefik-mesh"},
		{spec.MeshType(""), "TRAEFIK_MESH", "traefik-mesh"},
		{spec.MeshType(""), "OPEN_SERVICE_MESH", "open-service-mesh"},
		{spec.MeshType(""), "INVALID_MESH", "none"},
		{spec.MeshType(""), "baseline", "none"},
		{spec.Protocol(""), "PROTOCOL_HTTP", "http/1.1"},
		{spec.Protocol(""), "1", "http/1.1"},
		{spec.Protocol(""), "PROTOCOL_TCP", "tcp"},
		{spec.Protocol(""), "2", "tcp"},
		{spec.Protocol(""), "PROTOCOL_GRPC", "grpc"},
		{spec.Protocol(""), "4", "grpc"},
		{spec.Protocol(""), "HTTP2", "h2"},
		{spec.Topology(""), "fan-out", "fanout"},
		{spec.Generator(""), " Fortio ", "fortio"},
		{spec.Platform(""), "k8s", "kubernetes"},
		{spec.MTLSMode(""), "disabled", "off"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%T/%s", tt.typ, tt.in), func(t *testing.T) {
			got, err := spec.ParseEnum(tt.typ, tt.in)
			if err != nil || got != tt.want {
				t.Errorf("ParseEnum(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
	errTests := []struct {
		typ  any
		in   string
		want string
	}{
		{spec.MeshType(""), "istoi", `unknown mesh type "istoi"; did you mean "istio"?`},
		{spec.MeshType(""), "ISTOI", `did you mean "istio"?`},
		{spec.MeshType(""), "13", `unknown mesh type "13"`},
		{spec.MeshType(""), "gloo-mesh", `unknown mesh type "gloo-mesh"`},
		{spec.MeshType(""), "kong", `unknown mesh type "kong"`},
		{spec.Protocol(""), "3", `unknown protocol "3"`},
		{spec.Protocol(""), "PROTOCOL_GPRC", `did you mean "grpc"?`},
		{spec.Topology(""), "1", `unknown topology "1"`},
		{"not an enum", "x", "is not an enum"},
	}
	for _, tt := range errTests {
		t.Run(fmt.Sprintf("error/%T/%s", tt.typ, tt.in), func(t *testing.T) {
			got, err := spec.ParseEnum(tt.typ, tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseEnum(%q) = %q, %v; want an error containing %q", tt.in, got, err, tt.want)
			}
			if strings.Contains(tt.want, "did you mean") {
				return
			}
			if err != nil && strings.Contains(err.Error(), "did you mean") {
				t.Errorf("ParseEnum(%q) suggests something unrelated: %v", tt.in, err)
			}
		})
	}
}

// TestEnumInfo: the SMP numbers are today's (reference/spec.md §3, §4), not the pre-2020 ones.
func TestEnumInfo(t *testing.T) {
	mesh, ok := spec.Enum(spec.MeshIstio)
	if !ok {
		t.Fatal("MeshType is not an enum")
	}
	wantMesh := map[int32]string{1: "app-mesh", 2: "consul", 3: "istio", 4: "kuma", 5: "linkerd", 6: "traefik-mesh",
		7: "octarine", 8: "network-service-mesh", 9: "tanzu", 10: "open-service-mesh", 11: "nginx-service-mesh", 12: "cilium"}
	for n, name := range wantMesh {
		if mesh.Numbers[n] != name {
			t.Errorf("mesh number %d = %q, want %q", n, mesh.Numbers[n], name)
		}
	}
	proto, _ := spec.Enum(spec.ProtocolHTTP1)
	if want := map[int32]string{1: "http/1.1", 2: "tcp", 4: "grpc"}; !reflect.DeepEqual(proto.Numbers, want) {
		t.Errorf("protocol numbers = %v, want %v", proto.Numbers, want)
	}
	for _, v := range mesh.Values {
		if mesh.Docs[v] == "" {
			t.Errorf("mesh %s has no documentation", v)
		}
	}
	if _, ok := spec.Enum("x"); ok {
		t.Error("a plain string is reported as an enum")
	}
}

// TestDecodeForms covers the shorthand and lenient forms a plan may use.
func TestDecodeForms(t *testing.T) {
	tests := []struct {
		name  string
		plan  string
		check func(t *testing.T, p *spec.Plan)
	}{
		{"arm as a string", "arms: [none, envoy]", func(t *testing.T, p *spec.Plan) {
			eq(t, "arms", armSummary(p), []string{"baseline:none", "envoy:envoy"})
		}},
		{"app as a string", "workload: {app: builtin}", func(t *testing.T, p *spec.Plan) {
			eq(t, "app", p.Workload.App.Kind, spec.AppBuiltin)
		}},
		{"arrival as a string", "workload: {arrival: poisson}", func(t *testing.T, p *spec.Plan) {
			eq(t, "pattern", p.Workload.Arrival.Pattern, spec.PatternPoisson)
		}},
		{"buckets as a list", "metrics: {buckets: [1ms, 2ms]}", func(t *testing.T, p *spec.Plan) {
			eq(t, "scheme", p.Metrics.Buckets.Scheme, spec.BucketsExplicit)
			eq(t, "bounds", p.Metrics.Buckets.Bounds, []spec.Duration{spec.Duration(time.Millisecond), spec.Duration(2 * time.Millisecond)})
		}},
		{"collector as a string", "metrics: {collectors: [procfs]}", func(t *testing.T, p *spec.Plan) {
			eq(t, "collectors", p.Metrics.Collectors[0].Type, spec.CollectorProcfs)
		}},
		{"one URL for a list", "workload: {endpoint_urls: http://h:8080/}", func(t *testing.T, p *spec.Plan) {
			eq(t, "urls", p.Workload.EndpointURLs, []string{"http://h:8080/"})
			eq(t, "app", p.Workload.App.Kind, spec.AppExternal)
		}},
		{"aliases", "workload: {qps: 50, concurrency: 3, keepalive: false, generator: fortio}", func(t *testing.T, p *spec.Plan) {
			eq(t, "rate", p.Workload.Rate, f64(50))
			eq(t, "connections", p.Workload.Connections, 3)
			eq(t, "keep_alive", *p.Workload.KeepAlive, false)
			eq(t, "generator", p.Workload.LoadGenerator, spec.GeneratorFortio)
		}},
		{"camelCase apiVersion", "apiVersion: smp.dev/v1alpha1", func(t *testing.T, p *spec.Plan) {
			eq(t, "api_version", p.APIVersion, spec.APIVersion)
		}},
		{"null values are unset", "workload: {rate: ~, warmup: null}\nname:", func(t *testing.T, p *spec.Plan) {
			eq(t, "rate", p.Workload.Rate, f64(1000))
			eq(t, "warmup", *p.Workload.Warmup, spec.Duration(5*time.Second))
			eq(t, "name", p.Name, "forms")
		}},
		{"SMP's INVALID_MESH (0) is no mesh", "arms: [{mesh: 0x0}]", func(t *testing.T, p *spec.Plan) {
			eq(t, "mesh", p.Arms[0].Mesh, spec.MeshNone)
		}},
		{"sizes as numbers", "workload: {app: {response_size: 2048}}", func(t *testing.T, p *spec.Plan) {
			eq(t, "response_size", *p.Workload.App.ResponseSize, spec.Size(2048))
		}},
		{"rate as a float", "workload: {rate: 12.5}", func(t *testing.T, p *spec.Plan) {
			eq(t, "rate", p.Workload.Rate, f64(12.5))
		}},
		{"int from a whole float", "repetitions: 2.0", func(t *testing.T, p *spec.Plan) {
			eq(t, "repetitions", p.Repetitions, 2)
		}},
		{"the file name names the plan", "seed: 3", func(t *testing.T, p *spec.Plan) {
			eq(t, "name", p.Name, "forms")
			eq(t, "arrival seed", p.Workload.Arrival.Seed, int64(3))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := spec.Parse("dir/forms.yaml", []byte(tt.plan))
			if tt.check == nil {
				if err == nil {
					t.Fatalf("Parse succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.check(t, p)
		})
	}
}

// TestDecodeNoDefaults: Decode gives what the file says, before defaults.
func TestDecodeNoDefaults(t *testing.T) {
	p, err := spec.Decode("d.yaml", []byte("workload:\n  rate: 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Workload.Rate == nil || *p.Workload.Rate != 0 {
		t.Errorf("rate = %v, want an explicit 0", p.Workload.Rate)
	}
	if p.Workload.Connections != 0 || p.Name != "" || p.Arms != nil || p.APIVersion != "" {
		t.Errorf("Decode applied defaults: %+v", p)
	}
	if _, err := spec.Decode("d.yaml", []byte("workload:\n  rat: 0\n")); err == nil {
		t.Error("Decode accepted an unknown field")
	}
	// Decode does not validate: a negative rate is what the file says.
	if _, err := spec.Decode("d.yaml", []byte("workload:\n  rate: -1\n")); err != nil {
		t.Errorf("Decode validated: %v", err)
	}
}

// TestAllErrorsAtOnce: one pass reports every decode problem, in file order.
func TestAllErrorsAtOnce(t *testing.T) {
	plan := "workload:\n  rat: 1\n  connections: x\narms:\n  - mesh: istoi\nmetrics:\n  interval: 5\n"
	_, err := spec.Parse("all.yaml", []byte(plan))
	errs, ok := err.(spec.Errors)
	if !ok {
		t.Fatalf("Parse error = %v (%T), want spec.Errors", err, err)
	}
	var paths []string
	for _, e := range errs {
		paths = append(paths, e.Path)
	}
	want := []string{"workload.rat", "workload.connections", "arms[0].mesh", "metrics.interval"}
	for i, w := range want {
		if i >= len(paths) || paths[i] != w {
			t.Fatalf("error paths = %v, want %v first, in that order", paths, want)
		}
	}
}

// TestSMPFieldSemantics: an SMP client's absent rps means what Meshery makes of it ("as
// fast as possible"), unlike a native plan's default rate.
func TestSMPFieldSemantics(t *testing.T) {
	tests := []struct {
		name string
		plan string
		rate float64
	}{
		{"smp, rps absent", "clients:\n  - endpoint_urls: [http://h:1/]\n", 0},
		{"smp, rps given", "clients:\n  - endpoint_urls: [http://h:1/]\n    rps: 5\n", 5},
		{"meshery, rps absent", "test:\n  clients:\n    - endpoint_urls: [http://h:1/]\nmesh: istio\n", 0},
		{"native, rate absent", "workload:\n  endpoint_urls: [http://h:1/]\n", 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := spec.Parse("smp.yaml", []byte(tt.plan))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if *p.Workload.Rate != tt.rate {
				t.Errorf("rate %g, want %g", *p.Workload.Rate, tt.rate)
			}
		})
	}
}

// TestSyntaxErrorPositions pins the positions of YAML syntax errors. yaml.v3 v3.0.1 counts
// the lines of parser errors from 0 and those of scanner errors from 1; Load corrects the
// former, and this test fails if an upgrade of yaml.v3 makes the correction wrong.
func TestSyntaxErrorPositions(t *testing.T) {
	tests := []struct {
		name      string
		plan      string
		line, col int
		msg, fix  string
	}{
		{"unclosed flow list, one line", "a: [1, 2\n", 2, 1, "did not find expected ',' or ']'", "close the list with ']'"},
		{"unclosed flow list", "name: x\narms: [none,\n  builtin\nseed: 1\n", 2, 1, "did not find expected ',' or ']'", "close the list"},
		{"unclosed flow mapping", "name: {a: 1\nb: 2\n", 2, 1, "did not find expected ',' or '}'", "close the mapping with '}'"},
		{"dedented key", "a:\n  b: 1\n c: 2\n", 3, 1, "did not find expected key", "check indentation"},
		{"list item in a mapping", "name: x\n- a\n", 2, 1, "did not find expected key", "check indentation"},
		{"tab", "a:\n\tb: 1\n", 2, 1, "found character that cannot start any token", "indent with spaces"},
		{"tab after spaces", "a:\n  b: 1\n  \tc: 2\n", 3, 3, "", "indent with spaces"},
		{"unclosed quote", "name: x\na: \"abc\n", 2, 1, "found unexpected end of stream", "close the quoted string"},
		{"two colons", "a: b: c\n", 1, 1, "mapping values are not allowed in this context", "every key ends with ':'"},
		{"unknown anchor", "name: x\nlabels: {a: *nope}\n", 2, 13, "unknown anchor 'nope' referenced", "define the anchor with &nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := spec.Parse("syntax.yaml", []byte(tt.plan))
			errs, ok := err.(spec.Errors)
			if !ok || len(errs) != 1 {
				t.Fatalf("Parse error = %v, want one syntax error", err)
			}
			e := errs[0]
			if e.Line != tt.line || e.Column != tt.col || !strings.HasPrefix(e.Message, "invalid YAML: ") ||
				!strings.Contains(e.Message, tt.msg) || !strings.Contains(e.Fix, tt.fix) || e.Path != "" {
				t.Errorf("got %d:%d %q (fix %q), want %d:%d %q (fix %q)", e.Line, e.Column, e.Message, e.Fix, tt.line, tt.col, tt.msg, tt.fix)
			}
		})
	}
}

// TestNoCascadingErrors: Parse validates a plan even when some fields did not decode, but
// does not report what follows from the failed field's missing value.
func TestNoCascadingErrors(t *testing.T) {
	tests := []struct {
		name  string
		plan  string
		paths []string // every error, in order
	}{
		{"misspelt mesh: no clash of the default name", "arms:\n  - mesh: none\n  - mesh: buitlin\n", []string{"arms[1].mesh"}},
		{"misspelt url: no missing url", "metrics:\n  collectors:\n    - type: prometheus\n      ulr: http://p:9090\n", []string{"metrics.collectors[0].ulr"}},
		{"bad value: no check of it", "workload:\n  rate: fast\n", []string{"workload.rate"}},
		{"other fields are still checked", "arms:\n  - mesh: none\n  - mesh: buitlin\nworkload:\n  rate: -1\n", []string{"arms[1].mesh", "workload.rate"}},
		{"other arms are still checked", "arms:\n  - mesh: buitlin\n  - mesh: istio\n", []string{"arms[0].mesh", "arms[1].mesh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := spec.Parse("cascade.yaml", []byte(tt.plan))
			errs, ok := err.(spec.Errors)
			if !ok {
				t.Fatalf("Parse error = %v (%T), want spec.Errors", err, err)
			}
			var paths []string
			for _, e := range errs {
				paths = append(paths, e.Path)
			}
			if !reflect.DeepEqual(paths, tt.paths) {
				t.Errorf("errors at %v, want %v:\n%s", paths, tt.paths, dumpErrors(errs))
			}
		})
	}
}

func TestMergeErrors(t *testing.T) {
	tests := []struct {
		name, plan, msg string
	}{
		{"merge of a scalar", "workload:\n  <<: 5\n", "<< must refer to a mapping"},
		{"merge of a list of scalars", "workload:\n  <<: [a]\n", "<< must refer to a mapping"},
		{"merge of its own mapping", "workload: &w\n  <<: *w\n", "the merge key refers to the mapping that contains it"},
		// Not a cycle of merges (the outer mapping is expanded before the inner one is
		// decoded), so it decodes, finitely, as the keys it merges.
		{"merge of an enclosing mapping", "workload: &w\n  app:\n    <<: *w\n", `unknown field "app" in workload.app`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := spec.Parse("merge.yaml", []byte(tt.plan))
			errs, ok := err.(spec.Errors)
			if !ok {
				t.Fatalf("Parse error = %v (%T), want spec.Errors", err, err)
			}
			for _, e := range errs {
				if strings.Contains(e.Message, tt.msg) && e.Fix != "" && e.Line > 0 {
					return
				}
			}
			t.Errorf("no error says %q; got:\n%s", tt.msg, dumpErrors(errs))
		})
	}
}
