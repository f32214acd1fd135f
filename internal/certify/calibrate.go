package certify

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// Calibration settings: `--calibrate 5x10s` is the default.
const (
	DefaultRepetitions = 5
	DefaultDuration    = 10 * time.Second
	calibrationWarmup  = time.Second
)

// CV thresholds. A comparison is only as fine as the noise under it: an arm that differs
// from the baseline by less than about twice the CV of a figure cannot be told apart
// from the environment moving. On loopback a sidecar pair adds roughly 50–200% to a bare
// hop's p50, so 5% noise still resolves that, and 15% blurs differences between meshes;
// tails move more than medians on any machine, hence p99's wider band. Throughput in
// closed loop tracks CPU speed directly (frequency, steal, contention), so it is held to
// p50's band.
func cvBands() []cvBand {
	return []cvBand{
		{"calibration.p50", 0.05, 0.15, func(c result.CalibrationCV) float64 { return c.P50 }},
		{"calibration.p99", 0.10, 0.30, func(c result.CalibrationCV) float64 { return c.P99 }},
		{"calibration.throughput", 0.05, 0.10, func(c result.CalibrationCV) float64 { return c.Throughput }},
	}
}

type cvBand struct {
	name       string
	pass, warn float64
	pick       func(result.CalibrationCV) float64
}

// ParseCalibrate reads "NxDURATION" (5x10s), or "0"/"none"/"off" for no calibration
// (reps 0). At least 2 repetitions are needed for a CV; 3 or more are recommended.
func ParseCalibrate(s string) (reps int, d time.Duration, err error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "0", "none", "off", "no":
		return 0, 0, nil
	}
	n, dur, ok := strings.Cut(strings.ToLower(s), "x")
	if !ok {
		return 0, 0, fmt.Errorf("calibration %q: write repetitions x duration, e.g. 5x10s", s)
	}
	reps, err = strconv.Atoi(strings.TrimSpace(n))
	if err != nil || reps < 2 || reps > 100 {
		return 0, 0, fmt.Errorf("calibration %q: repetitions must be a number from 2 to 100", s)
	}
	sd, err := spec.ParseDuration(dur)
	if err != nil || sd.D() < time.Second {
		return 0, 0, fmt.Errorf("calibration %q: the duration must be at least 1s, e.g. 10s", s)
	}
	return reps, sd.D(), nil
}

// CalibrationDescription says what the calibration measures.
const CalibrationDescription = "smp's sample app (1 service, no mesh), closed loop over 1 connection: " +
	"each request a bare round trip, so p50 and p99 are service times and throughput is their inverse"

// CalibrationPlan is the run `smp certify` calibrates with: the baseline of the chosen
// platform (smp's sample app with one service and no mesh), reps repetitions of d, each
// after a 1s warm-up, closed loop over one connection. With one connection nothing
// queues, so every request is one round trip through the loopback stack, the scheduler
// and the app: what any smp measurement stands on. Closed loop keeps the machine busy
// (CPU frequency, steal and other tenants show up), and its throughput moves with
// everything that slows a round trip.
func CalibrationPlan(platform spec.Platform, reps int, d time.Duration) (*spec.Plan, error) {
	yaml := fmt.Sprintf(`name: certify-calibration
description: smp certify calibration
arms: [baseline]
repetitions: %d
environment: {platform: %s}
workload:
  app: {kind: builtin, services: 1}
  rate: 0
  connections: 1
  duration: %s
  warmup: %s
metrics: {collectors: []}
`, reps, platform, spec.Duration(d), spec.Duration(calibrationWarmup))
	p, err := spec.Parse("calibration.yaml", []byte(yaml))
	if err != nil {
		return nil, fmt.Errorf("certify: calibration plan: %w", err)
	}
	return p, nil
}

