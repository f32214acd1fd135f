package kube

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Access says how to reach a cluster. Zero values follow client-go's conventions.
type Access struct {
	// Kubeconfig is an explicit kubeconfig file (the --kubeconfig flag, else the plan's
	// environment.kubeconfig). Empty: $KUBECONFIG (a list of files, merged), else
	// ~/.kube/config, else the in-cluster service account.
	Kubeconfig string
	// Context is the kubeconfig context to use. Empty: the current context.
	Context string
}

// RESTConfig loads the client configuration a describes, and the context's name ("" in
// cluster). The error says which file and context were tried.
func (a Access) RESTConfig() (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if a.Kubeconfig != "" {
		rules.ExplicitPath = a.Kubeconfig
	}
	over := &clientcmd.ConfigOverrides{CurrentContext: a.Context}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, over)
	cfg, err := cc.ClientConfig()
	if err != nil {
		where := a.Kubeconfig
		if where == "" {
			where = "$KUBECONFIG, ~/.kube/config or the in-cluster service account"
		}
		if a.Context != "" {
			where += " (context " + a.Context + ")"
		}
		return nil, "", fmt.Errorf("load the Kubernetes client configuration from %s: %w", where, err)
	}
	name := a.Context
	if name == "" {
		if raw, err := cc.RawConfig(); err == nil {
			name = raw.CurrentContext
		}
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "smp"
	// A benchmark creates a few dozen objects and then polls; client-go's default of 5
	// QPS would make every rollout wait longer than the cluster does.
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	return cfg, name, nil
}
