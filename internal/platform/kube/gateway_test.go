package kube

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// ingressService is an Istio ingress gateway's Service as a default install makes it: port
// 80 to the pods' 8080, selecting istio=ingressgateway.
func ingressService(ns string) *corev1.Service {
	return &corev1.Service{TypeMeta: typeMeta("v1", "Service"), ObjectMeta: metav1.ObjectMeta{Name: "istio-ingressgateway", Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"istio": "ingressgateway"}, Ports: []corev1.ServicePort{
			{Name: "status-port", Port: 15021, TargetPort: intstr.FromInt32(15021)},
			{Name: "http2", Port: 80, TargetPort: intstr.FromInt32(8080)},
			{Name: "named", Port: 81, TargetPort: intstr.FromString("http")},
		}}}
}

// apiGateway is a Gateway API Gateway with an HTTP and a TCP listener, taking routes from
// namespaces as from says, with an address in its status when addr is set.
func apiGateway(ns, name, from, addr string) *unstructured.Unstructured {
	listener := func(name, proto string, port int64) map[string]any {
		l := map[string]any{"name": name, "protocol": proto, "port": port}
		if from != "" {
			l["allowedRoutes"] = map[string]any{"namespaces": map[string]any{"from": from}}
		}
		return l
	}
	u := newObject(gatewayAPIGateway, ns, name, nil, map[string]any{"gatewayClassName": "test",
		"listeners": []any{listener("web", "HTTP", 80), listener("echo", "TCP", 9000)}})
	if addr != "" {
		u.Object["status"] = map[string]any{"addresses": []any{map[string]any{"type": "IPAddress", "value": addr}}}
	}
	return u
}

