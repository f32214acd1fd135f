package kube

import (
	"encoding/json"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/service-mesh-performance/smp/internal/app"
	"github.com/service-mesh-performance/smp/internal/pki"
	"github.com/service-mesh-performance/smp/internal/sidecar"
	"github.com/service-mesh-performance/smp/spec"
)

// TestShapeObjects: a shape deploys smp's services under their own names with the
// shape's graph, protocols and sizes; with mesh builtin, svc-front's sidecar takes
// HTTP/1.1 in and sends gRPC to the back ends' gRPC ports, whose sidecars take gRPC in.
func TestShapeObjects(t *testing.T) {
	ca, err := pki.NewCA("run-1")
	if err != nil {
		t.Fatal(err)
	}
	m := newBuiltinMesh(ca, "smp:test", spec.Arm{Name: "builtin", Mesh: spec.MeshBuiltin, MTLS: spec.MTLSStrict}, spec.ProtocolHTTP1)
	w := spec.Workload{App: spec.App{Kind: spec.AppBuiltin, Topology: spec.TopologyEmojivotoShape, Services: 3}, Path: "/api/vote"}
	set, err := buildApp(w, podEnv{namespace: "ns", replicas: 1, mesh: m}, "smp:test")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(set.deployments, []string{"svc-front", "svc-glyphs", "svc-ballot"}) || set.services != 3 ||
		set.entry[0] != "http://svc-front.ns.svc:8080/api/vote" {
		t.Fatalf("deployments %v, %d services, entry %v", set.deployments, set.services, set.entry)
	}
	cms, svcs := map[string]*corev1.ConfigMap{}, map[string]*corev1.Service{}
	for _, o := range set.objects {
		switch o := o.(type) {
		case *corev1.ConfigMap:
			cms[o.Name] = o
		case *corev1.Service:
			svcs[o.Name] = o
		}
	}
	var front app.Config
	if err := json.Unmarshal([]byte(cms["svc-front-config"].Data["app.json"]), &front); err != nil {
		t.Fatal(err)
	}
	if front.UpstreamProtocol != app.GRPC || !front.Sequential || len(front.Upstreams) != 2 || front.ResponseSize != 0 {
		t.Errorf("svc-front's app: %+v; want two gRPC upstreams called in order and an empty reply", front)
	}
	var sc sidecar.Config
	if err := json.Unmarshal([]byte(cms["smp-mesh-svc-front"].Data["sidecar.json"]), &sc); err != nil {
		t.Fatal(err)
	}
	if sc.Inbound == nil || sc.Inbound.Protocol != sidecar.HTTP1 || sc.Inbound.App != "127.0.0.1:8080" || len(sc.Outbounds) != 2 ||
		sc.Outbounds[0].Protocol != sidecar.GRPC || sc.Outbounds[0].Upstream != "svc-glyphs.ns.svc:9090" ||
		sc.Outbounds[1].Protocol != sidecar.GRPC || sc.Outbounds[1].Upstream != "svc-ballot.ns.svc:9090" {
		t.Errorf("svc-front's sidecar: inbound %+v, outbounds %+v; want HTTP/1.1 in to :8080, gRPC out to the back ends' :9090", sc.Inbound, sc.Outbounds)
	}
	if err := json.Unmarshal([]byte(cms["smp-mesh-svc-glyphs"].Data["sidecar.json"]), &sc); err != nil {
		t.Fatal(err)
	}
	if sc.Inbound == nil || sc.Inbound.Protocol != sidecar.GRPC || sc.Inbound.App != "127.0.0.1:9090" {
		t.Errorf("svc-glyphs' sidecar inbound %+v, want gRPC to the app's 127.0.0.1:9090", sc.Inbound)
	}
	if ps := svcs["svc-glyphs"].Spec.Ports; len(ps) != 1 || ps[0].Name != "grpc" || ps[0].Port != builtinGRPCPort || ps[0].TargetPort.IntValue() != proxyInboundPort {
		t.Errorf("Service svc-glyphs ports %+v, want grpc %d → the sidecar's %d", ps, builtinGRPCPort, proxyInboundPort)
	}

	w.App.Topology, w.App.Services = spec.TopologyBookinfoShape, 4
	set, err = buildApp(w, podEnv{namespace: "ns", replicas: 1}, "smp:test")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range set.objects {
		if cm, ok := o.(*corev1.ConfigMap); ok && cm.Name == "svc-page-config" {
			var page app.Config
			if err := json.Unmarshal([]byte(cm.Data["app.json"]), &page); err != nil {
				t.Fatal(err)
			}
			if page.UpstreamProtocol != app.HTTP1 || !page.Sequential || page.ResponseSize != 5<<10 || len(page.Upstreams) != 2 ||
				page.Upstreams[0].Addr != "svc-facts:8080" || page.Upstreams[1].Addr != "svc-opinions:8080" {
				t.Errorf("svc-page's app: %+v; want svc-facts then svc-opinions over HTTP/1.1, a 5 KiB page", page)
			}
			return
		}
	}
	t.Errorf("no svc-page-config in the bookinfo shape's objects (deployments %v)", set.deployments)
}