// SamplesOf reads a calibration run's figures, one sample per measured trial in order.
// A failed trial is an error: a calibration with a hole is not one.
func SamplesOf(doc *result.Document) ([]result.CalibrationSample, error) {
	if doc == nil {
		return nil, errors.New("certify: no calibration result")
	}
	var out []result.CalibrationSample
	for _, t := range doc.Trials {
		if t.Status == result.StatusFailed {
			return nil, fmt.Errorf("certify: calibration trial %s failed: %s", t.ID, t.Error)
		}
		h, err := hist.Decode(t.Latency.Histogram.Data)
		if err != nil {
			return nil, fmt.Errorf("certify: calibration trial %s: %w", t.ID, err)
		}
		secs := t.EndTime.Sub(t.StartTime).Seconds()
		if t.Counts.Requests == 0 && secs > 0 {
			// One connection in a closed loop sends its next request when the last is
			// answered: none sent means the answer to one sent before the phase took the
			// whole phase, or smp was not given a CPU in it.
			return nil, fmt.Errorf("certify: calibration trial %s sent no request in its %s: its one connection waited that long "+
				"for an answer, or smp for a CPU (the machine is too busy for so short a trial)", t.ID, t.EndTime.Sub(t.StartTime).Round(time.Millisecond))
		}
		if h.Count() == 0 || secs <= 0 {
			return nil, fmt.Errorf("certify: calibration trial %s measured nothing (%d errors: %v)", t.ID, t.Counts.Failed, t.ErrorsByClass)
		}
		out = append(out, result.CalibrationSample{
			P50MS: msOf(h.Percentile(50)), P99MS: msOf(h.Percentile(99)),
			ThroughputRPS: float64(t.Counts.Succeeded) / secs,
		})
	}
	return out, nil
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Calibrate summarises samples: the coefficient of variation of each figure and a verdict
// on each. Fewer than two samples cannot show variation: that fails.
func Calibrate(samples []result.CalibrationSample, d time.Duration, description string) *result.Calibration {
	c := &result.Calibration{Description: description, Repetitions: len(samples), DurationMS: msOf(d), Samples: samples}
	if len(samples) < 2 {
		c.Error = fmt.Sprintf("%d repetition(s): at least 2 are needed to measure variation", len(samples))
		c.Checks = append(c.Checks, check("calibration", result.VerdictFail, "", "≥ 2 repetitions", c.Error))
		return c
	}
	var p50, p99, tput []float64
	for _, s := range samples {
		p50, p99, tput = append(p50, s.P50MS), append(p99, s.P99MS), append(tput, s.ThroughputRPS)
	}
	c.CV = result.CalibrationCV{P50: CV(p50), P99: CV(p99), Throughput: CV(tput)}
	for _, b := range cvBands() {
		v := b.pick(c.CV)
		want := "≤ " + pct(b.pass)
		switch {
		case math.IsNaN(v) || v > b.warn:
			c.Checks = append(c.Checks, check(b.name, result.VerdictFail, pct(v), want,
				"identical runs differ this much: differences between arms below ~2× this are noise here; find a quieter machine"))
		case v > b.pass:
			c.Checks = append(c.Checks, check(b.name, result.VerdictWarn, pct(v), want,
				"identical runs differ noticeably: compare arms only on differences well above ~2× this"))
		default:
			c.Checks = append(c.Checks, check(b.name, result.VerdictPass, pct(v), want, "identical runs agree"))
		}
	}
	return c
}

// Failed is the calibration of a run that could not be made.
func Failed(reps int, d time.Duration, description string, err error) *result.Calibration {
	msg := err.Error()
	return &result.Calibration{Description: description, Repetitions: reps, DurationMS: msOf(d), Error: msg,
		Checks: []result.Check{check("calibration", result.VerdictFail, "", "", "the calibration run failed: "+msg)}}
}

// CV is the sample coefficient of variation: the standard deviation (n−1) over the mean.
// It is NaN for fewer than two values or a zero mean.
func CV(xs []float64) float64 {
	if len(xs) < 2 {
		return math.NaN()
	}
	mean := 0.0
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if mean == 0 {
		return math.NaN()
	}
	ss := 0.0
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return math.Sqrt(ss/float64(len(xs)-1)) / math.Abs(mean)
}
