package kube

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/service-mesh-performance/smp/internal/platform"
)

// LoadEndpoint opens a port-forward to the load generator's pod of a deployed arm and
// returns the base URL of its API on this machine (http://127.0.0.1:<port>/fortio/ for
// the default load pod), and a function that closes the forward. The forward goes through
// the API server (pods/portforward), so it needs nothing but the kubeconfig; it ends when
// ctx does or stop is called.
func (p *Platform) LoadEndpoint(ctx context.Context, d *platform.Deployment) (base string, stop func(), err error) {
	st, ok := d.Private.(*deployment)
	if !ok || st == nil {
		return "", nil, fmt.Errorf("arm %s was not deployed by the kubernetes platform", d.Arm.Name)
	}
	pod := ""
	for _, c := range d.Components {
		if c.Role == platform.RoleLoadGenerator && c.Namespace == st.loadNS {
			pod = c.Pod
			break
		}
	}
	if pod == "" {
		return "", nil, fmt.Errorf("arm %s has no load pod", d.Arm.Name)
	}
	addr, stop, err := p.Forward(ctx, st.loadNS, pod, int(p.opt.LoadPod.Port))
	if err != nil {
		return "", nil, err
	}
	return "http://" + addr + p.opt.LoadPod.BasePath, stop, nil
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
