package local

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/service-mesh-performance/smp/internal/app"
	"github.com/service-mesh-performance/smp/spec"
)

// TestDeployShapes deploys the bookinfo and emojivoto shapes on the baseline and on
// every sidecar kind, sends requests to the entry the way the load does, and reads every
// service's own metrics: each service of the graph answered every request, over the
// protocol the shape says (emojivoto's front over HTTP/1.1, its back ends over gRPC,
// through sidecars that carry HTTP/1.1 in and gRPC out), the entry's reply has the
// shape's size, and every sidecar counted traffic.
func TestDeployShapes(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the local platform needs Linux")
	}
	self := smp(t)
	for _, topology := range []spec.Topology{spec.TopologyBookinfoShape, spec.TopologyEmojivotoShape} {
		for _, mesh := range []string{"none", "builtin", "haproxy", "nginx"} {
			t.Run(string(topology)+"/"+mesh, func(t *testing.T) {
				if k, ok := kindOf(spec.MeshType(mesh)); ok {
					requireKind(t, k, self)
				}
				p := plan(t, fmt.Sprintf(`
name: shapes
arms: [{name: arm, mesh: %s}]
workload:
  app: {topology: %s}
  path: "/api/vote?choice=:doughnut:"
  duration: 1s
`, mesh, topology))
				shape, ok := app.Shape(string(topology))
				if !ok || len(shape) != topology.ShapeServices() {
					t.Fatalf("app.Shape(%s) has %d services, spec says %d", topology, len(shape), topology.ShapeServices())
				}
				pf, d := checkAndDeploy(t, p, self, t.TempDir())
				t.Cleanup(func() { _ = pf.Teardown(context.Background(), d) })
				const n = 5
				for i := range n {
					size, hops, err := get(d.Target.URLs[0])
					if err != nil {
						t.Fatalf("request %d: %v", i, err)
					}
					if size != shape[0].ResponseSize || hops != len(shape) {
						t.Fatalf("request %d: %d bytes across %d services, want %d bytes across %d", i, size, hops, shape[0].ResponseSize, len(shape))
					}
				}
				// Deploy's own check sent one request too.
				served := map[string]bool{}
				for _, c := range d.Components {
					if c.Role != "app" {
						continue
					}
					var s app.ShapeService
					for _, x := range shape {
						if x.Name == c.Name {
							s = x
						}
					}
					if s.Name == "" {
						t.Fatalf("component %s is not a service of the %s", c.Name, topology)
					}
					served[c.Name] = true
					proto := "http1"
					if s.Serves == app.GRPC {
						proto = "grpc"
					}
					if got := requests(t, c.MetricsURL, proto); got != n+1 {
						t.Errorf("%s answered %g requests over %s, want %d (every request crosses the whole graph)", c.Name, got, proto, n+1)
					}
				}
				if len(served) != len(shape) {
					t.Errorf("%d services deployed, want %d", len(served), len(shape))
				}
				for _, sc := range d.Private.(*deployment).sidecars {
					c, err := sc.Counters(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					if c.Requests == 0 {
						t.Errorf("%s counted no request", sc.Spec.Name)
					}
				}
			})
		}
	}
}

// get sends one GET and returns the reply's body size and x-smp-hops.
func get(url string) (size, hops int, err error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("%s: %s", resp.Status, body)
	}
	hops, _ = strconv.Atoi(resp.Header.Get("X-Smp-Hops"))
	return len(body), hops, nil
}

// requests is a service's smp_app_requests_total{protocol, code} of successes (200,
// gRPC's OK).
func requests(t *testing.T, metricsURL, protocol string) float64 {
	ok := `code="200"`
	if protocol == "grpc" {
		ok = `code="OK"`
	}
	t.Helper()
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "smp_app_requests_total{") || !strings.Contains(line, ok) ||
			!strings.Contains(line, `protocol="`+protocol+`"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("%s: %q: %v", metricsURL, line, err)
		}
		return v
	}
	t.Fatalf("%s has no smp_app_requests_total for protocol %s and %s", metricsURL, protocol, ok)
	return 0
}
