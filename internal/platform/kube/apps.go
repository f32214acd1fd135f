package kube

import (
	"encoding/json"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/service-mesh-performance/smp/internal/app"
	"github.com/service-mesh-performance/smp/internal/mesh"
	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/internal/platform/carry"
	"github.com/service-mesh-performance/smp/spec"
)

// Public images of the applications smp deploys besides its own. Each is pinned, so that
// two runs deploy the same thing; the tags are those of the upstream manifests at the
// time of writing (istio/istio samples/bookinfo, linkerd emojivoto v11, fortio's release
// matching the fortio module smp links).
const (
	BookinfoImagePrefix  = "docker.io/istio/examples-bookinfo-"
	BookinfoTag          = "1.20.2"
	EmojivotoImagePrefix = "docker.io/buoyantio/emojivoto-"
	EmojivotoTag         = "v11"
	FortioImage          = "docker.io/fortio/fortio:1.66.5"
)

// Ports the applications serve on.
const (
	builtinHTTPPort = 8080
	builtinGRPCPort = 9090
	builtinTCPPort  = 7070
	fortioHTTPPort  = 8080
	fortioGRPCPort  = 8079
	bookinfoPort    = 9080
)

// appConfigFile is where the builtin app's ConfigMap is mounted.
const appConfigFile = "/etc/smp/app.json"

// podEnv is what every pod template of an arm shares.
type podEnv struct {
	namespace   string
	labels      map[string]string // the run's and the arm's labels
	podLabels   map[string]string // injection labels on the pod template
	podAnnot    map[string]string // injection annotations on the pod template
	svcAnnot    map[string]string // annotations on the Services (a mesh's L4 marking)
	nodeSel     map[string]string
	resources   corev1.ResourceRequirements
	affinity    *corev1.Affinity
	tolerations []corev1.Toleration
	replicas    int32
	// mesh, when set, is smp's builtin sidecar, added to every pod (mesh: builtin).
	mesh *builtinMesh
}

// appSet is an application as objects to apply, and where load goes in.
type appSet struct {
	objects     []runtime.Object
	deployments []string
	entry       []string
	// services is how many hops a request crosses (for the record).
	services int
}

func (s *appSet) add(objs ...runtime.Object) { s.objects = append(s.objects, objs...) }

// service is one service of an application: a ServiceAccount, a Service and one
// Deployment per version (named <name>-<version>, or <name> when it has no versions).
type service struct {
	name       string
	containers []corev1.Container
	ports      []corev1.ServicePort
	volumes    []corev1.Volume
	versions   []string
	// configMaps are mounted by the containers.
	configMaps []*corev1.ConfigMap
	// fsGroup, when set, owns the pods' volumes (secret files readable by the
	// image's non-root user and nobody else).
	fsGroup int64
}

func (e podEnv) objectsOf(s service, role string) []runtime.Object {
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: e.namespace, Labels: merge(e.labels, map[string]string{LabelRole: role, "app": s.name})}
	}
	out := []runtime.Object{
		&corev1.ServiceAccount{TypeMeta: typeMeta("v1", "ServiceAccount"), ObjectMeta: meta(s.name)},
	}
	for _, cm := range s.configMaps {
		cm.TypeMeta = typeMeta("v1", "ConfigMap")
		cm.Namespace = e.namespace
		cm.Labels = merge(e.labels, map[string]string{LabelRole: role, "app": s.name})
		out = append(out, cm)
	}
	if len(s.ports) > 0 {
		m := meta(s.name)
		m.Annotations = e.svcAnnot
		out = append(out, &corev1.Service{TypeMeta: typeMeta("v1", "Service"), ObjectMeta: m,
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": s.name, LabelRole: role}, Ports: s.ports}})
	}
	versions := s.versions
	if len(versions) == 0 {
		versions = []string{""}
	}
	for _, v := range versions {
		name := s.name
		sel := map[string]string{"app": s.name, LabelRole: role}
		if v != "" {
			name += "-" + v
			sel["version"] = v
		}
		podLabels := merge(e.labels, e.podLabels, sel)
		grace := int64(5)
		containers := make([]corev1.Container, len(s.containers))
		for i, c := range s.containers {
			if role == RoleApp && len(e.resources.Requests)+len(e.resources.Limits) > 0 {
				c.Resources = e.resources
			}
			if v != "" && strings.Contains(c.Image, "{version}") {
				c.Image = strings.ReplaceAll(c.Image, "{version}", v)
			}
			containers[i] = c
		}
		var podSecurity *corev1.PodSecurityContext
		if s.fsGroup != 0 {
			podSecurity = &corev1.PodSecurityContext{FSGroup: &s.fsGroup}
		}
		d := &appsv1.Deployment{TypeMeta: typeMeta("apps/v1", "Deployment"), ObjectMeta: meta(name),
			Spec: appsv1.DeploymentSpec{
				Replicas: &e.replicas,
				Selector: &metav1.LabelSelector{MatchLabels: sel},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: e.podAnnot},
					Spec: corev1.PodSpec{
						ServiceAccountName:            s.name,
						Containers:                    containers,
						Volumes:                       s.volumes,
						NodeSelector:                  e.nodeSel,
						Affinity:                      e.affinity,
						Tolerations:                   e.tolerations,
						TerminationGracePeriodSeconds: &grace,
						SecurityContext:               podSecurity,
					},
				},
			}}
		out = append(out, d)
	}
	return out
}

