package result_test

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"fortio.org/fortio/fhttp"
	smp "github.com/layer5io/service-mesh-performance/spec"
	"google.golang.org/protobuf/encoding/protojson"
	"gopkg.in/yaml.v3"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// fixture is a result document built from real recordings, with the raw samples kept so
// that tests can compute what exports must say independently of the code under test.
type fixture struct {
	doc     *result.Document
	samples map[string][]time.Duration // successful latencies per arm, all repetitions
	errors  map[string]int64           // failed requests per arm
}

func lognormal(r *rand.Rand, median time.Duration, sigma float64) time.Duration {
	return time.Duration(float64(median) * math.Exp(sigma*r.NormFloat64()))
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	plan, err := spec.Parse("fixture.yaml", []byte(`
name: fixture
arms: [baseline, {name: sidecar, mesh: builtin, proxy_concurrency: 2}]
repetitions: 2
workload:
  rate: 500
  connections: 8
  duration: 10s
metrics:
  percentiles: [50, 75, 90, 99, 99.9]
`))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	f := &fixture{doc: result.New("20261126-100000-fixture-abcd", "fixture", start),
		samples: map[string][]time.Duration{}, errors: map[string]int64{}}
	f.doc.Plan = plan
	f.doc.Environment = result.Environment{ID: "env-1234", Platform: "local", OS: "linux", Arch: "amd64",
		CPUModel: "Test CPU", Cores: 2, MemoryBytes: 8 << 30}
	r := rand.New(rand.NewPCG(1, 2))
	bounds := result.BucketBounds(plan.Metrics.Buckets)
	order := 0
	for rep := 1; rep <= 2; rep++ {
		for _, arm := range []string{"baseline", "sidecar"} {
			order++
			median := 300 * time.Microsecond
			if arm == "sidecar" {
				median = 450 * time.Microsecond
			}
			ok, bad := hist.New(), hist.New()
			n := 4000 + r.IntN(1000)
			for i := 0; i < n; i++ {
				d := lognormal(r, median, 0.6)
				ok.Record(d)
				f.samples[arm] = append(f.samples[arm], d)
			}
			fails := int64(r.IntN(20) + 1)
			for i := int64(0); i < fails; i++ {
				bad.Record(10 * time.Second)
			}
			f.errors[arm] += fails
			lat := mustDist(t, ok, plan.Metrics.Percentiles, bounds)
			errLat := mustDist(t, bad, plan.Metrics.Percentiles, bounds)
			ts := start.Add(time.Duration(order) * 15 * time.Second)
			f.doc.Trials = append(f.doc.Trials, result.Trial{
				ID: arm + "-" + string(rune('0'+rep)), Arm: arm, Repetition: rep, Order: order, Status: result.StatusComplete,
				Mesh:      result.MeshInfo{Type: map[string]spec.MeshType{"baseline": spec.MeshNone, "sidecar": spec.MeshBuiltin}[arm], ProxyConcurrency: 2, MTLS: spec.MTLSStrict},
				Generator: result.GeneratorInfo{Name: spec.GeneratorBuiltin, Version: "test"},
				Targets:   []string{"http://127.0.0.1:8080/"},
				StartTime: ts, EndTime: ts.Add(10 * time.Second),
				Load:          result.LoadStats{RequestedRateRPS: 500, AchievedRateRPS: float64(int64(n)+fails) / 10, Connections: 8, RateHeld: true, Pattern: "constant", DurationMS: 10000},
				Counts:        result.Counts{Requests: int64(n) + fails, Succeeded: int64(n), Failed: fails, ConnectionsOpened: 8},
				StatusCodes:   map[string]int64{"200": int64(n)},
				ErrorsByClass: map[string]int64{"timeout": fails},
				BytesReceived: int64(n) * 1024,
				Latency:       lat,
				ErrorLatency:  &errLat,
				Resources: []result.Resource{
					{Component: "svc-1", Role: result.RoleApp, CPUMcoresAvg: 120, CPUMcoresMax: 150, MemoryBytesAvg: 20 << 20, MemoryBytesMax: 22 << 20, MemoryMetric: "rss", Samples: 10, Source: "procfs"},
					{Component: "svc-1-sidecar", Role: result.RoleProxy, CPUMcoresAvg: 80, CPUMcoresMax: 95, MemoryBytesAvg: 30 << 20, MemoryBytesMax: 31 << 20, MemoryMetric: "rss", Samples: 10, Source: "procfs"},
				},
			})
		}
	}
	f.doc.EndTime = start.Add(time.Minute)
	return f
}

