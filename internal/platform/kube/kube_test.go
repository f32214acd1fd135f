package kube

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fortio.org/fortio/fhttp"
	"fortio.org/fortio/rapi"
	"fortio.org/log"
	"go.uber.org/goleak"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/service-mesh-performance/smp/internal/agent"
	"github.com/service-mesh-performance/smp/internal/engine"
	"github.com/service-mesh-performance/smp/internal/generator"
	"github.com/service-mesh-performance/smp/internal/mesh"
	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/internal/platform/kube/kubetest"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// env is the shared test cluster; nil when the integration tests skip.
var env *testEnv

type testEnv struct {
	cl      *kubetest.Cluster
	c       *clients
	echoURL string // a fortio echo server, the target of load sent through the forward
	stopAll []func()

	// Two smp agents of this process stand in for a run's agent pods: kwok forwards
	// every pod's agent port to a kubetest.Spread in front of them. agentRuns has what
	// each ran, by run id.
	agentBundle *agent.Bundle
	agentMu     sync.Mutex
	agentRuns   map[string][]agentRun
}

type agentRun struct {
	index int
	req   agent.StartRequest
	res   *engine.Result
}

var getOpts = metav1.GetOptions{}

func TestMain(m *testing.M) {
	log.SetLogLevelQuiet(log.Warning) // the in-process fortio's info lines
	// The tests mostly wait for the control plane (rollouts, namespaces finalised after
	// the pods' grace period), which runs in other processes: more of them at once than
	// go test's default (GOMAXPROCS) halves the package's time. -parallel still wins.
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", "8")
	}
	code := func() int {
		defer kubetest.ReleaseTestNode()
		if missing := kubetest.Missing(); len(missing) > 0 {
			if kubetest.Required() {
				fmt.Fprintf(os.Stderr, "kube integration tests: missing %s (run scripts/k8s-binaries)\n", strings.Join(missing, ", "))
				return 1
			}
			fmt.Fprintf(os.Stderr, "kube integration tests skip: missing %s (run scripts/k8s-binaries)\n", strings.Join(missing, ", "))
			return m.Run()
		}
		var err error
		if env, err = setupEnv(); err != nil {
			fmt.Fprintf(os.Stderr, "start the test control plane: %v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "kube: control plane up in %s, with fixtures in %s\n", env.cl.Started.Round(time.Millisecond), env.cl.Ready.Round(time.Millisecond))
		defer env.stop()
		return m.Run()
	}()
	if code == 0 {
		// client-go keeps idle connections and klog a flush daemon for the process.
		if err := goleak.Find(goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"), goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
			goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"), goleak.IgnoreAnyFunction("golang.org/x/net/http2.(*ClientConn).readLoop"),
			goleak.IgnoreAnyFunction("k8s.io/apimachinery/pkg/util/wait.BackoffUntilWithContext"),
			goleak.IgnoreAnyFunction("fortio.org/fortio/periodic.(*Aborter).Reset")); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// setupEnv starts the test cluster with Consul absent (TestCheckMeshAbsent; the tests
// that need it install it), and servers in this process standing in for the load pods
// behind kwok's port-forward: fortio (its REST API under /fortio/) and two smp agents;
// and an echo server as the target.
func setupEnv() (*testEnv, error) {
	e := &testEnv{}
	mux := http.NewServeMux()
	rapi.AddHandlers(nil, mux, "/fortio/", "/fortio/", "")
	fortioLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	fortioSrv := &http.Server{Handler: mux}
	go func() { _ = fortioSrv.Serve(fortioLn) }()
	e.stopAll = append(e.stopAll, func() { _ = fortioSrv.Close() })
	echo := httptest.NewServer(http.HandlerFunc(fhttp.EchoHandler))
	e.echoURL = echo.URL + "/echo"
	e.stopAll = append(e.stopAll, echo.Close)

	if e.agentBundle, err = agent.NewBundle("kube-test", false); err != nil {
		e.stop()
		return nil, err
	}
	agentCreds, err := e.agentBundle.AgentCredentials()
	if err != nil {
		e.stop()
		return nil, err
	}
	e.agentRuns = map[string][]agentRun{}
	agents, err := agent.StartLocal(context.Background(), 2, agent.LocalOptions{Credentials: &agentCreds,
		OnResult: func(i int, req agent.StartRequest, res *engine.Result) {
			e.agentMu.Lock()
			defer e.agentMu.Unlock()
			e.agentRuns[req.RunID] = append(e.agentRuns[req.RunID], agentRun{i, req, res})
		}})
	if err != nil {
		e.stop()
		return nil, err
	}
	e.stopAll = append(e.stopAll, func() { _ = agents.Close() })
	spread, err := kubetest.NewSpread(func() ([]string, error) { return agents.Addresses, nil })
	if err != nil {
		e.stop()
		return nil, err
	}
	e.stopAll = append(e.stopAll, spread.Close)

	cl, err := kubetest.Start(kubetest.Options{Forward: map[int]int{8080: fortioLn.Addr().(*net.TCPAddr).Port, agent.DefaultPort: spread.Port()},
		Absent: []spec.MeshType{spec.MeshConsul}})
	if err != nil {
		e.stop()
		return nil, err
	}
	e.cl = cl
	e.stopAll = append(e.stopAll, cl.Stop)
	if e.c, err = newClients(cl.Config); err != nil {
		e.stop()
		return nil, err
	}
	return e, nil
}

func (e *testEnv) stop() {
	for _, f := range slices.Backward(e.stopAll) {
		f()
	}
}

func (e *testEnv) ensureConsul(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.cl.Install(ctx, spec.MeshConsul); err != nil {
		t.Fatalf("fake consul control plane: %v", err)
	}
}

func mustProfile(t *testing.T, m spec.MeshType, dp spec.DataPlane) mesh.Profile {
	t.Helper()
	p, ok := mesh.For(mesh.Kubernetes, m, dp)
	if !ok {
		t.Fatalf("no profile for %s %s", m, dp)
	}
	return p
}

// eventDeadline is a context whose deadline is an event rather than a time: it is done,
// with context.DeadlineExceeded, once its channel is closed.
type eventDeadline struct {
	context.Context
	at <-chan struct{}
}

func deadlineOn(parent context.Context, at <-chan struct{}) context.Context {
	return eventDeadline{parent, at}
}

func (d eventDeadline) Done() <-chan struct{} { return d.at }

func (d eventDeadline) Err() error {
	select {
	case <-d.at:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

func waitFor(ctx context.Context, what string, ok func() bool) error {
	for !ok() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

func needCluster(t *testing.T) *testEnv {
	t.Helper()
	if env == nil {
		t.Skip("no test control plane (scripts/k8s-binaries builds it)")
	}
	return env
}

// testPlan is a kubernetes plan with the given app and arms, its defaults applied; apps on
// the app pool, load on the tainted load node.
func testPlan(t *testing.T, app spec.AppKind, arms ...spec.Arm) *spec.Plan {
	t.Helper()
	return workloadPlan(t, spec.Workload{App: spec.App{Kind: app}}, arms...)
}

// workloadPlan is a kubernetes plan of the workload and arms, its defaults applied, on the
// same pools as testPlan's.
func workloadPlan(t *testing.T, w spec.Workload, arms ...spec.Arm) *spec.Plan {
	t.Helper()
	p := &spec.Plan{Arms: arms, Workload: w,
		Environment: spec.Environment{Platform: spec.PlatformKubernetes, Kubernetes: spec.Kubernetes{
			NodeSelector: map[string]string{"smp.dev/pool": "app"}, LoadNodeSelector: map[string]string{"smp.dev/role": "load"}}}}
	full := p.WithDefaults()
	if err := full.Validate(); err != nil {
		t.Fatalf("test plan: %v", err)
	}
	return full
}

func newTestPlatform(t *testing.T, plan *spec.Plan) *Platform {
	t.Helper()
	e := needCluster(t)
	p, err := New(Options{Plan: plan, RunID: "test-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")) + "-" + fmt.Sprint(time.Now().UnixNano()),
		Config: e.cl.Config, ReadyTimeout: 2 * time.Minute, DeleteTimeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// leftovers lists what a run key still has on the cluster.
func leftovers(t *testing.T, c *clients, runKey string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	nss, err := c.core.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: selector(runKey)})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range nss.Items {
		out = append(out, "namespace "+ns.Name)
	}
	for _, gvk := range meshKinds() {
		ri, m, err := c.resource(gvk, "")
		if err != nil {
			t.Fatal(err)
		}
		if m.Scope.Name() == "namespace" {
			ri = c.dyn.Resource(m.Resource)
		}
		list, err := ri.List(ctx, metav1.ListOptions{LabelSelector: selector(runKey)})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range list.Items {
			out = append(out, gvk.Kind+" "+objectName(&o))
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func arm(name string, m spec.MeshType, dp spec.DataPlane) spec.Arm {
	return spec.Arm{Name: name, Mesh: m, DataPlane: dp}
}

var allArms = []spec.Arm{
	arm("baseline", spec.MeshNone, ""), arm("istio", spec.MeshIstio, ""), arm("ambient", spec.MeshIstio, spec.DataPlaneAmbient),
	arm("linkerd", spec.MeshLinkerd, ""), arm("consul", spec.MeshConsul, ""), arm("kuma", spec.MeshKuma, ""), arm("cilium", spec.MeshCilium, ""),
}

// TestCheckMeshAbsent: a plan whose mesh is not installed fails Check with a positioned
// error naming what is missing, and nothing is created. It runs before any test installs
// Consul's fake control plane.
func TestCheckMeshAbsent(t *testing.T) {
	e := needCluster(t)
	if _, err := e.c.core.AppsV1().StatefulSets("consul").Get(context.Background(), "consul-server", getOpts); err == nil {
		t.Fatal("Consul's fake control plane is installed: this test must run before the tests that install it (no -shuffle)")
	}
	plan := testPlan(t, spec.AppBuiltin, arm("baseline", spec.MeshNone, ""), arm("consul", spec.MeshConsul, ""))
	p := newTestPlatform(t, plan)
	err := p.Check(context.Background())
	var pe spec.Errors
	if !errors.As(err, &pe) || len(pe) != 1 {
		t.Fatalf("Check = %v, want one plan error", err)
	}
	if pe[0].Path != "arms[1].mesh" || !strings.Contains(pe[0].Message, "consul") ||
		!strings.Contains(pe[0].Message, "StatefulSet consul/consul-server") || !strings.Contains(pe[0].Message, "not installed") {
		t.Errorf("error = %+v, want arms[1].mesh naming the missing consul-server", pe[0])
	}
	if left := leftovers(t, e.c, p.RunKey()); len(left) > 0 {
		t.Errorf("Check created %v", left)
	}
	// Deploy, called without Check, refuses the arm before it creates anything.
	if _, err := p.Deploy(context.Background(), plan.Arms[1]); err == nil ||
		!strings.Contains(err.Error(), "consul (sidecar) is not installed: missing StatefulSet consul/consul-server") {
		t.Errorf("Deploy of the absent mesh = %v", err)
	}
	if left := leftovers(t, e.c, p.RunKey()); len(left) > 0 {
		t.Errorf("Deploy of the absent mesh created %v", left)
	}
	// A version the cluster does not run is an error on arms[i].version.
	plan = testPlan(t, spec.AppBuiltin, spec.Arm{Name: "istio", Mesh: spec.MeshIstio, Version: "1.99.0"})
	err = newTestPlatform(t, plan).Check(context.Background())
	if !errors.As(err, &pe) || pe[0].Path != "arms[0].version" || !strings.Contains(pe[0].Message, "1.24.2") {
		t.Errorf("Check with version 1.99.0 = %v, want an error on arms[0].version naming 1.24.2", err)
	}
	// smp's sidecar carries HTTP/1.1, h2c, gRPC and TCP (L4) on Kubernetes.
	for _, proto := range []spec.Protocol{spec.ProtocolH2C, spec.ProtocolGRPC, spec.ProtocolTCP} {
		plan = testPlan(t, spec.AppBuiltin, arm("builtin", spec.MeshBuiltin, ""))
		plan.Workload.Protocol = proto
		pa, perr := New(Options{Plan: plan, RunID: "test-protocols", Config: e.cl.Config, LoadPod: LoadPod{Kind: platform.LoadAgents, Port: 7070}})
		if perr != nil {
			t.Fatal(perr)
		}
		err = pa.Check(context.Background())
		if err != nil {
			t.Errorf("Check of smp's sidecar over %s = %v", proto, err)
		}
	}
}

// TestDeployEachAppEachMesh deploys every app with every mesh profile, checks the
// namespaces, pods and mTLS objects on the API server against the profile, then tears
// down and checks that nothing is left.
func TestDeployEachAppEachMesh(t *testing.T) {
	e := needCluster(t)
	t.Parallel()
	e.ensureConsul(t)
	for _, app := range []spec.AppKind{spec.AppBuiltin, spec.AppBookinfo, spec.AppEmojivoto, spec.AppFortio} {
		t.Run(string(app), func(t *testing.T) {
			t.Parallel()
			plan := testPlan(t, app, allArms...)
			p := newTestPlatform(t, plan)
			defer p.Close()
			ctx := context.Background()
			if err := p.Check(ctx); err != nil {
				t.Fatalf("Check: %v", err)
			}
			for _, a := range plan.Arms {
				d, err := p.Deploy(ctx, a)
				if err != nil {
					t.Fatalf("Deploy %s: %v", a.Name, err)
				}
				checkDeployment(t, e, p, a, d)
				if err := p.Teardown(ctx, d); err != nil {
					t.Errorf("Teardown %s: %v", a.Name, err)
				}
			}
			if left := leftovers(t, e.c, p.RunKey()); len(left) > 0 {
				t.Errorf("left after teardown: %v", left)
			}
		})
	}
}

// meshKeys are the injection and mTLS keys of every mesh among labels and annotations,
// as "label k=v" and "annotation k=v", sorted.
func meshKeys(labels, annotations map[string]string) []string {
	var out []string
	isMesh := func(k string) bool {
		for _, m := range []string{"istio", "linkerd.io", "kuma.io", "consul.hashicorp.com"} {
			if strings.Contains(k, m) {
				return true
			}
		}
		return false
	}
	for k, v := range labels {
		if isMesh(k) {
			out = append(out, "label "+k+"="+v)
		}
	}
	for k, v := range annotations {
		if isMesh(k) {
			out = append(out, "annotation "+k+"="+v)
		}
	}
	slices.Sort(out)
	return out
}

// wantKeys are the mesh keys each arm's namespaces and pods must carry, written out: the
// arm's own mesh switched on, every other mesh smp knows switched off, and the
// namespace-level strict-mTLS switches (Linkerd's inbound policy, Kuma's run mesh).
// Both namespaces get the same keys (workload.internal: the load is meshed), but for
// Linkerd's inbound policy, which only the application's namespace needs.
func wantKeys(arm, runKey string) (appNS, loadNS, pod []string) {
	var (
		istioOff   = "label istio-injection=disabled"
		ambientOff = "label istio.io/dataplane-mode=none"
		kumaOff    = "label kuma.io/sidecar-injection=disabled"
		linkerdOff = "annotation linkerd.io/inject=disabled"
		podIstio   = "label sidecar.istio.io/inject=false"
		podConsul  = "annotation consul.hashicorp.com/connect-inject=false"
	)
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	switch arm {
	case "baseline", "cilium":
		ns := sorted(istioOff, ambientOff, kumaOff, linkerdOff)
		return ns, ns, sorted(podIstio, kumaOff, podConsul, linkerdOff)
	case "istio":
		ns := sorted("label istio-injection=enabled", ambientOff, kumaOff, linkerdOff)
		return ns, ns, sorted(kumaOff, podConsul, linkerdOff)
	case "ambient":
		ns := sorted(istioOff, "label istio.io/dataplane-mode=ambient", kumaOff, linkerdOff)
		return ns, ns, sorted(podIstio, kumaOff, podConsul, linkerdOff)
	case "linkerd":
		ns := sorted(istioOff, ambientOff, kumaOff, "annotation linkerd.io/inject=enabled")
		return sorted(append(ns, "annotation config.linkerd.io/default-inbound-policy=all-authenticated")...), ns,
			sorted(podIstio, kumaOff, podConsul)
	case "consul":
		ns := sorted(istioOff, ambientOff, kumaOff, linkerdOff)
		return ns, ns, sorted(podIstio, kumaOff, "annotation consul.hashicorp.com/connect-inject=true", linkerdOff)
	case "kuma":
		ns := sorted(istioOff, ambientOff, "label kuma.io/sidecar-injection=enabled", "label kuma.io/mesh=smp-"+runKey, linkerdOff)
		return ns, ns, sorted(podIstio, podConsul, linkerdOff)
	}
	panic("no expectations for arm " + arm)
}

// checkDeployment compares what the API server holds after Deploy with what the arm must
// look like: the namespaces' labels and annotations, every pod's keys and proxy
// containers (app and load), where the pods run, the arm's strict-mTLS objects, and what
// Deploy reported.
func checkDeployment(t *testing.T, e *testEnv, p *Platform, a spec.Arm, d *platform.Deployment) {
	t.Helper()
	ctx := context.Background()
	prof := mustProfile(t, a.Mesh, a.DataPlane)
	k := p.RunKey()
	appNS, loadNS := Namespaces("smp", k, a.Name)
	wantApp, wantLoad, wantPod := wantKeys(a.Name, k)
	for _, side := range []struct {
		ns      string
		role    string
		wantNS  []string
		proxies int
	}{{appNS, RoleApp, wantApp, 1}, {loadNS, RoleLoad, wantLoad, 1}} {
		ns, err := e.c.core.CoreV1().Namespaces().Get(ctx, side.ns, getOpts)
		if err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		for k, v := range map[string]string{LabelManagedBy: ManagedBy, LabelRun: k, LabelArm: a.Name, LabelRole: side.role} {
			if ns.Labels[k] != v {
				t.Errorf("%s: namespace %s label %s = %q, want %q", a.Name, side.ns, k, ns.Labels[k], v)
			}
		}
		if got := meshKeys(ns.Labels, ns.Annotations); !slices.Equal(got, side.wantNS) {
			t.Errorf("%s: namespace %s keys\n got %v\nwant %v", a.Name, side.ns, got, side.wantNS)
		}
		pods, err := e.c.core.CoreV1().Pods(side.ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) == 0 {
			t.Fatalf("%s: pods of %s: %v (%d)", a.Name, side.ns, err, len(pods.Items))
		}
		for _, pod := range pods.Items {
			if got := meshKeys(pod.Labels, pod.Annotations); !slices.Equal(got, wantPod) {
				t.Errorf("%s: pod %s keys\n got %v\nwant %v", a.Name, pod.Name, got, wantPod)
			}
			// Counted from the pod as the API server holds it (the injector's work).
			var names []string
			for _, c := range proxyContainers(&pod, allProxyNames()) {
				names = append(names, c.Name)
			}
			var want []string
			if prof.DataPlane == spec.DataPlaneSidecar {
				want = prof.Proxy.Containers[:side.proxies]
			}
			if !slices.Equal(names, want) {
				t.Errorf("%s: pod %s/%s proxy containers %v, want %v", a.Name, side.ns, pod.Name, names, want)
			}
			onLoadNode := pod.Spec.NodeName == kubetest.NodeLoad
			if onLoadNode != (side.role == RoleLoad) {
				t.Errorf("%s: %s pod %s on node %s", a.Name, side.role, pod.Name, pod.Spec.NodeName)
			}
		}
	}
	// The strict-mTLS objects on the server, found by the arm's labels.
	var got []string
	objs := map[string]*unstructured.Unstructured{}
	for _, gvk := range meshKinds() {
		ri, m, err := e.c.resource(gvk, "")
		if err != nil {
			t.Fatal(err)
		}
		if m.Scope.Name() == "namespace" {
			ri = e.c.dyn.Resource(m.Resource)
		}
		list, err := ri.List(ctx, metav1.ListOptions{LabelSelector: selector(k) + "," + LabelArm + "=" + a.Name})
		if err != nil {
			t.Fatal(err)
		}
		for i := range list.Items {
			o := &list.Items[i]
			got = append(got, o.GetKind()+" "+objectName(o))
			objs[o.GetKind()] = o
		}
	}
	var want []string
	switch a.Name {
	case "istio", "ambient":
		want = []string{"PeerAuthentication " + appNS + "/default"}
	case "consul":
		want = []string{"ServiceIntentions " + appNS + "/smp-allow-all"}
	case "kuma":
		want = []string{"Mesh smp-" + k, "MeshTrafficPermission kuma-system/smp-allow-all-" + k}
	case "cilium":
		want = []string{"CiliumNetworkPolicy " + appNS + "/smp-mutual-auth"}
	}
	if !sameSet(got, want) {
		t.Errorf("%s: mesh objects %v, want %v", a.Name, got, want)
	}
	checkStrictObjects(t, a.Name, objs, loadNS, k)
	if !prof.Mesh.IsBaseline() {
		if want := map[spec.MeshType]string{spec.MeshIstio: "1.24.2", spec.MeshLinkerd: "stable-2.14.10", spec.MeshConsul: "1.20.1",
			spec.MeshKuma: "2.9.1", spec.MeshCilium: "1.16.3"}[a.Mesh]; d.Mesh.Version != want {
			t.Errorf("%s: mesh version %q, want %q", a.Name, d.Mesh.Version, want)
		}
		if prof.DataPlane == spec.DataPlaneSidecar {
			want := mustImageVersion(kubetest.ProxyImages[prof.Proxy.Containers[0]])
			if d.Mesh.ProxyVersion != want || d.Mesh.Proxies == 0 {
				t.Errorf("%s: proxy version %q, proxies %d; want %s", a.Name, d.Mesh.ProxyVersion, d.Mesh.Proxies, want)
			}
		}
	}
	var load int
	for _, c := range d.Components {
		if c.Role == result.RoleLoadGenerator {
			load++
			if c.Node != kubetest.NodeLoad || c.Namespace != loadNS {
				t.Errorf("%s: load pod on %s in %s, want %s in %s", a.Name, c.Node, c.Namespace, kubetest.NodeLoad, loadNS)
			}
		}
	}
	if load != 1 {
		t.Errorf("%s: %d load components, want 1", a.Name, load)
	}
	if len(d.Target.URLs) != 1 || !strings.Contains(d.Target.URLs[0], "."+appNS+".svc:") {
		t.Errorf("%s: target %v, want the entry service in %s", a.Name, d.Target.URLs, appNS)
	}
}

func mustImageVersion(image string) string {
	v := mesh.ImageVersion(image)
	if v == "" {
		panic("no version in " + image)
	}
	return v
}

// checkStrictObjects pins the fields of each mesh's strict-mTLS objects as the API server
// holds them.
func checkStrictObjects(t *testing.T, arm string, objs map[string]*unstructured.Unstructured, loadNS, runKey string) {
	t.Helper()
	str := func(o *unstructured.Unstructured, path ...string) string {
		if o == nil {
			return "<missing>"
		}
		v, _, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
		return fmt.Sprint(v)
	}
	check := func(kind string, path []string, want string) {
		if got := str(objs[kind], path...); got != want {
			t.Errorf("%s: %s %s = %s, want %s", arm, kind, strings.Join(path, "."), got, want)
		}
	}
	switch arm {
	case "istio", "ambient":
		check("PeerAuthentication", []string{"spec", "mtls", "mode"}, "STRICT")
	case "consul":
		check("ServiceIntentions", []string{"spec", "destination", "name"}, "*")
		check("ServiceIntentions", []string{"spec", "sources"}, "[map[action:allow name:*]]")
	case "kuma":
		check("Mesh", []string{"spec", "mtls", "enabledBackend"}, "ca-1")
		check("Mesh", []string{"spec", "mtls", "backends"}, "[map[mode:STRICT name:ca-1 type:builtin]]")
		check("MeshTrafficPermission", []string{"metadata", "labels", "kuma.io/mesh"}, "smp-"+runKey)
		check("MeshTrafficPermission", []string{"spec", "targetRef", "kind"}, "Mesh")
		check("MeshTrafficPermission", []string{"spec", "from"}, "[map[default:map[action:Allow] targetRef:map[kind:Mesh]]]")
	case "cilium":
		check("CiliumNetworkPolicy", []string{"spec", "endpointSelector"}, "map[]")
		check("CiliumNetworkPolicy", []string{"spec", "ingress"},
			"[map[authentication:map[mode:required] fromEndpoints:[map[] map[matchLabels:map[k8s:io.kubernetes.pod.namespace:"+loadNS+"]]]]]")
	}
}

// TestMissingProxyDetected: when the injector misses the pods, Deploy fails naming the
// pod without its proxy container, and leaves nothing behind.
func TestMissingProxyDetected(t *testing.T) {
	e := needCluster(t)
	t.Parallel()
	a := spec.Arm{Name: "istio-noinject", Mesh: spec.MeshIstio, Labels: map[string]string{kubetest.InjectorOff: "off"}}
	plan := testPlan(t, spec.AppFortio, a)
	p := newTestPlatform(t, plan)
	defer p.Close()
	_, err := p.Deploy(context.Background(), plan.Arms[0])
	if err == nil || !strings.Contains(err.Error(), "has 0 istio-proxy container(s), want 1") {
		t.Fatalf("Deploy = %v, want the missing istio-proxy named", err)
	}
	if left := leftovers(t, e.c, p.RunKey()); len(left) > 0 {
		t.Errorf("left after a failed deploy: %v", left)
	}
}

// TestRolloutTimeout: pods that cannot be scheduled make Deploy fail with the scheduler's
// reason, and the arm is torn down.
func TestRolloutTimeout(t *testing.T) {
	e := needCluster(t)
	t.Parallel()
	plan := testPlan(t, spec.AppFortio, arm("baseline", spec.MeshNone, ""))
	plan.Environment.Kubernetes.NodeSelector = map[string]string{"smp.dev/pool": "nowhere"}
	p := newTestPlatform(t, plan)
	p.opt.ReadyTimeout = 5 * time.Second
	defer p.Close()
	_, err := p.Deploy(context.Background(), plan.Arms[0])
	if err == nil || !strings.Contains(err.Error(), "timed out waiting for the rollout") || !strings.Contains(err.Error(), "fortio-server") {
		t.Fatalf("Deploy = %v, want a rollout timeout naming fortio-server", err)
	}
	if left := leftovers(t, e.c, p.RunKey()); len(left) > 0 {
		t.Errorf("left: %v", left)
	}
}

// TestInterruptedDeploy: cancelling Deploy (Ctrl-C) while it waits for the rollout
// leaves nothing on the cluster: Deploy itself deletes what it created, and Close finds
// nothing more. The cancel comes when the API server admits the first application pod,
// so the namespaces, the run's Kuma Mesh and the Deployments exist, and no pod can be
// ready yet.
func TestInterruptedDeploy(t *testing.T) {
	e := needCluster(t)
	t.Parallel()
	plan := testPlan(t, spec.AppBookinfo, arm("kuma", spec.MeshKuma, ""))
	p := newTestPlatform(t, plan)
	appNS, _ := Namespaces("smp", p.RunKey(), "kuma")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	remove := e.cl.OnPodAdmission(func(ns string) {
		if ns == appNS {
			cancel()
		}
	})
	defer remove()
	_, err := p.Deploy(ctx, plan.Arms[0])
	if err == nil || !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), context.Canceled.Error()) {
		t.Fatalf("Deploy = %v, want it cancelled", err)
	}
	if left := leftovers(t, e.c, p.RunKey()); len(left) > 0 {
		t.Errorf("left after an interrupted Deploy: %v", left)
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if left := leftovers(t, e.c, p.RunKey()); len(left) > 0 {
		t.Errorf("left after Close: %v", left)
	}
}

// TestCleanup: a kept run's namespaces and cluster-scoped objects are found by label and
// removed by Cleanup.
func TestCleanup(t *testing.T) {
	e := needCluster(t)
	t.Parallel()
	plan := testPlan(t, spec.AppFortio, arm("baseline", spec.MeshNone, ""), arm("kuma", spec.MeshKuma, ""))
	plan.Environment.Kubernetes.Keep = true
	p := newTestPlatform(t, plan)
	ctx := context.Background()
	for _, a := range plan.Arms {
		d, err := p.Deploy(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Teardown(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	k := p.RunKey()
	// 2 arms × 2 namespaces, the run's Kuma Mesh and its MeshTrafficPermission (in kuma-system).
	want := []string{"MeshTrafficPermission kuma-system/smp-allow-all-" + k, "Mesh smp-" + k,
		"namespace smp-" + k + "-baseline", "namespace smp-" + k + "-baseline-load", "namespace smp-" + k + "-kuma", "namespace smp-" + k + "-kuma-load"}
	if left := leftovers(t, e.c, k); !sameSet(left, want) {
		t.Fatalf("kept %v, want %v", left, want)
	}
	rm, err := cleanup(ctx, e.c, k)
	if err != nil {
		t.Fatal(err)
	}
	wantRM := platform.Removed{Namespaces: []string{"smp-" + k + "-baseline", "smp-" + k + "-baseline-load", "smp-" + k + "-kuma", "smp-" + k + "-kuma-load"},
		Objects: []string{"Mesh smp-" + k, "MeshTrafficPermission kuma-system/smp-allow-all-" + k}}
	if !slices.Equal(rm.Namespaces, wantRM.Namespaces) || !slices.Equal(rm.Objects, wantRM.Objects) {
		t.Errorf("removed %+v, want %+v", rm, wantRM)
	}
	if left := leftovers(t, e.c, p.RunKey()); len(left) > 0 {
		t.Errorf("left after cleanup: %v", left)
	}
}

// TestDiscover: the environment as the cluster reports it.
func TestDiscover(t *testing.T) {
	e := needCluster(t)
	t.Parallel()
	e.ensureConsul(t)
	p := newTestPlatform(t, testPlan(t, spec.AppBuiltin))
	cl, err := p.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cl.Version != kubetest.Version {
		t.Errorf("version %q, want %s", cl.Version, kubetest.Version)
	}
	if len(cl.Nodes) != 3 {
		t.Fatalf("nodes %+v", cl.Nodes)
	}
	n := cl.Nodes[0]
	if n.Name != "node-a" || n.InstanceType != "m5.large" || n.Cores != 8 || n.MemoryBytes != 32<<30 || n.KernelVersion != "6.1.0-test" ||
		n.OSImage == "" || n.ContainerRuntime != "containerd://1.7.24" || n.KubeletVersion != "v1.37.2" || n.Arch != "amd64" {
		t.Errorf("node %+v", n)
	}
	if cl.Nodes[2].Labels[LoadTaint] != RoleLoad {
		t.Errorf("load node labels %v", cl.Nodes[2].Labels)
	}
	// kube-system runs calico-node and, for the cilium profile, cilium: Cilium is the CNI
	// (chained or not), as it is on every cluster where it is the mesh.
	if cl.CNI != "cilium" || cl.CNIVersion != "1.16.3" {
		t.Errorf("CNI %q %q, want cilium 1.16.3", cl.CNI, cl.CNIVersion)
	}
	got := map[string]string{}
	for _, m := range cl.Meshes {
		got[m.Profile.Name()] = m.Version
	}
	want := map[string]string{"istio (sidecar)": "1.24.2", "istio (ambient)": "1.24.2", "linkerd (sidecar)": "stable-2.14.10",
		"consul (sidecar)": "1.20.1", "kuma (sidecar)": "2.9.1", "cilium (node)": "1.16.3"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("mesh %s version %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

// loadPlan is a plan of the fortio app and a second of load at 200/s over 2 connections.
func loadPlan(t *testing.T, a spec.Arm) *spec.Plan {
	plan := testPlan(t, spec.AppFortio, a)
	rate := 200.0
	plan.Workload.Rate = &rate
	plan.Workload.Duration = spec.Duration(time.Second)
	zero := spec.Duration(0)
	plan.Workload.Warmup = &zero
	plan.Workload.Connections = 2
	return plan
}

// TestLoadThroughPortForward: the load pod of a deployed arm is found and reached through
// the API server's port-forward (pods/portforward, as on a real cluster), and fortio's
// REST API, spoken over that forward, runs the load and answers with its result JSON,
// which becomes a trial. What is real: the pod lookup, the SPDY forward through the API
// server to the node's kubelet endpoint (kwok's), the REST calls and the conversion.
// What is not: no container runs on a kwok node, so kwok hands the forwarded stream to a
// fortio server of this test process, and that fortio loads an echo server of this
// process, not the arm's in-cluster entry URL (its Service DNS name resolves only in a
// cluster). That the load pod reaches the application through the mesh is only shown
// on a real cluster (docs/kubernetes.md).
func TestLoadThroughPortForward(t *testing.T) {
	e := needCluster(t)
	t.Parallel()
	plan := loadPlan(t, arm("baseline", spec.MeshNone, ""))
	p := newTestPlatform(t, plan)
	defer p.Close()
	ctx := context.Background()
	d, err := p.Deploy(ctx, plan.Arms[0])
	if err != nil {
		t.Fatal(err)
	}
	defer p.Teardown(ctx, d)
	l := d.Load
	if l.Kind != platform.LoadFortioREST || !strings.HasPrefix(l.FortioURL, "http://127.0.0.1:") || !strings.HasSuffix(l.FortioURL, "/fortio/") ||
		!strings.Contains(l.Where, "namespace "+d.Private.(*deployment).loadNS) {
		t.Fatalf("load %+v, want fortio's REST API on a local port-forward, in the arm's load namespace", l)
	}
	// The arm's target (d.Target) cannot resolve here; the forwarded fortio loads this
	// process's echo server instead.
	job := generator.Job{Workload: plan.Workload, Metrics: plan.Metrics, Target: platform.Target{URLs: []string{e.echoURL}}}
	tr, err := generator.FortioREST{BaseURL: l.FortioURL, Where: l.Where}.Run(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	// fortio makes at most rate × duration calls, at least its first two per goroutine,
	// and stops a goroutine still behind when the duration is over: a loaded machine
	// loses the rest (TestFortioRateAndWarmup).
	if n := tr.Counts.Requests; n < 2*2 || n > 200 || tr.Counts.Failed != 0 || tr.Generator.Version == "" {
		t.Errorf("trial counts %+v, generator %+v", tr.Counts, tr.Generator)
	}
	// The forward lives as long as the deployment.
	if err := p.Teardown(ctx, d); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(l.FortioURL, "http://"), "/fortio/")); err == nil {
		c.Close()
		t.Errorf("the port-forward of %s still listens after Teardown", l.FortioURL)
	}
}

// TestAgentPods: with agent pods as the load (workload.agents), an arm's load namespace
// holds a Secret of the agents' credentials and a Deployment of that many replicas of
// smp's image running `smp agent`, mounting the Secret where the arguments say, readable
// by the image's user only; each pod is meshed; and each is reached through its own
// port-forward, over which a controller drives the load and merges what the agents
// measured. As in TestLoadThroughPortForward, no container runs: kwok hands each
// forwarded stream to one of two agents of this process (kubetest.Spread), which load an
// echo server of this process instead of the arm's in-cluster entry URL.
func TestAgentPods(t *testing.T) {
	e := needCluster(t)
	t.Parallel()
	plan := loadPlan(t, arm("istio", spec.MeshIstio, ""))
	plan.Workload.Agents = 2
	const dir = "/etc/smp/agent"
	files := e.agentBundle.AgentFiles()
	runID := fmt.Sprintf("test-agent-pods-%d", time.Now().UnixNano())
	ctrlFiles := e.agentBundle.ControllerFiles()
	ctrlPEM := &platform.AgentCredentials{CA: ctrlFiles[agent.CAFile], Cert: ctrlFiles[agent.CertFile(agent.RoleController)],
		Key: ctrlFiles[agent.KeyFile(agent.RoleController)]}
	p, err := New(Options{Plan: plan, RunID: runID, Config: e.cl.Config, ReadyTimeout: 2 * time.Minute, DeleteTimeout: 2 * time.Minute,
		LoadPod: LoadPod{Args: agent.AgentArgs(agent.DefaultPort, dir), Port: agent.DefaultPort, Replicas: 2, Files: files, FilesDir: dir,
			Kind: platform.LoadAgents, Credentials: ctrlPEM}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	d, err := p.Deploy(ctx, plan.Arms[0])
	if err != nil {
		t.Fatal(err)
	}
	defer p.Teardown(ctx, d)
	st := d.Private.(*deployment)

	sec, err := e.c.core.CoreV1().Secrets(st.loadNS).Get(ctx, loadName, getOpts)
	if err != nil {
		t.Fatal(err)
	}
	if len(sec.Data) != len(files) || sec.Labels[LabelRun] != p.RunKey() {
		t.Errorf("secret has %d files (want %d), labels %v", len(sec.Data), len(files), sec.Labels)
	}
	for name, want := range files {
		if string(sec.Data[name]) != string(want) {
			t.Errorf("secret file %s differs from the agent's", name)
		}
	}
	dep, err := e.c.core.AppsV1().Deployments(st.loadNS).Get(ctx, loadName, getOpts)
	if err != nil {
		t.Fatal(err)
	}
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	if *dep.Spec.Replicas != 2 || c.Image != DefaultImage("") || !slices.Equal(c.Args, []string{"agent", "--listen", ":7070", "--certs", dir}) {
		t.Errorf("load deployment: %d replicas of %s %v, want 2 of %s running smp agent", *dep.Spec.Replicas, c.Image, c.Args, DefaultImage(""))
	}
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != dir || !c.VolumeMounts[0].ReadOnly ||
		len(pod.Volumes) != 1 || pod.Volumes[0].Secret == nil || pod.Volumes[0].Secret.SecretName != loadName ||
		*pod.Volumes[0].Secret.DefaultMode != 0o440 || pod.SecurityContext == nil || *pod.SecurityContext.FSGroup != imageGroup {
		t.Errorf("the secret's mount: %+v, volumes %+v, security %+v", c.VolumeMounts, pod.Volumes, pod.SecurityContext)
	}
	var loadPods []string
	for _, c := range d.Components {
		if c.Role == result.RoleLoadGenerator {
			loadPods = append(loadPods, c.Pod)
		}
	}
	if len(loadPods) != 2 || loadPods[0] == loadPods[1] || d.Mesh.Proxies != 3 {
		t.Errorf("load pods %v and %d proxies, want 2 pods and 3 proxies (app and both agents)", loadPods, d.Mesh.Proxies)
	}

	addrs := d.Load.Agents
	if d.Load.Kind != platform.LoadAgents || len(addrs) != 2 || addrs[0] == addrs[1] || d.Load.Credentials != ctrlPEM {
		t.Fatalf("load %+v, want one address per agent pod and the controller's credentials", d.Load)
	}
	ctrl, err := e.agentBundle.ControllerCredentials()
	if err != nil {
		t.Fatal(err)
	}
	job := generator.Job{Workload: plan.Workload, Metrics: plan.Metrics, Target: platform.Target{URLs: []string{e.echoURL}}}
	tr, err := generator.Distributed{Agents: addrs, Credentials: ctrl, RunID: runID}.Run(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	e.agentMu.Lock()
	runs := e.agentRuns[runID]
	e.agentMu.Unlock()
	var sum int64
	ran := map[int]bool{}
	for _, r := range runs {
		sum += r.res.Measure.Requests
		ran[r.index] = true
		if r.req.Agents != 2 || r.req.Load.Target != e.echoURL {
			t.Errorf("agent %d was sent %+v", r.index, r.req)
		}
	}
	if len(runs) != 2 || !ran[0] || !ran[1] {
		t.Fatalf("agents that ran: %v, want both, each once", ran)
	}
	// The engine's schedule count is exact: every one of the 200 requests (200/s for 1s,
	// split between the agents) was sent, or skipped as overflow when a loaded machine
	// made it later than the timeout.
	if tr.Counts.Requests != sum || tr.Counts.Requests+tr.Counts.Overflow != 200 || tr.Counts.Requests == 0 || tr.Counts.Failed != 0 {
		t.Errorf("trial counts %+v, the agents sent %d", tr.Counts, sum)
	}
}

// TestCiliumEnvoyOptional: Cilium before 1.16 runs its Envoy inside the agent, so a
// cluster without the cilium-envoy DaemonSet still passes Check and deploys a cilium arm
// (detection and the data-path check agree that it is optional). Not parallel: the
// parallel tests, which need cilium-envoy, start after it has put it back.
func TestCiliumEnvoyOptional(t *testing.T) {
	e := needCluster(t)
	ctx := context.Background()
	dss := e.c.core.AppsV1().DaemonSets("kube-system")
	envoy, err := dss.Get(ctx, "cilium-envoy", getOpts)
	if err != nil {
		t.Fatal(err)
	}
	gone := func() bool { _, err := dss.Get(ctx, "cilium-envoy", getOpts); return err != nil }
	if err := dss.Delete(ctx, "cilium-envoy", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		// Put it back as it was, for the tests that follow.
		restore := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: envoy.Name, Labels: envoy.Labels}, Spec: envoy.Spec}
		if _, err := dss.Create(ctx, restore, metav1.CreateOptions{}); err != nil {
			t.Errorf("restore cilium-envoy: %v", err)
			return
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := waitFor(wctx, "cilium-envoy to be ready again", func() bool {
			ds, err := dss.Get(ctx, "cilium-envoy", getOpts)
			return err == nil && daemonSetReady(ds)
		}); err != nil {
			t.Error(err)
		}
	}()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := waitFor(wctx, "cilium-envoy to go", gone); err != nil {
		t.Fatal(err)
	}
	plan := testPlan(t, spec.AppFortio, arm("cilium", spec.MeshCilium, ""))
	p := newTestPlatform(t, plan)
	defer p.Close()
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check without cilium-envoy: %v", err)
	}
	d, err := p.Deploy(ctx, plan.Arms[0])
	if err != nil {
		t.Fatalf("Deploy without cilium-envoy: %v", err)
	}
	if d.Mesh.Version != "1.16.3" {
		t.Errorf("mesh version %q", d.Mesh.Version)
	}
	if err := p.Teardown(ctx, d); err != nil {
		t.Error(err)
	}
}

// TestCleanupStuckNamespace: a namespace that cannot go (here, a ConfigMap whose
// finalizer nobody removes) makes the clean-up fail when its time is up, with the
// namespace controller's reason; once the finalizer is gone, the namespace goes.
func TestCleanupStuckNamespace(t *testing.T) {
	e := needCluster(t)
	t.Parallel()
	ctx := context.Background()
	key := RunKey(t.Name())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "smp-" + key + "-stuck", Labels: runLabels(key)}}
	if _, err := e.c.core.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Namespace: ns.Name, Finalizers: []string{"test.smp.dev/hold"}}}
	if _, err := e.c.core.CoreV1().ConfigMaps(ns.Name).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The clean-up's time is up once the namespace controller has said what holds the
	// namespace (a condition naming the finalizer), however long a loaded control plane
	// takes to say it; a fixed ten seconds raced it. Should it never say so, the time is
	// up after two minutes and the error below lacks the reason.
	said := make(chan struct{})
	go func() {
		defer close(said)
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		_ = waitFor(wctx, "the namespace controller's reason", func() bool {
			got, err := e.c.core.CoreV1().Namespaces().Get(wctx, ns.Name, getOpts)
			if err != nil {
				return false
			}
			for _, c := range got.Status.Conditions {
				if strings.Contains(c.Message, "test.smp.dev/hold") {
					return true
				}
			}
			return false
		})
	}()
	cctx := deadlineOn(ctx, said)
	rm, err := cleanup(cctx, e.c, key)
	<-said
	if err == nil || !strings.Contains(err.Error(), "timed out waiting for namespace(s) "+ns.Name) ||
		!strings.Contains(err.Error(), "test.smp.dev/hold") {
		t.Errorf("cleanup = %v, want a time-out naming the finalizer that holds %s", err, ns.Name)
	}
	if !slices.Equal(rm.Namespaces, []string{ns.Name}) {
		t.Errorf("removed %+v", rm)
	}
	patch := []byte(`{"metadata":{"finalizers":null}}`)
	if _, err := e.c.core.CoreV1().ConfigMaps(ns.Name).Patch(ctx, "held", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel2 := context.WithTimeout(ctx, time.Minute)
	defer cancel2()
	if err := e.c.waitGone(wctx, []string{ns.Name}); err != nil {
		t.Error(err)
	}
}