func ptrTo[T any](v T) *T { return &v }

// withL4 adds a mesh's marking of the sample app's TCP port as opaque (mesh.L4) to the
// pods and Services of e, for protocol tcp; e unchanged otherwise.
func (e podEnv) withL4(prof mesh.Profile, protocol spec.Protocol) podEnv {
	if protocol != spec.ProtocolTCP || prof.L4 == nil {
		return e
	}
	e.podAnnot = merge(e.podAnnot, prof.L4.Annotations(prof.L4.PodAnnotations, builtinTCPPort))
	e.svcAnnot = merge(e.svcAnnot, prof.L4.Annotations(prof.L4.ServiceAnnotations, builtinTCPPort))
	return e
}

func typeMeta(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

func tcpPort(name string, port int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, TargetPort: intstr.FromInt32(port), Protocol: corev1.ProtocolTCP}
}

func containerPort(name string, port int32) corev1.ContainerPort {
	return corev1.ContainerPort{Name: name, ContainerPort: port, Protocol: corev1.ProtocolTCP}
}

func tcpProbe(port int32) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(port)}},
		PeriodSeconds: 2, FailureThreshold: 3}
}

// resourcesOf turns the plan's per-container resources into Kubernetes quantities.
func resourcesOf(r spec.Resources) (corev1.ResourceRequirements, error) {
	var out corev1.ResourceRequirements
	conv := func(l spec.ResourceList, what string) (corev1.ResourceList, error) {
		if l.CPU == "" && l.Memory == 0 {
			return nil, nil
		}
		rl := corev1.ResourceList{}
		if l.CPU != "" {
			q, err := resource.ParseQuantity(l.CPU)
			if err != nil {
				return nil, fmt.Errorf("workload.app.resources.%s.cpu %q: %w", what, l.CPU, err)
			}
			rl[corev1.ResourceCPU] = q
		}
		if l.Memory != 0 {
			rl[corev1.ResourceMemory] = *resource.NewQuantity(int64(l.Memory), resource.BinarySI)
		}
		return rl, nil
	}
	var err error
	if out.Requests, err = conv(r.Requests, "requests"); err != nil {
		return out, err
	}
	if out.Limits, err = conv(r.Limits, "limits"); err != nil {
		return out, err
	}
	return out, nil
}

// entryPath is the path load is sent to: the workload's, or the application's natural
// entry when the workload says "/" (bookinfo's /productpage, emojivoto's /api/list, which
// crosses web → emoji over gRPC, fortio's /echo).
func entryPath(w spec.Workload, natural string) string {
	if w.Path == "" || w.Path == "/" {
		return natural
	}
	return w.Path
}

