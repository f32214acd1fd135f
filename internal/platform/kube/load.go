package kube

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/result"
)

// openLoad opens the port-forwards to the load pods of a deployed arm that its Load
// (LoadPod.Kind) needs, through the API server (pods/portforward, so nothing but the
// kubeconfig is needed), and returns that Load; st.stopLoad closes them (Teardown).
// fortio's server is one pod, reached at the base URL of its REST API
// (http://127.0.0.1:<port>/fortio/); agents are every load pod, one address each in the
// order of the pods' names, and must all be there.
func (p *Platform) openLoad(ctx context.Context, d *platform.Deployment, st *deployment) (platform.Load, error) {
	lp := p.opt.LoadPod
	load := platform.Load{Kind: lp.Kind}
	for _, c := range d.Components {
		if c.Role == result.RoleLoadGenerator {
			load.Where = fmt.Sprintf("pod %s in namespace %s, node %s", c.Pod, c.Namespace, c.Node)
			break
		}
	}
	switch lp.Kind {
	case platform.LoadFortioREST:
		addrs, stop, err := p.forwardLoad(ctx, d, st, 1)
		if err != nil {
			return load, fmt.Errorf("reach the load pod: %w", err)
		}
		st.stopLoad = stop
		load.FortioURL = "http://" + addrs[0] + lp.BasePath
	case platform.LoadAgents:
		addrs, stop, err := p.forwardLoad(ctx, d, st, 0)
		if err != nil {
			return load, fmt.Errorf("reach the load agents: %w", err)
		}
		st.stopLoad = stop
		if want := max(lp.Replicas, 1); len(addrs) != int(want) {
			return load, fmt.Errorf("reach the load agents: %d agent pods are ready, workload.agents is %d", len(addrs), want)
		}
		load.Agents, load.Credentials = addrs, lp.Credentials
	}
	return load, nil
}

// forwardLoad forwards to the first n load pods of d (all when n is 0).
func (p *Platform) forwardLoad(ctx context.Context, d *platform.Deployment, st *deployment, n int) ([]string, func(), error) {
	var pods []string
	for _, c := range d.Components {
		if c.Role == result.RoleLoadGenerator && c.Namespace == st.loadNS && !slices.Contains(pods, c.Pod) {
			pods = append(pods, c.Pod)
		}
	}
	if len(pods) == 0 {
		return nil, nil, fmt.Errorf("arm %s has no load pod", d.Arm.Name)
	}
	slices.Sort(pods)
	if n > 0 && len(pods) > n {
		pods = pods[:n]
	}
	var stops []func()
	stopAll := func() {
		for _, s := range stops {
			s()
		}
	}
	addrs := make([]string, 0, len(pods))
	for _, pod := range pods {
		addr, stop, err := p.Forward(ctx, st.loadNS, pod, int(p.opt.LoadPod.Port))
		if err != nil {
			stopAll()
			return nil, nil, err
		}
		stops = append(stops, stop)
		addrs = append(addrs, addr)
	}
	return addrs, stopAll, nil
}

// Forward forwards a local port on 127.0.0.1 to port of a pod, through the API server,
// and returns the local address once it listens. The forward ends when ctx does or stop
// is called; stop waits for it to end.
func (p *Platform) Forward(ctx context.Context, namespace, pod string, port int) (addr string, stop func(), err error) {
	if _, err := p.c.core.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{}); err != nil {
		return "", nil, fmt.Errorf("port-forward to %s/%s: %w", namespace, pod, err)
	}
	rt, upgrader, err := spdy.RoundTripperFor(p.c.cfg)
	if err != nil {
		return "", nil, fmt.Errorf("port-forward to %s/%s: %w", namespace, pod, err)
	}
	u, err := url.Parse(p.c.cfg.Host)
	if err != nil {
		return "", nil, fmt.Errorf("port-forward: API server URL %q: %w", p.c.cfg.Host, err)
	}
	u.Path, err = url.JoinPath(u.Path, "api/v1/namespaces", namespace, "pods", pod, "portforward")
	if err != nil {
		return "", nil, err
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	fctx, cancel := context.WithCancel(ctx)
	ready := make(chan struct{})
	fw, err := portforward.NewOnAddressesWithContext(fctx, dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(port)}, ready, io.Discard, io.Discard)
	if err != nil {
		cancel()
		return "", nil, fmt.Errorf("port-forward to %s/%s: %w", namespace, pod, err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		return "", nil, fmt.Errorf("port-forward to %s/%s:%d: %w", namespace, pod, port, err)
	case <-ctx.Done():
		cancel()
		<-done
		return "", nil, ctx.Err()
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		cancel()
		<-done
		return "", nil, fmt.Errorf("port-forward to %s/%s:%d: no local port: %v", namespace, pod, port, err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	return "127.0.0.1:" + strconv.Itoa(int(ports[0].Local)), stop, nil
}
