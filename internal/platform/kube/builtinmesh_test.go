package kube

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/service-mesh-performance/smp/internal/app"
	"github.com/service-mesh-performance/smp/internal/mesh"
	"github.com/service-mesh-performance/smp/internal/pki"
	"github.com/service-mesh-performance/smp/internal/sidecar"
	"github.com/service-mesh-performance/smp/spec"
)

// TestBuiltinMeshWiring: with mesh builtin every pod smp deploys carries smp's sidecar,
// wired app → local sidecar → remote sidecar → app: the app listens on loopback only and
// calls its upstream through a loopback outbound listener, which opens mTLS to the
// upstream's Service with the upstream's identity; the Service targets the inbound
// listener; each workload's certificate (its SPIFFE id, from the run's CA) is in its own
// Secret; the load pods send to their client sidecar, which leads to the entry Service.
func TestBuiltinMeshWiring(t *testing.T) {
	ca, err := pki.NewCA("run-1")
	if err != nil {
		t.Fatal(err)
	}
	m := newBuiltinMesh(ca, "smp:test", spec.Arm{Name: "builtin", Mesh: spec.MeshBuiltin, MTLS: spec.MTLSStrict, ProxyConcurrency: 2}, spec.ProtocolHTTP1)
	w := spec.Workload{App: spec.App{Kind: spec.AppBuiltin, Services: 2}, Path: "/"}
	set, err := buildApp(w, podEnv{namespace: "ns", replicas: 1, mesh: m}, "smp:test")
	if err != nil {
		t.Fatal(err)
	}
	objs := map[string]any{}
	for _, o := range set.objects {
		switch o := o.(type) {
		case *corev1.ConfigMap:
			objs["cm/"+o.Name] = o
		case *corev1.Secret:
			objs["secret/"+o.Name] = o
		case *corev1.Service:
			objs["svc/"+o.Name] = o
		case *appsv1.Deployment:
			objs["deploy/"+o.Name] = o
		}
	}
	svc1 := objs["svc/svc-1"].(*corev1.Service)
	if p := svc1.Spec.Ports[0]; p.Port != builtinHTTPPort || p.TargetPort.IntValue() != proxyInboundPort {
		t.Errorf("Service svc-1 port %d → %s, want %d → the sidecar's %d", p.Port, p.TargetPort.String(), builtinHTTPPort, proxyInboundPort)
	}
	var appCfg app.Config
	if err := json.Unmarshal([]byte(objs["cm/svc-1-config"].(*corev1.ConfigMap).Data["app.json"]), &appCfg); err != nil {
		t.Fatal(err)
	}
	if appCfg.HTTPAddr != "127.0.0.1:8080" || len(appCfg.Upstreams) != 1 || appCfg.Upstreams[0].Addr != "127.0.0.1:15001" {
		t.Errorf("svc-1's app listens on %s and calls %+v; want loopback and its sidecar's outbound 127.0.0.1:15001", appCfg.HTTPAddr, appCfg.Upstreams)
	}
	var sc sidecar.Config
	if err := json.Unmarshal([]byte(objs["cm/smp-mesh-svc-1"].(*corev1.ConfigMap).Data["sidecar.json"]), &sc); err != nil {
		t.Fatal(err)
	}
	wantOut := sidecar.Outbound{Listen: "127.0.0.1:15001", Upstream: "svc-2.ns.svc:8080", UpstreamID: pki.ID("run-1", "svc-2")}
	if sc.Inbound == nil || sc.Inbound.App != "127.0.0.1:8080" || sc.Inbound.Listen != "0.0.0.0:15006" || len(sc.Outbounds) != 1 ||
		sc.Outbounds[0] != wantOut || sc.MTLS != sidecar.Strict || sc.Concurrency != 2 || sc.CertFile == "" {
		t.Errorf("svc-1's sidecar: %+v (inbound %+v); want inbound 0.0.0.0:15006 → 127.0.0.1:8080, outbound %+v, strict, 2 threads", sc, sc.Inbound, wantOut)
	}
	sec := objs["secret/smp-mesh-svc-1"].(*corev1.Secret)
	block, _ := pem.Decode(sec.Data["cert.pem"])
	if block == nil {
		t.Fatal("no certificate in Secret smp-mesh-svc-1")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := pki.SPIFFEID(cert); err != nil || id != pki.ID("run-1", "svc-1") {
		t.Errorf("svc-1's certificate is %q (%v), want %s", id, err, pki.ID("run-1", "svc-1"))
	}
	if len(sec.Data["key.pem"]) == 0 || string(sec.Data[pki.CAFile]) != string(ca.CertPEM) {
		t.Error("Secret smp-mesh-svc-1 lacks the key or the run's CA")
	}
	pod := objs["deploy/svc-1"].(*appsv1.Deployment).Spec.Template.Spec
	names := []string{}
	for _, c := range pod.Containers {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, []string{"app", mesh.BuiltinProxyContainer}) || pod.Containers[1].ReadinessProbe == nil ||
		pod.Containers[0].ReadinessProbe != nil || pod.Containers[1].Image != "smp:test" {
		t.Errorf("svc-1's pod: containers %v; want app (no probe) and %s (smp's image, probed)", names, mesh.BuiltinProxyContainer)
	}

	// The load side.
	up, local, err := clientSide(set.entry[0])
	if err != nil {
		t.Fatal(err)
	}
	if local != "http://127.0.0.1:15001/" || up != (meshUpstream{addr: "svc-1.ns.svc:8080", service: "svc-1"}) {
		t.Errorf("clientSide(%s) = %+v, %s", set.entry[0], up, local)
	}
	load, err := buildLoad(LoadPod{Image: "smp:test", Port: 7070, Replicas: 2}, podEnv{namespace: "ns-load", replicas: 1, mesh: m}, []meshUpstream{up})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range load {
		switch o := o.(type) {
		case *appsv1.Deployment:
			if cs := o.Spec.Template.Spec.Containers; len(cs) != 2 || cs[1].Name != mesh.BuiltinProxyContainer {
				t.Errorf("load pod containers %v, want load and %s", cs, mesh.BuiltinProxyContainer)
			}
		case *corev1.ConfigMap:
			var c sidecar.Config
			if err := json.Unmarshal([]byte(o.Data["sidecar.json"]), &c); err != nil {
				t.Fatal(err)
			}
			if c.Inbound != nil || len(c.Outbounds) != 1 || c.Outbounds[0].Upstream != "svc-1.ns.svc:8080" ||
				c.Outbounds[0].UpstreamID != pki.ID("run-1", "svc-1") {
				t.Errorf("client sidecar %+v, want one outbound to svc-1 and no inbound", c)
			}
		}
	}
}

// TestBuiltinMeshWiringTCP: with protocol tcp the sidecars relay L4 (each connection on
// a connection of its own, strict mTLS between pods): every Service keeps only its TCP
// echo port (named tcp-echo, appProtocol tcp) and leads it to the inbound listener, which
// relays to the app's TCP listener on loopback; each app relays to its upstream through
// its sidecar's outbound listener, which reaches the upstream's TCP port; the load pods
// send tcp:// to their client sidecar, a TCP relay to the entry Service's TCP port.
func TestBuiltinMeshWiringTCP(t *testing.T) {
	ca, err := pki.NewCA("run-1")
	if err != nil {
		t.Fatal(err)
	}
	m := newBuiltinMesh(ca, "smp:test", spec.Arm{Name: "builtin", Mesh: spec.MeshBuiltin, MTLS: spec.MTLSStrict}, spec.ProtocolTCP)
	w := spec.Workload{App: spec.App{Kind: spec.AppBuiltin, Services: 2}, Protocol: spec.ProtocolTCP}
	set, err := buildApp(w, podEnv{namespace: "ns", replicas: 1, mesh: m}, "smp:test")
	if err != nil {
		t.Fatal(err)
	}
	sidecars := map[string]sidecar.Config{}
	for _, o := range set.objects {
		switch o := o.(type) {
		case *corev1.Service:
			if len(o.Spec.Ports) != 1 {
				t.Fatalf("Service %s has ports %+v, want the TCP echo's only", o.Name, o.Spec.Ports)
			}
			p := o.Spec.Ports[0]
			if p.Name != "tcp-echo" || p.Port != builtinTCPPort || p.TargetPort.IntValue() != proxyInboundPort || p.AppProtocol == nil || *p.AppProtocol != "tcp" {
				t.Errorf("Service %s port %+v, want tcp-echo %d (appProtocol tcp) → the sidecar's %d", o.Name, p, builtinTCPPort, proxyInboundPort)
			}
		case *corev1.ConfigMap:
			if o.Name == "svc-1-config" {
				var c app.Config
				if err := json.Unmarshal([]byte(o.Data["app.json"]), &c); err != nil {
					t.Fatal(err)
				}
				if c.TCPAddr != "127.0.0.1:7070" || c.UpstreamProtocol != app.TCP || len(c.Upstreams) != 1 || c.Upstreams[0].Addr != "127.0.0.1:15001" {
					t.Errorf("svc-1's app: TCP on %q, upstreams %+v (%s); want 127.0.0.1:7070 relaying to its sidecar's 127.0.0.1:15001", c.TCPAddr, c.Upstreams, c.UpstreamProtocol)
				}
			}
			if data, ok := o.Data["sidecar.json"]; ok {
				var c sidecar.Config
				if err := json.Unmarshal([]byte(data), &c); err != nil {
					t.Fatal(err)
				}
				sidecars[o.Name] = c
			}
		}
	}
	sc1, sc2 := sidecars["smp-mesh-svc-1"], sidecars["smp-mesh-svc-2"]
	wantOut := sidecar.Outbound{Listen: "127.0.0.1:15001", Upstream: "svc-2.ns.svc:7070", UpstreamID: pki.ID("run-1", "svc-2")}
	if sc1.Protocol != sidecar.TCP || sc1.MTLS != sidecar.Strict || sc1.Inbound == nil || sc1.Inbound.App != "127.0.0.1:7070" ||
		len(sc1.Outbounds) != 1 || sc1.Outbounds[0] != wantOut {
		t.Errorf("svc-1's sidecar %+v (inbound %+v); want tcp, strict, inbound → 127.0.0.1:7070, outbound %+v", sc1, sc1.Inbound, wantOut)
	}
	if sc2.Protocol != sidecar.TCP || sc2.Inbound == nil || sc2.Inbound.App != "127.0.0.1:7070" || len(sc2.Outbounds) != 0 {
		t.Errorf("svc-2's sidecar %+v (inbound %+v); want tcp, inbound → 127.0.0.1:7070, no outbound", sc2, sc2.Inbound)
	}

	up, local, err := clientSide(set.entry[0])
	if err != nil {
		t.Fatal(err)
	}
	if local != "tcp://127.0.0.1:15001" || up != (meshUpstream{addr: "svc-1.ns.svc:7070", service: "svc-1"}) {
		t.Errorf("clientSide(%s) = %+v, %s; want tcp://127.0.0.1:15001 to svc-1.ns.svc:7070", set.entry[0], up, local)
	}
	load, err := buildLoad(LoadPod{Image: "smp:test", Port: 7070, Replicas: 1}, podEnv{namespace: "ns-load", replicas: 1, mesh: m}, []meshUpstream{up})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range load {
		if cm, ok := o.(*corev1.ConfigMap); ok && cm.Data["sidecar.json"] != "" {
			var c sidecar.Config
			if err := json.Unmarshal([]byte(cm.Data["sidecar.json"]), &c); err != nil {
				t.Fatal(err)
			}
			if c.Protocol != sidecar.TCP || c.MTLS != sidecar.Strict || len(c.Outbounds) != 1 || c.Outbounds[0].Upstream != "svc-1.ns.svc:7070" {
				t.Errorf("client sidecar %+v, want a strict TCP relay to svc-1.ns.svc:7070", c)
			}
		}
	}
}

// TestProtocolsCarried: for each plan protocol the chain's services and smp's sidecars
// on Kubernetes carry what they carry locally (internal/platform/carry's one table): h2
// is h2c behind its TLS entry. They carried HTTP/1.1 for h2 here, h2c locally. (spec
// refuses h2 on Kubernetes, where no TLS entry stands in front of the app; the platform
// still means by it what the local one does.)
func TestProtocolsCarried(t *testing.T) {
	ca, err := pki.NewCA("run-1")
	if err != nil {
		t.Fatal(err)
	}
	for plan, want := range map[spec.Protocol]string{spec.ProtocolHTTP1: "http1", spec.ProtocolH2: "h2c", spec.ProtocolH2C: "h2c",
		spec.ProtocolGRPC: "grpc", spec.ProtocolTCP: "tcp"} {
		w := spec.Workload{App: spec.App{Kind: spec.AppBuiltin, Services: 2}, Protocol: plan, Path: "/"}
		m := newBuiltinMesh(ca, "smp:test", spec.Arm{Name: "builtin", Mesh: spec.MeshBuiltin, MTLS: spec.MTLSStrict}, plan)
		set, err := buildApp(w, podEnv{namespace: "ns", replicas: 1, mesh: m}, "smp:test")
		if err != nil {
			t.Fatal(err)
		}
		apps, sidecars := 0, 0
		for _, o := range set.objects {
			cm, ok := o.(*corev1.ConfigMap)
			if !ok {
				continue
			}
			if data, ok := cm.Data["app.json"]; ok {
				var c app.Config
				if err := json.Unmarshal([]byte(data), &c); err != nil {
					t.Fatal(err)
				}
				apps++
				if string(c.UpstreamProtocol) != want {
					t.Errorf("protocol %s: %s's app calls over %q, want %s", plan, cm.Name, c.UpstreamProtocol, want)
				}
			}
			if data, ok := cm.Data["sidecar.json"]; ok {
				var c sidecar.Config
				if err := json.Unmarshal([]byte(data), &c); err != nil {
					t.Fatal(err)
				}
				sidecars++
				if string(c.Protocol) != want {
					t.Errorf("protocol %s: sidecar %s carries %q, want %s", plan, cm.Name, c.Protocol, want)
				}
			}
		}
		if apps != 2 || sidecars != 2 {
			t.Errorf("protocol %s: %d app and %d sidecar configurations, want 2 of each", plan, apps, sidecars)
		}
	}
}
