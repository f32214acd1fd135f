package kube

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// entry via gateway on Kubernetes: the plan names the gateway, smp routes it to each arm's
// first service and sends the load to the gateway.
//
//   - entry.service (namespace/name:port): the mesh's ingress gateway Service, Istio's
//     istio-ingressgateway: an Istio Gateway selecting the Service's pods (on the port
//     they listen on, the Service port's targetPort) and a VirtualService from it to the
//     first service, both in the arm's application namespace; the load goes to the
//     Service. The gateway's pods are components with the role gateway.
//   - entry.gateway (namespace/name): a Gateway API Gateway: an HTTPRoute (TCPRoute for
//     protocol tcp) in the application namespace attached to it; the load goes to the
//     Gateway's first address, on its first listener of the protocol. Which pods
//     implement it is the implementation's business: they are not measured.
//
// Both take every host on their listener for the length of a trial (the routes name no
// host): the gateway, or its listener, must be the benchmark's own. The routes live in the
// application namespace and go with it at teardown. Nothing here could be tried against a
// vendor's gateway on the test cluster: the tests check the objects smp creates and the
// URL it sends to (docs/kubernetes.md).

// Group, version and kinds of the routing objects.
var (
	istioGatewayGVK   = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "Gateway"}
	istioVirtualSvc   = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1", Kind: "VirtualService"}
	gatewayAPIGateway = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "Gateway"}
	gatewayAPIHTTP    = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}
	gatewayAPITCP     = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1alpha2", Kind: "TCPRoute"}
)

// entryRouteName names smp's routing objects in the application namespace.
const entryRouteName = "smp-entry"

// backend is where a gateway forwards: the first service of the arm's application.
type backend struct {
	namespace, service string
	port               int32
}

// backendOf reads the first service of an app from its entry URL (http://svc-1.ns.svc:8080/).
func backendOf(entry string) (backend, string, error) {
	scheme, rest, ok := strings.Cut(entry, "://")
	if !ok {
		return backend{}, "", fmt.Errorf("entry %q is not a URL", entry)
	}
	hostPort, path, slash := strings.Cut(rest, "/")
	host, port, ok := strings.Cut(hostPort, ":")
	if !ok {
		return backend{}, "", fmt.Errorf("entry %q has no port", entry)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return backend{}, "", fmt.Errorf("entry %q: %w", entry, err)
	}
	parts := strings.Split(host, ".")
	if len(parts) < 2 {
		return backend{}, "", fmt.Errorf("entry %q is not a cluster service name", entry)
	}
	format := scheme + "://%s"
	if slash {
		format += "/" + strings.ReplaceAll(path, "%", "%%")
	}
	return backend{namespace: parts[1], service: parts[0], port: int32(n)}, format, nil
}

// parseGatewayService reads namespace/name:port.
func parseGatewayService(s string) (ns, name string, port int32, err error) {
	nsName, p, ok := strings.Cut(s, ":")
	ns, name, ok2 := strings.Cut(nsName, "/")
	n, perr := strconv.Atoi(p)
	if !ok || !ok2 || perr != nil {
		return "", "", 0, fmt.Errorf("entry.service %q is not namespace/name:port", s)
	}
	return ns, name, int32(n), nil
}

