// Package hist owns smp's latency histogram: recording durations, merging
// histograms losslessly, reading percentiles and extremes, deriving bars and
// canonical buckets for display and export, and the standard HdrHistogram V2
// encoding that result documents carry.
//
// # Range and precision
//
// A Histogram covers LowestDiscernible (1 µs) to Highest (1 h) with
// SignificantFigures (3) significant decimal digits. It is an HDR histogram
// from github.com/HdrHistogram/hdrhistogram-go: values below 2048 µs have
// buckets 1 µs wide, and above that every bucket is narrower than 1/1024 of
// its values, so any figure it reports is within 0.1% of the recorded value.
// Each histogram allocates its full bucket array (184 KiB) in New and never
// allocates while recording.
//
// # Units: durations become whole microseconds, rounded up
//
// A duration d is stored as ⌈d / 1 µs⌉. Rounding up (rather than truncating,
// as time.Duration.Microseconds does) makes every bucket an interval that is
// open below and closed above, (From, To], like canonical buckets and the
// Prometheus and fortio buckets they are exported to. So a reported latency
// is never below the durations it stands for: Percentile and Max return the
// top of the bucket they land in, and Buckets counts a bucket under the
// bound its top falls under. Durations of zero or less are stored as 0.
// Durations above Highest are stored as Highest and counted in Clamped:
// an out-of-range latency is a result, never dropped.
//
// # Imports
//
// hist imports nothing from smp, only the standard library and
// hdrhistogram-go, so that engine, app, generator, analysis and report can
// all record into and read the same type. A Histogram is not safe for
// concurrent use: give each goroutine its own and Merge them.
package hist
