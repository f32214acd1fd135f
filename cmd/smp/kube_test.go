package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fortio.org/fortio/rapi"
	"fortio.org/log"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/service-mesh-performance/smp/internal/agent"
	"github.com/service-mesh-performance/smp/internal/engine"
	"github.com/service-mesh-performance/smp/internal/platform/kube"
	"github.com/service-mesh-performance/smp/internal/platform/kube/kubetest"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// These tests run smp cleanup and smp run against a real control plane
// (internal/platform/kube/kubetest: kube-apiserver, controller manager and scheduler,
// kwok simulating the nodes and pods, fake mesh control planes and injector). It is
// started by the first test that needs it and stopped after the last (TestMain).

var kubeEnv struct {
	once    sync.Once
	cl      *kubetest.Cluster
	err     error
	stopAll []func()

	// The agents that stand in for agent pods (agentsOfRun), and what they ran, by run id.
	agentMu   sync.Mutex
	agents    map[string]*agent.Local // by the run CA's certificate
	agentRuns map[string][]agent.StartRequest
}

// testCluster is the shared test cluster: kwok forwards every pod's port 8080 to a
// fortio REST server of this process (standing in for the load pod), and its agent port
// to agents of this process (standing in for agent pods: agentsOfRun).
func testCluster(t *testing.T) *kubetest.Cluster {
	t.Helper()
	if missing := kubetest.Missing(); len(missing) > 0 {
		if kubetest.Required() {
			t.Fatalf("missing %s (run scripts/k8s-binaries)", strings.Join(missing, ", "))
		}
		t.Skipf("missing %s (run scripts/k8s-binaries)", strings.Join(missing, ", "))
	}
	e := &kubeEnv
	e.once.Do(func() {
		log.SetLogLevelQuiet(log.Warning)
		mux := http.NewServeMux()
		rapi.AddHandlers(nil, mux, "/fortio/", "/fortio/", "")
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			e.err = err
			return
		}
		srv := &http.Server{Handler: mux}
		go func() { _ = srv.Serve(ln) }()
		e.stopAll = append(e.stopAll, func() { _ = srv.Close() })
		spread, err := kubetest.NewSpread(agentsOfRun)
		if err != nil {
			e.err = err
			return
		}
		e.stopAll = append(e.stopAll, spread.Close)
		e.cl, e.err = kubetest.Start(kubetest.Options{Forward: map[int]int{8080: ln.Addr().(*net.TCPAddr).Port, agent.DefaultPort: spread.Port()}})
		if e.err == nil {
			e.stopAll = append(e.stopAll, e.cl.Stop)
			t.Logf("test cluster up in %s, with fixtures in %s", e.cl.Started.Round(time.Millisecond), e.cl.Ready.Round(time.Millisecond))
		}
	})
	if e.err != nil {
		t.Fatalf("start the test control plane: %v", e.err)
	}
	return e.cl
}