// TestGatewayEntryObjects: the routing objects smp writes for each kind of gateway, and the
// address it sends the load to, for HTTP and TCP; and the gateways it cannot route.
func TestGatewayEntryObjects(t *testing.T) {
	b, format, err := backendOf("http://svc-1.smp-x-app.svc:8080/echo")
	if err != nil || b != (backend{"smp-x-app", "svc-1", 8080}) || format != "http://%s/echo" {
		t.Fatalf("backendOf: %+v %q %v", b, format, err)
	}
	if _, f, _ := backendOf("tcp://svc-1.smp-x-app.svc:7070"); f != "tcp://%s" {
		t.Errorf("backendOf a TCP entry: %q", f)
	}
	if _, f, _ := backendOf("http://svc-1.smp-x-app.svc:8080/a%20b"); f != "http://%s/a%%20b" {
		t.Errorf("backendOf a path with %%: %q", f)
	}
	labels := map[string]string{LabelArm: "istio"}
	for _, tc := range []struct {
		proto            spec.Protocol
		server, vsRoutes string
	}{{spec.ProtocolHTTP1, "HTTP", "http"}, {spec.ProtocolGRPC, "GRPC", "http"}, {spec.ProtocolTCP, "TCP", "tcp"}} {
		objs, hostPort, err := istioEntry(ingressService("istio-system"), 80, b, tc.proto, labels)
		if err != nil {
			t.Fatal(err)
		}
		if hostPort != "istio-ingressgateway.istio-system.svc:80" || len(objs) != 2 {
			t.Fatalf("%s: %s, %d objects", tc.proto, hostPort, len(objs))
		}
		gw, vs := objs[0], objs[1]
		servers, _, _ := unstructured.NestedSlice(gw.Object, "spec", "servers")
		server := servers[0].(map[string]any)
		port := server["port"].(map[string]any)
		sel, _, _ := unstructured.NestedStringMap(gw.Object, "spec", "selector")
		if gw.GetKind() != "Gateway" || gw.GetNamespace() != "smp-x-app" || sel["istio"] != "ingressgateway" ||
			port["number"] != int64(8080) || port["protocol"] != tc.server || gw.GetLabels()[LabelArm] != "istio" {
			t.Errorf("%s: Istio Gateway %v", tc.proto, gw.Object)
		}
		routes, _, _ := unstructured.NestedSlice(vs.Object, "spec", tc.vsRoutes)
		gws, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "gateways")
		if len(routes) != 1 || len(gws) != 1 || gws[0] != entryRouteName {
			t.Fatalf("%s: VirtualService %v", tc.proto, vs.Object)
		}
		dest := routes[0].(map[string]any)["route"].([]any)[0].(map[string]any)["destination"].(map[string]any)
		if dest["host"] != "svc-1.smp-x-app.svc.cluster.local" || dest["port"].(map[string]any)["number"] != int64(8080) {
			t.Errorf("%s: VirtualService routes to %v", tc.proto, dest)
		}
	}
	for port, want := range map[int32]string{82: "has no port 82", 81: `targets the named port "http"`} {
		if _, _, err := istioEntry(ingressService("istio-system"), port, b, spec.ProtocolHTTP1, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("port %d: %v, want %q", port, err, want)
		}
	}
	noSel := ingressService("istio-system")
	noSel.Spec.Selector = nil
	if _, _, err := istioEntry(noSel, 80, b, spec.ProtocolHTTP1, nil); err == nil || !strings.Contains(err.Error(), "selects no pods") {
		t.Errorf("no selector: %v", err)
	}

	for _, tc := range []struct {
		proto           spec.Protocol
		kind, section   string
		version, target string
	}{{spec.ProtocolHTTP1, "HTTPRoute", "web", "v1", "10.1.2.3:80"}, {spec.ProtocolTCP, "TCPRoute", "echo", "v1alpha2", "10.1.2.3:9000"}} {
		objs, hostPort, err := gatewayAPIEntry(apiGateway("gw-system", "smp", "All", "10.1.2.3"), b, tc.proto, labels)
		if err != nil {
			t.Fatal(err)
		}
		r := objs[0]
		parents, _, _ := unstructured.NestedSlice(r.Object, "spec", "parentRefs")
		parent := parents[0].(map[string]any)
		rules, _, _ := unstructured.NestedSlice(r.Object, "spec", "rules")
		backendRef := rules[0].(map[string]any)["backendRefs"].([]any)[0].(map[string]any)
		if hostPort != tc.target || r.GetKind() != tc.kind || r.GroupVersionKind().Version != tc.version || r.GetNamespace() != "smp-x-app" ||
			parent["namespace"] != "gw-system" || parent["name"] != "smp" || parent["sectionName"] != tc.section ||
			backendRef["name"] != "svc-1" || backendRef["port"] != int64(8080) {
			t.Errorf("%s: %s %v", tc.proto, hostPort, r.Object)
		}
	}
	if _, hp, _ := gatewayAPIEntry(apiGateway("gw-system", "smp", "All", "fd00::1"), b, spec.ProtocolHTTP1, nil); hp != "[fd00::1]:80" {
		t.Errorf("IPv6 address: %s", hp)
	}
	for _, tc := range []struct {
		gw   *unstructured.Unstructured
		want string
	}{
		{apiGateway("gw-system", "smp", "", "10.1.2.3"), "takes routes from its own namespace only"},
		{apiGateway("gw-system", "smp", "Same", "10.1.2.3"), "takes routes from its own namespace only"},
		{apiGateway("gw-system", "smp", "All", ""), "no address in its status"},
	} {
		if _, _, err := gatewayAPIEntry(tc.gw, b, spec.ProtocolHTTP1, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.gw.Object, err, tc.want)
		}
	}
	noTCP := apiGateway("gw-system", "smp", "All", "10.1.2.3")
	_ = unstructured.SetNestedSlice(noTCP.Object, []any{map[string]any{"name": "web", "protocol": "HTTP", "port": int64(80)}}, "spec", "listeners")
	if _, _, err := gatewayAPIEntry(noTCP, b, spec.ProtocolTCP, nil); err == nil || !strings.Contains(err.Error(), "has no TCP listener") {
		t.Errorf("no TCP listener: %v", err)
	}
}

// gatewayPlan is a plan of the builtin app with the arms, loaded through the gateway entry.
func gatewayPlan(t *testing.T, entry spec.Entry, arms ...spec.Arm) *spec.Plan {
	t.Helper()
	return workloadPlan(t, spec.Workload{App: spec.App{Kind: spec.AppBuiltin}, Entry: entry}, arms...)
}

