package result

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/service-mesh-performance/smp/spec"
)

// FieldError is one thing wrong with a document: the JSON path of the field
// ("trials[0].counts.failed") and what is wrong with its value.
type FieldError struct {
	Path    string
	Message string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Message }

// CheckErrors are the problems Check found, in document order.
type CheckErrors []*FieldError

func (es CheckErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find an individual *FieldError.
func (es CheckErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// maxProblems bounds what Check reports: a document that is wrong in a thousand places
// needs the first few to be recognised, not all of them.
const maxProblems = 20

// Check verifies that a document can be believed before anything is reported from it:
// version and kind, known statuses, counts and sizes that are not negative, requests that
// add up (requests = succeeded + failed), latency histograms that decode and hold as many
// values as their counts say (from smp's engine: the latency of the requests that
// succeeded, the error latency of those that failed; from another generator: at most
// the requests), summaries consistent with them (min ≤ max, percentiles
// in (0, 100] and non-decreasing), times in order (warm-up, then the measured phase, a run
// that ends after it starts), time series in time order, and at least one trial in a run
// whose status says it measured something (complete or partial).
//
// It returns CheckErrors (at most 20), each with the JSON path of the field; nil when
// the document is sound. Read calls it on every document; importers of other formats
// call it on what they build.
func (d *Document) Check() error {
	c := &checker{}
	c.document(d)
	if len(c.errs) == 0 {
		return nil
	}
	return c.errs
}

type checker struct {
	errs CheckErrors
}

func (c *checker) failf(path, format string, args ...any) {
	if len(c.errs) < maxProblems {
		c.errs = append(c.errs, &FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
}

func (c *checker) nonNegative(path string, v int64) {
	if v < 0 {
		c.failf(path, "%d is negative; a count or size is 0 or more", v)
	}
}

func (c *checker) nonNegativeF(path, unit string, v float64) {
	if v < 0 {
		c.failf(path, "%g %s is negative", v, unit)
	}
}

func (c *checker) status(path string, s Status, allowEmpty bool) {
	switch s {
	case StatusComplete, StatusPartial, StatusInterrupted, StatusFailed:
	case "":
		if !allowEmpty {
			c.failf(path, "missing; a status is complete, partial, interrupted or failed")
		}
	default:
		c.failf(path, "%q is not a status (complete, partial, interrupted or failed)", s)
	}
}

// ordered reports a start after an end; zero times are unknown and not compared.
func (c *checker) ordered(startPath, endPath string, start, end time.Time) {
	if !start.IsZero() && !end.IsZero() && end.Before(start) {
		// The whole path of the other field: "end_time" alone read as the trial's own
		// when it was the warm-up's.
		c.failf(endPath, "%s is before %s %s", end.Format(time.RFC3339Nano), startPath, start.Format(time.RFC3339Nano))
	}
}

func (c *checker) document(d *Document) {
	if d.Kind != Kind {
		c.failf("kind", "%q is not %q", d.Kind, Kind)
	}
	if d.APIVersion != APIVersion {
		c.failf("api_version", "%q is not %q", d.APIVersion, APIVersion)
	}
	c.status("status", d.Status, false)
	c.ordered("start_time", "end_time", d.StartTime, d.EndTime)
	if len(d.Trials) == 0 && (d.Status == StatusComplete || d.Status == StatusPartial) {
		c.failf("trials", "a %s run has at least one trial, and this document has none", d.Status)
	}
	for i := range d.Trials {
		c.trial(fmt.Sprintf("trials[%d]", i), &d.Trials[i])
	}
}

func (c *checker) trial(at string, t *Trial) {
	if t.Arm == "" {
		c.failf(at+".arm", "missing; every trial names its arm")
	}
	c.status(at+".status", t.Status, false)
	if w := t.Warmup; w != nil {
		c.ordered(at+".warmup.start_time", at+".warmup.end_time", w.StartTime, w.EndTime)
		c.ordered(at+".warmup.end_time", at+".start_time", w.EndTime, t.StartTime)
		c.nonNegative(at+".warmup.requests", w.Requests)
		c.nonNegative(at+".warmup.errors", w.Errors)
	}
	c.ordered(at+".start_time", at+".end_time", t.StartTime, t.EndTime)
	c.counts(at+".counts", t.Counts)
	c.load(at+".load", t.Load)
	c.nonNegative(at+".bytes_sent", t.BytesSent)
	c.nonNegative(at+".bytes_received", t.BytesReceived)
	for _, k := range sortedKeys(t.ErrorsByClass) {
		c.nonNegative(at+".errors_by_class."+k, t.ErrorsByClass[k])
	}
	for _, k := range sortedKeys(t.StatusCodes) {
		c.nonNegative(at+".status_codes."+k, t.StatusCodes[k])
	}
	// smp's engine splits latencies by outcome; other generators' histograms may also
	// hold responses they count as failures (wrk, wrk2, nighthawk: 4xx/5xx), never more
	// than the requests.
	own := t.Generator.Name == spec.GeneratorBuiltin || t.Generator.Name == ""
	if t.Latency.Histogram.Data != "" || t.Latency.Count != 0 {
		c.distribution(at+".latency", t.Latency)
		switch {
		case own && t.Latency.Count != t.Counts.Succeeded:
			c.failf(at+".latency.count", "%d latencies for %d requests that succeeded (counts.succeeded); they are the same requests",
				t.Latency.Count, t.Counts.Succeeded)
		case !own && t.Latency.Count > t.Counts.Requests:
			c.failf(at+".latency.count", "%d latencies for %d requests (counts.requests)", t.Latency.Count, t.Counts.Requests)
		}
	}
	if e := t.ErrorLatency; e != nil {
		c.distribution(at+".error_latency", *e)
		switch {
		case own && e.Count != t.Counts.Failed:
			c.failf(at+".error_latency.count", "%d error latencies for %d requests that failed (counts.failed); they are the same requests",
				e.Count, t.Counts.Failed)
		case !own && e.Count > t.Counts.Requests:
			c.failf(at+".error_latency.count", "%d error latencies for %d requests (counts.requests)", e.Count, t.Counts.Requests)
		}
	}
	if t.ServiceTime != nil {
		c.distribution(at+".service_time", *t.ServiceTime)
	}
	if t.StartLag != nil {
		c.distribution(at+".start_lag", *t.StartLag)
	}
	c.series(at+".time_series", t.TimeSeries)
	for i, r := range t.Resources {
		rp := fmt.Sprintf("%s.resources[%d]", at, i)
		c.nonNegativeF(rp+".cpu_mcores_avg", "mcores", r.CPUMcoresAvg)
		c.nonNegativeF(rp+".cpu_mcores_max", "mcores", r.CPUMcoresMax)
		c.nonNegative(rp+".memory_bytes_avg", r.MemoryBytesAvg)
		c.nonNegative(rp+".memory_bytes_max", r.MemoryBytesMax)
		c.nonNegative(rp+".samples", int64(r.Samples))
	}
	for i, a := range t.Agents {
		ap := fmt.Sprintf("%s.agents[%d]", at, i)
		c.nonNegative(ap+".requests", a.Requests)
		if a.Share < 0 || a.Share > 1 {
			c.failf(ap+".share", "%g is not a share of the load (0 to 1)", a.Share)
		}
	}
}

func (c *checker) counts(at string, n Counts) {
	c.nonNegative(at+".requests", n.Requests)
	c.nonNegative(at+".succeeded", n.Succeeded)
	c.nonNegative(at+".failed", n.Failed)
	c.nonNegative(at+".overflow", n.Overflow)
	c.nonNegative(at+".connections_opened", n.ConnectionsOpened)
	if n.Succeeded >= 0 && n.Failed >= 0 && n.Requests != n.Succeeded+n.Failed {
		c.failf(at+".requests", "%d requests, but %d succeeded and %d failed; requests = succeeded + failed",
			n.Requests, n.Succeeded, n.Failed)
	}
}

func (c *checker) load(at string, l LoadStats) {
	c.nonNegativeF(at+".requested_rate_rps", "rps", l.RequestedRateRPS)
	c.nonNegativeF(at+".achieved_rate_rps", "rps", l.AchievedRateRPS)
	c.nonNegativeF(at+".duration_ms", "ms", l.DurationMS)
	c.nonNegative(at+".connections", int64(l.Connections))
	c.nonNegative(at+".streams", int64(l.Streams))
	for i, m := range l.Mix {
		c.nonNegative(fmt.Sprintf("%s.mix[%d].requests", at, i), m.Requests)
	}
}

// distribution checks a latency distribution against itself and its histogram.
func (c *checker) distribution(at string, d Distribution) {
	c.nonNegative(at+".count", d.Count)
	for _, f := range []struct {
		name string
		v    float64
	}{{"min_ms", d.MinMS}, {"mean_ms", d.MeanMS}, {"stddev_ms", d.StddevMS}, {"max_ms", d.MaxMS}} {
		c.nonNegativeF(at+"."+f.name, "ms", f.v)
	}
	if d.Count > 0 && d.MinMS > d.MaxMS {
		c.failf(at+".max_ms", "%g ms is below min_ms %g ms", d.MaxMS, d.MinMS)
	}
	if d.Clamped < 0 || d.Clamped > d.Count {
		c.failf(at+".clamped", "%d is not between 0 and the count %d", d.Clamped, d.Count)
	}
	prevP, prevV := 0.0, 0.0
	for i, p := range d.Percentiles {
		pp := fmt.Sprintf("%s.percentiles[%d]", at, i)
		switch {
		case p.Percentile <= 0 || p.Percentile > 100:
			c.failf(pp+".percentile", "%g is not a percentile (above 0, at most 100)", p.Percentile)
		case p.Percentile <= prevP:
			c.failf(pp+".percentile", "%g follows %g; percentiles increase", p.Percentile, prevP)
		case p.ValueMS < prevV:
			c.failf(pp+".value_ms", "p%g is %g ms, below p%g's %g ms; a higher percentile is never lower", p.Percentile, p.ValueMS, prevP, prevV)
		}
		c.nonNegativeF(pp+".value_ms", "ms", p.ValueMS)
		prevP, prevV = p.Percentile, p.ValueMS
	}
	var inBuckets int64
	for i, b := range d.Buckets {
		c.nonNegative(fmt.Sprintf("%s.buckets[%d].count", at, i), b.Count)
		inBuckets += b.Count
	}
	if len(d.Buckets) > 0 && inBuckets != d.Count {
		c.failf(at+".buckets", "the buckets hold %d values and the count is %d", inBuckets, d.Count)
	}
	if d.Histogram.Data == "" {
		if d.Count > 0 {
			c.failf(at+".histogram.data", "missing; a distribution of %d values carries its histogram", d.Count)
		}
		return
	}
	h, err := d.Histogram.decode()
	if err != nil {
		c.failf(at+".histogram", "%v", err)
		return
	}
	if h.Count() != d.Count {
		c.failf(at+".count", "%d, but the histogram holds %d values", d.Count, h.Count())
	}
}

func (c *checker) series(at string, ps []Point) {
	prev := -1.0
	for i, p := range ps {
		pp := fmt.Sprintf("%s[%d]", at, i)
		if p.OffsetS <= prev {
			c.failf(pp+".t_s", "%g s does not follow %g s; points are in time order", p.OffsetS, prev)
		}
		prev = p.OffsetS
		c.nonNegative(pp+".requests", p.Requests)
		c.nonNegative(pp+".errors", p.Errors)
		c.nonNegativeF(pp+".rate_rps", "rps", p.RateRPS)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := slices.Collect(maps.Keys(m))
	slices.Sort(keys)
	return keys
}
