package report

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/analysis"
	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// logLogistic returns n latencies spread like a log-logistic distribution with the given
// median and shape (smaller shape, longer tail), taken at evenly spaced quantiles, so
// that a fixture is the same on every machine and Go version (no random numbers).
func logLogistic(n int, median time.Duration, shape float64) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		u := (float64(i) + 0.5) / float64(n)
		out[i] = time.Duration(float64(median) * math.Pow(u/(1-u), 1/shape))
	}
	return out
}

func distFrom(t testing.TB, plan *spec.Plan, samples []time.Duration) result.Distribution {
	t.Helper()
	h := hist.New()
	for _, s := range samples {
		h.Record(s)
	}
	enc, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	d, err := result.NewDistribution(enc, h.Clamped(), plan.Metrics.Percentiles, result.BucketBounds(plan.Metrics.Buckets))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

const richPlan = `
name: rich
description: Two sidecars against no mesh, two repetitions each.
labels: {team: platform, branch: main}
arms:
  - baseline
  - {name: builtin, mesh: builtin}
  - {name: haproxy, mesh: haproxy, mtls: permissive}
repetitions: 2
workload: {rate: 200, duration: 30s, connections: 8}
slo:
  - error_rate < 1%
  - overhead.latency.p99 < 2ms
`

// richDoc is a three-arm result with everything a report shows: repetitions, errors by
// class, statuses, resources, time series (one long enough to be downsampled), warnings
// and SLOs, analysed as smp run analyses it.
func richDoc(t testing.TB) *result.Document {
	t.Helper()
	plan, err := spec.Parse("rich.yaml", []byte(richPlan))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	doc := result.New("20261126-100000-rich-00aa", "rich", start)
	doc.Plan, doc.Labels = plan, plan.Labels
	doc.Environment = result.Environment{ID: "env-5f3c", Platform: "local", Hostname: "ci-1", OS: "linux", Arch: "amd64",
		Kernel: "6.8.0", CPUModel: "AMD EPYC 7B13", Cores: 4, MemoryBytes: 16 << 30, GoVersion: "go1.26.8",
		LoadGeneratorCPUs: "0", SystemCPUs: "1-3"}
	doc.Tools = []result.Tool{{Name: "smp", Version: "v0.3.0", Role: "smp"}, {Name: "haproxy", Version: "2.6.12", Role: "proxy"}}
	type armSpec struct {
		name    string
		mesh    spec.MeshType
		median  time.Duration
		shape   float64
		failed  int64
		proxies int
		proxy   float64
	}
	arms := []armSpec{
		{"baseline", spec.MeshNone, 600 * time.Microsecond, 6, 0, 0, 0},
		{"builtin", spec.MeshBuiltin, 900 * time.Microsecond, 5, 3, 4, 60},
		{"haproxy", spec.MeshHAProxy, 800 * time.Microsecond, 5.5, 1, 4, 45},
	}
	order := 0
	for rep := 1; rep <= 2; rep++ {
		for _, a := range arms {
			order++
			begin := start.Add(time.Duration(order) * 40 * time.Second)
			n := 6000 - int(a.failed)
			lat := distFrom(t, plan, logLogistic(n, a.median+time.Duration(rep)*10*time.Microsecond, a.shape))
			svc := distFrom(t, plan, logLogistic(n, a.median*9/10, a.shape))
			points := 30
			if a.name == "builtin" && rep == 2 {
				points = 600 // a long series: the HTML downsamples it
			}
			var ts []result.Point
			for i := 1; i <= points; i++ {
				wave := float64(i%7) / 7
				ts = append(ts, result.Point{OffsetS: float64(i) * 30 / float64(points), Requests: int64(6000 / points),
					RateRPS: 200 - 4*wave + float64(i%3), P50MS: ms(a.median) * (1 + 0.1*wave), P99MS: 4 * ms(a.median) * (1 + 0.3*wave)})
			}
			res := []result.Resource{
				{Component: "svc-1", Role: result.RoleApp, CPUMcoresAvg: 120 + float64(rep), MemoryBytesAvg: 20 << 20, MemoryMetric: "rss", Samples: 30, Source: "procfs"},
				{Component: "svc-2", Role: result.RoleApp, CPUMcoresAvg: 80, MemoryBytesAvg: 18 << 20, MemoryMetric: "rss", Samples: 30, Source: "procfs"},
				{Component: "load-generator", Role: result.RoleLoadGenerator, CPUMcoresAvg: 70, MemoryBytesAvg: 30 << 20, MemoryMetric: "rss", Samples: 30, Source: "procfs"},
			}
			for p := 0; p < a.proxies; p++ {
				res = append(res, result.Resource{Component: fmt.Sprintf("svc-%d-proxy", p+1), Role: result.RoleProxy,
					CPUMcoresAvg: a.proxy + float64(10*p+rep), MemoryBytesAvg: int64(22+p) << 20, MemoryMetric: "rss", Samples: 30, Source: "procfs"})
			}
			tr := result.Trial{
				ID: fmt.Sprintf("%s-%d", a.name, rep), Arm: a.name, Repetition: rep, Order: order, Status: result.StatusComplete,
				Mesh:      result.MeshInfo{Type: a.mesh, Proxies: a.proxies},
				Generator: result.GeneratorInfo{Name: spec.GeneratorBuiltin, Version: "v0.3.0"},
				Targets:   []string{"http://127.0.0.1:9080/"},
				StartTime: begin, EndTime: begin.Add(30 * time.Second),
				Load:    result.LoadStats{RequestedRateRPS: 200, AchievedRateRPS: 200, Connections: 8, RateHeld: true, DurationMS: 30000},
				Counts:  result.Counts{Requests: 6000, Succeeded: int64(n), Failed: a.failed},
				Latency: lat, ServiceTime: &svc, TimeSeries: ts, Resources: res,
				StatusCodes: map[string]int64{"200": int64(n)},
			}
			if a.failed > 0 {
				tr.ErrorsByClass = map[string]int64{"reset": a.failed - 1, "http": 1}
				tr.StatusCodes["503"] = 1
			}
			if a.name == "haproxy" && rep == 2 {
				tr.Warnings = []string{"the system under test used 96% of its CPUs"}
			}
			doc.Trials = append(doc.Trials, tr)
		}
	}
	doc.EndTime = start.Add(time.Duration(order+1) * 40 * time.Second)
	a, err := analysis.Analyze(doc, nil, analysis.Options{Replicates: 200})
	if err != nil {
		t.Fatal(err)
	}
	doc.Analysis = a
	return doc
}

// costDoc is a small two-arm run (baseline and builtin, two repetitions of 2000 requests)
// as `smp compare` sees them: builtinScale stretches the builtin arm's latencies (1.3 is
// a 30% regression), cores and branch set its environment and label.
func costDoc(t testing.TB, id string, builtinScale float64, cores int, start time.Time, branch string) *result.Document {
	t.Helper()
	plan, err := spec.Parse("plan.yaml", []byte("name: mesh-cost\nlabels: {branch: "+branch+"}\narms: [baseline, builtin]\nrepetitions: 2\nworkload: {rate: 100, duration: 20s}\nmetrics: {buckets: {from: 100us, to: 100ms, per_decade: 3}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	doc := result.New(id, "mesh-cost", start)
	doc.Plan, doc.Labels = plan, plan.Labels
	doc.Environment = result.Environment{ID: "env-" + id[len(id)-4:], Platform: "local", OS: "linux", Arch: "amd64", Kernel: "6.8.0", CPUModel: "AMD EPYC", Cores: cores}
	order := 0
	for rep := 1; rep <= 2; rep++ {
		for _, arm := range []string{"baseline", "builtin"} {
			order++
			median, proxies := 500*time.Microsecond, 0
			if arm == "builtin" {
				median, proxies = time.Duration(float64(800*time.Microsecond)*builtinScale), 2
			}
			begin := start.Add(time.Duration(order) * 30 * time.Second)
			res := []result.Resource{{Component: "svc-1", Role: result.RoleApp, CPUMcoresAvg: 50, MemoryBytesAvg: 20 << 20, MemoryMetric: "rss", Samples: 20, Source: "procfs"}}
			for p := 0; p < proxies; p++ {
				res = append(res, result.Resource{Component: fmt.Sprintf("proxy-%d", p+1), Role: result.RoleProxy, CPUMcoresAvg: 40, MemoryBytesAvg: 22 << 20, MemoryMetric: "rss", Samples: 20, Source: "procfs"})
			}
			mesh := spec.MeshNone
			if arm == "builtin" {
				mesh = spec.MeshBuiltin
			}
			doc.Trials = append(doc.Trials, result.Trial{ID: fmt.Sprintf("%s-%d", arm, rep), Arm: arm, Repetition: rep, Order: order,
				Status: result.StatusComplete, Mesh: result.MeshInfo{Type: mesh}, Generator: result.GeneratorInfo{Name: spec.GeneratorBuiltin, Version: "v0.3.0"},
				StartTime: begin, EndTime: begin.Add(20 * time.Second),
				Load:   result.LoadStats{RequestedRateRPS: 100, AchievedRateRPS: 100, Connections: 16, RateHeld: true, DurationMS: 20000},
				Counts: result.Counts{Requests: 2000, Succeeded: 2000}, StatusCodes: map[string]int64{"200": 2000},
				Latency: distFrom(t, plan, logLogistic(2000, median+time.Duration(rep)*7*time.Microsecond, 5)), Resources: res})
		}
	}
	doc.EndTime = start.Add(3 * time.Minute)
	a, err := analysis.Analyze(doc, nil, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	doc.Analysis = a
	return doc
}
