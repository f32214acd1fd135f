// Package collect measures what the components of a trial use (CPU and memory) over the
// trial's measured window, and reports it as result.Resource values tagged with their
// source and the query that produced them.
//
// It owns the Collector interface (Start, Collect per window, Stop; Noter for what a
// Collect finds besides resources), the collectors (procfs, Prometheus, Envoy admin,
// cAdvisor, linkerd-proxy) and Merge, which turns several collectors' figures into one per
// component and cross-checks them. It does not decide what to measure (the platform hands
// over Targets, the mesh profile says what a proxy is called) or when (the experiment
// passes each trial's window), and it never prints. docs/collectors.md is the user's
// view of all of this.
//
// Imports: result, internal/platform (a Target is the platform's Component),
// internal/mesh (profiles as data) and the standard library, plus
// prometheus/client_golang's API client and prometheus/common/expfmt, which no other
// package of smp may import. Never a platform implementation, experiment or any load
// code.
//
// # procfs
//
// ProcFS samples every Interval on a monotonic ticker, starting with a sample in Start.
// Each sample scans the stat file of every process in /proc and, for each target, finds
// its process tree anew (processes come and go: nginx and HAProxy workers, a shell's
// children): the target process, its descendants by parent PID, and every earlier member
// still alive with its descendants (so that a worker whose parent exited, and which was
// reparented out of the tree, stays counted). Targets may nest: smp itself, the load
// generator of the local platform, is the parent of every component it launches; a
// process that is another target is counted there, with what lies below it, and not in
// its ancestor's tree. Processes are identified by PID and start time, so a reused PID is
// never mistaken for a member.
//
// CPU is utime+stime+cutime+cstime from /proc/<pid>/stat, in clock ticks (CLK_TCK,
// read from the auxiliary vector; 100 on every Linux architecture but Alpha). Each
// sample adds the tree's CPU time since the previous sample to a running total:
//   - a member present in both samples adds its increase;
//   - a member born since the previous sample adds all it has;
//   - a process that was alive before but joins the tree only now (found late) adds
//     nothing: this sample is its baseline;
//   - a member that was waited for by a member parent has its whole lifetime moved into
//     the parent's cutime/cstime, so what was already counted of it is taken off again;
//     short-lived children (a shell running commands, workers that are recycled) are
//     thus counted in full, not just the ones alive at sampling instants.
//
// The CPU a member used after its last sample is lost when it is reaped by a process
// outside the tree (orphans reaped by init) or by a parent that ignores SIGCHLD (the
// kernel then does not add its times anywhere), and so is the last interval of a target
// whose own process ends. Per-process accounting also misses work the kernel does on a
// process's behalf in softirq context (packet processing charged to whoever was
// running); cgroup or node CPU is the remedy where that matters.
//
// The scan opens one small file per process on the machine each interval (three system
// calls each): about 1.5 ms of CPU for a hundred processes on a slow VM, so a few tenths
// of a percent of a core at the default 1 s, charged to smp's own process. It buys
// discovery that needs no kernel option (task/*/children needs CONFIG_PROC_CHILDREN) and
// knowing which processes are new since the last sample.
//
// Memory is VmRSS from /proc/<pid>/status (MemoryMetric "rss") and Pss from
// /proc/<pid>/smaps_rollup (OtherMemory "pss"), summed over the tree. RSS counts shared
// pages once per process, so a master and its forked workers add up to more than they
// use; PSS splits each shared page between its sharers and is the better per-component
// figure, but needs ptrace access and Linux 4.14, so it is omitted (with the reason in
// Query) whenever any sample in the window could not read it.
//
// Collect(window) uses only the samples taken inside the window, both ends included:
// CPU mean = CPU time between the first and the last of them over the time between them
// (exact, not a mean of noisy per-interval rates); CPU max = the highest rate of one
// interval between two of them; memory mean and max over all of them. A target whose
// process ended in or before the window, a window with one sample (no CPU) or none, and a
// window partly older than the retention are reported in Resource.Error, with whatever
// could be measured; Collect never fails for one component.
//
// Memory is bounded: each target keeps a ring of Retention/Interval + 2 samples (64 bytes
// each; 225 KiB per target for the default hour at 1 s), so a collector left running
// does not grow, and Retention must cover the longest window Collect will be asked about.
//
// # Prometheus
//
// The Prometheus collector sends instant queries evaluated at the window's end with
// ranges exactly as long as the window ([$window], the window cut to whole milliseconds):
// rate() over it is the CPU time used inside the window over its length (exact for a
// counter read at the window's edges, extrapolated by at most one scrape interval at each
// end otherwise), avg_over_time and max_over_time of the working set the mean and peak
// memory. The CPU peak is a subquery, max_over_time(rate(…[$rate_window])[$peak_range:$step]),
// whose steps Prometheus aligns to multiples of $step and whose range starts $rate_window
// after the window's start, so that no rate reaches back into the warm-up. Before
// querying, Collect waits until the window is over and Prometheus holds a sample after
// its end for every series that has samples in it (polling, at most two scrape intervals
// plus a second past the end). Range queries were the alternative; one instant query per
// figure is what a reader can paste into Prometheus's console, and it is what
// Resource.Query records, expanded, with the evaluation time.
//
// On Kubernetes the queries read cAdvisor's container series of one scrape job only (the
// plan's job, else detected: kube-prometheus's kubelet /metrics/cadvisor, then the usual
// job names, then the one with most series; more than one job is a warning), never the
// pod aggregate (container=""), the pause container (container="POD") or cgroups without
// an image, grouped by namespace, pod and container: the mesh profile's proxy containers,
// the other containers of the application namespaces, the control plane, the node-level
// data plane (ztunnel, cilium-agent, cilium-envoy), and every node's busy CPU and memory
// from node_exporter. On the local platform they read each target's own
// process_cpu_seconds_total and process_resident_memory_bytes by instance (the host:port
// of its metrics URL), written into a file_sd targets file at Start when TargetsFile is
// set. The data plane's latency histograms of the profile give Notes.ProxyLatency.
// DefaultQueries lists every query; a plan replaces them by name.
//
// A server that does not answer, and a query it rejects, become errors of the resources
// concerned (and a warning); Collect itself fails only on misuse.
//
// # Endpoint collectors
//
// linkerd-proxy (:4191/metrics), Envoy admin (/memory, /stats?format=json,
// /stats/prometheus, /server_info, /clusters) and cAdvisor (REST API v2.0 or its
// Prometheus form) read their endpoints every Interval into a bounded ring of points per
// target, like procfs, and summarise the points inside the window the same way: CPU mean
// from the first and last, peak of one interval, memory mean and peak, counters as their
// increase (a reset counted from zero, as PromQL's increase does), gauges as their last
// value, and histograms as their increase, whose percentiles are interpolated as PromQL's
// histogram_quantile does. cAdvisor's own sample timestamps are used, and a sample read
// twice is kept once.
//
// # Cross-check
//
// Merge takes each collector's resources in order of precedence (procfs, prometheus,
// cadvisor, linkerd-proxy, envoy-admin) and keeps one entry per component: the first
// usable figure of a source that measures CPU. The others are kept in its CrossChecks
// with their difference in percent (CPU; memory when the metric is the same); a
// difference above CrossCheckRatio (20%) and above a floor (10 mcores, 1 MiB) is a
// warning. So sums over components never count one twice, and Envoy's missing CPU is
// never read as zero.
package collect
