package certify

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/service-mesh-performance/smp/internal/collect"
	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/result"
)

// ClusterSource is a KubeSource over a live cluster (a platform.Inventory): its nodes,
// its proxy containers, and each proxy's CFS throttling from its node's kubelet cAdvisor,
// read through the API server's node proxy at the start and the end of the observation
// (the counters' increase over it), or once, since the containers started, when Observe
// is 0. The nodes are read concurrently, a few at a time, each within ReadTimeout.
type ClusterSource struct {
	Inventory platform.Inventory
	// Observe is how long the throttling is observed (0: since the containers started).
	Observe time.Duration
	// ReadTimeout bounds each node's cAdvisor read: a kubelet that does not answer must
	// not hold certify up. Default 20s.
	ReadTimeout time.Duration
	// Status, when set, is told what is observed and for how long.
	Status func(format string, a ...any)
	// Listed holds the nodes the last Nodes call listed (the certificate's host.nodes).
	Listed []result.Node
}

var _ KubeSource = (*ClusterSource)(nil)

// Nodes implements KubeSource.
func (s *ClusterSource) Nodes(ctx context.Context) ([]result.Node, error) {
	nodes, err := s.Inventory.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	s.Listed = nodes
	return nodes, nil
}

// Proxies implements KubeSource: the proxy containers with their resources and, for
// those with a CPU limit, their throttling (or why it is not known).
func (s *ClusterSource) Proxies(ctx context.Context) ([]ProxyContainer, error) {
	list, err := s.Inventory.Proxies(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ProxyContainer, 0, len(list))
	for _, p := range list {
		out = append(out, ProxyContainer{ProxyContainer: p})
	}
	if err := s.throttling(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// cfsRead is one node's CFS counters, or why they could not be read.
type cfsRead struct {
	cfs map[collect.ContainerKey]collect.CFS
	err error
}

// throttling fills in the CFS counters of the proxies that have a CPU limit (the kubelet
// exports them for no other container), reading only the nodes those run on.
func (s *ClusterSource) throttling(ctx context.Context, ps []ProxyContainer) error {
	nodeSet := map[string]bool{}
	for i := range ps {
		p := &ps[i]
		switch {
		case p.CPULimitMillis == 0:
			p.NoThrottling = "no CPU limit, nothing to throttle"
		case p.Node == "":
			p.NoThrottling = "pod not scheduled"
		default:
			nodeSet[p.Node] = true
		}
	}
	if len(nodeSet) == 0 {
		return nil
	}
	nodes := make([]string, 0, len(nodeSet))
	for n := range nodeSet {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	before := s.readAll(ctx, nodes)
	readable := false
	for _, r := range before {
		readable = readable || r.err == nil
	}
	var after map[string]cfsRead
	if s.Observe > 0 && readable {
		if s.Status != nil {
			s.Status("observing the CPU throttling of the proxies on %d node(s) for %s", len(nodes), s.Observe)
		}
		t := time.NewTimer(s.Observe)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("observe the proxies' CPU throttling: %w", ctx.Err())
		case <-t.C:
		}
		after = s.readAll(ctx, nodes)
	}
	failed := nodeFailures(nodes, before, after)
	for i := range ps {
		p := &ps[i]
		if p.NoThrottling != "" {
			continue
		}
		if why, ok := failed[p.Node]; ok {
			p.NoThrottling = why
			continue
		}
		key := collect.ContainerKey{Namespace: p.Namespace, Pod: p.Pod, Container: p.Container}
		b := before[p.Node]
		c0, ok := b.cfs[key]
		if !ok {
			p.NoThrottling = "no CFS counters for " + p.Pod + "/" + p.Container + " in node " + p.Node + "'s cAdvisor"
			continue
		}
		got := c0
		if after != nil {
			c1, ok := after[p.Node].cfs[key]
			switch {
			case !ok:
				p.NoThrottling = p.Pod + "/" + p.Container + " went away during the observation"
				continue
			case c1.Periods < c0.Periods || c1.ThrottledPeriods < c0.ThrottledPeriods:
				p.NoThrottling = p.Pod + "/" + p.Container + " restarted during the observation"
				continue
			}
			got = collect.CFS{Periods: c1.Periods - c0.Periods, ThrottledPeriods: c1.ThrottledPeriods - c0.ThrottledPeriods}
		}
		if got.Periods <= 0 {
			// CFS counts a period only when the container wanted the CPU in it.
			p.NoThrottling = "idle during the observation (no CFS period): observe while load runs"
			continue
		}
		p.Periods, p.ThrottledPeriods, p.HasThrottling = got.Periods, got.ThrottledPeriods, true
	}
	return nil
}

// nodeFailures says, for each node whose cAdvisor could not be read (at either read),
// why, in words shared by every node that failed alike: a cluster that forbids
// nodes/proxy, or whose nodes are all virtual, gives one reason, not one per node.
func nodeFailures(nodes []string, before, after map[string]cfsRead) map[string]string {
	byCause := map[string][]string{}
	var causes []string
	for _, n := range nodes {
		err := before[n].err
		if err == nil && after != nil {
			err = after[n].err
		}
		if err == nil {
			continue
		}
		// kube's error is "read /api/v1/nodes/NAME/proxy/metrics/cadvisor: CAUSE".
		cause := err
		if inner := errors.Unwrap(err); inner != nil {
			cause = inner
		}
		c := cause.Error()
		if byCause[c] == nil {
			causes = append(causes, c)
		}
		byCause[c] = append(byCause[c], n)
	}
	out := map[string]string{}
	for _, c := range causes {
		ns := byCause[c]
		names := strings.Join(ns, ", ")
		if len(ns) > 5 {
			names = fmt.Sprintf("%s and %d more", strings.Join(ns[:5], ", "), len(ns)-5)
		}
		why := fmt.Sprintf("the API server's node proxy (/api/v1/nodes/NODE/proxy/metrics/cadvisor) failed on %s: %s", names, c)
		for _, n := range ns {
			out[n] = why
		}
	}
	return out
}

// readAll reads the nodes' cAdvisor metrics at once, a few nodes at a time.
func (s *ClusterSource) readAll(ctx context.Context, nodes []string) map[string]cfsRead {
	timeout := s.ReadTimeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	out := make(map[string]cfsRead, len(nodes))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			rctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			var r cfsRead
			body, err := s.Inventory.CAdvisorMetrics(rctx, n)
			if err == nil {
				r.cfs, err = collect.CFSCounters(body)
			}
			r.err = err
			mu.Lock()
			out[n] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}
