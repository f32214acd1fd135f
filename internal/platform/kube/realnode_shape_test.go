package kube

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/service-mesh-performance/smp/internal/agent"
	"github.com/service-mesh-performance/smp/internal/platform/kube/kubetest"
	"github.com/service-mesh-performance/smp/internal/sidecar"
	"github.com/service-mesh-performance/smp/spec"
)

// TestRealNodeEmojivotoShape: on the real node the emojivoto shape runs with smp's
// builtin sidecar, strict mTLS: svc-front's sidecar takes HTTP/1.1 in and sends gRPC
// (h2 over mTLS) to the sidecars of svc-glyphs and svc-ballot. Requests sent to
// svc-front's inbound listener with a certificate of the run's CA cross all three
// services (x-smp-hops 3), and every sidecar's own counters show the graph: front's
// inbound and both its outbounds, glyphs' and ballot's inbounds, each once per request.
func TestRealNodeEmojivotoShape(t *testing.T) {
	n := kubetest.TestNode(t)
	ctx := context.Background()
	runID := fmt.Sprintf("realshape-%d", time.Now().UnixNano())
	no := false
	plan := (&spec.Plan{Arms: []spec.Arm{{Name: "builtin", Mesh: spec.MeshBuiltin, MTLS: spec.MTLSStrict}},
		Workload: spec.Workload{App: spec.App{Kind: spec.AppBuiltin, Topology: spec.TopologyEmojivotoShape}, Path: "/api/vote?choice=:doughnut:"},
		Environment: spec.Environment{Platform: spec.PlatformKubernetes,
			Kubernetes: spec.Kubernetes{Image: n.Image, AntiAffinity: &no}}}).WithDefaults()
	if err := plan.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := agent.NewBundle(runID, false)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Options{Plan: plan, RunID: runID, Config: n.Config, ReadyTimeout: 3 * time.Minute,
		LoadPod: LoadPod{Args: agent.AgentArgs(agent.DefaultPort, "/etc/smp/agent"), Port: agent.DefaultPort, Replicas: 1,
			Files: b.AgentFiles(), FilesDir: "/etc/smp/agent"}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.Deploy(ctx, plan.Arms[0])
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		tctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := p.Teardown(tctx, d); err != nil {
			t.Error(err)
		}
	}()
	pods, err := n.Client.CoreV1().Pods(d.Private.(*deployment).appNS).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ip := map[string]string{}
	for _, pod := range pods.Items {
		ip[pod.Labels["app"]] = pod.Status.PodIP
	}
	for _, svc := range []string{"svc-front", "svc-glyphs", "svc-ballot"} {
		if ip[svc] == "" {
			t.Fatalf("no pod of %s (pods by app: %v)", svc, ip)
		}
	}
	id, err := p.ca.Issue("client")
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{id.TLS}, RootCAs: p.ca.Pool(), ServerName: "svc-front", MinVersion: tls.VersionTLS12}}}
	defer client.CloseIdleConnections()
	url := "https://" + net.JoinHostPort(ip["svc-front"], strconv.Itoa(proxyInboundPort)) + plan.Workload.Path
	// Deploy returns once the EndpointSlices list the pods; on a loaded node kube-proxy
	// programs the Services seconds later (see TestRunKubeNodeTCP), and until then
	// front's sidecar cannot reach ballot's or glyphs' Service ("upstream unavailable").
	// Requests go until one crosses all three services; the counted ones follow.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && resp.Header.Get("X-Smp-Hops") == "3" {
				break
			}
			err = fmt.Errorf("%s, x-smp-hops %q", resp.Status, resp.Header.Get("X-Smp-Hops"))
		}
		if time.Now().After(deadline) {
			t.Fatalf("no request crossed the three services within 2 minutes of Deploy: %v", err)
		}
		time.Sleep(250 * time.Millisecond) // polling for kube-proxy, which tells no one when it is done
	}
	before := map[string]map[string]int64{}
	for svc := range ip {
		before[svc] = listenerRequests(t, ip[svc])
	}
	const requests = 5
	for i := range requests {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Smp-Hops") != "3" || len(body) != 0 {
			t.Fatalf("request %d: %s, x-smp-hops %q, %d bytes (%q); want 200 across 3 services with an empty body",
				i, resp.Status, resp.Header.Get("X-Smp-Hops"), len(body), body)
		}
	}
	for _, want := range []struct{ svc, listener string }{
		{"svc-front", "inbound"}, {"svc-front", "outbound-0"}, {"svc-front", "outbound-1"},
		{"svc-glyphs", "inbound"}, {"svc-ballot", "inbound"},
	} {
		got := listenerRequests(t, ip[want.svc])[want.listener] - before[want.svc][want.listener]
		if got != requests {
			t.Errorf("%s's sidecar: %s carried %d requests, want %d", want.svc, want.listener, got, requests)
		}
	}
}

// listenerRequests reads a builtin sidecar's /stats on its pod's admin port: requests
// by listener.
func listenerRequests(t *testing.T, podIP string) map[string]int64 {
	t.Helper()
	resp, err := http.Get("http://" + net.JoinHostPort(podIP, strconv.Itoa(proxyAdminPort)) + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc sidecar.StatsDocument
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, l := range doc.Listeners {
		out[l.Name] = l.RequestsTotal
	}
	return out
}
