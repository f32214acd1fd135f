package kube

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"github.com/service-mesh-performance/smp/internal/mesh"
	"github.com/service-mesh-performance/smp/internal/pki"
	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// DefaultImageRepository is where the project's image (Dockerfile at the repository's
// root) is published; DefaultImage tags it with smp's version.
const DefaultImageRepository = "ghcr.io/service-mesh-performance/smp"

// DefaultImage is the smp image of a version: the release's tag ("v0.3.0" → "0.3.0"), or
// "latest" for a development build.
func DefaultImage(version string) string {
	v := strings.TrimPrefix(version, "v")
	if v == "" || v[0] < '0' || v[0] > '9' {
		v = "latest"
	}
	return DefaultImageRepository + ":" + v
}

// Options configure the platform. Zero values are defaults.
type Options struct {
	Plan  *spec.Plan
	RunID string
	// Access overrides the plan's environment.kubeconfig and context when set (the
	// --kubeconfig and --context flags).
	Access Access
	// Config is used as it is when set (tests), instead of loading a kubeconfig.
	Config *rest.Config
	// Version of smp, for the default image. Default: "latest".
	Version string
	// LoadPod is the load generator's pods. Default (no Port): DefaultLoadPod, fortio's
	// REST server.
	LoadPod LoadPod
	// ReadyTimeout bounds each rollout. Default 5m.
	ReadyTimeout time.Duration
	// DeleteTimeout bounds the wait for an arm's namespaces to go in Close. Default 3m.
	DeleteTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 5 * time.Minute
	}
	if o.DeleteTimeout == 0 {
		o.DeleteTimeout = 3 * time.Minute
	}
	if o.LoadPod.Port == 0 {
		o.LoadPod = DefaultLoadPod()
	}
	return o
}

// Platform deploys arms on a Kubernetes cluster.
type Platform struct {
	opt     Options
	plan    *spec.Plan
	c       *clients
	context string
	runKey  string
	image   string

	mu       sync.Mutex
	detected map[string]Detected // by mesh profile name

	// The run's CA for smp's own sidecars (mesh: builtin), made on first use.
	caOnce sync.Once
	ca     *pki.CA
	caErr  error
}

// New connects to the cluster the plan (or opt.Access) names. Nothing is created.
func New(opt Options) (*Platform, error) {
	opt = opt.withDefaults()
	plan := opt.Plan
	cfg, ctxName := opt.Config, ""
	if cfg == nil {
		a := opt.Access
		if a.Kubeconfig == "" {
			a.Kubeconfig = plan.Environment.Kubeconfig
		}
		if a.Context == "" {
			a.Context = plan.Environment.Context
		}
		var err error
		if cfg, ctxName, err = a.RESTConfig(); err != nil {
			return nil, err
		}
	}
	c, err := newClients(cfg)
	if err != nil {
		return nil, err
	}
	image := plan.Environment.Kubernetes.Image
	if image == "" {
		image = DefaultImage(opt.Version)
	}
	if opt.LoadPod.Image == "" {
		opt.LoadPod.Image = image
	}
	return &Platform{opt: opt, plan: plan, c: c, context: ctxName, runKey: RunKey(opt.RunID), image: image,
		detected: map[string]Detected{}}, nil
}

// RunKey is the run's short key (namespace names, the smp.dev/run label).
func (p *Platform) RunKey() string { return p.runKey }

// Context is the kubeconfig context in use ("" in cluster or with an explicit config).
func (p *Platform) Context() string { return p.context }

func profileOf(a spec.Arm) (mesh.Profile, bool) {
	return mesh.For(mesh.Kubernetes, a.Mesh, a.DataPlane)
}

