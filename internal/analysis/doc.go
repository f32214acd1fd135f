// Package analysis turns a result document into its verdict: what each arm costs compared
// with the baseline (overhead deltas with bootstrap confidence intervals) and whether the
// SLOs hold. It is pure: a document and options in, a result.Analysis out, no I/O, no
// printing, the same answer for the same seed.
//
// It owns the statistics (pooling, deltas, intervals, SLO evaluation and its messages,
// MeshMark, comparisons across runs).
// It does not own the document format (package result), the condition syntax (package
// spec) or any rendering (package report). Imports: result, spec, internal/hist and the
// standard library; never anything that runs load or touches a platform.
//
// # Deltas
//
// For every arm but the baseline, Analyze reports, each beside the baseline's figure:
//
//   - latency.p50, p90, p95, p99, p99.9 (ms): percentiles of the arm's latency histograms
//     pooled across repetitions (result.Pool: exact, as if one generator had recorded
//     every request), not means of per-run percentiles;
//   - throughput (rps): requests over measured time, summed across repetitions;
//   - error_rate (ratio): (failed + overflow) / (requests + overflow) over all repetitions;
//   - cpu.proxy (mcores) and memory.proxy (bytes): mean per proxy (sum over the proxies of
//     a trial / their number), averaged over the repetitions that measured proxies; an arm
//     without a mesh has no proxies and counts 0;
//   - cpu.app (mcores): the same per application component;
//   - cpu.proxy.per_krps ("mcores"): CPU of all proxies together, per 1000 requests per
//     second of achieved load (mean total proxy mcores / achieved krps). It is what the
//     mesh costs for each 1000 rps the client sends, whatever the number of hops; divide
//     by 1000 for vCPU per 1000 rps, the figure of Istio's performance page (which is per
//     proxy: divide by the number of proxies a request crosses to compare).
//
// Resource figures of a component whose measurement failed (Error set and fewer than two
// samples) are left out. A delta that cannot be computed (a mesh arm whose proxies were
// not measured) is left out; DeltaPercent is absent when the baseline is 0.
//
// # Confidence intervals
//
// Every interval is a percentile bootstrap (the central Confidence of B replicates of
// the arm's figure minus the baseline's; default 95% of 1000), and a delta is significant
// when its interval excludes 0. Arms are resampled independently. The random stream of
// each (arm, metric) is seeded from the plan's seed and the names, so the same document
// gives the same intervals.
//
// Latency percentiles use a two-level bootstrap. Level 1, when an arm has two or more
// repetitions: draw that many trials with replacement. Level 2: draw as many requests as
// the drawn trials hold, with replacement, from their pooled HDR histogram, and read the
// percentile. Level 1 carries run-to-run drift into the interval: repetitions that
// disagree widen it, as they must, because a second run would not reproduce the first.
// Level 2 carries the sampling noise of a finite number of requests.
//
// Level 2 is not done request by request, nor bucket by bucket: the percentile of N draws
// is their r-th smallest (r = ⌊p/100·N + ½⌋, hist's rank rule), and the r-th smallest of
// N draws from a distribution F is F⁻¹(U), with U ~ Beta(r, N−r+1) the r-th smallest of N
// uniforms. One replicate of one percentile is thus one Beta draw (two Marsaglia–Tsang
// gamma draws) and a binary search over the pooled buckets: O(k·log buckets) for k
// trials, independent of the request count, and exactly the distribution that a
// multinomial resample over the buckets would give that percentile. (Each percentile's
// interval is computed from its own marginal; nothing here needs their joint law.)
//
// Throughput, error rate and resource deltas resample trials (level 1 only): one trial is
// one observation of them. They get an interval only when every arm whose figure varies
// has at least two repetitions; a meshless baseline's proxy usage is a fixed 0.
//
// Assumptions, and what they cost:
//   - Requests within a trial are treated as independent draws. Latencies are
//     autocorrelated (a GC pause or a queue delays neighbours together), so with one
//     repetition the interval reflects sampling noise only and is too narrow; with
//     repetitions, level 1 captures the correlated part. Plan three or more repetitions
//     when the interval matters.
//   - Trials of one arm are exchangeable (no trend across repetitions). Interleaving arms
//     turns a machine's drift into spread that every arm shares, which widens intervals
//     rather than biasing deltas.
//   - Resampling both levels double-counts a little of the within-trial noise (level 1
//     already contains it), so intervals are slightly conservative when repetitions
//     agree; with two or three repetitions level 1 alone would have too few distinct
//     resamples to give a usable interval.
//   - The percentile bootstrap of extreme percentiles needs data in the tail: the p99.9
//     interval from 10 000 requests rests on about 10 of them and is rough.
//   - HDR buckets are 0.1% wide; the deltas and intervals inherit that resolution.
//
// # SLOs
//
// Each plan SLO (on SLO.Arms, or every arm; overhead conditions on every arm but the
// baseline) and each extra condition (every applicable arm) gives one SLOResult per arm,
// with the value in the condition's unit and a one-line message such as
//
//	builtin: latency.p99 = 31.2ms, not < 25ms
//	builtin: overhead.latency.p99 = +1.8ms (p99 12.4ms vs baseline 10.6ms), < 5ms ok
//
// Metrics are computed like the deltas: latency, service_time and start_lag statistics
// from pooled histograms; cpu.<role> and memory.<role> as the mean per component,
// cpu.<role>.max and memory.<role>.max as the highest sample of any component. An
// overhead is the arm's value minus the baseline's, or that difference over the
// baseline's value for conditions written in %. A metric that cannot be computed (no
// baseline, no resources collected, no successful request, a distribution the generator
// did not record, a relative overhead over 0) fails its condition with the reason: an
// SLO never passes for want of data.
//
// # MeshMark
//
// Each arm's overhead carries its MeshMark (docs/meshmark.md, version MeshMarkVersion):
// 100 × the weighted mean of per-input efficiencies min(1, baseline cost / arm cost) —
// latency p50 and p99 (0.125 each), goodput (0.25: successful requests per second), CPU
// of app, proxy and control-plane components per 1000 rps handled (0.25), and their
// memory (0.25). Latency and goodput are required (without them for the baseline there
// is no score); a missing CPU or memory input gives its weight to the others and marks
// the score partial; an arm without a successful request has latency and goodput
// efficiency 0.
//
// # Comparing runs
//
// Compare measures an arm of one document against an arm of another (a pull request
// against main): the deltas and intervals above, the two sides resampled independently,
// and conditions evaluated on the compared arm with overhead.* against the reference
// arm. CompareDistributions does the same for latency percentiles of bare distributions.
// Across runs, a relative overhead of 0 over 0 (no proxies in either) is a change of 0%.
package analysis
