package collect

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/service-mesh-performance/smp/internal/mesh"
)

// The default PromQL of the Prometheus collector, by name. A plan's collector.queries
// replaces any of them by name; the text may use these variables, expanded before the
// query is sent (and the expanded text is what Resource.Query records):
//
//	$window          the window's length, e.g. 30s: every average and maximum is over it
//	$step            the collector's interval (the plan's collector interval)
//	$rate_window     the range of one CPU rate inside a peak: 4 × $step
//	$peak_range      $window − $rate_window: the range of the peak subquery, so that no
//	                 rate reaches back before the window
//	$cadvisor_job    the matchers of the one cAdvisor job used, followed by a comma
//	                 (job="kubelet", metrics_path="/metrics/cadvisor",), or nothing
//	$node_job        the same for node_exporter's job
//	$process_job     job="<plan's job>", on the local platform, or nothing
//	$namespaces      the application namespaces (a regex)
//	$proxy           the mesh's proxy container regex
//	$cp_namespaces, $cp_pods                      the control plane's selectors
//	$node_namespaces, $node_pods, $node_containers the node-level data plane's selectors
//	$instances       the local targets' host:port (a regex)
//	$metric, $matchers, $by                       in latency_*: the histogram's base
//	                 name, its label matchers followed by a comma, and the grouping labels
//	                 followed by a comma
//
// The results must keep the labels the defaults group by: namespace, pod and container
// for container queries, instance for process and node queries.

// Query families. Each container group (proxy, app, control_plane, node_proxy) and the
// process group have five queries: _cpu, _cpu_max, _memory_avg, _memory_max, _samples.
const (
	groupProxy        = "proxy"
	groupApp          = "app"
	groupControlPlane = "control_plane"
	groupNodeProxy    = "node_proxy"
	groupProcess      = "process"
)

// containerSelector is the selector every cAdvisor query adds to a group's: no pod
// aggregate (container=""), no pause container (container="POD"), no cgroup that is not
// a running container (image="") (meshes.md §9).
const containerSelector = `container!="", container!="POD", image!=""`

// groupSelector returns the matchers of a container group.
func groupSelector(group string) string {
	switch group {
	case groupProxy:
		return `namespace=~"$namespaces", container=~"$proxy"`
	case groupApp:
		return `namespace=~"$namespaces", container!~"$proxy"`
	case groupControlPlane:
		return `namespace=~"$cp_namespaces", pod=~"$cp_pods", container!~"$proxy"`
	case groupNodeProxy:
		return `namespace=~"$node_namespaces", pod=~"$node_pods", container=~"$node_containers"`
	}
	return ""
}

