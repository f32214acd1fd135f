package kube

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"k8s.io/client-go/rest"
)

// CAdvisorSource is how to read every node's cAdvisor (the kubelet's /metrics/cadvisor)
// through the API server's node proxy, with the platform's own credentials: the URL of
// a node's endpoint, and a client that authenticates to the API server. It needs get on
// nodes/proxy; nothing else is reached (the kubelets need not be reachable from here).
func (p *Platform) CAdvisorSource() (nodeURL func(node string) string, client *http.Client, err error) {
	return cadvisorSource(p.c.cfg)
}

func cadvisorSource(cfg *rest.Config) (func(node string) string, *http.Client, error) {
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("an HTTP client for the API server at %s: %w", cfg.Host, err)
	}
	base := strings.TrimSuffix(cfg.Host, "/")
	if !strings.Contains(base, "://") {
		base = "https://" + base
	}
	return func(node string) string {
		return base + "/api/v1/nodes/" + url.PathEscape(node) + "/proxy/metrics/cadvisor"
	}, client, nil
}