// buildApp returns the objects of the plan's application in namespace e.namespace.
func buildApp(w spec.Workload, e podEnv, smpImage string) (*appSet, error) {
	switch w.App.Kind {
	case spec.AppBuiltin, "":
		return builtinApp(w, e, smpImage)
	case spec.AppBookinfo:
		return bookinfoApp(w, e), nil
	case spec.AppEmojivoto:
		return emojivotoApp(w, e), nil
	case spec.AppFortio:
		return fortioApp(w, e), nil
	default:
		return nil, fmt.Errorf("the kubernetes platform cannot deploy app %s", w.App.Kind)
	}
}

// host is the cluster DNS name of service svc in e's namespace.
func (e podEnv) host(svc string) string { return svc + "." + e.namespace + ".svc" }

// builtinSvc is one service of the builtin app: what its callers speak to it, what it
// calls and how, and its replies' size.
type builtinSvc struct {
	name       string
	serves     app.Protocol
	calls      app.Protocol
	ups        []string
	sequential bool
	size       int
	// shaped: a shape's service, whose sidecar's listeners carry the protocols above
	// (a chain's carry the workload's).
	shaped bool
}

// builtinSvcs are the services of the builtin app: svc-1 … svc-n in a chain or a
// fan-out from svc-1, all over the workload's protocol, or a shape's (internal/app).
func builtinSvcs(w spec.Workload) []builtinSvc {
	if shape, ok := app.Shape(string(w.App.Topology)); ok {
		out := make([]builtinSvc, len(shape))
		for i, s := range shape {
			out[i] = builtinSvc{name: s.Name, serves: s.Serves, calls: s.UpstreamProtocol, sequential: s.Sequential, size: s.ResponseSize, shaped: true}
			for _, j := range s.Upstreams {
				out[i].ups = append(out[i].ups, shape[j].Name)
			}
		}
		return out
	}
	proto := carry.App(w.Protocol)
	n := max(w.App.Services, 1)
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("svc-%d", i+1)
	}
	out := make([]builtinSvc, n)
	for i, name := range names {
		out[i] = builtinSvc{name: name, serves: proto, calls: proto, size: int(w.App.ResponseBytes())}
		switch {
		case w.App.Topology == spec.TopologyFanout && i == 0:
			out[i].ups = names[1:]
		case w.App.Topology != spec.TopologyFanout && i+1 < n:
			out[i].ups = names[i+1 : i+2]
		}
	}
	return out
}

// appPort is the port where the builtin app serves protocol p.
func appPort(p app.Protocol) int {
	switch p {
	case app.GRPC:
		return builtinGRPCPort
	case app.TCP:
		return builtinTCPPort
	}
	return builtinHTTPPort
}

// builtinApp is smp's sample app (builtinSvcs), each service a pod running `smp app`
// with its configuration in a ConfigMap.
func builtinApp(w spec.Workload, e podEnv, smpImage string) (*appSet, error) {
	set := &appSet{}
	svcs := builtinSvcs(w)
	names := make([]string, len(svcs))
	for i, svc := range svcs {
		names[i] = svc.name
		s, err := builtinService(w, svc, smpImage, e.mesh != nil)
		if err != nil {
			return nil, err
		}
		if e.mesh != nil {
			objs, err := meshService(e, &s, svc)
			if err != nil {
				return nil, err
			}
			set.add(objs...)
		}
		set.add(e.objectsOf(s, RoleApp)...)
		set.deployments = append(set.deployments, svc.name)
	}
	set.services = len(svcs)
	switch w.Protocol {
	case spec.ProtocolGRPC:
		set.entry = []string{fmt.Sprintf("grpc://%s:%d", e.host(names[0]), builtinGRPCPort)}
	case spec.ProtocolTCP:
		set.entry = []string{fmt.Sprintf("tcp://%s:%d", e.host(names[0]), builtinTCPPort)}
	default:
		set.entry = []string{fmt.Sprintf("http://%s:%d%s", e.host(names[0]), builtinHTTPPort, w.Path)}
	}
	return set, nil
}