// Check makes sure the plan can run on this cluster before anything is created: the
// cluster answers, the workload is one the in-cluster load generator can run, and the
// mesh of every arm is installed (its CRDs and control plane; the version the plan names,
// if it names one). Errors point at the plan's field.
func (p *Platform) Check(ctx context.Context) error {
	if _, err := serverVersion(ctx, p.c); err != nil {
		return fmt.Errorf("reach the Kubernetes API server at %s%s: %w", p.c.cfg.Host, p.contextNote(), err)
	}
	var errs spec.Errors
	w := p.plan.Workload
	switch w.LoadGenerator {
	case spec.GeneratorBuiltin, spec.GeneratorFortio, "":
	default:
		errs = append(errs, p.plan.Errorf("workload.load_generator", "use load_generator: fortio (or builtin) on Kubernetes",
			"on Kubernetes the load runs in a pod, where smp runs fortio's server; %s cannot run there yet", w.LoadGenerator))
	}
	// smp agents send every protocol; fortio's REST API only HTTP/1.1.
	if w.Protocol != spec.ProtocolHTTP1 && w.Protocol != "" && p.opt.LoadPod.Kind != platform.LoadAgents {
		errs = append(errs, p.plan.Errorf("workload.protocol", "use protocol: http/1.1 on Kubernetes, or workload.agents",
			"the in-cluster load generator (fortio's REST API) sends http/1.1 only, not %s", w.Protocol))
	}
	internal := w.Internal == nil || *w.Internal
	for i, a := range p.plan.Arms {
		at := fmt.Sprintf("arms[%d]", i)
		prof, ok := profileOf(a)
		if !ok {
			errs = append(errs, p.plan.Errorf(at+".mesh", "use one of the meshes in docs/kubernetes.md", "smp has no Kubernetes profile for %s", a.Mesh))
			continue
		}
		if prof.Mesh.IsBaseline() {
			continue
		}
		if prof.Mesh == spec.MeshBuiltin && w.App.Kind != spec.AppBuiltin && w.App.Kind != "" {
			errs = append(errs, p.plan.Errorf(at+".mesh", "use app: {kind: builtin} with this arm, or a mesh installed on the cluster",
				"smp wires its builtin sidecar into its own app only; %s's images are not changed", w.App.Kind))
		}
		if prof.Mesh == spec.MeshBuiltin && w.Entry.Via == spec.EntryGateway {
			errs = append(errs, p.plan.Errorf(at+".mesh", "remove entry via gateway, or use a mesh installed on the cluster with its gateway",
				"smp's builtin sidecar on Kubernetes has no ingress gateway, and no other gateway speaks its mTLS"))
		}
		if a.MTLS == spec.MTLSStrict && !internal && w.Entry.Via != spec.EntryGateway {
			errs = append(errs, p.plan.Errorf("workload.internal", "remove internal: false, or set mtls: permissive on "+a.Name,
				"arm %s makes its namespace strict mTLS, which refuses a load generator outside the mesh", a.Name))
		}
		d, err := p.detect(ctx, prof, a.MTLS == spec.MTLSStrict)
		if err != nil {
			return fmt.Errorf("detect %s on the cluster%s: %w", prof.Name(), p.contextNote(), err)
		}
		if !d.Installed() {
			errs = append(errs, p.plan.Errorf(at+".mesh", fmt.Sprintf("install %s first (docs/kubernetes.md#%s), or remove this arm", prof.Mesh, prof.Mesh),
				"%s is not installed on the cluster%s: missing %s (smp does not install meshes)", prof.Name(), p.contextNote(), d.describeMissing()))
			continue
		}
		if a.Version != "" && d.Version != "" && strings.TrimPrefix(a.Version, "v") != d.Version {
			errs = append(errs, p.plan.Errorf(at+".version", "set version: "+d.Version+", or install "+a.Version,
				"the plan asks for %s %s but the cluster runs %s", prof.Mesh, a.Version, d.Version))
		}
	}
	if w.Entry.Via == spec.EntryGateway {
		errs = append(errs, p.checkGateway(ctx)...)
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func (p *Platform) contextNote() string {
	if p.context == "" {
		return ""
	}
	return " (context " + p.context + ")"
}

// detect is clients.detect, remembered per profile for the run.
func (p *Platform) detect(ctx context.Context, prof mesh.Profile, strict bool) (Detected, error) {
	key := prof.Name()
	if strict {
		key += "+strict"
	}
	p.mu.Lock()
	d, ok := p.detected[key]
	p.mu.Unlock()
	if ok {
		return d, nil
	}
	d, err := p.c.detect(ctx, prof, strict)
	if err != nil {
		return d, err
	}
	p.mu.Lock()
	p.detected[key] = d
	p.mu.Unlock()
	return d, nil
}

// deployment is the platform's state of one deployed arm.
type deployment struct {
	appNS, loadNS string
	// refs are objects outside the arm's namespaces (cluster-scoped or in a mesh's own
	// namespace), deleted at teardown.
	refs []ref
	// mtls are the strict-mTLS objects applied, as applied, for verification.
	mtls     []*unstructured.Unstructured
	mtlsKeys keys
	// nsKeys are the injection and mTLS keys applied to each namespace, by name, for
	// verification.
	nsKeys map[string]keys
	// stopLoad closes the port-forwards of the deployment's Load (nil: none open).
	stopLoad func()
	once     sync.Once
	err      error
}

// Deploy creates the arm's namespaces, its mesh objects, the application and the load
// generator, waits for every rollout, verifies the data path and opens the port-forwards
// to the load pods that the deployment's Load needs (LoadPod.Kind). On error everything
// it created is deleted again.
func (p *Platform) Deploy(ctx context.Context, arm spec.Arm) (d *platform.Deployment, err error) {
	prof, ok := profileOf(arm)
	if !ok {
		return nil, fmt.Errorf("deploy %s: no Kubernetes profile for mesh %s", arm.Name, arm.Mesh)
	}
	k := p.plan.Environment.Kubernetes
	appNS, loadNS := Namespaces(k.NamespacePrefix, p.runKey, arm.Name)
	st := &deployment{appNS: appNS, loadNS: loadNS}
	dep := &platform.Deployment{Arm: arm, Private: st}
	// A previous trial of the same arm may still be terminating.
	wctx, cancel := context.WithTimeout(ctx, p.opt.DeleteTimeout)
	err = p.c.waitGone(wctx, []string{appNS, loadNS})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("deploy %s: %w", arm.Name, err)
	}
	defer func() {
		// dep, not d: d is nil once the error is returned.
		if err != nil && !k.Keep {
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opt.DeleteTimeout)
			defer cancel()
			if terr := p.Teardown(tctx, dep); terr != nil {
				err = errors.Join(err, fmt.Errorf("and its teardown: %w", terr))
			}
		}
	}()
	if err := p.deploy(ctx, arm, prof, st, dep); err != nil {
		return nil, fmt.Errorf("deploy %s: %w", arm.Name, err)
	}
	return dep, nil
}