// DefaultQueries returns the default query texts by name, unexpanded.
func DefaultQueries() map[string]string {
	q := map[string]string{}
	for _, g := range []string{groupProxy, groupApp, groupControlPlane, groupNodeProxy} {
		sel := "{$cadvisor_job " + groupSelector(g) + ", " + containerSelector + "}"
		by := "namespace, pod, container"
		cpu := "container_cpu_usage_seconds_total" + sel
		mem := "container_memory_working_set_bytes" + sel
		q[g+"_cpu"] = fmt.Sprintf("sum by (%s) (rate(%s[$window]))", by, cpu)
		q[g+"_cpu_max"] = fmt.Sprintf("max_over_time((sum by (%s) (rate(%s[$rate_window])))[$peak_range:$step])", by, cpu)
		// max by, not sum by: one container has one working set; two series of it (a
		// restart inside the window) must not add up.
		q[g+"_memory_avg"] = fmt.Sprintf("max by (%s) (avg_over_time(%s[$window]))", by, mem)
		q[g+"_memory_max"] = fmt.Sprintf("max by (%s) (max_over_time(%s[$window]))", by, mem)
		q[g+"_samples"] = fmt.Sprintf("max by (%s) (count_over_time(%s[$window]))", by, mem)
	}
	// Local processes: the sample app's and the builtin sidecar's own process metrics
	// (client_golang's process collector). max by (instance): a process is one series per
	// scrape job, so two jobs scraping it give equal series, never twice the CPU.
	pcpu := `process_cpu_seconds_total{$process_job instance=~"$instances"}`
	pmem := `process_resident_memory_bytes{$process_job instance=~"$instances"}`
	q["process_cpu"] = "max by (instance) (rate(" + pcpu + "[$window]))"
	q["process_cpu_max"] = "max_over_time((max by (instance) (rate(" + pcpu + "[$rate_window])))[$peak_range:$step])"
	q["process_memory_avg"] = "max by (instance) (avg_over_time(" + pmem + "[$window]))"
	q["process_memory_max"] = "max by (instance) (max_over_time(" + pmem + "[$window]))"
	q["process_samples"] = "max by (instance) (count_over_time(" + pmem + "[$window]))"
	// Nodes (meshes.md §9): busy CPU, and memory in use.
	ncpu := `node_cpu_seconds_total{$node_job mode!="idle"}`
	nmem := `(node_memory_MemTotal_bytes{$node_job} - node_memory_MemAvailable_bytes{$node_job})`
	q["node_cpu"] = "sum by (instance) (rate(" + ncpu + "[$window]))"
	q["node_cpu_max"] = "max_over_time((sum by (instance) (rate(" + ncpu + "[$rate_window])))[$peak_range:$step])"
	q["node_memory_avg"] = "avg_over_time(" + nmem + "[$window:$step])"
	q["node_memory_max"] = "max_over_time(" + nmem + "[$window:$step])"
	q["node_samples"] = "max by (instance) (count_over_time(node_memory_MemAvailable_bytes{$node_job}[$window]))"
	// The data plane's own latency histograms (mesh profile Latency).
	q["latency_p50"] = "histogram_quantile(0.5, sum by ($by le) (rate($metric_bucket{$matchers}[$window])))"
	q["latency_p99"] = "histogram_quantile(0.99, sum by ($by le) (rate($metric_bucket{$matchers}[$window])))"
	q["latency_count"] = "sum by ($by) (increase($metric_count{$matchers}[$window]))"
	// Which scrape jobs carry cAdvisor's and node_exporter's series.
	q["cadvisor_jobs"] = `count by (job, metrics_path) (container_cpu_usage_seconds_total{` + containerSelector + `})`
	q["node_jobs"] = `count by (job) (node_cpu_seconds_total)`
	return q
}

// expand replaces the $variables in text, longest names first (so that $node_job is
// not read as $node followed by _job).
func expand(text string, vars map[string]string) string {
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if len(names[i]) != len(names[j]) {
			return len(names[i]) > len(names[j])
		}
		return names[i] < names[j]
	})
	pairs := make([]string, 0, 2*len(names))
	for _, k := range names {
		pairs = append(pairs, "$"+k, vars[k])
	}
	return strings.NewReplacer(pairs...).Replace(text)
}

// promRegex quotes a literal for a PromQL regex inside a double-quoted string: RE2
// metacharacters get a backslash, and each backslash is doubled for the string.
func promRegex(values []string) string {
	seen := map[string]bool{}
	var out []string
	for _, v := range values {
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, strings.ReplaceAll(regexp.QuoteMeta(v), `\`, `\\`))
	}
	sort.Strings(out)
	return strings.Join(out, "|")
}

// promString quotes a label value for a PromQL double-quoted string.
func promString(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v) + `"`
}

// profileVars are the variables a mesh profile fixes.
func profileVars(p mesh.Profile) map[string]string {
	q := p.PromQL
	return map[string]string{
		"proxy":           q.ProxyContainer,
		"cp_namespaces":   q.ControlPlaneNamespace,
		"cp_pods":         q.ControlPlanePod,
		"node_namespaces": q.NodeNamespace,
		"node_pods":       q.NodePod,
		"node_containers": q.NodeContainer,
	}
}