// TestGatewayEntryDeploy: on the test cluster, with entry via the ingress gateway's
// Service, Check passes a strict-mTLS Istio arm whose load is outside the mesh (the
// gateway is in it), and each arm's deployment routes the gateway to its first service
// (an Istio Gateway and VirtualService in the arm's namespace, gone with it), sends the
// load to the gateway's Service and measures the gateway's pods (role gateway). With a
// Gateway API Gateway, an HTTPRoute attaches to it and the load goes to its address.
// Check refuses a Service or Gateway that is not there. No gateway forwards anything here
// (kwok runs no container): what is checked is what smp writes and where it sends.
func TestGatewayEntryDeploy(t *testing.T) {
	e := needCluster(t)
	t.Parallel()
	ctx := context.Background()
	const ns = "ingress-test"
	replicas := int32(2)
	podLabels := map[string]string{"istio": "ingressgateway"}
	for _, o := range []runtime.Object{
		&corev1.Namespace{TypeMeta: typeMeta("v1", "Namespace"), ObjectMeta: metav1.ObjectMeta{Name: ns}},
		ingressService(ns),
		&appsv1.Deployment{TypeMeta: typeMeta("apps/v1", "Deployment"), ObjectMeta: metav1.ObjectMeta{Name: "istio-ingressgateway", Namespace: ns},
			Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: podLabels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: podLabels}, Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"smp.dev/pool": "app"},
					Containers:   []corev1.Container{{Name: "istio-proxy", Image: "docker.io/istio/proxyv2:1.24.2"}}}}}},
	} {
		if _, err := e.c.apply(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.c.waitRollouts(ctx, ns, []string{"istio-ingressgateway"}, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	ri, _, err := e.c.resource(gatewayAPIGateway, ns)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ri.Create(ctx, apiGateway(ns, "smp", "All", "10.1.2.3"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	strict := arm("istio", spec.MeshIstio, "")
	strict.MTLS = spec.MTLSStrict
	plan := gatewayPlan(t, spec.Entry{Via: spec.EntryGateway, Service: ns + "/istio-ingressgateway:80"}, arm("baseline", spec.MeshNone, ""), strict)
	if *plan.Workload.Internal {
		t.Fatal("entry via gateway: the load should default to outside the mesh")
	}
	p := newTestPlatform(t, plan)
	defer p.Close()
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	for _, a := range plan.Arms {
		d, err := p.Deploy(ctx, a)
		if err != nil {
			t.Fatalf("Deploy %s: %v", a.Name, err)
		}
		st := d.Private.(*deployment)
		if want := "http://istio-ingressgateway." + ns + ".svc:80/"; len(d.Target.URLs) != 1 || d.Target.URLs[0] != want {
			t.Errorf("%s: target %v, want %s", a.Name, d.Target.URLs, want)
		}
		var gws []string
		for _, c := range d.Components {
			if c.Role == result.RoleGateway {
				gws = append(gws, c.Namespace+"/"+c.Container)
			}
		}
		if len(gws) != 2 || gws[0] != ns+"/istio-proxy" {
			t.Errorf("%s: gateway components %v, want the two gateway pods' istio-proxy", a.Name, gws)
		}
		for _, gvk := range []schema.GroupVersionKind{istioGatewayGVK, istioVirtualSvc} {
			r, _, err := e.c.resource(gvk, st.appNS)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Get(ctx, entryRouteName, getOpts); err != nil {
				t.Errorf("%s: %s: %v", a.Name, gvk.Kind, err)
			}
		}
		if err := p.Teardown(ctx, d); err != nil {
			t.Errorf("Teardown %s: %v", a.Name, err)
		}
	}
	if left := leftovers(t, e.c, p.RunKey()); len(left) > 0 {
		t.Errorf("left after teardown: %v", left)
	}

	api := gatewayPlan(t, spec.Entry{Via: spec.EntryGateway, Gateway: ns + "/smp"}, arm("baseline", spec.MeshNone, ""))
	pa := newTestPlatform(t, api)
	defer pa.Close()
	if err := pa.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	d, err := pa.Deploy(ctx, api.Arms[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Target.URLs) != 1 || d.Target.URLs[0] != "http://10.1.2.3:80/" {
		t.Errorf("Gateway API: target %v", d.Target.URLs)
	}
	r, _, _ := e.c.resource(gatewayAPIHTTP, d.Private.(*deployment).appNS)
	if _, err := r.Get(ctx, entryRouteName, getOpts); err != nil {
		t.Errorf("HTTPRoute: %v", err)
	}
	if err := pa.Teardown(ctx, d); err != nil {
		t.Error(err)
	}

	for entry, want := range map[spec.Entry]string{
		{Via: spec.EntryGateway, Service: ns + "/nope:80"}:                 "workload.entry.service",
		{Via: spec.EntryGateway, Service: ns + "/istio-ingressgateway:82"}: "has no port 82",
		{Via: spec.EntryGateway, Gateway: ns + "/nope"}:                    "workload.entry.gateway",
	} {
		bad := newTestPlatform(t, gatewayPlan(t, entry, arm("baseline", spec.MeshNone, "")))
		if err := bad.Check(ctx); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: Check %v, want %q", entry, err, want)
		}
		bad.Close()
	}
	builtin := newTestPlatform(t, gatewayPlan(t, spec.Entry{Via: spec.EntryGateway, Service: ns + "/istio-ingressgateway:80"}, arm("builtin", spec.MeshBuiltin, "")))
	defer builtin.Close()
	if err := builtin.Check(ctx); err == nil || !strings.Contains(err.Error(), "has no ingress gateway") {
		t.Errorf("the builtin mesh through a gateway: Check %v", err)
	}
}
