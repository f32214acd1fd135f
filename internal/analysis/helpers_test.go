package analysis_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// trialSpec is one trial to build: its raw latencies (kept by the caller to compute
// expectations independently), failures and resources.
type trialSpec struct {
	samples   []time.Duration
	failed    int64
	overflow  int64
	duration  time.Duration // default 10s
	resources []result.Resource
	// withServiceTime records ServiceTime (= the latencies) and StartLag (all zero).
	withServiceTime bool
	// rate is the requested rate of an open-loop trial (requests per second); closedLoop
	// marks a closed-loop one; search is a capacity search's result.
	rate       float64
	closedLoop bool
	search     *result.Search
}

type armSpec struct {
	name   string
	mesh   spec.MeshType
	trials []trialSpec
}

// mustPlan parses a plan the way smp run gets it: decoded, defaulted, validated.
func mustPlan(t testing.TB, yaml string) *spec.Plan {
	t.Helper()
	p, err := spec.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var start = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// buildDoc records every trial's latencies into real HDR histograms and assembles a
// document with the trials interleaved by repetition, as smp run orders them.
func buildDoc(t testing.TB, plan *spec.Plan, arms []armSpec) *result.Document {
	t.Helper()
	doc := result.New("test", "test", start)
	doc.Plan = plan
	order := 0
	for rep := 0; ; rep++ {
		more := false
		for _, a := range arms {
			if rep >= len(a.trials) {
				continue
			}
			more = true
			order++
			ts := a.trials[rep]
			dur := ts.duration
			if dur == 0 {
				dur = 10 * time.Second
			}
			begin := start.Add(time.Duration(order) * time.Minute)
			n := int64(len(ts.samples))
			tr := result.Trial{
				ID: fmt.Sprintf("%s-%d", a.name, rep+1), Arm: a.name, Repetition: rep + 1, Order: order,
				Status: result.StatusComplete, Mesh: result.MeshInfo{Type: a.mesh},
				Generator: result.GeneratorInfo{Name: spec.GeneratorBuiltin},
				StartTime: begin, EndTime: begin.Add(dur),
				Counts:    result.Counts{Requests: n + ts.failed, Succeeded: n, Failed: ts.failed, Overflow: ts.overflow},
				Latency:   distOf(t, ts.samples),
				Resources: ts.resources,
				Load:      result.LoadStats{RequestedRateRPS: ts.rate, ClosedLoop: ts.closedLoop},
				Search:    ts.search,
			}
			if ts.withServiceTime {
				st := distOf(t, ts.samples)
				lag := distOf(t, make([]time.Duration, len(ts.samples)))
				tr.ServiceTime, tr.StartLag = &st, &lag
			}
			doc.Trials = append(doc.Trials, tr)
		}
		if !more {
			break
		}
	}
	return doc
}

func distOf(t testing.TB, samples []time.Duration) result.Distribution {
	t.Helper()
	h := hist.New()
	for _, d := range samples {
		h.Record(d)
	}
	enc, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	d, err := result.NewDistribution(enc, h.Clamped(), spec.DefaultPercentiles(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// lognormal draws n latencies with the given median and shape, plus shift.
func lognormal(r *rand.Rand, n int, median time.Duration, sigma float64, shift time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(float64(median)*math.Exp(sigma*r.NormFloat64())) + shift
	}
	return out
}

func constant(n int, d time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

// exactPercentileMS is the percentile of raw samples by hist's rank rule
// (r = ⌊p/100·n + ½⌋, at least 1), in ms, computed without any histogram.
func exactPercentileMS(samples []time.Duration, p float64) float64 {
	s := slices.Clone(samples)
	slices.Sort(s)
	r := int(math.Floor(p/100*float64(len(s)) + 0.5))
	r = max(1, min(r, len(s)))
	return float64(s[r-1]) / 1e6
}

// withinHDR reports whether an HDR figure (the top of a bucket) is within the histogram's
// precision of the raw value: never below it, at most 0.1% + 1 µs above.
func withinHDR(got, want float64) bool {
	return got >= want-1e-9 && got <= want*1.001+0.001
}

func proxy(name string, cpu float64, mem int64) result.Resource {
	return result.Resource{Component: name, Role: result.RoleProxy, CPUMcoresAvg: cpu, CPUMcoresMax: cpu * 1.5,
		MemoryBytesAvg: mem, MemoryBytesMax: mem + 1<<20, MemoryMetric: "rss", Samples: 10, Source: "procfs"}
}

func app(name string, cpu float64, mem int64) result.Resource {
	r := proxy(name, cpu, mem)
	r.Role = result.RoleApp
	return r
}

func findDelta(t *testing.T, a *result.Analysis, arm, metric string) result.Delta {
	t.Helper()
	for _, o := range a.Overhead {
		if o.Arm != arm {
			continue
		}
		for _, d := range o.Deltas {
			if d.Metric == metric {
				return d
			}
		}
	}
	t.Fatalf("no delta %s for arm %s in %+v", metric, arm, a.Overhead)
	return result.Delta{}
}

func hasDelta(a *result.Analysis, arm, metric string) bool {
	for _, o := range a.Overhead {
		for _, d := range o.Deltas {
			if o.Arm == arm && d.Metric == metric {
				return true
			}
		}
	}
	return false
}
