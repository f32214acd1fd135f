package spec_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/spec"
)

// validFiles lists every plan that must load: the examples shipped with smp and the
// valid test plans. Files added to either folder are picked up without editing a list.
func validFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{
		"../examples/*.yaml", "../examples/*.yml", "../examples/*.json",
		"testdata/valid/*.yaml", "testdata/valid/*.json",
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	return files
}

func TestValidPlansLoad(t *testing.T) {
	files := validFiles(t)
	if n := len(files); n < 9 {
		t.Fatalf("found %d valid plans, want at least the 9 in testdata/valid", n)
	}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			p, err := spec.Load(file)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if p == nil {
				t.Fatal("Load returned neither a plan nor an error")
			}
			if p.APIVersion != spec.APIVersion {
				t.Errorf("api_version = %q, want %q", p.APIVersion, spec.APIVersion)
			}
			if p.Name == "" || len(p.Arms) == 0 {
				t.Errorf("defaults missing: name %q, %d arms", p.Name, len(p.Arms))
			}
			if err := p.Validate(); err != nil {
				t.Errorf("the loaded plan does not validate again: %v", err)
			}
			again := p.WithDefaults()
			spec.ClearSource(again)
			loaded := *p
			spec.ClearSource(&loaded)
			if !reflect.DeepEqual(again, &loaded) {
				t.Errorf("WithDefaults of a loaded plan changed it:\n got %+v\nwant %+v", again, &loaded)
			}
		})
	}
}

func f64(v float64) *float64 { return &v }