func (p *Platform) deploy(ctx context.Context, arm spec.Arm, prof mesh.Profile, st *deployment, d *platform.Deployment) error {
	plan := p.plan
	k := plan.Environment.Kubernetes
	w := plan.Workload
	labels := merge(runLabels(p.runKey), map[string]string{LabelArm: arm.Name})
	internal := w.Internal == nil || *w.Internal
	meshed := !prof.Mesh.IsBaseline()

	var det Detected
	if meshed {
		var err error
		if det, err = p.detect(ctx, prof, arm.MTLS == spec.MTLSStrict); err != nil {
			return err
		}
		if !det.Installed() {
			return fmt.Errorf("%s is not installed: missing %s", prof.Name(), det.describeMissing())
		}
	}

	// Namespaces first (with injection keys, and the mesh's namespace-level mTLS switch).
	appNSKeys, appPodKeys := injection(prof, arm.Injection, true)
	loadNSKeys, loadPodKeys := injection(prof, arm.Injection, internal)
	var mtlsObjs []*unstructured.Unstructured
	if meshed && arm.MTLS == spec.MTLSStrict {
		var err error
		mtlsObjs, st.mtlsKeys, err = mtlsObjects(prof, st.appNS, st.loadNS, p.runKey, labels)
		if err != nil {
			return fmt.Errorf("strict mTLS for %s: %w", prof.Name(), err)
		}
	}
	if rm := mesh.ClusterOf(prof).RunMesh; rm != nil && len(mtlsObjs) > 0 {
		// Both namespaces join the run's own (strict) mesh, so that client and server are
		// in the same one; without strict mTLS they stay in the mesh's default.
		name := runMeshName(p.runKey)
		loadNSKeys.set(&mesh.Key{Kind: mesh.Label, Name: rm.Label}, name)
		appNSKeys.set(&mesh.Key{Kind: mesh.Label, Name: rm.Label}, name)
	}
	runAnn := map[string]string{AnnotationRun: p.opt.RunID}
	nsObj := func(name string, ks keys, extra keys, role string) *corev1.Namespace {
		return &corev1.Namespace{TypeMeta: typeMeta("v1", "Namespace"), ObjectMeta: metav1.ObjectMeta{Name: name,
			Labels:      merge(arm.Labels, ks.labels, extra.labels, labels, map[string]string{LabelRole: role}),
			Annotations: merge(arm.Annotations, ks.annotations, extra.annotations, runAnn)}}
	}
	st.nsKeys = map[string]keys{st.appNS: appNSKeys.with(st.mtlsKeys), st.loadNS: loadNSKeys}
	for _, ns := range []*corev1.Namespace{nsObj(st.appNS, appNSKeys, st.mtlsKeys, RoleApp), nsObj(st.loadNS, loadNSKeys, keys{}, RoleLoad)} {
		if _, err := p.c.apply(ctx, ns); err != nil {
			return err
		}
	}
	// Mesh objects before any pod, so that strict mTLS holds from the first request.
	for _, u := range mtlsObjs {
		if u.GetNamespace() != st.appNS {
			st.refs = append(st.refs, ref{GVK: u.GroupVersionKind(), Namespace: u.GetNamespace(), Name: u.GetName()})
		}
	}
	for _, u := range mtlsObjs {
		got, err := p.c.apply(ctx, u)
		if err != nil {
			return err
		}
		st.mtls = append(st.mtls, got)
	}

	res, err := resourcesOf(w.App.Resources)
	if err != nil {
		return err
	}
	replicas := int32(max(w.App.Replicas, 1))
	appEnv := podEnv{namespace: st.appNS, labels: labels, podLabels: appPodKeys.labels, podAnnot: appPodKeys.annotations,
		nodeSel: k.NodeSelector, resources: res, replicas: replicas}
	appEnv = appEnv.withL4(prof, w.Protocol)
	loadEnv := podEnv{namespace: st.loadNS, labels: labels, podLabels: loadPodKeys.labels, podAnnot: loadPodKeys.annotations,
		nodeSel: k.LoadNodeSelector, replicas: 1}
	if len(k.LoadNodeSelector) > 0 {
		loadEnv.tolerations = loadToleration()
	}
	if k.AntiAffinity == nil || *k.AntiAffinity {
		appEnv.affinity = antiAffinity(RoleLoad, st.loadNS)
		loadEnv.affinity = antiAffinity(RoleApp, st.appNS)
	}
	var meshUps []meshUpstream
	if prof.Mesh == spec.MeshBuiltin {
		ca, err := p.runCA()
		if err != nil {
			return err
		}
		appEnv.mesh = newBuiltinMesh(ca, p.image, arm, w.Protocol)
		if internal {
			loadEnv.mesh = appEnv.mesh
		}
	}
	set, err := buildApp(w, appEnv, p.image)
	if err != nil {
		return err
	}
	target := set.entry
	if loadEnv.mesh != nil {
		up, local, err := clientSide(set.entry[0])
		if err != nil {
			return err
		}
		meshUps, target = []meshUpstream{up}, []string{local}
	}
	load, err := buildLoad(p.opt.LoadPod, loadEnv, meshUps)
	if err != nil {
		return err
	}
	for _, o := range append(set.objects, load...) {
		if _, err := p.c.apply(ctx, o); err != nil {
			return err
		}
	}
	if err := p.c.waitRollouts(ctx, st.appNS, set.deployments, p.opt.ReadyTimeout); err != nil {
		return err
	}
	if err := p.c.waitRollouts(ctx, st.loadNS, []string{loadName}, p.opt.ReadyTimeout); err != nil {
		return err
	}
	if err := p.c.waitEndpoints(ctx, st.appNS, p.opt.ReadyTimeout); err != nil {
		return err
	}

	// The data path, as it is.
	obs, err := p.verify(ctx, arm, prof, st, internal)
	if err != nil {
		return err
	}
	d.Components = obs.components
	p.attachHostPIDs(ctx, []string{st.appNS, st.loadNS}, d.Components)
	d.Target = platform.Target{URLs: target, Protocol: w.Protocol}
	if w.Entry.Via == spec.EntryGateway {
		url, gw, err := p.gatewayEntry(ctx, set.entry[0], labels)
		if err != nil {
			return err
		}
		d.Target.URLs = []string{url}
		d.Components = append(d.Components, gw...)
	}
	d.Mesh = platform.MeshObserved{Version: det.Version, ProxyVersion: obs.proxyVersion,
		ProxyConcurrency: arm.ProxyConcurrency, Proxies: obs.proxies}
	if obs.proxyImage != "" {
		d.Tools = append(d.Tools, platform.Tool{Name: obs.proxyName, Version: obs.proxyVersion, Path: obs.proxyImage})
	}
	d.Load, err = p.openLoad(ctx, d, st)
	return err
}

