package collect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/service-mesh-performance/smp/result"
)

// CAdvisor reads container CPU and memory straight from cAdvisor, without a Prometheus
// server, in one of two forms chosen by the URL:
//
//   - the Prometheus form, when the URL's path ends in /metrics (a standalone cAdvisor)
//     or /metrics/cadvisor (the kubelet's, reached directly or through the API server's
//     node proxy): container_cpu_usage_seconds_total and container_memory_working_set_bytes
//     (with container_memory_usage_bytes and container_memory_rss beside it), matched to
//     targets by namespace, pod and container (kubelet labels, or cAdvisor's
//     container_label_io_kubernetes_* labels) or, for a bare container, by its name. The
//     pod aggregate (container=""), the pause container (container="POD") and series
//     without an image (cgroups that are not running containers) never match; the
//     samples' own timestamps are used when the source gives them.
//   - the same form read from each target's node, when NodeURL is set (on Kubernetes,
//     every kubelet through the API server's node proxy): one read per node per
//     interval.
//   - the REST API v2.0 otherwise: /api/v2.0/spec?type=docker&recursive=true once to map
//     targets to cAdvisor's container names (by alias, or by the io.kubernetes.* labels),
//     then /api/v2.0/stats?type=docker&recursive=true&count=1 each interval: cpu.usage.total
//     (ns), memory.working_set, memory.usage and memory.rss, at cAdvisor's timestamps.
//
// Each interval reads the source once for all targets. Targets it cannot find are
// reported with an Error.
type CAdvisor struct {
	cfg  EndpointConfig
	src  httpSource
	s    *sampler
	rest bool

	mu    sync.Mutex
	names map[string]string // REST: target component → cAdvisor container name
}

var _ Collector = (*CAdvisor)(nil)

// NewCAdvisor returns a cAdvisor collector for cfg.URL; it fails on an invalid
// configuration.
func NewCAdvisor(cfg EndpointConfig) (*CAdvisor, error) {
	cfg = cfg.withDefaults()
	errs := []error{cfg.Validate()}
	u, perr := url.Parse(cfg.URL)
	if cfg.NodeURL == nil && (cfg.URL == "" || perr != nil || u.Host == "") {
		errs = append(errs, fmt.Errorf("the cadvisor collector needs the URL of cAdvisor or of a kubelet's /metrics/cadvisor (got %q)", cfg.URL))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("cadvisor: %w", err)
	}
	c := &CAdvisor{cfg: cfg, src: newHTTPSource(cfg.Client, cfg.BearerTokenFile), names: map[string]string{}}
	p := strings.TrimSuffix(u.Path, "/")
	c.rest = cfg.NodeURL == nil && !strings.HasSuffix(p, "/metrics") && !strings.HasSuffix(p, "/metrics/cadvisor")
	series := ": container_cpu_usage_seconds_total, container_memory_working_set_bytes (container!=\"\", container!=\"POD\", image!=\"\")"
	desc := func(t Target) string { return "GET " + cfg.URL + series + " for " + containerRef(t) }
	switch {
	case cfg.NodeURL != nil:
		desc = func(t Target) string { return "GET " + cfg.NodeURL(t.Node) + series + " for " + containerRef(t) }
	case c.rest:
		desc = func(t Target) string {
			return "GET " + c.restURL("stats") + ": cpu.usage.total, memory.working_set for " + containerRef(t)
		}
	}
	c.s = newSampler(samplerConfig{name: "cadvisor", interval: cfg.Interval, retention: cfg.Retention,
		memoryMetric: "working_set", fetch: c.fetch,
		skip: func(t Target) string {
			if t.Container == "" {
				return "no container name for this component: cAdvisor measures containers"
			}
			if cfg.NodeURL != nil && t.Node == "" {
				return "no node for this component: cAdvisor is read from the node a container runs on"
			}
			return ""
		},
		describe: desc})
	return c, nil
}

func containerRef(t Target) string {
	if t.Pod != "" {
		return fmt.Sprintf("namespace %q pod %q container %q", t.Namespace, t.Pod, t.Container)
	}
	return fmt.Sprintf("container %q", t.Container)
}

func (c *CAdvisor) restURL(what string) string {
	return strings.TrimSuffix(c.cfg.URL, "/") + "/api/v2.0/" + what + "?type=docker&recursive=true"
}

// Name returns "cadvisor".
func (c *CAdvisor) Name() string { return "cadvisor" }