// istioEntry is the Istio Gateway and VirtualService that route svc's gateway pods to b,
// and the host:port the load is sent to.
func istioEntry(svc *corev1.Service, port int32, b backend, protocol spec.Protocol, labels map[string]string) ([]*unstructured.Unstructured, string, error) {
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Port == port {
			sp = &svc.Spec.Ports[i]
		}
	}
	switch {
	case sp == nil:
		return nil, "", fmt.Errorf("Service %s/%s has no port %d", svc.Namespace, svc.Name, port)
	case len(svc.Spec.Selector) == 0:
		return nil, "", fmt.Errorf("Service %s/%s selects no pods: an Istio Gateway needs the gateway's pod labels", svc.Namespace, svc.Name)
	}
	// The Gateway's server listens where the gateway's pods do: the Service's targetPort.
	listen := sp.TargetPort.IntValue()
	if listen == 0 {
		if sp.TargetPort.StrVal != "" {
			return nil, "", fmt.Errorf("Service %s/%s port %d targets the named port %q; give a Service port whose targetPort is a number",
				svc.Namespace, svc.Name, port, sp.TargetPort.StrVal)
		}
		listen = int(port)
	}
	istioProto := map[spec.Protocol]string{spec.ProtocolTCP: "TCP", spec.ProtocolGRPC: "GRPC", spec.ProtocolH2C: "HTTP2"}[protocol]
	if istioProto == "" {
		istioProto = "HTTP"
	}
	selector := map[string]any{}
	for k, v := range svc.Spec.Selector {
		selector[k] = v
	}
	gw := newObject(istioGatewayGVK, b.namespace, entryRouteName, labels, map[string]any{
		"selector": selector,
		"servers": []any{map[string]any{
			"port":  map[string]any{"number": int64(listen), "name": "smp-entry", "protocol": istioProto},
			"hosts": []any{"*"},
		}},
	})
	route := []any{map[string]any{"route": []any{map[string]any{"destination": map[string]any{
		"host": b.service + "." + b.namespace + ".svc.cluster.local", "port": map[string]any{"number": int64(b.port)}}}}}}
	vsSpec := map[string]any{"hosts": []any{"*"}, "gateways": []any{entryRouteName}}
	if protocol == spec.ProtocolTCP {
		vsSpec["tcp"] = route
	} else {
		vsSpec["http"] = route
	}
	vs := newObject(istioVirtualSvc, b.namespace, entryRouteName, labels, vsSpec)
	return []*unstructured.Unstructured{gw, vs}, fmt.Sprintf("%s.%s.svc:%d", svc.Name, svc.Namespace, port), nil
}

// gatewayAPIEntry is the route that attaches b to the Gateway gw, and the host:port of
// the Gateway's first address on its first listener of the protocol.
func gatewayAPIEntry(gw *unstructured.Unstructured, b backend, protocol spec.Protocol, labels map[string]string) ([]*unstructured.Unstructured, string, error) {
	want := "HTTP"
	kind := gatewayAPIHTTP
	if protocol == spec.ProtocolTCP {
		want, kind = "TCP", gatewayAPITCP
	}
	listeners, _, _ := unstructured.NestedSlice(gw.Object, "spec", "listeners")
	var port int64
	var section string
	var from string
	for _, l := range listeners {
		m, _ := l.(map[string]any)
		if p, _ := m["protocol"].(string); p == want {
			port, _ = m["port"].(int64)
			section, _ = m["name"].(string)
			from, _, _ = unstructured.NestedString(m, "allowedRoutes", "namespaces", "from")
			break
		}
	}
	if port == 0 {
		return nil, "", fmt.Errorf("Gateway %s/%s has no %s listener", gw.GetNamespace(), gw.GetName(), want)
	}
	// The route lives in the arm's namespace; a listener takes routes of its own
	// namespace only unless it says otherwise (Selector: the plan's to get right).
	if (from == "" || from == "Same") && gw.GetNamespace() != b.namespace {
		return nil, "", fmt.Errorf("Gateway %s/%s listener %q takes routes from its own namespace only; set allowedRoutes.namespaces.from: All on it (smp's routes live in each arm's namespace)",
			gw.GetNamespace(), gw.GetName(), section)
	}
	addrs, _, _ := unstructured.NestedSlice(gw.Object, "status", "addresses")
	var addr string
	if len(addrs) > 0 {
		m, _ := addrs[0].(map[string]any)
		addr, _ = m["value"].(string)
	}
	if addr == "" {
		return nil, "", fmt.Errorf("Gateway %s/%s has no address in its status: is its controller running?", gw.GetNamespace(), gw.GetName())
	}
	parent := map[string]any{"group": gatewayAPIGateway.Group, "kind": "Gateway", "namespace": gw.GetNamespace(), "name": gw.GetName()}
	if section != "" {
		parent["sectionName"] = section
	}
	route := newObject(kind, b.namespace, entryRouteName, labels, map[string]any{
		"parentRefs": []any{parent},
		"rules":      []any{map[string]any{"backendRefs": []any{map[string]any{"name": b.service, "port": int64(b.port)}}}},
	})
	if strings.Contains(addr, ":") {
		addr = "[" + addr + "]" // IPv6
	}
	return []*unstructured.Unstructured{route}, fmt.Sprintf("%s:%d", addr, port), nil
}

func newObject(gvk schema.GroupVersionKind, ns, name string, labels map[string]string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetLabels(labels)
	return u
}

