package kube

import (
	"context"
	"errors"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/service-mesh-performance/smp/internal/mesh"
	"github.com/service-mesh-performance/smp/internal/platform"
)

// Cleanup deletes what smp left on a cluster, found by label: the namespaces and the
// mesh objects (cluster-scoped, or in a mesh's own namespace) labelled
// app.kubernetes.io/managed-by=smp and, when run is not empty, smp.dev/run=<run> (a run
// id or its key). It waits for the namespaces to go, bounded by ctx. Objects of kinds the
// cluster does not serve are skipped.
func Cleanup(ctx context.Context, a Access, run string) (platform.Removed, error) {
	cfg, _, err := a.RESTConfig()
	if err != nil {
		return platform.Removed{}, err
	}
	c, err := newClients(cfg)
	if err != nil {
		return platform.Removed{}, err
	}
	key := ""
	if run != "" {
		key = RunKey(run)
	}
	return cleanup(ctx, c, key)
}

// selector selects what smp created, for one run or all.
func selector(runKey string) string {
	s := LabelManagedBy + "=" + ManagedBy
	if runKey != "" {
		s += "," + LabelRun + "=" + runKey
	}
	return s
}

// meshKinds are the kinds of every mesh profile's strict-mTLS objects: where smp may
// have created objects outside its namespaces.
func meshKinds() []schema.GroupVersionKind {
	seen := map[schema.GroupVersionKind]bool{}
	var out []schema.GroupVersionKind
	for _, p := range mesh.KubernetesProfiles() {
		for _, o := range p.StrictMTLS {
			if o.Patch {
				continue
			}
			gvk := schema.FromAPIVersionAndKind(o.APIVersion, o.Kind)
			if !seen[gvk] {
				seen[gvk] = true
				out = append(out, gvk)
			}
		}
	}
	return out
}

func cleanup(ctx context.Context, c *clients, runKey string) (platform.Removed, error) {
	var rm platform.Removed
	var errs []error
	sel := metav1.ListOptions{LabelSelector: selector(runKey)}
	nss, err := c.core.CoreV1().Namespaces().List(ctx, sel)
	if err != nil {
		return rm, fmt.Errorf("list smp's namespaces: %w", err)
	}
	policy := metav1.DeletePropagationForeground
	for _, ns := range nss.Items {
		if ns.DeletionTimestamp == nil {
			err := c.core.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{PropagationPolicy: &policy})
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete namespace %s: %w", ns.Name, err))
				continue
			}
		}
		rm.Namespaces = append(rm.Namespaces, ns.Name)
	}
	for _, gvk := range meshKinds() {
		ri, m, err := c.resource(gvk, "")
		if err != nil {
			if meta.IsNoMatchError(errors.Unwrap(err)) {
				continue // the mesh is not installed: smp cannot have created any
			}
			errs = append(errs, err)
			continue
		}
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ri = c.dyn.Resource(m.Resource) // all namespaces
		}
		list, err := ri.List(ctx, sel)
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s: %w", gvkString(gvk), err))
			continue
		}
		for _, o := range list.Items {
			r := ref{GVK: gvk, Namespace: o.GetNamespace(), Name: o.GetName()}
			if err := c.del(ctx, r); err != nil {
				errs = append(errs, err)
				continue
			}
			rm.Objects = append(rm.Objects, r.String())
		}
	}
	sort.Strings(rm.Namespaces)
	sort.Strings(rm.Objects)
	if len(rm.Namespaces) > 0 {
		if err := c.waitGone(ctx, rm.Namespaces); err != nil {
			errs = append(errs, err)
		}
	}
	return rm, errors.Join(errs...)
}
