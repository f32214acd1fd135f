package kube

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/service-mesh-performance/smp/internal/agent"
	"github.com/service-mesh-performance/smp/internal/mesh"
	"github.com/service-mesh-performance/smp/internal/platform/kube/kubetest"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// TestRealNodeBuiltin: on the real node an arm of smp's builtin sidecar runs for real:
// the application pods and an agent pod, each with its smp-proxy container, are Ready;
// every container runs on this host (its PID found); the kubelet's cAdvisor, read
// through the API server, has CPU and memory series of every one of them; and Teardown
// leaves no namespace and, once the kubelet has collected them, no container.
func TestRealNodeBuiltin(t *testing.T) {
	n := kubetest.TestNode(t)
	ctx := context.Background()
	runID := fmt.Sprintf("realnode-%d", time.Now().UnixNano())
	no := false
	plan := (&spec.Plan{Arms: []spec.Arm{{Name: "builtin", Mesh: spec.MeshBuiltin, MTLS: spec.MTLSStrict}},
		Workload: spec.Workload{App: spec.App{Kind: spec.AppBuiltin, Services: 2}},
		Environment: spec.Environment{Platform: spec.PlatformKubernetes,
			Kubernetes: spec.Kubernetes{Image: n.Image, AntiAffinity: &no}}}).WithDefaults()
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
	torn := false
	defer func() {
		if !torn {
			_ = p.Teardown(context.Background(), d)
		}
	}()
	if d.Mesh.Proxies != 3 || len(d.Components) != 6 {
		t.Errorf("%d proxies, %d components (%v); want 3 proxies (svc-1, svc-2, the agent) and 6 containers", d.Mesh.Proxies, len(d.Components), d.Components)
	}
	if len(d.Target.URLs) != 1 || d.Target.URLs[0] != "http://127.0.0.1:15001/" {
		t.Errorf("target %v, want the agent's client sidecar, http://127.0.0.1:15001/", d.Target.URLs)
	}

	nodeURL, client, err := p.CAdvisorSource()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(nodeURL(kubetest.NodeName))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", nodeURL(kubetest.NodeName), resp.StatusCode, err)
	}
	proxies := 0
	for _, c := range d.Components {
		if c.Node != kubetest.NodeName || c.PID <= 0 {
			t.Errorf("%s: node %q, host PID %d; want %s and its PID on this host", c.Name, c.Node, c.PID, kubetest.NodeName)
		}
		if c.Role == result.RoleProxy && c.Container == mesh.BuiltinProxyContainer {
			proxies++
		}
		for _, metric := range []string{"container_cpu_usage_seconds_total", "container_memory_working_set_bytes"} {
			sel := fmt.Sprintf(`container=%q`, c.Container)
			found := false
			for _, line := range strings.Split(string(body), "\n") {
				if strings.HasPrefix(line, metric+"{") && strings.Contains(line, sel) && strings.Contains(line, fmt.Sprintf(`pod=%q`, c.Pod)) &&
					!strings.Contains(line, ` 0 `) {
					found = true
				}
			}
			if !found {
				t.Errorf("cAdvisor has no %s series of %s/%s", metric, c.Pod, c.Container)
			}
		}
	}
	if proxies != 3 {
		t.Errorf("%d smp-proxy components, want 3", proxies)
	}

	torn = true
	tctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := p.Teardown(tctx, d); err != nil {
		t.Fatal(err)
	}
	nss, err := n.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: LabelRun + "=" + p.RunKey()})
	if err != nil || len(nss.Items) != 0 {
		t.Errorf("namespaces left after Teardown: %v %v", nss, err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		left, err := n.Containers(ctx, "smp-"+p.RunKey()+"-")
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containers left on the node 3 minutes after Teardown: %v", left)
		}
		time.Sleep(2 * time.Second)
	}
}