// agentsOfRun returns the addresses of two agents of this process holding the
// credentials of the newest agent Secret on the test cluster (what the kubelet would
// mount in each agent pod), started when a connection to an agent pod first needs them.
func agentsOfRun() ([]string, error) {
	e := &kubeEnv
	ctx := context.Background()
	secrets, err := e.cl.Client.CoreV1().Secrets("").List(ctx, metav1.ListOptions{LabelSelector: kube.LabelManagedBy + "=" + kube.ManagedBy})
	if err != nil || len(secrets.Items) == 0 {
		return nil, fmt.Errorf("no agent secret: %v", err)
	}
	sec := slices.MaxFunc(secrets.Items, func(a, b corev1.Secret) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
	ca := string(sec.Data[agent.CAFile])
	e.agentMu.Lock()
	defer e.agentMu.Unlock()
	if l, ok := e.agents[ca]; ok {
		return l.Addresses, nil
	}
	creds, err := agent.ParseCredentials(agent.RoleAgent, sec.Data[agent.CAFile], sec.Data[agent.CertFile(agent.RoleAgent)],
		sec.Data[agent.KeyFile(agent.RoleAgent)], "")
	if err != nil {
		return nil, err
	}
	l, err := agent.StartLocal(context.Background(), 2, agent.LocalOptions{Credentials: &creds,
		OnResult: func(_ int, req agent.StartRequest, res *engine.Result) {
			e.agentMu.Lock()
			defer e.agentMu.Unlock()
			e.agentRuns[req.RunID] = append(e.agentRuns[req.RunID], req)
		}})
	if err != nil {
		return nil, err
	}
	if e.agents == nil {
		e.agents, e.agentRuns = map[string]*agent.Local{}, map[string][]agent.StartRequest{}
	}
	e.agents[ca] = l
	e.stopAll = append(e.stopAll, func() { _ = l.Close() })
	return l.Addresses, nil
}

// stopCluster stops what testCluster started (TestMain, after the tests).
func stopCluster() {
	for _, f := range slices.Backward(kubeEnv.stopAll) {
		f()
	}
}

// smpIn runs smp in this process and returns its exit code, stdout and stderr.
func smpIn(ctx context.Context, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(ctx, args, streams{in: strings.NewReader(""), out: &out, err: &errOut})
	return code, out.String(), errOut.String()
}

// smpObjects lists what smp has on the cluster (namespaces and mesh objects labelled
// app.kubernetes.io/managed-by=smp), sorted.
func smpObjects(t *testing.T, cl *kubetest.Cluster) []string {
	t.Helper()
	ctx := context.Background()
	sel := metav1.ListOptions{LabelSelector: kube.LabelManagedBy + "=" + kube.ManagedBy}
	nss, err := cl.Client.CoreV1().Namespaces().List(ctx, sel)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ns := range nss.Items {
		out = append(out, "namespace "+ns.Name)
	}
	// The mesh objects smp creates outside its namespaces: Kuma's run mesh and its
	// MeshTrafficPermission.
	dyn, err := dynamic.NewForConfig(cl.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range []string{"meshes", "meshtrafficpermissions"} {
		list, err := dyn.Resource(schema.GroupVersionResource{Group: "kuma.io", Version: "v1alpha1", Resource: res}).List(ctx, sel)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list.Items {
			out = append(out, o.GetKind()+" "+o.GetNamespace()+"/"+o.GetName())
		}
	}
	slices.Sort(out)
	return out
}

// keptRun deploys the arms of a plan with environment.kubernetes.keep, as a run that
// crashed (or was asked to keep its objects) leaves them, and returns the run's key.
func keptRun(t *testing.T, cl *kubetest.Cluster, runID string, arms ...spec.Arm) string {
	t.Helper()
	plan := (&spec.Plan{Arms: arms, Workload: spec.Workload{App: spec.App{Kind: spec.AppFortio}},
		Environment: spec.Environment{Platform: spec.PlatformKubernetes, Kubernetes: spec.Kubernetes{Keep: true,
			NodeSelector: map[string]string{"smp.dev/pool": "app"}, LoadNodeSelector: map[string]string{"smp.dev/role": "load"}}}}).WithDefaults()
	p, err := kube.New(kube.Options{Plan: plan, RunID: runID, Config: cl.Config})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range plan.Arms {
		if _, err := p.Deploy(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	return p.RunKey()
}

// TestCleanupKube: smp cleanup removes, by label, what a kept run left (--run, with the
// run id or its key) or every run left (--all), and nothing else.
func TestCleanupKube(t *testing.T) {
	cl := testCluster(t)
	ctx := context.Background()
	k1 := keptRun(t, cl, "20261126-120000-kept-0001", spec.Arm{Name: "baseline"}, spec.Arm{Name: "kuma", Mesh: spec.MeshKuma})
	k2 := keptRun(t, cl, "20261126-120000-kept-0002", spec.Arm{Name: "baseline"})
	other := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "not-smp", Labels: map[string]string{"smp.dev/run": k1}}}
	if _, err := cl.Client.CoreV1().Namespaces().Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cl.Client.CoreV1().Namespaces().Delete(ctx, "not-smp", metav1.DeleteOptions{}) }()

	for _, args := range [][]string{{"cleanup"}, {"cleanup", "--run", "x", "--all"}} {
		if code, _, stderr := smpIn(ctx, args...); code != exitUsage || !strings.Contains(stderr, "exactly one of --run ID and --all") {
			t.Errorf("smp %v: exit %d, %s", args, code, stderr)
		}
	}
	if code, _, stderr := smpIn(ctx, "cleanup", "--all", "--kubeconfig", cl.Kubeconfig, "--context", "nope"); code != exitFailure ||
		!strings.Contains(stderr, "context nope") {
		t.Errorf("smp cleanup --context nope: exit %d, %s", code, stderr)
	}

	// --run with the run id: the first run's four namespaces and Kuma objects go.
	code, stdout, stderr := smpIn(ctx, "cleanup", "--run", "20261126-120000-kept-0001", "--kubeconfig", cl.Kubeconfig, "--context", "smp-test")
	want := []string{"Mesh smp-" + k1, "MeshTrafficPermission kuma-system/smp-allow-all-" + k1,
		"namespace smp-" + k1 + "-baseline", "namespace smp-" + k1 + "-baseline-load", "namespace smp-" + k1 + "-kuma", "namespace smp-" + k1 + "-kuma-load"}
	if got := sortedLines(stdout); code != exitOK || !slices.Equal(got, want) {
		t.Fatalf("smp cleanup --run: exit %d\nstdout %v\nwant   %v\nstderr %s", code, got, want, stderr)
	}
	left := smpObjects(t, cl)
	if wantLeft := []string{"namespace smp-" + k2 + "-baseline", "namespace smp-" + k2 + "-baseline-load"}; !slices.Equal(left, wantLeft) {
		t.Errorf("after --run: %v, want only the other run's %v", left, wantLeft)
	}

	// --all, with KUBECONFIG instead of --kubeconfig: the other run goes too.
	t.Setenv("KUBECONFIG", cl.Kubeconfig)
	code, stdout, stderr = smpIn(ctx, "cleanup", "--all")
	if want := []string{"namespace smp-" + k2 + "-baseline", "namespace smp-" + k2 + "-baseline-load"}; code != exitOK || !slices.Equal(sortedLines(stdout), want) {
		t.Errorf("smp cleanup --all: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	if left := smpObjects(t, cl); len(left) > 0 {
		t.Errorf("after --all: %v", left)
	}
	if _, err := cl.Client.CoreV1().Namespaces().Get(ctx, "not-smp", metav1.GetOptions{}); err != nil {
		t.Errorf("a namespace smp did not create: %v", err)
	}
	// The run key works as well as the id; nothing left is not an error.
	if code, stdout, stderr := smpIn(ctx, "cleanup", "--run", k1); code != exitOK || stdout != "" || !strings.Contains(stderr, "nothing to clean up") {
		t.Errorf("smp cleanup again: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	slices.Sort(lines)
	return lines
}

// kubePlan is a plan of the fortio app on the test cluster's nodes. Its expectations are
// those of the cluster (8 cores and 32GiB per node) but for the number of nodes (3) and
// the version (kubetest.Version). extra are more workload fields, one per line.
func kubePlan(t *testing.T, duration string, extra ...string) string {
	var more string
	for _, l := range extra {
		more += "  " + l + "\n"
	}
	return writePlan(t, `
name: kube
repetitions: 1
arms: [baseline, istio]
environment:
  platform: kubernetes
  kubernetes:
    node_selector: {smp.dev/pool: app}
    load_node_selector: {smp.dev/role: load}
  expect: {nodes: 2, cores: 8, memory: 32GiB, kubernetes_version: ">=1.38"}
workload:
  app: {kind: fortio}
  rate: 50
  connections: 2
  duration: `+duration+`
  warmup: 0s
`+more)
}

// TestRunKubeManyNodes: what needs several nodes and a vendor's mesh, on simulated nodes
// (kwok): smp run checks the plan against the cluster, deploys each arm (namespaces,
// injection, strict mTLS, rollouts, the data-path check) with the load pod on the tainted
// load node, reaches it through the API server's port-forward and asks its fortio to load
// the arm's entry URL; the result records the three nodes, the Istio arm's proxies and
// the expectations that differ. Simulated pods run no container, so the load cannot
// succeed here: the entry URL (a Service's DNS name) does not resolve outside a cluster
// and fortio refuses the run, which smp must say, leaving nothing on the cluster. The
// same path succeeding on a real node is TestRunKube.
func TestRunKubeManyNodes(t *testing.T) {
	cl := testCluster(t)
	bin := buildSMP(t)
	out := filepath.Join(t.TempDir(), "result.json")
	r := startRun(t, bin, kubePlan(t, "1s"), "--kubeconfig", cl.Kubeconfig, "-o", out)
	code := r.wait(t, 3*time.Minute)
	stderr := r.stderr.String()
	if code != exitFailure {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailure, r.stdout.String(), stderr)
	}
	for _, want := range []string{"fortio refused to load http://fortio-server.smp-", "-baseline.svc:8080/echo", "-istio.svc:8080/echo"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not name the in-cluster target (%q):\n%s", want, stderr)
		}
	}
	if left := smpObjects(t, cl); len(left) > 0 {
		t.Errorf("left on the cluster: %v", left)
	}
	r.assertNothingLeft(t)
	// The result records the failed trials, what each arm ran, and the cluster.
	doc, err := result.Load(out)
	if err != nil {
		t.Fatalf("no result: %v", err)
	}
	if doc.Status != result.StatusFailed || len(doc.Trials) != 2 {
		t.Fatalf("status %s with %d trials, want failed with 2", doc.Status, len(doc.Trials))
	}
	for _, tr := range doc.Trials {
		if tr.Status != result.StatusFailed || !strings.Contains(tr.Error, "-"+tr.Arm+".svc:8080/echo") {
			t.Errorf("trial %s: %s, error %q", tr.ID, tr.Status, tr.Error)
		}
		if tr.Generator.Name != spec.GeneratorFortio {
			t.Errorf("trial %s: generator %q, want fortio (the load pod's)", tr.ID, tr.Generator.Name)
		}
	}
	for _, tool := range doc.Tools {
		if tool.Role == "load_generator" && tool.Name != string(spec.GeneratorFortio) {
			t.Errorf("tools list load generator %s, want fortio", tool.Name)
		}
	}
	if m := doc.Trials[1].Mesh; m.Type != spec.MeshIstio || m.Version != "1.24.2" || m.ProxyVersion != "1.24.2" || m.Proxies != 2 || m.MTLS != spec.MTLSStrict {
		t.Errorf("istio trial's mesh %+v, want istio 1.24.2, proxy 1.24.2, 2 proxies (app and load), strict mTLS", m)
	}
	k := doc.Environment.Kubernetes
	if doc.Environment.Platform != "kubernetes" || k == nil || k.Version != kubetest.Version || k.Context != "smp-test" || len(k.Nodes) != 3 || len(k.Meshes) != 6 {
		t.Fatalf("environment %+v, kubernetes %+v", doc.Environment, k)
	}
	if n := k.Nodes[2]; n.Name != kubetest.NodeLoad || n.Cores != 8 || n.InstanceType != "m5.large" || n.Labels["smp.dev/role"] != "load" {
		t.Errorf("load node %+v", n)
	}
	// environment.expect against the cluster found: what differs, and only that.
	var expect []string
	for _, w := range doc.Warnings {
		if strings.HasPrefix(w, "environment.expect") {
			expect = append(expect, w)
		}
	}
	if want := []string{"environment.expect.nodes: expected 2 nodes, observed 3 (node-a, node-b, node-load)",
		"environment.expect.kubernetes_version: expected >=1.38, observed " + kubetest.Version}; !slices.Equal(expect, want) {
		t.Errorf("expectation warnings %q\nwant %q", expect, want)
	}
	if !strings.Contains(stderr, "smp: warning: environment.expect.nodes: expected 2 nodes, observed 3") {
		t.Errorf("stderr does not show the expectation warning:\n%s", stderr)
	}
}

// TestRunKubeManyNodesAgents: with workload.agents on simulated nodes, smp run deploys
// that many smp agent pods in each arm's load namespace, with credentials of a CA made for
// the run in a Secret, and drives them through one port-forward each: the agents (of this
// process, holding the Secret's credentials, as the pods would) first check their share
// and try to reach the arm's in-cluster entry URL; the Istio arm's injector adds a proxy
// to each agent pod. That URL does not resolve outside a cluster, so each agent's reach
// check fails with a DNS error until workload.reach_timeout, and each trial fails saying
// so, before any load; the run exits 1. Agent pods loading successfully on a real node is
// TestRunKubeNode.
func TestRunKubeManyNodesAgents(t *testing.T) {
	cl := testCluster(t)
	bin := buildSMP(t)
	plan := kubePlan(t, "1s", "agents: 2", "reach_timeout: 2s")
	out := filepath.Join(t.TempDir(), "result.json")
	r := startRun(t, bin, plan, "--kubeconfig", cl.Kubeconfig, "-o", out)
	code := r.wait(t, 3*time.Minute)
	stderr := r.stderr.String()
	if left := smpObjects(t, cl); len(left) > 0 {
		t.Errorf("left on the cluster: %v", left)
	}
	r.assertNothingLeft(t)
	doc, err := result.Load(out)
	if err != nil {
		t.Fatalf("exit %d, no result: %v\nstderr:\n%s", code, err, stderr)
	}
	if len(doc.Trials) != 2 || code != exitFailure {
		t.Fatalf("exit %d, %d trials, want %d and 2\nstderr:\n%s", code, len(doc.Trials), exitFailure, stderr)
	}
	e := &kubeEnv
	e.agentMu.Lock()
	runs := len(e.agentRuns[doc.ID])
	e.agentMu.Unlock()
	if runs != 0 {
		t.Errorf("the agents ran %d shares for run %s, want none: no target was reached", runs, doc.ID)
	}
	for _, tr := range doc.Trials {
		target := "http://fortio-server.smp-" + kube.RunKey(doc.ID) + "-" + tr.Arm + ".svc:8080/echo"
		if tr.Status != result.StatusFailed || strings.Count(tr.Error, "could not reach "+target+" in 2s (") != 2 ||
			strings.Count(tr.Error, "the last met dns: ") != 2 || !strings.HasSuffix(tr.Error, "no load was sent") {
			t.Errorf("trial %s: %s %q; want failed: both agents could not reach %s in 2s, a DNS error, no load sent", tr.ID, tr.Status, tr.Error, target)
		}
	}
	// The agents said so while they tried, once each in each trial.
	if n := strings.Count(stderr, `msg="agent cannot reach the target yet; trying again until it does" agent=https://127.0.0.1:`); n != 4 {
		t.Errorf("%d warnings of agents that cannot reach the target yet, want one per agent and trial\nstderr:\n%s", n, stderr)
	}
	if m := doc.Trials[1].Mesh; m.Proxies != 3 {
		t.Errorf("istio trial's mesh %+v, want 3 proxies (the app's and both agents')", m)
	}
}

// TestRunKubeInterrupted: SIGINT while smp run waits for an arm's rollout ends the run
// promptly and leaves nothing on the cluster. The signal is sent when the API server
// admits the first application pod, so the arm's namespaces and Deployments exist.
func TestRunKubeInterrupted(t *testing.T) {
	cl := testCluster(t)
	bin := buildSMP(t)
	admitted := make(chan string, 1)
	remove := cl.OnPodAdmission(func(ns string) {
		if strings.HasPrefix(ns, "smp-") && !strings.HasSuffix(ns, "-load") {
			select {
			case admitted <- ns:
			default:
			}
		}
	})
	defer remove()
	out := filepath.Join(t.TempDir(), "result.json")
	r := startRun(t, bin, kubePlan(t, "1m"), "--kubeconfig", cl.Kubeconfig, "-o", out)
	var ns string
	select {
	case ns = <-admitted:
	case <-time.After(2 * time.Minute):
		t.Fatalf("no application pod within 2 minutes:\n%s", r.stderr.String())
	}
	start := time.Now()
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	// smp deletes the arm's namespaces and waits for them to go: a few seconds (the
	// pods' grace period), far less than the minute of load the plan asks for.
	if code := r.wait(t, time.Minute); code != 130 {
		t.Errorf("exit code %d after SIGINT, want 130", code)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("smp took %s to stop after SIGINT in %s", took, ns)
	}
	if left := smpObjects(t, cl); len(left) > 0 {
		t.Errorf("left on the cluster: %v\nstderr:\n%s", left, r.stderr.String())
	}
	r.assertNothingLeft(t)
	doc, err := result.Load(out)
	if err != nil {
		t.Fatalf("no partial result: %v\nstderr:\n%s", err, r.stderr.String())
	}
	if doc.Status != result.StatusInterrupted || len(doc.Trials) != 1 || !strings.Contains(doc.Trials[0].Error, "context canceled") {
		t.Errorf("status %s, trials %+v; want interrupted, with the first arm's deploy cancelled", doc.Status, doc.Trials)
	}
}