// Start begins reading every interval; targets without a container name are reported
// with an Error.
func (c *CAdvisor) Start(ctx context.Context, targets []Target) error {
	c.mu.Lock()
	c.names = map[string]string{}
	c.mu.Unlock()
	return c.s.start(ctx, targets)
}

// Stop ends reading; it is idempotent.
func (c *CAdvisor) Stop() {
	c.s.stop()
	c.src.client.CloseIdleConnections()
}

// Collect returns one Resource per target over the window.
func (c *CAdvisor) Collect(ctx context.Context, w Window) ([]result.Resource, error) {
	res, _, err := c.s.collect(ctx, w)
	return res, err
}

func (c *CAdvisor) fetch(ctx context.Context, targets []Target) ([]point, []error) {
	points := make([]point, len(targets))
	errs := make([]error, len(targets))
	fail := func(err error) ([]point, []error) {
		for i := range errs {
			errs[i] = err
		}
		return points, errs
	}
	if c.cfg.NodeURL != nil {
		return c.fetchNodes(ctx, targets)
	}
	if !c.rest {
		t0 := time.Now()
		body, err := c.src.get(ctx, c.cfg.URL, textAccept)
		if err != nil {
			return fail(err)
		}
		series, err := parseCAdvisorMetrics(body, midpoint(t0))
		if err != nil {
			return fail(err)
		}
		for i, t := range targets {
			points[i], errs[i] = series.point(t)
		}
		return points, errs
	}
	if err := c.resolve(ctx, targets); err != nil {
		return fail(err)
	}
	body, err := c.src.get(ctx, c.restURL("stats")+"&count=1", "application/json")
	if err != nil {
		return fail(err)
	}
	stats, err := parseCAdvisorStats(body)
	if err != nil {
		return fail(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, t := range targets {
		name, ok := c.names[t.Name]
		p, found := stats[name]
		if !ok || !found {
			errs[i] = fmt.Errorf("cAdvisor has no stats for %s", containerRef(t))
			continue
		}
		points[i] = p
	}
	return points, errs
}

// fetchNodes reads the Prometheus form of every node that runs a target, once each.
func (c *CAdvisor) fetchNodes(ctx context.Context, targets []Target) ([]point, []error) {
	points := make([]point, len(targets))
	errs := make([]error, len(targets))
	byNode := map[string][]int{}
	for i, t := range targets {
		byNode[t.Node] = append(byNode[t.Node], i)
	}
	for node, idx := range byNode {
		t0 := time.Now()
		body, err := c.src.get(ctx, c.cfg.NodeURL(node), textAccept)
		var series cadvisorSeries
		if err == nil {
			series, err = parseCAdvisorMetrics(body, midpoint(t0))
		}
		for _, i := range idx {
			if err != nil {
				errs[i] = err
				continue
			}
			points[i], errs[i] = series.point(targets[i])
		}
	}
	return points, errs
}

// resolve maps targets to cAdvisor container names from /api/v2.0/spec, when some are
// not mapped yet (containers come and go, so it is asked again until all are found).
func (c *CAdvisor) resolve(ctx context.Context, targets []Target) error {
	c.mu.Lock()
	missing := false
	for _, t := range targets {
		if _, ok := c.names[t.Name]; !ok {
			missing = true
		}
	}
	c.mu.Unlock()
	if !missing {
		return nil
	}
	body, err := c.src.get(ctx, c.restURL("spec"), "application/json")
	if err != nil {
		return err
	}
	specs, err := parseCAdvisorSpecs(body)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range targets {
		if name := specs.find(t); name != "" {
			c.names[t.Name] = name
		}
	}
	return nil
}

// cadvisorSeries are the container series of one Prometheus-form read.
type cadvisorSeries struct {
	at   time.Time
	rows []cadvisorRow
}

type cadvisorRow struct {
	labels map[string]string
	metric string
	value  float64
	at     time.Time
}

// cadvisorKeep are the families the Prometheus form keeps, and what each becomes.
func cadvisorKeep() map[string]string {
	return map[string]string{
		"container_cpu_usage_seconds_total":         "cpu",
		"container_memory_working_set_bytes":        "mem",
		"container_memory_usage_bytes":              "usage",
		"container_memory_rss":                      "rss",
		"container_cpu_cfs_throttled_seconds_total": "container_cpu_cfs_throttled_seconds_total",
		"container_cpu_cfs_throttled_periods_total": "container_cpu_cfs_throttled_periods_total",
		"container_cpu_cfs_periods_total":           "container_cpu_cfs_periods_total",
	}
}

// parseCAdvisorMetrics reads cAdvisor's Prometheus form (standalone /metrics or the
// kubelet's /metrics/cadvisor), keeping the container series that can belong to a
// running container: image set, container neither "" (the pod's aggregate) nor "POD"
// (the pause container).
func parseCAdvisorMetrics(body []byte, at time.Time) (cadvisorSeries, error) {
	fams, err := parseExposition(bytes.NewReader(body))
	if err != nil {
		return cadvisorSeries{}, err
	}
	keep := cadvisorKeep()
	if fams["container_cpu_usage_seconds_total"] == nil && fams["container_memory_working_set_bytes"] == nil {
		return cadvisorSeries{}, fmt.Errorf("no container_cpu_usage_seconds_total or container_memory_working_set_bytes: not a cAdvisor metrics endpoint")
	}
	out := cadvisorSeries{at: at}
	for name, f := range fams {
		what, ok := keep[name]
		if !ok {
			continue
		}
		for _, m := range f.GetMetric() {
			l := labelsOf(m)
			if l["image"] == "" || l["container"] == "POD" {
				continue
			}
			if _, kubelet := l["container"]; kubelet && l["container"] == "" {
				continue
			}
			// cAdvisor older than 0.40 splits CPU per core with --enable_metrics=percpu;
			// only the total counts.
			if cpu, ok := l["cpu"]; ok && cpu != "total" {
				continue
			}
			row := cadvisorRow{labels: l, metric: what, value: value(m), at: at}
			if m.TimestampMs != nil {
				row.at = time.UnixMilli(m.GetTimestampMs())
			}
			out.rows = append(out.rows, row)
		}
	}
	return out, nil
}

// matches reports whether a series belongs to the target: by namespace, pod and container
// (the kubelet's labels, or a standalone cAdvisor's container_label_io_kubernetes_*), or
// by container name (name, a Docker container's name, for targets without a pod).
func (r cadvisorRow) matches(t Target) bool {
	l := r.labels
	if t.Pod != "" {
		ns, pod, ctr := l["namespace"], l["pod"], l["container"]
		if pod == "" {
			ns, pod, ctr = l["container_label_io_kubernetes_pod_namespace"], l["container_label_io_kubernetes_pod_name"],
				l["container_label_io_kubernetes_container_name"]
		}
		return pod == t.Pod && ctr == t.Container && (t.Namespace == "" || ns == t.Namespace)
	}
	return l["name"] == t.Container || l["container"] == t.Container && l["pod"] == ""
}

// point sums the target's series of one read (a container restarted in the read has two
// series with different ids; the live one has the newer timestamp, so only the newest
// timestamp per metric is used).
func (s cadvisorSeries) point(t Target) (point, error) {
	p := newPoint(s.at)
	type acc struct {
		at  time.Time
		sum float64
	}
	got := map[string]*acc{}
	for _, r := range s.rows {
		if !r.matches(t) {
			continue
		}
		a := got[r.metric]
		switch {
		case a == nil:
			got[r.metric] = &acc{at: r.at, sum: r.value}
		case r.at.After(a.at):
			*a = acc{at: r.at, sum: r.value}
		case r.at.Equal(a.at):
			a.sum += r.value
		}
	}
	if len(got) == 0 {
		return point{}, fmt.Errorf("no cAdvisor series for %s", containerRef(t))
	}
	p.other, p.counters = map[string]float64{}, map[string]float64{}
	for what, a := range got {
		switch what {
		case "cpu":
			p.cpu, p.at = a.sum, a.at
		case "mem":
			p.mem = a.sum
		case "usage", "rss":
			p.other[what] = a.sum
		default:
			p.counters[what] = a.sum
		}
	}
	return p, nil
}

// cadvisorSpecs maps cAdvisor container names to what identifies them.
type cadvisorSpecs map[string]struct {
	Aliases []string          `json:"aliases"`
	Labels  map[string]string `json:"labels"`
	Image   string            `json:"image"`
}

// parseCAdvisorSpecs reads /api/v2.0/spec: a JSON object from container name to
// ContainerSpec (aliases, labels, image, …).
func parseCAdvisorSpecs(body []byte) (cadvisorSpecs, error) {
	var specs cadvisorSpecs
	if err := json.Unmarshal(body, &specs); err != nil {
		return nil, fmt.Errorf("cAdvisor /api/v2.0/spec: %w", err)
	}
	return specs, nil
}

// find returns the container name of the target: the container whose Kubernetes labels
// name its namespace, pod and container, or (without a pod) one of whose aliases (Docker
// name or id) is the target's container. The pause container never matches.
func (s cadvisorSpecs) find(t Target) string {
	for name, sp := range s {
		l := sp.Labels
		if t.Pod != "" {
			if l["io.kubernetes.pod.name"] == t.Pod && l["io.kubernetes.container.name"] == t.Container &&
				(t.Namespace == "" || l["io.kubernetes.pod.namespace"] == t.Namespace) {
				return name
			}
			continue
		}
		for _, a := range sp.Aliases {
			if a == t.Container {
				return name
			}
		}
	}
	return ""
}

// parseCAdvisorStats reads /api/v2.0/stats: a JSON object from container name to a list of
// ContainerStats (newest last), and keeps the newest of each as a point.
func parseCAdvisorStats(body []byte) (map[string]point, error) {
	var raw map[string][]struct {
		Timestamp time.Time `json:"timestamp"`
		HasCPU    bool      `json:"has_cpu"`
		CPU       struct {
			Usage struct {
				Total float64 `json:"total"`
			} `json:"usage"`
			CFS struct {
				Periods          float64 `json:"periods"`
				ThrottledPeriods float64 `json:"throttled_periods"`
				ThrottledTime    float64 `json:"throttled_time"`
			} `json:"cfs"`
		} `json:"cpu"`
		HasMemory bool `json:"has_memory"`
		Memory    struct {
			Usage      float64 `json:"usage"`
			RSS        float64 `json:"rss"`
			WorkingSet float64 `json:"working_set"`
		} `json:"memory"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("cAdvisor /api/v2.0/stats: %w", err)
	}
	out := map[string]point{}
	for name, list := range raw {
		if len(list) == 0 {
			continue
		}
		s := list[len(list)-1]
		for _, x := range list {
			if x.Timestamp.After(s.Timestamp) {
				s = x
			}
		}
		p := newPoint(s.Timestamp)
		if s.HasCPU {
			p.cpu = s.CPU.Usage.Total / 1e9
			p.counters = map[string]float64{
				"container_cpu_cfs_periods_total":           s.CPU.CFS.Periods,
				"container_cpu_cfs_throttled_periods_total": s.CPU.CFS.ThrottledPeriods,
				"container_cpu_cfs_throttled_seconds_total": s.CPU.CFS.ThrottledTime / 1e9,
			}
		}
		if s.HasMemory {
			p.mem = s.Memory.WorkingSet
			p.other = map[string]float64{"usage": s.Memory.Usage, "rss": s.Memory.RSS}
		}
		if math.IsNaN(p.cpu) && math.IsNaN(p.mem) {
			continue
		}
		out[name] = p
	}
	return out, nil
}

// ContainerKey names a Kubernetes container in cAdvisor's series.
type ContainerKey struct{ Namespace, Pod, Container string }

// CFS are a container's CFS bandwidth counters since it started: the enforcement periods
// in which it ran (container_cpu_cfs_periods_total) and those in which it was throttled
// (container_cpu_cfs_throttled_periods_total).
type CFS struct{ Periods, ThrottledPeriods float64 }

// CFSCounters reads the CFS counters of every pod container from cAdvisor's Prometheus
// form (a kubelet's /metrics/cadvisor). The kubelet exports them only for containers
// with a CPU limit (a CFS quota), so a container without one is absent. A container
// restarted recently can have two series; the newest is used, as Collect does.
func CFSCounters(body []byte) (map[ContainerKey]CFS, error) {
	s, err := parseCAdvisorMetrics(body, time.Now())
	if err != nil {
		return nil, err
	}
	out := map[ContainerKey]CFS{}
	seen := map[ContainerKey]bool{}
	for _, r := range s.rows {
		if r.metric != "container_cpu_cfs_periods_total" {
			continue
		}
		k := ContainerKey{Namespace: r.labels["namespace"], Pod: r.labels["pod"], Container: r.labels["container"]}
		if k.Pod == "" {
			k = ContainerKey{Namespace: r.labels["container_label_io_kubernetes_pod_namespace"],
				Pod:       r.labels["container_label_io_kubernetes_pod_name"],
				Container: r.labels["container_label_io_kubernetes_container_name"]}
		}
		if k.Pod == "" || seen[k] {
			continue
		}
		seen[k] = true
		p, err := s.point(Target{Namespace: k.Namespace, Pod: k.Pod, Container: k.Container})
		if err != nil {
			continue
		}
		out[k] = CFS{Periods: p.counters["container_cpu_cfs_periods_total"], ThrottledPeriods: p.counters["container_cpu_cfs_throttled_periods_total"]}
	}
	return out, nil
}
