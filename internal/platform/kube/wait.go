package kube

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// pollInterval is how often rollouts and deletions are checked: well below the seconds a
// rollout takes, well above what would load the API server.
const pollInterval = 500 * time.Millisecond

// poll calls done until it reports true, returns a permanent error, or ctx ends; the
// error then says what was being waited for and, through last, what was seen last.
// Transient errors (the API server unreachable for a moment, throttled, timing out, or
// client-go's rate limiter refusing a call that would outlast ctx) are retried: a blip
// must not end a five-minute wait, and a wait that runs out of time must say what it was
// waiting for, not which call happened to be the last.
func poll(ctx context.Context, what string, done func(context.Context) (bool, error), last func() string) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	var lastErr error
	for {
		ok, err := done(ctx)
		if err != nil && ctx.Err() == nil && permanent(err) {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		if err == nil && ok {
			return nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			msg := ""
			if last != nil {
				if s := last(); s != "" {
					msg = ": " + s
				}
			}
			if lastErr != nil && !errors.Is(lastErr, ctx.Err()) {
				msg += " (last error: " + lastErr.Error() + ")"
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("timed out waiting for %s%s", what, msg)
			}
			return fmt.Errorf("wait for %s: %w%s", what, ctx.Err(), msg)
		case <-t.C:
		}
	}
}

// permanent reports whether an API error will not go away by asking again: the object
// or its kind is not there, smp may not read it, or the request is wrong.
func permanent(err error) bool {
	return apierrors.IsNotFound(err) || apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) ||
		apierrors.IsBadRequest(err) || apierrors.IsInvalid(err) || apierrors.IsMethodNotSupported(err) ||
		apierrors.IsGone(err)
}

// rolledOut reports whether a Deployment has all its replicas updated and available.
func rolledOut(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.AvailableReplicas == want &&
		s.ReadyReplicas == want && s.Replicas == want
}

// waitRollouts waits until every Deployment of a namespace has rolled out. On timeout
// the error lists the pods that are not ready and why (unschedulable, image pull, …).
func (c *clients) waitRollouts(ctx context.Context, ns string, names []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pending := map[string]bool{}
	for _, n := range names {
		pending[n] = true
	}
	done := func(ctx context.Context) (bool, error) {
		for n := range pending {
			d, err := c.core.AppsV1().Deployments(ns).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if rolledOut(d) {
				delete(pending, n)
			}
		}
		return len(pending) == 0, nil
	}
	last := func() string {
		var left []string
		for n := range pending {
			left = append(left, n)
		}
		sort.Strings(left)
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return "not ready: " + strings.Join(left, ", ") + c.podTrouble(dctx, ns)
	}
	return poll(ctx, "the rollout of "+strings.Join(names, ", ")+" in namespace "+ns, done, last)
}

// waitEndpoints waits until every Service of a namespace that selects pods lists each
// of its ready pods as a ready endpoint (its EndpointSlices). A Deployment is available
// as soon as its pods are ready, but the EndpointSlice controller adds them to the
// Service a moment later, and only then can kube-proxy route to them: load sent before
// that meets a Service without endpoints (refused connections, or SYNs dropped and
// retried a second later), which a measurement would charge to the arm.
func (c *clients) waitEndpoints(ctx context.Context, ns string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var missing []string
	done := func(ctx context.Context) (bool, error) {
		svcs, err := c.core.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		missing = missing[:0]
		for _, svc := range svcs.Items {
			if len(svc.Spec.Selector) == 0 {
				continue
			}
			left, err := c.endpointsMissing(ctx, ns, svc.Name, svc.Spec.Selector)
			if err != nil {
				return false, err
			}
			missing = append(missing, left...)
		}
		return len(missing) == 0, nil
	}
	last := func() string { return "not yet endpoints: " + strings.Join(missing, ", ") }
	return poll(ctx, "the Services of namespace "+ns+" to list their ready pods", done, last)
}

// endpointsMissing lists the ready pods selected by Service svc that its EndpointSlices
// do not (yet) list as ready endpoints, as "service/pod".
func (c *clients) endpointsMissing(ctx context.Context, ns, svc string, selector map[string]string) ([]string, error) {
	pods, err := c.core.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(selector).String()})
	if err != nil {
		return nil, err
	}
	slices, err := c.core.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
	if err != nil {
		return nil, err
	}
	ready := map[string]bool{}
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				ready[a] = true
			}
		}
	}
	var out []string
	for _, p := range pods.Items {
		if podReady(&p) && p.Status.PodIP != "" && !ready[p.Status.PodIP] {
			out = append(out, svc+"/"+p.Name)
		}
	}
	return out, nil
}

// podTrouble describes the pods of a namespace that are not ready.
func (c *clients) podTrouble(ctx context.Context, ns string) string {
	pods, err := c.core.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return ""
	}
	var out []string
	for _, p := range pods.Items {
		if podReady(&p) {
			continue
		}
		why := string(p.Status.Phase)
		for _, cond := range p.Status.Conditions {
			if cond.Status != corev1.ConditionTrue && cond.Message != "" {
				why += ", " + cond.Message
			}
		}
		for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			if w := cs.State.Waiting; w != nil && w.Reason != "" {
				why += ", " + cs.Name + ": " + w.Reason
				if w.Message != "" {
					why += " (" + w.Message + ")"
				}
			}
		}
		out = append(out, p.Name+" ("+why+")")
	}
	if len(out) == 0 {
		return ""
	}
	return "; pods: " + strings.Join(out, "; ")
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitGone waits until none of the namespaces exists any more.
func (c *clients) waitGone(ctx context.Context, namespaces []string) error {
	left := append([]string(nil), namespaces...)
	done := func(ctx context.Context) (bool, error) {
		var still []string
		for _, ns := range left {
			_, err := c.core.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				return false, err
			default:
				still = append(still, ns)
			}
		}
		left = still
		return len(left) == 0, nil
	}
	last := func() string {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		var out []string
		for _, ns := range left {
			out = append(out, ns+c.namespaceTrouble(dctx, ns))
		}
		return "still there: " + strings.Join(out, "; ")
	}
	return poll(ctx, "namespace(s) "+strings.Join(namespaces, ", ")+" to be deleted", done, last)
}

// namespaceTrouble is why a terminating namespace is still there, as the namespace
// controller reports it in its conditions (content it cannot delete, finalizers left).
func (c *clients) namespaceTrouble(ctx context.Context, name string) string {
	ns, err := c.core.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	var why []string
	for _, cond := range ns.Status.Conditions {
		if cond.Status == corev1.ConditionTrue && cond.Message != "" {
			why = append(why, cond.Message)
		}
	}
	if len(why) == 0 {
		return ""
	}
	return " (" + strings.Join(why, "; ") + ")"
}