// observed is what verify found.
type observed struct {
	components                          []platform.Component
	proxies                             int
	proxyName, proxyImage, proxyVersion string
}

// verify checks the arm as deployed: every application pod (and the load pod, when it is
// meshed) has exactly its mesh's proxy container, counted from the pod spec, and the
// baseline's pods have none; with anti-affinity, no load pod shares a node with an
// application pod; the strict-mTLS objects read back with the fields smp applied, and
// the node components of an ambient or node-proxy mesh are ready.
func (p *Platform) verify(ctx context.Context, arm spec.Arm, prof mesh.Profile, st *deployment, internal bool) (observed, error) {
	var obs observed
	sidecar := prof.DataPlane == spec.DataPlaneSidecar
	appNodes := map[string]bool{}
	var problems []string
	for _, side := range []struct {
		ns, role string
		meshed   bool
	}{{st.appNS, RoleApp, true}, {st.loadNS, RoleLoad, internal}} {
		pods, err := p.c.core.CoreV1().Pods(side.ns).List(ctx, metav1.ListOptions{LabelSelector: LabelRun + "=" + p.runKey})
		if err != nil {
			return obs, fmt.Errorf("list the pods of %s: %w", side.ns, err)
		}
		for i := range pods.Items {
			pod := &pods.Items[i]
			if pod.DeletionTimestamp != nil {
				continue
			}
			svc := pod.Labels["app"]
			role := result.RoleApp
			if side.role == RoleLoad {
				role = result.RoleLoadGenerator
			} else {
				appNodes[pod.Spec.NodeName] = true
			}
			others := slices.DeleteFunc(allProxyNames(), func(n string) bool { return sidecar && slices.Contains(prof.Proxy.Containers, n) })
			if stray := proxyContainers(pod, others); len(stray) > 0 {
				problems = append(problems, fmt.Sprintf("pod %s/%s has a %s container, which belongs to another mesh than %s", side.ns, pod.Name, stray[0].Name, prof.Name()))
			}
			var proxies []corev1.Container
			if sidecar {
				proxies = proxyContainers(pod, prof.Proxy.Containers)
				want := 0
				switch {
				case side.role == RoleApp:
					want = 1 // injected, or (manual) already in the manifests: verified either way
				case !side.meshed:
					want = 0 // workload.internal: false
				case arm.Injection == spec.InjectionManual:
					want = len(proxies) // smp injects nothing; the load pod is what the cluster made it
				default:
					want = 1
				}
				if len(proxies) != want {
					problems = append(problems, fmt.Sprintf("pod %s/%s has %d %s container(s), want %d (containers: %s)",
						side.ns, pod.Name, len(proxies), strings.Join(prof.Proxy.Containers, "/"), want, containerNames(pod)))
				}
			}
			for _, c := range pod.Spec.Containers {
				if slices.ContainsFunc(proxies, func(x corev1.Container) bool { return x.Name == c.Name }) {
					continue
				}
				obs.components = append(obs.components, platform.Component{Name: componentName(pod, c.Name), Role: role, Service: svc,
					Namespace: side.ns, Pod: pod.Name, Container: c.Name, Node: pod.Spec.NodeName})
			}
			for _, c := range proxies {
				obs.proxies++
				obs.proxyName, obs.proxyImage = c.Name, c.Image
				obs.proxyVersion = mesh.ImageVersion(c.Image)
				obs.components = append(obs.components, platform.Component{Name: componentName(pod, c.Name), Role: result.RoleProxy, Service: svc,
					Namespace: side.ns, Pod: pod.Name, Container: c.Name, Node: pod.Spec.NodeName})
			}
		}
	}
	k := p.plan.Environment.Kubernetes
	if k.AntiAffinity == nil || *k.AntiAffinity {
		for _, c := range obs.components {
			if c.Role == result.RoleLoadGenerator && appNodes[c.Node] {
				problems = append(problems, fmt.Sprintf("load pod %s shares node %s with the application (anti-affinity broken)", c.Pod, c.Node))
			}
		}
	}
	for _, want := range st.mtls {
		if err := p.checkInForce(ctx, want); err != nil {
			problems = append(problems, err.Error())
		}
	}
	// The namespaces' injection and mTLS keys, read back (an admission policy or another
	// controller may have removed or changed them).
	for _, name := range []string{st.appNS, st.loadNS} {
		ns, err := p.c.core.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return obs, fmt.Errorf("read namespace %s back: %w", name, err)
		}
		want := st.nsKeys[name]
		for _, kv := range []struct {
			kind      string
			want, got map[string]string
		}{{"label", want.labels, ns.Labels}, {"annotation", want.annotations, ns.Annotations}} {
			for _, k := range slices.Sorted(maps.Keys(kv.want)) {
				if got, ok := kv.got[k]; !ok || got != kv.want[k] {
					problems = append(problems, fmt.Sprintf("namespace %s: %s %s is %q, want %q", name, kv.kind, k, got, kv.want[k]))
				}
			}
		}
	}
	optional := map[string]bool{}
	for _, comp := range mesh.ClusterOf(prof).Components {
		if comp.Optional {
			optional[comp.Namespace+"/"+comp.Workload.Name] = true
		}
	}
	for _, nc := range prof.NodeComponents {
		ds, err := p.c.core.AppsV1().DaemonSets(nc.Namespace).Get(ctx, nc.Workload.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) && optional[nc.Namespace+"/"+nc.Workload.Name]:
			// Not every version runs it apart (cilium-envoy is in the agent before 1.16).
		case apierrors.IsNotFound(err):
			problems = append(problems, fmt.Sprintf("%s DaemonSet %s/%s is missing", prof.Name(), nc.Namespace, nc.Workload.Name))
		case err != nil:
			return obs, err
		case !daemonSetReady(ds):
			problems = append(problems, fmt.Sprintf("%s DaemonSet %s/%s is not ready on every node (%d of %d)", prof.Name(),
				nc.Namespace, nc.Workload.Name, ds.Status.NumberReady, ds.Status.DesiredNumberScheduled))
		}
	}
	if len(problems) > 0 {
		return obs, fmt.Errorf("the mesh is not in the data path as planned:\n  %s", strings.Join(problems, "\n  "))
	}
	return obs, nil
}

