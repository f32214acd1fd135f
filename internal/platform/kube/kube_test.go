package kube

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/service-mesh-performance/smp/internal/generator"
	"github.com/service-mesh-performance/smp/internal/mesh"
	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/spec"
)

func TestMain(m *testing.M) {
	code := func() int {
		if missing := missingBinaries(); len(missing) > 0 {
			if os.Getenv("SMP_INTEGRATION") == "1" {
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
		fmt.Fprintf(os.Stderr, "kube: control plane up in %s, fixtures in %s\n", env.cp.started.Round(time.Millisecond), env.setup.Round(time.Millisecond))
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
	p := &spec.Plan{Arms: arms, Workload: spec.Workload{App: spec.App{Kind: app}},
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
		Config: e.cp.cfg, ReadyTimeout: 2 * time.Minute, DeleteTimeout: 2 * time.Minute})
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
	// A version the cluster does not run is an error on arms[i].version.
	plan = testPlan(t, spec.AppBuiltin, spec.Arm{Name: "istio", Mesh: spec.MeshIstio, Version: "1.99.0"})
	err = newTestPlatform(t, plan).Check(context.Background())
	if !errors.As(err, &pe) || pe[0].Path != "arms[0].version" || !strings.Contains(pe[0].Message, "1.24.2") {
		t.Errorf("Check with version 1.99.0 = %v, want an error on arms[0].version naming 1.24.2", err)
	}
}

// TestDeployEachAppEachMesh deploys every app with every mesh profile, checks the
// namespaces, pods and mTLS objects on the API server against the profile, then tears
// down and checks that nothing is left.
func TestDeployEachAppEachMesh(t *testing.T) {
	e := needCluster(t)
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
				checkDeployment(t, e, p, plan, a, d)
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

func checkDeployment(t *testing.T, e *testEnv, p *Platform, plan *spec.Plan, a spec.Arm, d *platform.Deployment) {
	t.Helper()
	ctx := context.Background()
	prof := mustProfile(t, a.Mesh, a.DataPlane)
	appNS, loadNS := Namespaces("smp", p.RunKey(), a.Name)
	wantNS, wantPod := injection(prof, a.Injection, true)
	objs, mtlsKeys, err := mtlsObjects(prof, appNS, loadNS, p.RunKey(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := e.c.core.CoreV1().Namespaces().Get(ctx, appNS, getOpts)
	if err != nil {
		t.Fatalf("%s: %v", a.Name, err)
	}
	for k, v := range merge(wantNS.labels, map[string]string{LabelManagedBy: ManagedBy, LabelRun: p.RunKey(), LabelArm: a.Name}) {
		if ns.Labels[k] != v {
			t.Errorf("%s: namespace label %s = %q, want %q", a.Name, k, ns.Labels[k], v)
		}
	}
	for k, v := range merge(wantNS.annotations, mtlsKeys.annotations) {
		if ns.Annotations[k] != v {
			t.Errorf("%s: namespace annotation %s = %q, want %q", a.Name, k, ns.Annotations[k], v)
		}
	}
	// The injection key of the arm's own mesh, exactly.
	if k := prof.Injection.Namespace; k != nil && a.Injection == spec.InjectionNamespace {
		got := ns.Labels[k.Name]
		if k.Kind == mesh.Annotation {
			got = ns.Annotations[k.Name]
		}
		if got != k.Value {
			t.Errorf("%s: namespace %s %s = %q, want %q", a.Name, k.Kind, k.Name, got, k.Value)
		}
	}
	pods, err := e.c.core.CoreV1().Pods(appNS).List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("%s: pods: %v (%d)", a.Name, err, len(pods.Items))
	}
	for _, pod := range pods.Items {
		for k, v := range wantPod.annotations {
			if pod.Annotations[k] != v {
				t.Errorf("%s: pod %s annotation %s = %q, want %q", a.Name, pod.Name, k, pod.Annotations[k], v)
			}
		}
		n := len(proxyContainers(&pod, allProxyNames()))
		want := 0
		if prof.DataPlane == spec.DataPlaneSidecar {
			want = 1
		}
		if n != want {
			t.Errorf("%s: pod %s has %d proxy containers, want %d", a.Name, pod.Name, n, want)
		}
		if pod.Spec.NodeName == "node-load" {
			t.Errorf("%s: app pod %s on the load node", a.Name, pod.Name)
		}
	}
	for _, want := range objs {
		ri, _, err := e.c.resource(want.GroupVersionKind(), want.GetNamespace())
		if err != nil {
			t.Fatal(err)
		}
		got, err := ri.Get(ctx, want.GetName(), getOpts)
		if err != nil {
			t.Errorf("%s: %s %s: %v", a.Name, want.GetKind(), objectName(want), err)
			continue
		}
		if !subset(want.Object["spec"], got.Object["spec"]) || got.GetLabels()[LabelRun] != p.RunKey() {
			t.Errorf("%s: %s %s = %v, want spec %v and the run label", a.Name, want.GetKind(), objectName(want), got.Object["spec"], want.Object["spec"])
		}
	}
	checkStrictObjects(t, a, prof, objs, appNS, loadNS, p.RunKey())
	if !prof.Mesh.IsBaseline() {
		if d.Mesh.Version == "" {
			t.Errorf("%s: no mesh version recorded", a.Name)
		}
		if prof.DataPlane == spec.DataPlaneSidecar && (d.Mesh.ProxyVersion == "" || d.Mesh.Proxies == 0) {
			t.Errorf("%s: proxy version %q, proxies %d", a.Name, d.Mesh.ProxyVersion, d.Mesh.Proxies)
		}
	}
	var load int
	for _, c := range d.Components {
		if c.Role == platform.RoleLoadGenerator {
			load++
			if c.Node != "node-load" || c.Namespace != loadNS {
				t.Errorf("%s: load pod on %s in %s, want node-load in %s", a.Name, c.Node, c.Namespace, loadNS)
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

// checkStrictObjects pins the strict-mTLS objects of each mesh, field by field.
func checkStrictObjects(t *testing.T, a spec.Arm, prof mesh.Profile, objs []*unstructured.Unstructured, appNS, loadNS, runKey string) {
	t.Helper()
	kinds := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		kinds[o.GetKind()] = o
	}
	str := func(o *unstructured.Unstructured, path ...string) string {
		v, _, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
		return fmt.Sprint(v)
	}
	switch {
	case prof.Mesh == spec.MeshIstio:
		pa := kinds["PeerAuthentication"]
		if pa == nil || pa.GetNamespace() != appNS || pa.GetName() != "default" || str(pa, "spec", "mtls", "mode") != "STRICT" {
			t.Errorf("%s: PeerAuthentication = %v", a.Name, pa)
		}
	case prof.Mesh == spec.MeshLinkerd:
		if len(objs) != 0 {
			t.Errorf("%s: linkerd objects %v, want only the namespace annotation", a.Name, objs)
		}
	case prof.Mesh == spec.MeshConsul:
		si := kinds["ServiceIntentions"]
		if si == nil || si.GetNamespace() != appNS || str(si, "spec", "destination", "name") != "*" {
			t.Errorf("%s: ServiceIntentions = %v", a.Name, si)
		}
	case prof.Mesh == spec.MeshKuma:
		m, mtp := kinds["Mesh"], kinds["MeshTrafficPermission"]
		if m == nil || m.GetName() != "smp-"+runKey || m.GetNamespace() != "" || str(m, "spec", "mtls", "enabledBackend") != "ca-1" {
			t.Errorf("%s: Mesh = %v, want smp-%s with enabledBackend ca-1", a.Name, m, runKey)
		}
		if mtp == nil || mtp.GetNamespace() != "kuma-system" || mtp.GetName() != "smp-allow-all-"+runKey || mtp.GetLabels()["kuma.io/mesh"] != "smp-"+runKey {
			t.Errorf("%s: MeshTrafficPermission = %v", a.Name, mtp)
		}
	case prof.Mesh == spec.MeshCilium:
		cnp := kinds["CiliumNetworkPolicy"]
		if cnp == nil || cnp.GetNamespace() != appNS || !strings.Contains(str(cnp, "spec", "ingress"), "mode:required") ||
			!strings.Contains(str(cnp, "spec", "ingress"), loadNS) {
			t.Errorf("%s: CiliumNetworkPolicy = %v, want authentication required and the load namespace admitted", a.Name, cnp)
		}
	case prof.Mesh.IsBaseline():
		if len(objs) != 0 {
			t.Errorf("baseline applied %v", objs)
		}
	}
}

// TestMissingProxyDetected: when the injector misses the pods, Deploy fails naming the
// pod without its proxy container, and leaves nothing behind.
func TestMissingProxyDetected(t *testing.T) {
	e := needCluster(t)
	a := spec.Arm{Name: "istio-noinject", Mesh: spec.MeshIstio, Labels: map[string]string{injectorOff: "off"}}
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

// TestInterruptedDeploy: cancelling mid-deploy (Ctrl-C) leaves nothing on the cluster.
func TestInterruptedDeploy(t *testing.T) {
	e := needCluster(t)
	plan := testPlan(t, spec.AppBookinfo, arm("kuma", spec.MeshKuma, ""))
	p := newTestPlatform(t, plan)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once the namespaces exist, while the rollout is being waited for.
		appNS, _ := Namespaces("smp", p.RunKey(), "kuma")
		_ = waitFor(context.Background(), "namespace", func() bool {
			_, err := e.c.core.CoreV1().Namespaces().Get(context.Background(), appNS, getOpts)
			return err == nil
		})
		cancel()
	}()
	_, err := p.Deploy(ctx, plan.Arms[0])
	if err == nil {
		t.Fatal("Deploy succeeded after cancel")
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if left := leftovers(t, e.c, p.RunKey()); len(left) > 0 {
		t.Errorf("left after an interrupted deploy: %v", left)
	}
}

// TestCleanup: a kept run's namespaces and cluster-scoped objects are found by label and
// removed by Cleanup.
func TestCleanup(t *testing.T) {
	e := needCluster(t)
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
	left := leftovers(t, e.c, p.RunKey())
	if len(left) != 5 { // 2 arms × 2 namespaces, the run's Kuma Mesh; the MTP is in kuma-system
		t.Logf("kept: %v", left)
	}
	if len(left) < 5 {
		t.Fatalf("keep: %v, want both arms' namespaces and the Kuma objects", left)
	}
	rm, err := cleanup(ctx, e.c, p.RunKey())
	if err != nil {
		t.Fatal(err)
	}
	if len(rm.Namespaces) != 4 || len(rm.Objects) != 2 {
		t.Errorf("removed %+v, want 4 namespaces and the Mesh and MeshTrafficPermission", rm)
	}
	if left := leftovers(t, e.c, p.RunKey()); len(left) > 0 {
		t.Errorf("left after cleanup: %v", left)
	}
}

// TestDiscover: the environment as the cluster reports it.
func TestDiscover(t *testing.T) {
	e := needCluster(t)
	e.ensureConsul(t)
	p := newTestPlatform(t, testPlan(t, spec.AppBuiltin))
	cl, err := p.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cl.Version != k8sVersion {
		t.Errorf("version %q, want %s", cl.Version, k8sVersion)
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
	if cl.CNI != "calico" {
		t.Errorf("CNI %q %q, want calico", cl.CNI, cl.CNIVersion)
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

// TestLoadThroughPortForward: the load pod is reached through the API server's
// port-forward (kwok forwards to the fortio server of this process), and fortio's REST
// API runs the load and answers with its result JSON, which becomes a trial.
func TestLoadThroughPortForward(t *testing.T) {
	e := needCluster(t)
	plan := testPlan(t, spec.AppFortio, arm("baseline", spec.MeshNone, ""))
	rate := 200.0
	plan.Workload.Rate = &rate
	plan.Workload.Duration = spec.Duration(time.Second)
	zero := spec.Duration(0)
	plan.Workload.Warmup = &zero
	plan.Workload.Connections = 2
	p := newTestPlatform(t, plan)
	defer p.Close()
	ctx := context.Background()
	d, err := p.Deploy(ctx, plan.Arms[0])
	if err != nil {
		t.Fatal(err)
	}
	defer p.Teardown(ctx, d)
	base, stop, err := p.LoadEndpoint(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// The in-cluster target's DNS name cannot resolve here; the forwarded fortio sends to
	// this process's echo server instead.
	job := generator.Job{Workload: plan.Workload, Metrics: plan.Metrics, Target: generator.Target{URLs: []string{e.echoURL}}}
	tr, err := generator.FortioREST{BaseURL: base, Where: "test"}.Run(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Counts.Requests < 150 || tr.Counts.Failed != 0 || tr.Generator.Version == "" {
		t.Errorf("trial counts %+v, generator %+v", tr.Counts, tr.Generator)
	}
}
