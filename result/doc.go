// Package result is the public result document of smp: what a run (smp run, smp load)
// measured, written as one JSON file that reports, comparisons and exports read back,
// on any machine. A Document holds the plan as run, the environment (machine, cluster,
// certificate), the tools that took part, and every trial with its counts, errors by
// class and status, full HDR latency histograms (encoded, so that runs and agents merge
// exactly), canonical buckets derived from them, time series, and CPU and memory per
// component; then the analysis. Field names carry their units (_ms, _mcores, _bytes).
//
// It owns: the document's types and format version (APIVersion; Read and Load accept
// that version only), reading and writing documents and run ids, pooling an arm's
// distributions and totals across repetitions (Pool, Totals), certificates of
// `smp certify`, and the exports: SMP's PerformanceTestResult and ServiceMeshConfig
// (ExportSMP, latencies in milliseconds) and fortio's result JSON (ExportFortio).
//
// It is also smp's ground-floor vocabulary: the components' roles (Role), the nodes
// of a cluster (Node) and the counts of requests (Counts, with the one Add that every
// merge uses) are these types from the engine and the platforms up to the reports.
//
// Imports: spec (a document embeds its plan) and internal/hist, to decode and pool the
// histograms it stores as bytes; its exported API names no internal type.
package result