func mustDist(t *testing.T, h *hist.Histogram, percentiles []float64, bounds []time.Duration) result.Distribution {
	t.Helper()
	enc, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	d, err := result.NewDistribution(enc, h.Clamped(), percentiles, bounds)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// exactPercentileMS is the nearest-rank percentile of raw samples, in ms.
func exactPercentileMS(samples []time.Duration, p float64) float64 {
	s := append([]time.Duration(nil), samples...)
	sortDurations(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	if rank < 1 {
		rank = 1
	}
	return float64(s[rank-1]) / 1e6
}

func sortDurations(s []time.Duration) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// within reports whether got is within HDR's precision (3 significant digits, plus the
// 1 µs floor) of want, both in ms.
func within(got, want float64) bool {
	return math.Abs(got-want) <= want*0.001+0.001
}

func TestDocumentRoundTrip(t *testing.T) {
	f := newFixture(t)
	var buf bytes.Buffer
	if err := f.doc.Write(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := result.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	// The embedded plan holds unexported positions that JSON does not carry; compare it
	// through its JSON form and the rest structurally.
	a, _ := json.Marshal(f.doc.Plan)
	b, _ := json.Marshal(back.Plan)
	if !bytes.Equal(a, b) {
		t.Errorf("plan changed in the round trip:\n%s\n%s", a, b)
	}
	want, got := *f.doc, *back
	want.Plan, got.Plan = nil, nil
	if !reflect.DeepEqual(want, got) {
		t.Errorf("document changed in the round trip")
	}
}

func TestReadRejectsOtherDocuments(t *testing.T) {
	for name, doc := range map[string]string{
		"plan":        `{"api_version": "smp.dev/v1alpha1", "name": "x", "workload": {}}`,
		"newer":       `{"api_version": "smp.dev/v2", "kind": "Result"}`,
		"not json":    `name: x`,
		"wrong kind":  `{"api_version": "smp.dev/v1alpha1", "kind": "Plan"}`,
		"bad content": `{"api_version": "smp.dev/v1alpha1", "kind": "Result", "trials": {}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := result.Read(strings.NewReader(doc)); err == nil {
				t.Fatal("Read accepted it")
			}
		})
	}
}

func TestPoolIsExact(t *testing.T) {
	f := newFixture(t)
	for arm, samples := range f.samples {
		lat, err := f.doc.ArmLatency(arm)
		if err != nil {
			t.Fatal(err)
		}
		if lat.Count != int64(len(samples)) {
			t.Errorf("%s: pooled count %d, want %d", arm, lat.Count, len(samples))
		}
		all := hist.New()
		for _, s := range samples {
			all.Record(s)
		}
		for _, p := range lat.Percentiles {
			if want := float64(all.Percentile(p.Percentile)) / 1e6; p.ValueMS != want {
				t.Errorf("%s p%g: pooled %v ms, one histogram of all samples %v ms", arm, p.Percentile, p.ValueMS, want)
			}
		}
	}
}

// TestExportSMP decodes the export with the SMP module's own generated types (protobuf
// JSON, the canonical reader) and with encoding/json (Meshery's path), and checks that the
// latencies are milliseconds that match the samples.
func TestExportSMP(t *testing.T) {
	f := newFixture(t)
	var buf bytes.Buffer
	if err := result.ExportSMP(&buf, f.doc, result.ExportOptions{DetailsURI: "file:///tmp/run.json"}); err != nil {
		t.Fatal(err)
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &env); err != nil {
		t.Fatal(err)
	}
	strict := protojson.UnmarshalOptions{DiscardUnknown: false}
	var cfg smp.PerformanceTestConfig
	if err := strict.Unmarshal(env["performance_test_config"], &cfg); err != nil {
		t.Fatalf("PerformanceTestConfig: %v", err)
	}
	if len(cfg.Clients) != 1 || cfg.Clients[0].Rps != 500 || cfg.Clients[0].Connections != 8 ||
		cfg.Clients[0].Protocol != smp.PerformanceTestConfig_Client_PROTOCOL_HTTP || cfg.Duration != "10s" {
		t.Errorf("test config: %v", &cfg)
	}
	var envCfg smp.EnvironmentConfig
	if err := strict.Unmarshal(env["environment_config"], &envCfg); err != nil {
		t.Fatalf("EnvironmentConfig: %v", err)
	}
	if envCfg.Id != "env-1234" || len(envCfg.Nodes) != 1 || envCfg.Nodes[0].Cores != 2 || envCfg.Nodes[0].MemMb != 8192 {
		t.Errorf("environment: %v", &envCfg)
	}
	var results, meshes []json.RawMessage
	_ = json.Unmarshal(env["performance_test_results"], &results)
	_ = json.Unmarshal(env["service_mesh_configs"], &meshes)
	if len(results) != 2 || len(meshes) != 2 {
		t.Fatalf("got %d results and %d mesh configs, want 2 and 2", len(results), len(meshes))
	}
	meshIDs := map[string]bool{}
	for _, raw := range meshes {
		var m smp.ServiceMeshConfig
		if err := strict.Unmarshal(raw, &m); err != nil {
			t.Fatalf("ServiceMeshConfig: %v", err)
		}
		meshIDs[m.Id] = true
		if m.ExpGroupUuid != f.doc.ID {
			t.Errorf("exp_group_uuid %q, want the run id", m.ExpGroupUuid)
		}
		if m.Labels["smp.dev/arm"] == "sidecar" {
			if !m.MtlsEnabled || m.ProxyConcurrency != 2 || m.Sidecar.GetCount() != 1 || m.Sidecar.GetCpuMcores() != 80 || m.Sidecar.GetMemMb() != 30 {
				t.Errorf("sidecar mesh config: %v", &m)
			}
		}
	}
	for _, raw := range results {
		var r smp.PerformanceTestResult
		if err := strict.Unmarshal(raw, &r); err != nil {
			t.Fatalf("PerformanceTestResult: %v", err)
		}
		arm := r.Labels["smp.dev/arm"]
		samples := f.samples[arm]
		if r.TestId != f.doc.ID || r.EnvId != "env-1234" || !meshIDs[r.MeshConfigId] || r.DetailsUri != "file:///tmp/run.json" {
			t.Errorf("%s: ids test=%q env=%q mesh=%q details=%q do not link to the document", arm, r.TestId, r.EnvId, r.MeshConfigId, r.DetailsUri)
		}
		l := r.LatenciesMs
		for name, c := range map[string]struct{ got, want float64 }{
			"p50": {l.P50, exactPercentileMS(samples, 50)},
			"p90": {l.P90, exactPercentileMS(samples, 90)},
			"p99": {l.P99, exactPercentileMS(samples, 99)},
			"min": {l.Min, exactPercentileMS(samples, 0)},
			"max": {l.Max, exactPercentileMS(samples, 100)},
		} {
			if !within(c.got, c.want) {
				t.Errorf("%s %s: exported %v ms, samples say %v ms", arm, name, c.got, c.want)
			}
		}
		var sum time.Duration
		for _, s := range samples {
			sum += s
		}
		if mean := float64(sum) / float64(len(samples)) / 1e6; !within(l.Average, mean) {
			t.Errorf("%s average: exported %v ms, samples say %v ms", arm, l.Average, mean)
		}
		// Every request (failed ones too) over 20 s of measurement.
		wantQPS := float64(int64(len(samples))+f.errors[arm]) / 20
		if math.Abs(r.ActualQps-wantQPS) > 1e-9 {
			t.Errorf("%s actual_qps %v, want %v", arm, r.ActualQps, wantQPS)
		}
		if r.StartTime.AsTime().IsZero() || !r.EndTime.AsTime().After(r.StartTime.AsTime()) {
			t.Errorf("%s: times %v..%v", arm, r.StartTime.AsTime(), r.EndTime.AsTime())
		}
	}
	// Meshery reads SMP files with encoding/json into the generated structs, which only
	// works when numbers and enums are plain JSON numbers.
	var viaJSON struct {
		Results []smp.PerformanceTestResult `json:"performance_test_results"`
		Meshes  []smp.ServiceMeshConfig     `json:"service_mesh_configs"`
	}
	raw := bytes.ReplaceAll(buf.Bytes(), []byte(`"start_time"`), []byte(`"_start"`))
	raw = bytes.ReplaceAll(raw, []byte(`"end_time"`), []byte(`"_end"`))
	if err := json.Unmarshal(raw, &viaJSON); err != nil {
		t.Errorf("encoding/json cannot read the export: %v", err)
	}
}

func TestExportSMPOneArmAsYAML(t *testing.T) {
	f := newFixture(t)
	var buf bytes.Buffer
	if err := result.ExportSMP(&buf, f.doc, result.ExportOptions{Arm: "sidecar", YAML: true}); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte("{")) {
		t.Errorf("YAML export is in flow style:\n%s", buf.String())
	}
	var generic map[string]any
	if err := yaml.Unmarshal(buf.Bytes(), &generic); err != nil {
		t.Fatal(err)
	}
	asJSON, _ := json.Marshal(generic)
	var r smp.PerformanceTestResult
	if err := protojson.Unmarshal(asJSON, &r); err != nil {
		t.Fatalf("the YAML is not a PerformanceTestResult: %v\n%s", err, buf.String())
	}
	if r.Labels["smp.dev/arm"] != "sidecar" || !within(r.LatenciesMs.P99, exactPercentileMS(f.samples["sidecar"], 99)) {
		t.Errorf("one-arm export: %v", &r)
	}
	if err := result.ExportSMP(&buf, f.doc, result.ExportOptions{Arm: "nope"}); err == nil {
		t.Error("export of a missing arm succeeded")
	}
}

// TestExportFortio decodes the export with fortio's own result type and checks that the
// histogram buckets add up to the number of requests and that times are seconds.
func TestExportFortio(t *testing.T) {
	f := newFixture(t)
	var buf bytes.Buffer
	if err := result.ExportFortio(&buf, f.doc, result.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	var runs []fhttp.HTTPRunnerResults
	if err := json.Unmarshal(buf.Bytes(), &runs); err != nil {
		t.Fatalf("fortio cannot read the export: %v", err)
	}
	if len(runs) != 2 {
		t.Fatalf("got %d runs, want one per arm", len(runs))
	}
	for i, arm := range []string{"baseline", "sidecar"} {
		r := runs[i]
		h := r.DurationHistogram
		requests := int64(len(f.samples[arm])) + f.errors[arm]
		if h.Count != requests {
			t.Errorf("%s: DurationHistogram.Count %d, want %d requests", arm, h.Count, requests)
		}
		var sum int64
		prevEnd := h.Min
		for j, b := range h.Data {
			sum += b.Count
			if b.Start < prevEnd-1e-12 || b.End < b.Start {
				t.Errorf("%s bucket %d [%v, %v] overlaps or is reversed (previous end %v)", arm, j, b.Start, b.End, prevEnd)
			}
			prevEnd = b.End
		}
		if sum != requests {
			t.Errorf("%s: bucket counts sum to %d, want %d", arm, sum, requests)
		}
		if last := h.Data[len(h.Data)-1]; last.Percent != 100 {
			t.Errorf("%s: last bucket is at %v%%, want 100", arm, last.Percent)
		}
		if r.ErrorsDurationHistogram.Count != f.errors[arm] {
			t.Errorf("%s: %d errors in ErrorsDurationHistogram, want %d", arm, r.ErrorsDurationHistogram.Count, f.errors[arm])
		}
		// Seconds: the 10 s timeouts are the maximum.
		if math.Abs(h.Max-10) > 0.01 {
			t.Errorf("%s: Max %v, want 10 (seconds)", arm, h.Max)
		}
		if r.RetCodes[200] != int64(len(f.samples[arm])) || r.RetCodes[-1] != f.errors[arm] {
			t.Errorf("%s: RetCodes %v", arm, r.RetCodes)
		}
		if r.NumThreads != 8 || r.RequestedQPS != "500" || r.ActualDuration != 20*time.Second {
			t.Errorf("%s: NumThreads %d RequestedQPS %q ActualDuration %v", arm, r.NumThreads, r.RequestedQPS, r.ActualDuration)
		}
		var p99 float64
		for _, p := range h.Percentiles {
			if p.Percentile == 99 {
				p99 = p.Value
			}
		}
		if p99 == 0 {
			t.Errorf("%s: no p99 among %v", arm, h.Percentiles)
		}
	}
	buf.Reset()
	if err := result.ExportFortio(&buf, f.doc, result.ExportOptions{Arm: "baseline"}); err != nil {
		t.Fatal(err)
	}
	var one fhttp.HTTPRunnerResults
	if err := json.Unmarshal(buf.Bytes(), &one); err != nil || one.DurationHistogram == nil {
		t.Fatalf("one-arm export is not a single fortio result: %v", err)
	}
}

func TestNewIDSortsByTime(t *testing.T) {
	a := result.NewID("Quick Start!", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	b := result.NewID("quickstart", time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC))
	if !strings.HasPrefix(a, "20260102-030405-Quick-Start-") || a >= b {
		t.Errorf("ids %q, %q", a, b)
	}
	if a == result.NewID("Quick Start!", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Error("two ids in the same second are equal")
	}
}

func TestCountsErrorRate(t *testing.T) {
	for _, c := range []struct {
		name string
		c    result.Counts
		want float64
	}{
		{"nothing", result.Counts{}, 0},
		{"no errors", result.Counts{Requests: 10, Succeeded: 10}, 0},
		{"failed", result.Counts{Requests: 10, Succeeded: 9, Failed: 1}, 0.1},
		{"overflow counts", result.Counts{Requests: 8, Succeeded: 8, Overflow: 2}, 0.2},
	} {
		if got := c.c.ErrorRate(); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