// builtinService is one service of the sample app, calling the services svc.ups;
// meshed, it listens on the pod's loopback only and calls its upstreams through the
// outbound listeners of its sidecar.
func builtinService(w spec.Workload, svc builtinSvc, smpImage string, meshed bool) (service, error) {
	name, proto := svc.name, svc.serves
	grpc, tcp := proto == app.GRPC, proto == app.TCP
	listen := ""
	if meshed {
		listen = "127.0.0.1"
	}
	cfg := app.Config{Name: name, HTTPAddr: fmt.Sprintf("%s:%d", listen, builtinHTTPPort), UpstreamProtocol: svc.calls,
		Sequential: svc.sequential, ResponseSize: svc.size, CPUTime: w.App.CPUTime.D(), Delay: w.App.Delay.D()}
	switch {
	case grpc:
		cfg.GRPCAddr = fmt.Sprintf("%s:%d", listen, builtinGRPCPort)
	case tcp:
		cfg.TCPAddr = fmt.Sprintf("%s:%d", listen, builtinTCPPort)
	}
	port := appPort(svc.calls)
	for k, up := range svc.ups {
		addr := fmt.Sprintf("%s:%d", up, port)
		if meshed {
			addr = outboundAddr(k)
		}
		cfg.Upstreams = append(cfg.Upstreams, app.Upstream{Name: up, Addr: addr})
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return service{}, fmt.Errorf("builtin app %s: %w", name, err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name + "-config"}, Data: map[string]string{"app.json": string(data)}}
	// Istio and Linkerd read the protocol from the port's name (http, http2, grpc).
	httpName := "http"
	if proto == app.H2C {
		httpName = "http2"
	}
	ports := []corev1.ServicePort{tcpPort(httpName, builtinHTTPPort)}
	cports := []corev1.ContainerPort{containerPort("http", builtinHTTPPort)}
	if grpc {
		ports = append(ports, tcpPort("grpc", builtinGRPCPort))
		cports = append(cports, containerPort("grpc", builtinGRPCPort))
	}
	if tcp {
		// An opaque stream: named tcp-* and with appProtocol tcp, which Istio reads;
		// meshes that need more get it from their profile (deploy's svcAnnot, podAnnot).
		p := tcpPort("tcp-echo", builtinTCPPort)
		p.AppProtocol = ptrTo("tcp")
		ports = append(ports, p)
		cports = append(cports, containerPort("tcp-echo", builtinTCPPort))
	}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(builtinHTTPPort)}},
		PeriodSeconds: 2, FailureThreshold: 3}
	return service{name: name, configMaps: []*corev1.ConfigMap{cm}, ports: ports,
		containers: []corev1.Container{{Name: "app", Image: smpImage, Args: []string{"app", "--config", appConfigFile},
			Ports: cports, ReadinessProbe: probe, ImagePullPolicy: corev1.PullIfNotPresent,
			VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/smp", ReadOnly: true}}}},
		volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: cm.Name}}}}}}, nil
}

// bookinfoApp is istio/istio samples/bookinfo/platform/kube/bookinfo.yaml: four services
// on 9080, reviews in three versions; the Java and Python services write to /tmp.
func bookinfoApp(w spec.Workload, e podEnv) *appSet {
	set := &appSet{}
	tmp := []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	mk := func(name string, versions []string, env []corev1.EnvVar, vols []corev1.Volume, mounts []corev1.VolumeMount) service {
		image := BookinfoImagePrefix + name + "-v1:" + BookinfoTag
		if len(versions) > 0 {
			image = BookinfoImagePrefix + name + "-{version}:" + BookinfoTag
		}
		return service{name: name, versions: versions, ports: []corev1.ServicePort{tcpPort("http", bookinfoPort)}, volumes: vols,
			containers: []corev1.Container{{Name: name, Image: image, Env: env, VolumeMounts: mounts,
				Ports: []corev1.ContainerPort{containerPort("http", bookinfoPort)}, ReadinessProbe: tcpProbe(bookinfoPort)}}}
	}
	wlp := append(append([]corev1.Volume(nil), tmp...), corev1.Volume{Name: "wlp-output", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	for _, s := range []service{
		mk("details", []string{"v1"}, nil, nil, nil),
		mk("ratings", []string{"v1"}, nil, nil, nil),
		mk("reviews", []string{"v1", "v2", "v3"}, []corev1.EnvVar{{Name: "LOG_DIR", Value: "/tmp/logs"}}, wlp,
			[]corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}, {Name: "wlp-output", MountPath: "/opt/ibm/wlp/output"}}),
		mk("productpage", []string{"v1"}, nil, tmp, []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}}),
	} {
		set.add(e.objectsOf(s, RoleApp)...)
		for _, v := range s.versions {
			set.deployments = append(set.deployments, s.name+"-"+v)
		}
	}
	set.services = 4
	set.entry = []string{fmt.Sprintf("http://%s:%d%s", e.host("productpage"), bookinfoPort, entryPath(w, "/productpage"))}
	return set
}

