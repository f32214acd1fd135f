package kube

// mesh: builtin on Kubernetes: smp's own sidecar, added by smp to the pods it deploys.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/service-mesh-performance/smp/internal/mesh"
	"github.com/service-mesh-performance/smp/internal/pki"
	"github.com/service-mesh-performance/smp/internal/platform/carry"
	"github.com/service-mesh-performance/smp/internal/sidecar"
	"github.com/service-mesh-performance/smp/spec"
)

// The builtin sidecar's container and ports in every pod of a builtin arm (the same
// numbers as Istio's: 15000 admin, 15006 inbound, 15001 the first outbound).
const (
	proxyAdminPort    = mesh.BuiltinAdminPort
	proxyInboundPort  = 15006
	proxyOutboundPort = 15001
	// meshDir holds the sidecar's configuration (ConfigMap) and meshTLSDir its
	// certificate, key and the run's CA (Secret).
	meshDir    = "/etc/smp/mesh"
	meshTLSDir = "/etc/smp/mesh-tls"
)

// builtinMesh is how an arm of mesh builtin wires its pods: the app listens on loopback
// only; the sidecar's inbound listener (what the Service targets) takes every request
// from outside the pod, strict mTLS from the run's CA; each upstream the app calls is a
// loopback outbound listener of its own sidecar, which opens mTLS to the upstream's
// Service. The load pods get a client sidecar the same way: app → local sidecar →
// remote sidecar → app, as on the local platform.
type builtinMesh struct {
	ca *pki.CA
	// image is smp's image, which runs the sidecar.
	image       string
	mtls        sidecar.MTLSMode
	protocol    sidecar.Protocol
	concurrency int
}

func newBuiltinMesh(ca *pki.CA, image string, arm spec.Arm, proto spec.Protocol) *builtinMesh {
	// With protocol tcp the sidecar is L4: each connection relayed on a connection of its
	// own, mTLS between pods as for HTTP (the local platform's TCP arms use the same mode).
	m := &builtinMesh{ca: ca, image: image, concurrency: arm.ProxyConcurrency, protocol: carry.Sidecar(proto), mtls: sidecar.Strict}
	switch arm.MTLS {
	case spec.MTLSPermissive:
		m.mtls = sidecar.Permissive
	case spec.MTLSOff:
		m.mtls = sidecar.Off
	}
	return m
}

// outboundAddr is the loopback address the app (or the load generator) calls to reach
// its i-th upstream through the sidecar.
func outboundAddr(i int) string { return "127.0.0.1:" + strconv.Itoa(proxyOutboundPort+i) }

// meshUpstream is one upstream of a meshed pod: the Service's host:port, and the service
// whose identity the far sidecar must present.
type meshUpstream struct {
	addr, service string
}

// inject adds the sidecar to s (a container, its configuration and credentials as
// volumes) and returns the ConfigMap and Secret to apply with it. app is the
// application's loopback address (none for a load pod, which only sends); in and out
// are the protocols of the inbound and outbound listeners when they differ from the
// mesh's (a shape's service called over HTTP/1.1 that calls over gRPC), "" otherwise.
func (m *builtinMesh) inject(s *service, namespace, identity, app string, in, out sidecar.Protocol, ups []meshUpstream, labels map[string]string) ([]runtime.Object, error) {
	id, err := m.ca.Issue(identity)
	if err != nil {
		return nil, fmt.Errorf("the builtin sidecar's identity for %s: %w", identity, err)
	}
	cfg := sidecar.Config{Name: identity + "-proxy", Protocol: m.protocol, MTLS: m.mtls, Concurrency: m.concurrency,
		AdminListen: "0.0.0.0:" + strconv.Itoa(proxyAdminPort)}
	if m.mtls != sidecar.Off {
		cfg.CertFile, cfg.KeyFile, cfg.CAFile = meshTLSDir+"/cert.pem", meshTLSDir+"/key.pem", meshTLSDir+"/"+pki.CAFile
	}
	if app != "" {
		cfg.Inbound = &sidecar.Inbound{Listen: "0.0.0.0:" + strconv.Itoa(proxyInboundPort), App: app, Protocol: in}
	}
	for i, u := range ups {
		cfg.Outbounds = append(cfg.Outbounds, sidecar.Outbound{Listen: outboundAddr(i), Upstream: u.addr,
			UpstreamID: pki.ID(m.ca.RunID, u.service), Protocol: out})
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("the builtin sidecar's configuration for %s: %w", identity, err)
	}
	name := "smp-mesh-" + identity
	meta := metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: merge(labels, map[string]string{"app": s.name})}
	cm := &corev1.ConfigMap{TypeMeta: typeMeta("v1", "ConfigMap"), ObjectMeta: meta, Data: map[string]string{"sidecar.json": string(data)}}
	sec := &corev1.Secret{TypeMeta: typeMeta("v1", "Secret"), ObjectMeta: meta, Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"cert.pem": id.CertPEM, "key.pem": id.KeyPEM, pki.CAFile: m.ca.CertPEM}}
	ports := []corev1.ContainerPort{containerPort("smp-admin", proxyAdminPort)}
	if app != "" {
		ports = append(ports, containerPort("smp-inbound", proxyInboundPort))
	}
	mode := int32(0o440)
	s.volumes = append(s.volumes,
		corev1.Volume{Name: "smp-mesh", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}}}},
		corev1.Volume{Name: "smp-mesh-tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: name, DefaultMode: &mode}}})
	s.fsGroup = imageGroup
	s.containers = append(s.containers, corev1.Container{Name: mesh.BuiltinProxyContainer, Image: m.image,
		Args: []string{"sidecar", "--config", meshDir + "/sidecar.json"}, Ports: ports,
		// Ready once every listener serves and the app behind the inbound one accepts
		// connections (the app listens on loopback only, out of the kubelet's reach).
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready",
			Port: intstr.FromInt32(proxyAdminPort)}}, PeriodSeconds: 2, FailureThreshold: 3},
		VolumeMounts: []corev1.VolumeMount{{Name: "smp-mesh", MountPath: meshDir, ReadOnly: true},
			{Name: "smp-mesh-tls", MountPath: meshTLSDir, ReadOnly: true}},
		ImagePullPolicy: corev1.PullIfNotPresent})
	return []runtime.Object{cm, sec}, nil
}

