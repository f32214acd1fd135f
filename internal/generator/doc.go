// Package generator puts every load generator behind one interface: given a workload and
// a target, run the load and return the load-side half of a trial (counts, histograms,
// time series) in the result document's terms, with the generator's name, version and
// caveats. docs/generators.md is the user-facing account of each one.
//
//   - builtin (builtin.go): smp's own engine, in-process.
//   - fortio (fortio.go): fortio's library packages (periodic, fhttp, fgrpc), in-process.
//     Each call's latency, as fortio timed it, is recorded into smp's HDR histogram
//     through fortio's AccessLogger hook; fortio's own bucketed histogram is converted
//     only if that hook ever disagrees with fortio's count (fortiohist.go).
//   - wrk (wrk.go): the wrk binary, closed loop, read through a generated Lua done() hook
//     that prints wrk's raw 1 µs histogram; wrk's after-the-fact CO adjustment is undone.
//   - wrk2 (wrk2.go): the wrk2 binary at a fixed rate, its --latency -U text parsed,
//     histograms rebuilt from its detailed percentile spectrum.
//   - nighthawk (nighthawk.go): nighthawk_client, its --output-format json parsed,
//     histograms rebuilt from its percentile ticks.
//
// Binaries are found on PATH through internal/proc (a missing one is a
// *proc.NotFoundError saying how to install it) and run in their own process group,
// bound to the context. Generators that can tell before anything is deployed whether
// they can run a workload implement Checker.
//
// Process-wide state: fortio's logger (fortio.org/log) has one global level; the fortio
// generator sets it to Critical at every run so fortio prints nothing, and nothing else
// in smp uses that logger. Importing fortio also runs its package init functions (one of
// them sets the standard library logger's flags to log.Ltime); smp logs through slog.
//
// Imports: internal/engine (its Progress is what Job.Progress reports), internal/hist,
// internal/proc, internal/agent (the distributed generator drives agents),
// internal/platform (a Job's Target and TLS are the deployment's), internal/version,
// result and spec; fortio.org/fortio and grpc from outside. Never internal/term: it
// never deploys anything and never prints.
package generator