// gatewayEntry routes the arm's application (whose entry URL is entry) through the plan's
// gateway and returns the URL to send the load to and, for entry.service, the gateway's
// pods as components of the role gateway.
func (p *Platform) gatewayEntry(ctx context.Context, entry string, labels map[string]string) (string, []platform.Component, error) {
	e := p.plan.Workload.Entry
	b, urlFormat, err := backendOf(entry)
	if err != nil {
		return "", nil, err
	}
	var objs []*unstructured.Unstructured
	var hostPort string
	var comps []platform.Component
	if e.Service != "" {
		ns, name, port, err := parseGatewayService(e.Service)
		if err != nil {
			return "", nil, err
		}
		svc, err := p.c.core.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", nil, fmt.Errorf("the ingress gateway entry.service %s: %w", e.Service, err)
		}
		if objs, hostPort, err = istioEntry(svc, port, b, p.plan.Workload.Protocol, labels); err != nil {
			return "", nil, err
		}
		if comps, err = p.gatewayPods(ctx, svc); err != nil {
			return "", nil, err
		}
	} else {
		ns, name, _ := strings.Cut(e.Gateway, "/")
		ri, _, err := p.c.resource(gatewayAPIGateway, ns)
		if err != nil {
			return "", nil, err
		}
		gw, err := ri.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", nil, fmt.Errorf("the Gateway entry.gateway %s: %w", e.Gateway, err)
		}
		if objs, hostPort, err = gatewayAPIEntry(gw, b, p.plan.Workload.Protocol, labels); err != nil {
			return "", nil, err
		}
	}
	for _, o := range objs {
		if _, err := p.c.apply(ctx, o); err != nil {
			return "", nil, err
		}
	}
	return fmt.Sprintf(urlFormat, hostPort), comps, nil
}

// gatewayPods are the containers of the pods svc selects, as components of the role
// gateway: what the collectors measure of the gateway.
func (p *Platform) gatewayPods(ctx context.Context, svc *corev1.Service) ([]platform.Component, error) {
	sel := metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector})
	pods, err := p.c.core.CoreV1().Pods(svc.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list the gateway's pods: %w", err)
	}
	var out []platform.Component
	for _, pod := range pods.Items {
		for _, c := range pod.Spec.Containers {
			out = append(out, platform.Component{Name: componentName(&pod, c.Name), Role: result.RoleGateway,
				Namespace: pod.Namespace, Pod: pod.Name, Container: c.Name, Node: pod.Spec.NodeName})
		}
	}
	return out, nil
}

// checkGateway: the plan's gateway is there before anything is created (its Service, or
// its Gateway and the Gateway API's CRDs), and so are the routing kinds smp creates.
func (p *Platform) checkGateway(ctx context.Context) spec.Errors {
	e := p.plan.Workload.Entry
	var errs spec.Errors
	missing := func(field string, gvks ...schema.GroupVersionKind) {
		for _, gvk := range gvks {
			if _, _, err := p.c.resource(gvk, ""); err != nil {
				errs = append(errs, p.plan.Errorf(field, "install "+gvk.Group+" "+gvk.Kind+" on the cluster, or entry via direct",
					"smp routes the gateway with %s, but %v%s", gvk.Kind, err, p.contextNote()))
			}
		}
	}
	if e.Service != "" {
		ns, name, port, err := parseGatewayService(e.Service)
		if err != nil {
			return append(errs, p.plan.Errorf("workload.entry.service", "write namespace/name:port", "%v", err))
		}
		svc, err := p.c.core.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			errs = append(errs, p.plan.Errorf("workload.entry.service", "name the ingress gateway's Service, e.g. istio-system/istio-ingressgateway:80",
				"read the Service %s/%s%s: %v", ns, name, p.contextNote(), err))
		} else if _, _, err := istioEntry(svc, port, backend{namespace: "x", service: "x", port: 1}, p.plan.Workload.Protocol, nil); err != nil {
			errs = append(errs, p.plan.Errorf("workload.entry.service", "name a port of the Service whose pods are the gateway", "%v", err))
		}
		missing("workload.entry.service", istioGatewayGVK, istioVirtualSvc)
		return errs
	}
	ns, name, _ := strings.Cut(e.Gateway, "/")
	route := gatewayAPIHTTP
	if p.plan.Workload.Protocol == spec.ProtocolTCP {
		route = gatewayAPITCP
	}
	missing("workload.entry.gateway", gatewayAPIGateway, route)
	if len(errs) > 0 {
		return errs
	}
	ri, _, err := p.c.resource(gatewayAPIGateway, ns)
	if err == nil {
		_, err = ri.Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		errs = append(errs, p.plan.Errorf("workload.entry.gateway", "name a Gateway on the cluster as namespace/name",
			"read the Gateway %s%s: %v", e.Gateway, p.contextNote(), err))
	}
	return errs
}