// meshService adds smp's sidecar to s, the builtin app's service svc: the Service now
// leads to the sidecar's inbound listener (one port: the one svc is called on), the app
// is probed through the sidecar's readiness, and each upstream is reached through the
// upstream's Service by name. The inbound listener carries what svc is called over,
// the outbound ones what it calls over.
func meshService(e podEnv, s *service, svc builtinSvc) ([]runtime.Object, error) {
	port := appPort(svc.serves)
	// The inbound listener relays one protocol, so the Service keeps that one port (its
	// name and appProtocol, tcp-echo and tcp for protocol tcp, as builtinService set
	// them).
	s.ports = slices.DeleteFunc(s.ports, func(p corev1.ServicePort) bool { return p.Port != int32(port) })
	var meshUps []meshUpstream
	for _, up := range svc.ups {
		meshUps = append(meshUps, meshUpstream{addr: fmt.Sprintf("%s:%d", e.host(up), appPort(svc.calls)), service: up})
	}
	s.ports = retargetPorts(s.ports)
	s.containers[0].ReadinessProbe = nil // the sidecar's /ready checks the app
	// A chain's listeners all carry the mesh's protocol; a shape's say their own.
	var in, out sidecar.Protocol
	if svc.shaped {
		in, out = carry.SidecarOf(svc.serves), carry.SidecarOf(svc.calls)
	}
	return e.mesh.inject(s, e.namespace, s.name, fmt.Sprintf("127.0.0.1:%d", port), in, out, meshUps, e.labels)
}

// retargetPorts points every port of a meshed Service at the sidecar's inbound listener.
func retargetPorts(ports []corev1.ServicePort) []corev1.ServicePort {
	out := make([]corev1.ServicePort, len(ports))
	for i, p := range ports {
		p.TargetPort = intstr.FromInt32(proxyInboundPort)
		out[i] = p
	}
	return out
}

// clientSide is how the load pods reach entry (the application's entry URL) through
// their client sidecar: the sidecar's upstream (entry's host and port, the identity of
// the service there) and the URL the load generator sends to (the sidecar's first
// outbound listener, with entry's path).
func clientSide(entry string) (meshUpstream, string, error) {
	u, err := url.Parse(entry)
	if err != nil || u.Host == "" {
		return meshUpstream{}, "", fmt.Errorf("the application's entry %q is not a URL", entry)
	}
	svc, _, _ := strings.Cut(u.Hostname(), ".")
	local := *u
	local.Host = outboundAddr(0)
	return meshUpstream{addr: u.Host, service: svc}, local.String(), nil
}

// runCA is the run's certificate authority for smp's sidecars, made on first use.
func (p *Platform) runCA() (*pki.CA, error) {
	p.caOnce.Do(func() {
		p.ca, p.caErr = pki.NewCA(p.opt.RunID)
		if p.caErr != nil {
			p.caErr = fmt.Errorf("the run's CA for the builtin sidecars: %w", p.caErr)
		}
	})
	return p.ca, p.caErr
}