// emojivotoApp is linkerd's emojivoto (kinvolk's benchmark app): web (HTTP) → emoji-svc
// and voting-svc (gRPC on 8080, Prometheus on 8801); the vote-bot is left out, smp is
// the load.
func emojivotoApp(w spec.Workload, e podEnv) *appSet {
	set := &appSet{}
	grpcSvc := func(name string) service {
		return service{name: name, ports: []corev1.ServicePort{tcpPort("grpc", 8080), tcpPort("prom", 8801)},
			containers: []corev1.Container{{Name: name, Image: EmojivotoImagePrefix + name + ":" + EmojivotoTag,
				Env:   []corev1.EnvVar{{Name: "GRPC_PORT", Value: "8080"}, {Name: "PROM_PORT", Value: "8801"}},
				Ports: []corev1.ContainerPort{containerPort("grpc", 8080), containerPort("prom", 8801)}, ReadinessProbe: tcpProbe(8080)}}}
	}
	web := service{name: "web-svc", ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		containers: []corev1.Container{{Name: "web-svc", Image: EmojivotoImagePrefix + "web:" + EmojivotoTag,
			Env: []corev1.EnvVar{{Name: "WEB_PORT", Value: "8080"}, {Name: "EMOJISVC_HOST", Value: "emoji-svc:8080"},
				{Name: "VOTINGSVC_HOST", Value: "voting-svc:8080"}, {Name: "INDEX_BUNDLE", Value: "dist/index_bundle.js"}},
			Ports: []corev1.ContainerPort{containerPort("http", 8080)}, ReadinessProbe: tcpProbe(8080)}}}
	for _, s := range []service{grpcSvc("emoji-svc"), grpcSvc("voting-svc"), web} {
		set.add(e.objectsOf(s, RoleApp)...)
		set.deployments = append(set.deployments, s.name)
	}
	set.services = 3
	set.entry = []string{fmt.Sprintf("http://%s:80%s", e.host("web-svc"), entryPath(w, "/api/list"))}
	return set
}

// fortioApp is the two-pod micro benchmark (istio/tools perf/benchmark): a fortio echo
// server; the load pod is the client.
func fortioApp(w spec.Workload, e podEnv) *appSet {
	set := &appSet{}
	s := service{name: "fortio-server", ports: []corev1.ServicePort{tcpPort("http", fortioHTTPPort), tcpPort("grpc", fortioGRPCPort)},
		containers: []corev1.Container{{Name: "fortio", Image: FortioImage, Args: []string{"server"},
			Ports:          []corev1.ContainerPort{containerPort("http", fortioHTTPPort), containerPort("grpc", fortioGRPCPort)},
			ReadinessProbe: tcpProbe(fortioHTTPPort)}}}
	set.add(e.objectsOf(s, RoleApp)...)
	set.deployments = append(set.deployments, s.name)
	set.services = 1
	if w.Protocol == spec.ProtocolGRPC {
		set.entry = []string{fmt.Sprintf("grpc://%s:%d", e.host("fortio-server"), fortioGRPCPort)}
	} else {
		set.entry = []string{fmt.Sprintf("http://%s:%d%s", e.host("fortio-server"), fortioHTTPPort, entryPath(w, "/echo"))}
	}
	return set
}