// TestValidPlanValues checks that each valid test plan means what it says.
func TestValidPlanValues(t *testing.T) {
	tests := []struct {
		file  string
		check func(t *testing.T, p *spec.Plan)
	}{
		{"minimal.yaml", func(t *testing.T, p *spec.Plan) {
			eq(t, "name", p.Name, "minimal")
			eq(t, "arms", armSummary(p), []string{"baseline:none", "builtin:builtin"})
			eq(t, "baseline", p.Baseline, "baseline")
			eq(t, "rate", p.Workload.Rate, f64(200))
			eq(t, "duration", p.Workload.Duration, spec.Duration(10*time.Second))
			eq(t, "app", p.Workload.App.Kind, spec.AppBuiltin)
			eq(t, "platform", p.Environment.Platform, spec.PlatformLocal)
			eq(t, "mtls of the mesh arm", p.Arms[1].MTLS, spec.MTLSStrict)
		}},
		{"full-native.yaml", func(t *testing.T, p *spec.Plan) {
			eq(t, "smp_version", p.SMPVersion, "v0.6.1")
			eq(t, "id", p.ID, "5b0c1e9e-full-native")
			eq(t, "labels", p.Labels, map[string]string{"team": "mesh-perf", "example.com/tier": "gold"})
			eq(t, "arms", armSummary(p), []string{"baseline:none", "smp-sidecar:builtin", "envoy:envoy"})
			eq(t, "envoy mtls", p.Arms[2].MTLS, spec.MTLSPermissive)
			eq(t, "envoy proxy_concurrency", p.Arms[2].ProxyConcurrency, 4)
			eq(t, "envoy version", p.Arms[2].Version, "1.31")
			eq(t, "settings", p.Arms[1].Settings, map[string]string{"profile": "default"})
			w := p.Workload
			eq(t, "app", w.App, spec.App{Kind: spec.AppBuiltin, Services: 5, Topology: spec.TopologyFanout,
				ResponseSize: ptr(spec.Size(4 << 10)), CPUTime: spec.Duration(250 * time.Microsecond), Delay: spec.Duration(time.Millisecond), Replicas: 1})
			eq(t, "protocol", w.Protocol, spec.ProtocolH2C)
			eq(t, "rate", w.Rate, f64(2500.5))
			eq(t, "arrival", w.Arrival.Pattern, spec.PatternPoisson)
			eq(t, "arrival seed", w.Arrival.Seed, int64(7))
			eq(t, "connections", w.Connections, 32)
			eq(t, "streams", w.Streams, 4)
			eq(t, "max_inflight", w.MaxInflight, 5000)
			eq(t, "duration", w.Duration, spec.Duration(90*time.Second))
			eq(t, "warmup", *w.Warmup, spec.Duration(500*time.Millisecond))
			eq(t, "timeout", w.Timeout, spec.Duration(2*time.Second))
			eq(t, "method", w.Method, "PUT")
			eq(t, "path", w.Path, "/api/v1/items")
			eq(t, "headers", w.Headers, map[string]string{"X-Test": "full"})
			eq(t, "cookies", w.Cookies, map[string]string{"session": "abc"})
			eq(t, "body", w.Body, `{"k": "v"}`)
			eq(t, "internal", *w.Internal, true)
			eq(t, "tls.server_name", w.TLS.ServerName, "app.local")
			eq(t, "mix", w.Mix, []spec.Request{
				{Weight: 3, Path: "/api/v1/items"},
				{Weight: 1, Method: "POST", Path: "/api/v1/orders", Headers: map[string]string{"X-Mix": "orders"}, RequestSize: 512},
			})
			m := p.Metrics
			eq(t, "percentiles", m.Percentiles, []float64{50, 75, 99, 99.99})
			eq(t, "buckets", m.Buckets, spec.Buckets{Scheme: spec.BucketsExplicit, Bounds: []spec.Duration{
				spec.Duration(100 * time.Microsecond), spec.Duration(time.Millisecond), spec.Duration(10 * time.Millisecond),
				spec.Duration(100 * time.Millisecond), spec.Duration(time.Second)}})
			eq(t, "collectors", m.Collectors, []spec.Collector{
				{Type: spec.CollectorProcfs, Interval: spec.Duration(500 * time.Millisecond)},
				{Type: spec.CollectorEnvoyAdmin, Port: 15000, Interval: spec.Duration(2 * time.Second)},
			})
			eq(t, "cpus", p.Environment.CPUs, spec.CPUPlacement{LoadGenerator: "0-1", System: "2-7"})
			eq(t, "expect", p.Environment.Expect, spec.Expectations{Cores: 8, Memory: 16 << 30})
			eq(t, "repetitions", p.Repetitions, 3)
			eq(t, "order", p.Order, spec.OrderRandom)
			eq(t, "seed", p.Seed, int64(42))
			eq(t, "slo", p.SLO, []spec.SLO{
				{Condition: "error_rate < 0.1%"},
				{Condition: "latency.p99.9 < 50ms", Arms: []string{"smp-sidecar", "envoy"}},
				{Condition: "overhead.latency.p99 < 10%"},
				{Condition: "memory.proxy.max < 64MiB"},
			})
			eq(t, "output", p.Output, spec.Output{Dir: "out/full", HTML: true})
		}},
		{"full-kubernetes.yaml", func(t *testing.T, p *spec.Plan) {
			eq(t, "arms", armSummary(p), []string{"baseline:none", "istio-sidecar:istio", "istio-ambient:istio", "linkerd:linkerd", "cilium:cilium"})
			eq(t, "istio-sidecar injection", p.Arms[1].Injection, spec.InjectionPod)
			eq(t, "istio-ambient data plane", p.Arms[2].DataPlane, spec.DataPlaneAmbient)
			eq(t, "linkerd data plane", p.Arms[3].DataPlane, spec.DataPlaneSidecar)
			eq(t, "linkerd injection", p.Arms[3].Injection, spec.InjectionNamespace)
			eq(t, "cilium data plane", p.Arms[4].DataPlane, spec.DataPlaneNode)
			eq(t, "replicas", p.Workload.App.Replicas, 2)
			eq(t, "resources", p.Workload.App.Resources, spec.Resources{
				Requests: spec.ResourceList{CPU: "250m", Memory: 64 << 20},
				Limits:   spec.ResourceList{CPU: "1", Memory: 256 << 20},
			})
			eq(t, "grpc method", p.Workload.GRPC.Method, spec.GRPCEcho)
			eq(t, "generator", p.Workload.LoadGenerator, spec.GeneratorFortio)
			eq(t, "platform", p.Environment.Platform, spec.PlatformKubernetes)
			eq(t, "kubernetes", p.Environment.Kubernetes, spec.Kubernetes{
				NamespacePrefix: "bench", Image: "ghcr.io/example/smp:dev",
				NodeSelector: map[string]string{"pool": "app"}, LoadNodeSelector: map[string]string{"pool": "load"},
				AntiAffinity: ptr(false), Keep: true,
			})
			eq(t, "expect", p.Environment.Expect, spec.Expectations{Nodes: 3, KubernetesVersion: ">=1.30"})
			eq(t, "collectors", len(p.Metrics.Collectors), 2)
			eq(t, "prometheus job", p.Metrics.Collectors[0].Job, "kubernetes-cadvisor")
		}},
		{"smp-config.yaml", func(t *testing.T, p *spec.Plan) {
			eq(t, "name", p.Name, "smp-config")
			eq(t, "id", p.ID, "8f1e-smp")
			eq(t, "labels", p.Labels, map[string]string{"source": "smp"})
			eq(t, "arms", armSummary(p), []string{"baseline:none"})
			w := p.Workload
			eq(t, "internal", *w.Internal, true)
			eq(t, "generator", w.LoadGenerator, spec.GeneratorNighthawk)
			eq(t, "protocol", w.Protocol, spec.ProtocolHTTP1)
			eq(t, "connections", w.Connections, 4)
			eq(t, "rate", w.Rate, f64(250))
			eq(t, "headers", w.Headers, map[string]string{"X-Bench": "smp"})
			eq(t, "body", w.Body, "hello")
			eq(t, "method (a body means POST)", w.Method, "POST")
			eq(t, "content_type", w.ContentType, "text/plain")
			eq(t, "endpoint_urls", w.EndpointURLs, []string{"http://localhost:9080/productpage"})
			eq(t, "app", w.App.Kind, spec.AppExternal)
			eq(t, "duration", w.Duration, spec.Duration(2*time.Minute))
		}},
		{"meshery-example.yaml", func(t *testing.T, p *spec.Plan) {
			eq(t, "name", p.Name, "Istio Performance Test")
			eq(t, "smp_version", p.SMPVersion, "v0.0.1")
			eq(t, "arms", armSummary(p), []string{"istio:istio"})
			eq(t, "arms[0].mesh", p.Arms[0].Mesh, spec.MeshIstio)
			w := p.Workload
			eq(t, "rate", w.Rate, f64(10))
			eq(t, "connections", w.Connections, 2)
			eq(t, "load_generator", w.LoadGenerator, spec.GeneratorFortio)
			eq(t, "protocol", w.Protocol, spec.ProtocolHTTP1)
			eq(t, "duration", w.Duration, spec.Duration(30*time.Minute))
			eq(t, "endpoint_urls", w.EndpointURLs, []string{"http://localhost:2323/productpage"})
			eq(t, "internal", *w.Internal, false)
			eq(t, "app", w.App.Kind, spec.AppExternal)
			eq(t, "body", w.Body, "")
			eq(t, "method", w.Method, "GET")
		}},
		{"meshery-enum-names.yaml", func(t *testing.T, p *spec.Plan) {
			eq(t, "arms", armSummary(p), []string{"linkerd:linkerd"})
			eq(t, "mesh version", p.Arms[0].Version, "stable-2.14.10")
			eq(t, "protocol", p.Workload.Protocol, spec.ProtocolHTTP1)
			eq(t, "generator", p.Workload.LoadGenerator, spec.GeneratorWrk2)
			eq(t, "rate", p.Workload.Rate, f64(100))
			eq(t, "duration", p.Workload.Duration, spec.Duration(time.Minute))
			eq(t, "endpoint_urls", p.Workload.EndpointURLs, []string{"https://smp-spec.io"})
		}},
		{"meshery-camel.yaml", func(t *testing.T, p *spec.Plan) {
			eq(t, "smp_version", p.SMPVersion, "v0.0.1")
			eq(t, "arms", armSummary(p), []string{"istio:istio"})
			w := p.Workload
			eq(t, "generator", w.LoadGenerator, spec.GeneratorFortio)
			eq(t, "connections", w.Connections, 3)
			eq(t, "rate", w.Rate, f64(30))
			eq(t, "content_type", w.ContentType, "application/json")
			eq(t, "endpoint_urls", w.EndpointURLs, []string{"http://localhost:8080/"})
			// Files a plan names are taken from the plan's folder, and made absolute.
			ca, _ := filepath.Abs("testdata/valid/files/ca.pem")
			eq(t, "ssl_certificate", w.TLS.CAFile, ca)
			eq(t, "additional_options", w.AdditionalOptions, `{"qps": 30}`)
			eq(t, "duration", w.Duration, spec.Duration(45*time.Second))
		}},
		{"plan.json", func(t *testing.T, p *spec.Plan) {
			eq(t, "arms", armSummary(p), []string{"baseline:none", "haproxy:haproxy"})
			eq(t, "haproxy mtls", p.Arms[1].MTLS, spec.MTLSOff)
			eq(t, "rate (0 is closed loop, not the default)", p.Workload.Rate, f64(0))
			eq(t, "warmup (0 is none, not the default)", *p.Workload.Warmup, spec.Duration(0))
			eq(t, "keep_alive", *p.Workload.KeepAlive, false)
			eq(t, "headers", p.Workload.Headers, map[string]string{"Accept": "application/json"})
			eq(t, "percentiles", p.Metrics.Percentiles, []float64{50, 99})
			eq(t, "slo", p.SLO, []spec.SLO{{Condition: "latency.p50 < 2ms"}})
		}},
		{"anchors.yaml", func(t *testing.T, p *spec.Plan) {
			eq(t, "arms", armSummary(p), []string{"baseline:none", "builtin:builtin", "envoy:envoy", "nginx:nginx"})
			for i, want := range []int{0, 2, 2, 1} {
				eq(t, "proxy_concurrency of "+p.Arms[i].Name, p.Arms[i].ProxyConcurrency, want)
			}
			for _, i := range []int{1, 2, 3} {
				eq(t, "mtls of "+p.Arms[i].Name, p.Arms[i].MTLS, spec.MTLSStrict)
				eq(t, "labels of "+p.Arms[i].Name, p.Arms[i].Labels, map[string]string{"team": "perf"})
			}
			eq(t, "rate", p.Workload.Rate, f64(300))
			eq(t, "steps", p.Workload.Arrival.Steps, []spec.Step{
				{Rate: 300, Duration: spec.Duration(10 * time.Second)},
				{Rate: 600, Duration: spec.Duration(10 * time.Second)},
			})
		}},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			p, err := spec.Load(filepath.Join("testdata", "valid", tt.file))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, p)
		})
	}
	// A valid test plan is there to mean something: each has its values checked here.
	files, _ := filepath.Glob("testdata/valid/*")
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && st.IsDir() {
			continue // files the plans name
		}
		if !covered[filepath.Base(f)] {
			t.Errorf("%s has no entry in TestValidPlanValues", f)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func armSummary(p *spec.Plan) []string {
	out := make([]string, len(p.Arms))
	for i, a := range p.Arms {
		out[i] = a.Name + ":" + string(a.Mesh)
	}
	return out
}

// eq compares got with want, following pointers.
func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %s, want %s", what, show(got), show(want))
	}
}

func show(v any) string {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		return "&" + show(rv.Elem().Interface())
	}
	return fmt.Sprintf("%+v", v)
}
