// Package analysis turns a result document into its verdict: what each arm costs compared
// with the baseline (overhead deltas with confidence intervals and tested verdicts),
// whether the SLOs hold, whether the run measured anything at all, and each arm's
// MeshMark. It is pure: a document and options in, a result.Analysis out, no I/O, no
// printing, the same answer for the same document.
//
// It owns the statistics (pooling, deltas, intervals, tests and their family-wise
// correction, the instrument's resolution, SLO evaluation and its messages, MeshMark,
// comparisons across runs). It does not own the document format (package result), the
// condition syntax (package spec) or any rendering (package report). Imports: result,
// spec, internal/hist, gonum's stat/distuv (Student's t) and the standard library; never
// anything that runs load or touches a platform.
//
// # Deltas
//
// For every arm but the baseline, Analyze reports, each beside the baseline's figure:
//
//   - latency.pNN (ms) for every percentile of the plan's metrics.percentiles (default
//     p50, p90, p95, p99, p99.9): percentiles of the arm's latency histograms pooled
//     across repetitions (result.Pool: exact, as if one generator had recorded every
//     request), not means of per-run percentiles;
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
// # Verdicts: the trial is the unit
//
// Whether a difference between two arms is real depends on how much the figure changes
// when the same arm is measured again, deployed afresh: other CPUs, other cache and
// memory placement, another moment of the machine's other tenants. That trial-level
// variation is invisible inside one trial. Requests of one trial are not independent
// either: a stalled process, a garbage collection or a queue delays neighbours together.
// So a verdict is drawn from the repetitions: each trial gives one figure, and the
// difference of the arms' figures is tested against the spread of those figures.
//
//   - Latency percentile p: each trial's own percentile, on a log scale (a trial effect
//     moves a whole distribution by a factor), tested with Student's t; the interval of
//     log(arm/baseline) is centred on the pooled percentiles' ratio and mapped to
//     milliseconds through the baseline's pooled percentile, so it always holds the
//     delta shown.
//   - Throughput, error rate, CPU, memory and the other scalar deltas: each trial's own
//     figure, tested with Student's t on its scale, centred on the delta shown. An arm
//     without a mesh has proxy usage 0 by design, known exactly: the test is then on the
//     mesh arm's trials alone.
//   - Two arms with the same number of trials (the default design) share a pooled
//     variance with 2k−2 degrees of freedom: with equal sizes the pooled test keeps its
//     level when the two variances differ (Scheffé 1959), and has more degrees of freedom
//     than Welch's, which few repetitions are short of. Unequal sizes (a failed trial)
//     use Welch's test.
//   - An arm measured once has no spread between trials: its latency deltas keep an
//     interval from resampling the requests (Interval "requests"; the percentile
//     bootstrap below), which holds sampling noise only, and no verdict
//     (VerdictNone); its scalar deltas get neither.
//
// # Many deltas, one family
//
// An arm has a dozen deltas, and at 5% each a dozen independent tests would call one of
// them significant in 46% of A/A runs. The deltas of one arm against the baseline are a
// family, and Holm's step-down procedure (Holm 1979) holds the chance of one or more
// false "significant" verdicts in the family at 1 − Confidence, whatever the dependence
// between the deltas: sort the p-values, multiply the i-th smallest by (m − i + 1), keep
// them non-decreasing (PAdjusted). `smp compare` tests every delta of every pair of arms
// it shows, so its family is the whole comparison (ControlFamily). The intervals stay
// marginal 95% intervals; a delta whose interval excludes 0 can still be "not
// significant" after the correction, and the reports say so.
//
// A delta smaller than the instrument's resolution (Delta.Resolution) is never
// significant, however narrow its interval (VerdictBelowResolution): for latency the
// width of the HDR bucket that holds the larger of the two percentiles (hist.Resolution:
// 1 µs, the recording unit, up to 2 ms, then 0.1%); for throughput one request over the
// mean measured time of a trial; for an error rate one request among a trial's; for CPU
// one clock tick of /proc (10 ms) over the measured time; for memory one 4 KiB page; for
// a capacity search the bracket between its last good and first bad rate.
//
// # The default design, and why
//
// The default design is five repetitions of each arm, interleaved, each deployed afresh
// (spec.DefaultRepetitions), with the tests above. It was chosen by measuring candidates
// on simulated runs whose truth is known (TestCalibration; `go test
// ./internal/analysis -run TestCalibration -calibration -v` prints the table), then
// checked with a real A/A run on the local platform.
//
// The simulation draws open-loop runs of 500 requests per second (the quickstart's rate,
// median 0.34 ms) from five models: independent lognormal requests; an AR(1) process
// between consecutive requests (φ = 0.99: neighbours strongly alike); a narrow body with
// a tail made of stalls that hold every request due during them (as the local
// platform's tail is made: its p99 varies as much from trial to trial, about 16% at 3500
// requests, which is what the quickstart's 20-second single trials showed); the stalls
// with trial effects of a quiet machine; and with trial effects at the limits a machine
// passing `smp certify` may have (p50 varying 5% between identical runs). An A/A run has
// two identical arms without a mesh; the alternative makes every request of a mesh arm
// 25% slower. Each cell is 300 runs. The measured time per arm is the quickstart's 21 s
// split between the repetitions (1 × 21 s, 3 × 7 s, 5 × 4.2 s), so that the designs cost
// the same; 5 × 30 s is the default plan's. False positives count the latency deltas
// (five per run) called significant in A/A runs; "raw" counts p < 0.05 before the family
// correction; "old" is the interval smp used before (one repetition: requests
// resampled; more: a two-level bootstrap of trials, then requests). Trial CV is how much
// a trial's own p50 and p99 vary between repetitions of one arm. (* 200 runs, with
// -calibration.only "5x60s stalls quiet".)
//
//	model                       design     trial CV       A/A false positives     power, 25% slower
//	                                       p50    p99     verdict  raw    old     p50     p99
//	independent                 1 × 21 s     —      —     none       —     4.3%   none
//	                            3 × 7 s    1.1%   3.2%    0.7%     5.7%   1.4%    100%     96%
//	                            5 × 4.2 s  1.6%   4.5%    0.7%     4.4%   0.6%    100%    100%
//	AR(1) φ = 0.99              1 × 21 s     —      —     none       —    80.3%   none
//	                            3 × 7 s   13.0%  21.8%    1.2%     6.2%  17.0%      5%      2%
//	                            5 × 4.2 s 17.6%  27.9%    1.2%     8.2%  10.7%     16%      7%
//	                            5 × 30 s   6.8%  13.0%    0.5%     6.1%  12.5%     87%     31%
//	stalls                      1 × 21 s     —      —     none       —     4.4%   none
//	                            3 × 7 s    0.4%  16.9%    0.9%     4.9%   1.5%    100%      6%
//	                            5 × 4.2 s  0.5%  21.6%    0.9%     6.2%   1.0%    100%     11%
//	                            5 × 30 s   0.2%   8.4%    0.7%     7.1%   1.0%    100%     71%
//	                            5 × 60 s*  0.1%   6.1%    1.0%     5.4%   0.4%    100%     95%
//	trial effects, quiet        1 × 21 s     —      —     none       —    46.1%   none
//	                            3 × 7 s    2.2%  17.5%    0.3%     4.9%  11.3%     99%      5%
//	                            5 × 4.2 s  2.6%  23.8%    0.7%     4.7%   5.1%    100%      9%
//	                            5 × 30 s   2.1%  10.4%    0.7%     4.9%   7.3%    100%     56%
//	                            5 × 60 s*  1.9%   8.5%    0.5%     5.4%   8.5%    100%     64%
//	trial effects, certify's    1 × 21 s     —      —     none       —    65.0%   none
//	limits                      3 × 7 s    4.4%  20.4%    0.5%     5.3%  12.4%     68%      4%
//	                            5 × 4.2 s  4.5%  26.7%    0.9%     7.1%   9.2%    100%      6%
//	                            5 × 30 s   4.3%  17.7%    0.3%     4.0%   7.9%    100%     12%
//
// What the measurements say:
//
//   - One repetition cannot be judged. With trial effects, the request interval of a
//     single trial called 46–65% of A/A latency deltas significant (80% with correlated
//     requests): it holds sampling noise only, and two deployments differ by more. A
//     real A/A run of the quickstart's chain showed the same (11 of 20). No method inside
//     one trial fixes it, a block bootstrap over its time series included: one
//     deployment carries no information about the next. So one repetition gets no
//     verdict.
//   - The two-level bootstrap over three trials was still too eager (11–17% with trial
//     effects or correlation): a percentile bootstrap of three values is narrower than
//     their spread warrants. Student's t over per-trial figures stayed near its level
//     (raw 4.4–8.2% at a nominal 5%; above 5% where a trial's percentile rests on few,
//     skewed tail requests), and the family correction brought the verdicts to 0.3–1.2%,
//     within the goal of 10% in every model.
//   - Five repetitions beat three at the same cost. With trial effects at certify's
//     limits, a 25% p50 regression was found in 100% of runs with 5 × 4.2 s and in 68%
//     with 3 × 7 s (69% with 3 × 10 s, 99% with 5 × 6 s, designs of about the same wall
//     time), because the trial effect averages over more deployments and the t test has
//     8 degrees of freedom instead of 4. That is the default, and the quickstart's
//     5 × 4 s.
//   - p99 is another matter. When the tail is made of stalls, a trial's p99 rests on a
//     few dozen requests and varies 15–25% between trials by sampling alone, so a 25%
//     change of p99 cannot be told from noise in 21 s per arm by any method (even with
//     the variance known, a two-sided 5% test would find it about half the time). The
//     goal of finding it in 90% of runs is met where the tail is not made of stalls
//     (independent requests: 100% with the default design), and with stalls it takes
//     about 150 000 requests per arm (5 × 60 s at 500 rps: 95%; the default plan's
//     5 × 30 s: 71%). When the tail itself moves between deployments (the quiet and
//     certify models) longer trials barely help (64% at 5 × 60 s) and only more
//     repetitions do. The quickstart's p99 verdict is therefore usually "≈", honestly;
//     tail verdicts want more requests (a higher rate, a longer duration) and more
//     repetitions, and `smp certify` says how noisy the machine is.
//
// # The A/A test on the local platform
//
// The simulation was checked on the real thing: the quickstart's 3-service chain, two
// identical arms without a mesh, 500 rps, 16 connections, 10 s, defaults otherwise (five
// repetitions of each arm, interleaved, a 5-second warm-up each), run four times on a
// 2-vCPU VM that other engineers' builds and tests kept at a load average of 18 to 33
// (160 s of wall clock per run). Of the 20 latency deltas, 0 were called significant
// (the goal: at most 2); 4 had p < 0.05 before Holm's correction, and the two-level
// bootstrap smp used before would have called 7 of the same 20 significant (`go test
// ./internal/analysis -run TestAAResults -aa.results DIR -v` recounts a folder of such
// runs). The machine was so busy that trials of one arm differed by seconds at p90: the
// point of the test is that such noise is not called a difference.
//
// # The request bootstrap (arms measured once)
//
// The interval of a latency percentile of an arm measured once is a percentile bootstrap
// (the central Confidence of Replicates replicates of the arm's figure minus the
// baseline's; default 95% of 1000). The random stream of each (arm, metric) is seeded from
// the plan's seed and the names, so the same document gives the same intervals. A
// replicate draws as many requests as the trial holds, with replacement, from its HDR
// histogram, and reads the percentile. That draw is not done request by request, nor
// bucket by bucket: the percentile of N draws is their r-th smallest (r = ⌊p/100·N + ½⌋,
// hist's rank rule), and the r-th smallest of N draws from a distribution F is F⁻¹(U),
// with U ~ Beta(r, N−r+1) the r-th smallest of N uniforms. One replicate of one
// percentile is thus one Beta draw (two Marsaglia–Tsang gamma draws) and a binary search
// over the buckets, independent of the request count, and exactly the distribution that a
// multinomial resample over the buckets would give that percentile.
//
// # A run that measured nothing
//
// Analysis.Failed lists the trials that are not measurements: no request was sent, none
// succeeded, or more than the plan's workload.error_ceiling (default 10%) failed. smp run
// and smp load exit 1 when it is not empty. SLO conditions on error_rate remain the finer
// gate (exit 3).
//
// # A run that did not hold its rate
//
// Analysis.RateNotHeld lists the open-loop trials whose generator did not keep to the
// schedule (Load.RateHeld false: overflow, a start-lag p99 above the engine's limit, or
// fewer requests than asked), with its reason. Such a run measured, but not at the rate
// that was asked: smp run and smp load exit 4 unless workload.allow_rate_miss accepts it.
// Trials of a capacity search are left out (not holding a rate is what the search looks
// for). Analysis.Outcome is the one-word verdict the exit code follows.
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
// SLO never passes for want of data. An SLO is a threshold on the estimate, not a test:
// use the verdicts (or smp compare's) to ask whether a difference is real.
//
// # MeshMark
//
// Each arm's overhead carries its MeshMark (docs/meshmark.md, version MeshMarkVersion):
// 100 × the weighted geometric mean of per-input efficiencies min(1, baseline cost / arm
// cost) over latency p50 and p99, CPU per 1000 rps and memory of the system under test,
// and capacity where it can differ (closed loop, find_max), times the share of offered
// requests that succeeded in an open-loop run; no score for an arm with a trial above 1%
// errors or breaking an error_rate SLO; a t interval over the trials like the deltas';
// a missing CPU or memory input marks the score partial and raises its interval's upper
// end.
//
// # Comparing runs
//
// Compare measures an arm of one document against an arm of another (a pull request
// against main): the deltas, tests and intervals above, with other in the place of the
// arm and base in the place of the baseline, and conditions evaluated on the compared arm
// with overhead.* against the reference arm. CompareDistributions does the same for
// latency percentiles of bare distributions. Across runs, a relative overhead of 0 over 0
// (no proxies in either) is a change of 0%.
package analysis
