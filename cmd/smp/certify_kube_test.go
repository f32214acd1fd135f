package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/service-mesh-performance/smp/internal/platform/kube/kubetest"
	"github.com/service-mesh-performance/smp/result"
)

// TestCertifyKube: smp certify --platform kubernetes checks the live test cluster: its
// three kwok nodes are alike, the proxies injected with a CPU limit above their request
// are named, and since kwok's nodes serve no /metrics/cadvisor through the node proxy, the
// throttling check is skipped with that reason.
func TestCertifyKube(t *testing.T) {
	cl := testCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := fmt.Sprintf("certify-%d", time.Now().UnixNano())
	t.Cleanup(func() { _ = cl.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	if err := cl.ProxyPods(ctx, ns); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cert.json")
	code, stdout, stderr := smpIn(ctx, "certify", "--platform", "kubernetes", "--calibrate", "none", "--interval", "100ms",
		"--kubeconfig", cl.Kubeconfig, "-o", path)
	c, err := result.LoadCertificate(path)
	if err != nil {
		t.Fatalf("exit %d, no certificate: %v\n%s", code, err, stderr)
	}
	if want := map[bool]int{true: exitFailure, false: exitOK}[c.Verdict == result.VerdictFail]; code != want || c.Platform != "kubernetes" {
		t.Errorf("platform %s, verdict %s, exit %d; want kubernetes, exit %d\n%s", c.Platform, c.Verdict, code, want, stderr)
	}
	if n := c.Host.Nodes; len(n) != 3 || n[0].Name != kubetest.NodeA || n[2].Cores != 8 || n[2].Labels["smp.dev/role"] != "load" {
		t.Errorf("host.nodes %+v, want the fixture's three nodes", n)
	}
	if !strings.Contains(stderr, "checking the cluster at https://127.0.0.1:") || !strings.Contains(stderr, "(context smp-test)") {
		t.Errorf("stderr does not say which cluster:\n%s", stderr)
	}
	checks := map[string]result.Check{}
	for _, ch := range c.Checks {
		checks[ch.Name] = ch
	}
	nodes := checks["kube.nodes"]
	if want := "3 × m5.large 8000m "; nodes.Verdict != result.VerdictPass || !strings.HasPrefix(nodes.Value, want) ||
		!strings.Contains(nodes.Value, "kernel 6.1.0-test") || !strings.Contains(nodes.Value, "kubelet "+kubetest.Version) {
		t.Errorf("kube.nodes: %s %q, want pass %q… (the fixture's nodes)", nodes.Verdict, nodes.Value, want)
	}
	res := checks["kube.proxy_resources"]
	if res.Verdict != result.VerdictWarn || !strings.Contains(res.Value, "limited/istio-proxy: request 100m < limit 500m") ||
		strings.Contains(res.Value, "guaranteed/") || strings.Contains(res.Value, "native/") {
		t.Errorf("kube.proxy_resources: %s %q, want warn naming limited/istio-proxy only of %s's pods", res.Verdict, res.Value, ns)
	}
	thr := checks["kube.proxy_throttling"]
	// One reason for the nodes of the limited proxies (node-a, node-b or both, as the
	// scheduler placed them): kwok's kubelet server answers 400 "unknown".
	const prefix, suffix = "no throttling counters: the API server's node proxy (/api/v1/nodes/NODE/proxy/metrics/cadvisor) failed on node-", ": HTTP 400: unknown"
	if thr.Verdict != result.VerdictSkip || !strings.HasPrefix(thr.Reason, prefix) || !strings.HasSuffix(thr.Reason, suffix) || strings.Contains(thr.Reason, ";") {
		t.Errorf("kube.proxy_throttling: %s %q, want skip %q…%q", thr.Verdict, thr.Reason, prefix, suffix)
	}
	if !strings.Contains(stdout, "kube.proxy_resources") {
		t.Errorf("stdout does not list the cluster checks:\n%s", stdout)
	}
	t.Logf("kube.nodes %s: %s\nkube.proxy_resources %s: %s\nkube.proxy_throttling %s: %s", nodes.Verdict, nodes.Value, res.Verdict, res.Value, thr.Verdict, thr.Reason)

	// A context the kubeconfig does not have is an error, and no certificate.
	other := filepath.Join(t.TempDir(), "other.json")
	if code, _, stderr := smpIn(ctx, "certify", "--platform", "kubernetes", "--calibrate", "none", "--interval", "100ms",
		"--kubeconfig", cl.Kubeconfig, "--context", "nope", "-o", other); code != exitFailure || !strings.Contains(stderr, "context nope") {
		t.Errorf("--context nope: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(other); err == nil {
		t.Error("--context nope wrote a certificate")
	}
}
