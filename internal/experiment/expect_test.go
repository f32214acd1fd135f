package experiment

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/service-mesh-performance/smp/internal/sysinfo"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

func TestVersionMatches(t *testing.T) {
	for _, c := range []struct {
		constraint, observed string
		want                 bool
	}{
		{">=1.30", "v1.37.2", true}, {">=1.30", "v1.29.9", false}, {">=1.30.0", "v1.30.0", true},
		{">1.30", "v1.30.9", false}, {">1.30", "v1.31.0", true}, {">1.30.2", "v1.30.3", true}, {">1.30.2", "v1.30.2", false},
		{"<1.31", "v1.30.9", true}, {"<1.31", "v1.31.0", false},
		{"<=1.31", "v1.31.7", true}, {"<=1.31", "v1.32.0", false}, {"<=1.31.2", "v1.31.3", false},
		{"1.31", "v1.31.4", true}, {"1.31", "v1.32.0", false}, {"=1.31", "v1.31.0", true}, {"v1.31.4", "v1.31.4", true}, {"1.31.4", "v1.31.5", false},
		{"1", "v1.37.2", true}, {"~1.31.2", "v1.31.9", true}, {"~1.31.2", "v1.31.1", false}, {"~1.31.2", "v1.32.0", false},
		{"^1.30", "v1.37.2", true}, {"^1.30", "v1.29.0", false}, {"^0.3.1", "v0.3.9", true}, {"^0.3.1", "v0.4.0", false},
		// Distributions' suffixes do not count.
		{">=1.30", "v1.30.4-eks-a737599", true}, {"1.30", "v1.30.4+k3s1", true}, {">= 1.30", "1.30.0", true},
	} {
		got, err := versionMatches(c.constraint, c.observed)
		if err != nil || got != c.want {
			t.Errorf("versionMatches(%q, %q) = %v, %v; want %v", c.constraint, c.observed, got, err, c.want)
		}
	}
	for _, bad := range [][2]string{{"newest", "v1.30.0"}, {">=1.30", "unknown"}} {
		if _, err := versionMatches(bad[0], bad[1]); err == nil {
			t.Errorf("versionMatches(%q, %q): no error", bad[0], bad[1])
		}
	}
}

func TestExpectationWarnings(t *testing.T) {
	node := func(name string, cores int, gib int64) result.Node {
		return result.Node{Name: name, Cores: cores, MemoryBytes: gib << 30}
	}
	cluster := result.Environment{Platform: "kubernetes", Kubernetes: &result.KubernetesEnvironment{Version: "v1.29.3-eks-1", Nodes: []result.Node{
		node("a", 8, 32), node("b", 4, 32), node("c", 8, 15)}}}
	for _, c := range []struct {
		name string
		exp  spec.Expectations
		env  result.Environment
		want []string
	}{
		{"none expected", spec.Expectations{}, result.Environment{Platform: "local", Cores: 1}, nil},
		{"cluster as expected", spec.Expectations{Nodes: 3, Cores: 4, Memory: 15 << 30, KubernetesVersion: "1.29"}, cluster, nil},
		{"cluster unlike", spec.Expectations{Nodes: 2, Cores: 8, Memory: 16 << 30, KubernetesVersion: ">=1.30"}, cluster, []string{
			"environment.expect.nodes: expected 2 nodes, observed 3 (a, b, c)",
			"environment.expect.cores: expected at least 8 cores per node, observed b 4",
			"environment.expect.memory: expected at least 16GiB per node, observed c 15.0GiB",
			"environment.expect.kubernetes_version: expected >=1.30, observed v1.29.3-eks-1",
		}},
		{"cluster not described", spec.Expectations{Nodes: 3}, result.Environment{Platform: "kubernetes"},
			[]string{"environment.expect: not compared, the cluster could not be described"}},
		{"machine unlike", spec.Expectations{Cores: 16, Memory: 64 << 30, KubernetesVersion: ">=1.30"},
			result.Environment{Platform: "local", Hostname: "box", Cores: 2, MemoryBytes: 8 << 30}, []string{
				"environment.expect.cores: expected at least 16 cores, observed 2 on this machine (box)",
				"environment.expect.memory: expected at least 64GiB, observed 8.0GiB on this machine (box)",
				"environment.expect.kubernetes_version: expected >=1.30, observed no cluster (platform local)",
			}},
	} {
		if got := expectationWarnings(c.exp, c.env); !slices.Equal(got, c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

// TestRunExpectations: a real run records each expectation this machine does not meet as
// a warning of the result, with the expected and the observed value, and still runs;
// an expectation it meets says nothing.
func TestRunExpectations(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	host := sysinfo.Read()
	plan := parse(t, `
name: expectations
repetitions: 1
workload: {rate: 50, connections: 1, duration: 200ms, warmup: 0s, endpoint_urls: ["`+srv.URL+`"]}
metrics: {collectors: []}
environment:
  expect: {cores: 100000, memory: 1GiB, kubernetes_version: ">=1.30"}
`)
	var status strings.Builder
	doc, err := Run(context.Background(), plan, Options{Status: &status})
	if err != nil {
		t.Fatal(err)
	}
	if doc.Status != result.StatusComplete || len(doc.Trials) != 1 {
		t.Fatalf("status %s, %d trials: an unmet expectation must not stop the run", doc.Status, len(doc.Trials))
	}
	want := []string{
		"environment.expect.cores: expected at least 100000 cores, observed " + strconv.Itoa(host.Cores) + " on this machine (" + host.Hostname + ")",
		"environment.expect.kubernetes_version: expected >=1.30, observed no cluster (platform external)",
	}
	var got []string
	for _, w := range doc.Warnings {
		if strings.HasPrefix(w, "environment.expect") {
			got = append(got, w)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("warnings %q\nwant %q (memory: 1GiB is met)", doc.Warnings, want)
	}
	if !strings.Contains(status.String(), "smp: warning: "+want[0]) {
		t.Errorf("status does not show the warning:\n%s", status.String())
	}
}
