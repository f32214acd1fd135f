package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/service-mesh-performance/smp/internal/certify"
	"github.com/service-mesh-performance/smp/internal/collect"
	"github.com/service-mesh-performance/smp/internal/platform/kube"
	"github.com/service-mesh-performance/smp/result"
)

// clusterInventory is what liveSource reads of a cluster: kube.Inventory, or a fake in
// the unit tests of the throttling arithmetic.
type clusterInventory interface {
	Nodes(ctx context.Context) ([]kube.Node, error)
	Proxies(ctx context.Context) ([]kube.ProxyContainer, error)
	CAdvisorMetrics(ctx context.Context, node string) ([]byte, error)
}

// liveSource is certify.KubeSource over a live cluster. It is the adapter between kube's
// types and certify's (kube imports neither certify nor collect): nodes and proxy
// containers as kube lists them, and each proxy's CFS throttling from its node's kubelet
// cAdvisor, read through the API server's node proxy at the start and the end of the
// observation (the counters' increase over it), or once, since the containers started,
// when observe is 0.
type liveSource struct {
	inv     clusterInventory
	observe time.Duration
	// readTimeout bounds each node's cAdvisor read: a kubelet that does not answer must
	// not hold certify up. Default 20s.
	readTimeout time.Duration
	status      func(format string, a ...any)
	// listed, when set, receives the nodes Nodes listed (the certificate's host.nodes).
	listed *[]kube.Node
}

var _ certify.KubeSource = liveSource{}

// Nodes implements certify.KubeSource.
func (s liveSource) Nodes(ctx context.Context) ([]certify.KubeNode, error) {
	nodes, err := s.inv.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	if s.listed != nil {
		*s.listed = nodes
	}
	out := make([]certify.KubeNode, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, certify.KubeNode{Name: n.Name, InstanceType: n.InstanceType, CPUMillis: n.CPUMillis, MemoryBytes: n.MemoryBytes,
			KernelVersion: n.KernelVersion, OSImage: n.OSImage, ContainerRuntime: n.ContainerRuntime, KubeletVersion: n.KubeletVersion, Arch: n.Arch})
	}
	return out, nil
}

// Proxies implements certify.KubeSource: the proxy containers with their resources and,
// for those with a CPU limit, their throttling (or why it is not known).
func (s liveSource) Proxies(ctx context.Context) ([]certify.ProxyContainer, error) {
	list, err := s.inv.Proxies(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]certify.ProxyContainer, 0, len(list))
	for _, p := range list {
		out = append(out, certify.ProxyContainer{Namespace: p.Namespace, Pod: p.Pod, Container: p.Container, Node: p.Node,
			CPURequestMillis: p.CPURequestMillis, CPULimitMillis: p.CPULimitMillis, MemoryRequest: p.MemoryRequestBytes, MemoryLimit: p.MemoryLimitBytes})
	}
	if err := s.throttling(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// resultNodes are the nodes in the result's terms (a certificate's host.nodes).
func resultNodes(nodes []kube.Node) []result.Node {
	var out []result.Node
	for _, n := range nodes {
		out = append(out, result.Node{Name: n.Name, InstanceType: n.InstanceType, Cores: n.Cores, MemoryBytes: n.MemoryBytes,
			KernelVersion: n.KernelVersion, OSImage: n.OSImage, ContainerRuntime: n.ContainerRuntime, KubeletVersion: n.KubeletVersion,
			Arch: n.Arch, Labels: n.Labels})
	}
	return out
}

// cfsRead is one node's CFS counters, or why they could not be read.
type cfsRead struct {
	cfs map[collect.ContainerKey]collect.CFS
	err error
}

// throttling fills in the CFS counters of the proxies that have a CPU limit (the kubelet
// exports them for no other container), reading only the nodes those run on.
func (s liveSource) throttling(ctx context.Context, ps []certify.ProxyContainer) error {
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
	if s.observe > 0 && readable {
		if s.status != nil {
			s.status("observing the CPU throttling of the proxies on %d node(s) for %s", len(nodes), s.observe)
		}
		t := time.NewTimer(s.observe)
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
func (s liveSource) readAll(ctx context.Context, nodes []string) map[string]cfsRead {
	timeout := s.readTimeout
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
			body, err := s.inv.CAdvisorMetrics(rctx, n)
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