// LoadPod describes the load generator's pods: the image, its arguments, how many, and
// the port a controller reaches each on through Forward. DefaultLoadPod is fortio's
// server, whose REST API (/fortio/rest/run) runs a load test and answers with fortio's
// result JSON; smp agents (workload.agents) are smp's image with `smp agent` arguments,
// as many replicas as agents, and their credentials in Files.
type LoadPod struct {
	// Image of the load container. Default: smp's image (environment.kubernetes.image).
	Image string
	Args  []string
	Port  int32
	// BasePath is the path of the API on Port ("/fortio/").
	BasePath string
	// Replicas is how many load pods run. Default 1.
	Replicas int32
	// Files, when set, go into a Secret (file name → contents) that every load pod
	// mounts read-only at FilesDir: an agent's certificate, key and run CA.
	Files    map[string][]byte
	FilesDir string
	// Kind says what a deployment's Load reports (platform.Deployment.Load):
	// platform.LoadFortioREST, fortio's REST API at BasePath of the first pod;
	// platform.LoadAgents, every pod's Port, with Credentials; platform.LoadNone, nothing
	// (the pods run, and the run's own generator sends the load). Port-forwards to the
	// pods are opened by Deploy and closed by Teardown.
	Kind platform.LoadKind
	// Credentials are handed back in the Load of LoadAgents, untouched: the controller's
	// side of the agents' mutual TLS, whose other side is in Files.
	Credentials *platform.AgentCredentials
}

// DefaultLoadPod is fortio's server in the public fortio image.
func DefaultLoadPod() LoadPod {
	return LoadPod{Image: FortioImage, Args: []string{"server"}, Port: fortioHTTPPort, BasePath: "/fortio/", Replicas: 1,
		Kind: platform.LoadFortioREST}
}

// imageGroup is the group of the user smp's image runs as (distroless's nonroot,
// 65532; see the Dockerfile).
const imageGroup = 65532

// loadName is the load generator's Deployment (and ServiceAccount, and the Secret of its
// files).
const loadName = "smp-load"

// buildLoad is the load pods' ServiceAccount, Service, Deployment and, when they have
// files, Secret. Nothing sends to the Service, but Consul registers (and lets start)
// only meshed pods that a Service selects, under a ServiceAccount of the Service's name.
//
// With smp's sidecar (e.mesh), each load pod gets a client sidecar whose outbound
// listeners lead to ups, the application's entries.
func buildLoad(lp LoadPod, e podEnv, ups []meshUpstream) ([]runtime.Object, error) {
	c := corev1.Container{Name: "load", Image: lp.Image, Args: lp.Args, ImagePullPolicy: corev1.PullIfNotPresent,
		Ports: []corev1.ContainerPort{containerPort("api", lp.Port)}, ReadinessProbe: tcpProbe(lp.Port)}
	s := service{name: loadName, ports: []corev1.ServicePort{tcpPort("http", lp.Port)}}
	var secret []runtime.Object
	if len(lp.Files) > 0 {
		secret = append(secret, &corev1.Secret{TypeMeta: typeMeta("v1", "Secret"),
			ObjectMeta: metav1.ObjectMeta{Name: loadName, Namespace: e.namespace, Labels: merge(e.labels, map[string]string{LabelRole: RoleLoad, "app": loadName})},
			Type:       corev1.SecretTypeOpaque, Data: lp.Files})
		c.VolumeMounts = []corev1.VolumeMount{{Name: "files", MountPath: lp.FilesDir, ReadOnly: true}}
		mode := int32(0o440)
		s.fsGroup = imageGroup
		s.volumes = []corev1.Volume{{Name: "files", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: loadName, DefaultMode: &mode}}}}
	}
	s.containers = []corev1.Container{c}
	e.replicas = max(lp.Replicas, 1)
	if e.mesh != nil {
		objs, err := e.mesh.inject(&s, e.namespace, loadName, "", "", "", ups, e.labels)
		if err != nil {
			return nil, err
		}
		secret = append(secret, objs...)
	}
	return append(secret, e.objectsOf(s, RoleLoad)...), nil
}

// antiAffinity keeps pods of this side off the nodes where pods of the other role run
// (in the other namespace).
func antiAffinity(otherRole, otherNamespace string) *corev1.Affinity {
	return &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelRole: otherRole}},
			Namespaces:    []string{otherNamespace},
			TopologyKey:   "kubernetes.io/hostname",
		}},
	}}
}

// loadToleration lets load pods onto a node tainted smp.dev/role=load:NoSchedule.
func loadToleration() []corev1.Toleration {
	return []corev1.Toleration{{Key: LoadTaint, Operator: corev1.TolerationOpEqual, Value: RoleLoad, Effect: corev1.TaintEffectNoSchedule}}
}