// checkInForce reads an applied mTLS object back and compares it with what was applied;
// for Istio it also makes sure no other PeerAuthentication of the namespace weakens it.
func (p *Platform) checkInForce(ctx context.Context, want *unstructured.Unstructured) error {
	ri, _, err := p.c.resource(want.GroupVersionKind(), want.GetNamespace())
	if err != nil {
		return err
	}
	got, err := ri.Get(ctx, want.GetName(), metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("%s %s is not in force: %w", want.GetKind(), objectName(want), err)
	}
	if !subset(want.Object["spec"], got.Object["spec"]) {
		return fmt.Errorf("%s %s does not hold the fields smp applied", want.GetKind(), objectName(want))
	}
	if want.GetKind() == "PeerAuthentication" {
		all, err := ri.List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, o := range all.Items {
			mode, _, _ := unstructured.NestedString(o.Object, "spec", "mtls", "mode")
			if o.GetName() != want.GetName() && mode != "" && mode != "STRICT" && mode != "UNSET" {
				return fmt.Errorf("PeerAuthentication %s sets mode %s in the arm's namespace", objectName(&o), mode)
			}
		}
	}
	return nil
}

func containerNames(pod *corev1.Pod) string {
	var n []string
	for _, c := range pod.Spec.InitContainers {
		n = append(n, c.Name+"(init)")
	}
	for _, c := range pod.Spec.Containers {
		n = append(n, c.Name)
	}
	return strings.Join(n, ", ")
}

// componentName is unique within a deployment: the pod's name and the container's.
func componentName(pod *corev1.Pod, container string) string {
	return pod.Name + "/" + container
}

// Teardown deletes the arm's namespaces and the objects it created elsewhere, and waits
// for the namespaces to go (bounded by ctx). With environment.kubernetes.keep nothing is
// deleted. Safe to call more than once.
func (p *Platform) Teardown(ctx context.Context, d *platform.Deployment) error {
	if d == nil {
		return nil
	}
	st, ok := d.Private.(*deployment)
	if !ok || st == nil {
		return nil
	}
	if st.stopLoad != nil {
		st.stopLoad() // idempotent; the forwards end even when the arm is kept
	}
	if p.plan.Environment.Kubernetes.Keep {
		return nil
	}
	st.once.Do(func() {
		var errs []error
		policy := metav1.DeletePropagationForeground
		for _, ns := range []string{st.appNS, st.loadNS} {
			err := p.c.core.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{PropagationPolicy: &policy})
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete namespace %s: %w", ns, err))
			}
		}
		for _, r := range st.refs {
			if err := p.c.del(ctx, r); err != nil {
				errs = append(errs, err)
			}
		}
		if err := p.c.waitGone(ctx, []string{st.appNS, st.loadNS}); err != nil {
			errs = append(errs, fmt.Errorf("%w (smp cleanup --run %s removes what is left)", err, p.runKey))
		}
		st.err = errors.Join(errs...)
	})
	return st.err
}

// Close removes whatever the run still has on the cluster, found by its label (an arm
// whose Teardown timed out, a Deploy cut short), unless environment.kubernetes.keep. It
// waits for up to Options.DeleteTimeout.
func (p *Platform) Close() error {
	if p.plan.Environment.Kubernetes.Keep {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.opt.DeleteTimeout)
	defer cancel()
	_, err := cleanup(ctx, p.c, p.runKey)
	return err
}

// objectsOf lists objects as runtime.Objects (for tests and callers that apply more).
var _ runtime.Object = (*unstructured.Unstructured)(nil)
