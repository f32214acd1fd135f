package result

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	smp "github.com/layer5io/service-mesh-performance/spec"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/spec"
)

// SMP results are read with SMP's own generated types and protobuf's JSON reader, which
// takes both spellings (lowerCamel and proto names), enums by name or number, and
// numbers quoted or not; unknown fields are errors, as they are for plans.

// smpLacks is what every SMP PerformanceTestResult lacks.
var smpLacks = []string{
	"an HDR histogram: SMP holds min, average, p50, p90, p99 and max only; the histogram is rebuilt through them, " +
		"other percentiles are interpolated",
	"error counts and status codes: every request counts as a success",
	"CPU and memory figures",
}

// mesheryPlaceholder is the smp_version Meshery's exporter (MesheryResult.ConvertToSpec)
// writes. The same exporter copies fortio's seconds into latencies_ms unchanged, so a
// result carrying it holds seconds.
const mesheryPlaceholder = "test_smp_version"

// smpEnvelope is what smp export --format smp writes (see smpExport), in either spelling.
type smpEnvelope struct {
	config  *smp.PerformanceTestConfig
	meshes  map[string]*smp.ServiceMeshConfig // by id
	results []*smp.PerformanceTestResult
}

func readSMPEnvelope(data []byte) (*smpEnvelope, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("read SMP result: %w", err)
	}
	get := func(keys ...string) json.RawMessage {
		for _, k := range keys {
			if v, ok := top[k]; ok {
				return v
			}
		}
		return nil
	}
	env := &smpEnvelope{meshes: map[string]*smp.ServiceMeshConfig{}}
	raws := []json.RawMessage{data}
	if r := get("performance_test_results", "performanceTestResults"); r != nil {
		if err := json.Unmarshal(r, &raws); err != nil {
			return nil, fmt.Errorf("read SMP performance_test_results: %w", err)
		}
		if c := get("performance_test_config", "performanceTestConfig"); c != nil {
			env.config = &smp.PerformanceTestConfig{}
			if err := protojson.Unmarshal(c, env.config); err != nil {
				return nil, fmt.Errorf("read SMP PerformanceTestConfig: %w", err)
			}
		}
		var meshes []json.RawMessage
		if m := get("service_mesh_configs", "serviceMeshConfigs"); m != nil {
			if err := json.Unmarshal(m, &meshes); err != nil {
				return nil, fmt.Errorf("read SMP service_mesh_configs: %w", err)
			}
		}
		for i, raw := range meshes {
			m := &smp.ServiceMeshConfig{}
			if err := protojson.Unmarshal(raw, m); err != nil {
				return nil, fmt.Errorf("read SMP ServiceMeshConfig %d: %w", i+1, err)
			}
			env.meshes[m.Id] = m
		}
	}
	for i, raw := range raws {
		r := &smp.PerformanceTestResult{}
		if err := protojson.Unmarshal(raw, r); err != nil {
			return nil, fmt.Errorf("read SMP PerformanceTestResult %d: %w", i+1, err)
		}
		env.results = append(env.results, r)
	}
	return env, nil
}

func importSMP(data []byte, id string) (*Document, error) {
	env, err := readSMPEnvelope(data)
	if err != nil {
		return nil, err
	}
	doc := &Document{APIVersion: APIVersion, Kind: Kind, ID: id, Name: "smp", Status: StatusComplete, Trials: []Trial{},
		Imported: &Import{Format: ImportSMP, Lacks: smpLacks}}
	if env.config != nil && env.config.Name != "" {
		doc.Name = env.config.Name
	}
	seen := map[string]bool{}
	for i, r := range env.results {
		t, note, err := smpTrial(r, env, i, seen)
		if err != nil {
			return nil, fmt.Errorf("read SMP PerformanceTestResult %d: %w", i+1, err)
		}
		if note != "" && !contains(doc.Imported.Notes, note) {
			doc.Imported.Notes = append(doc.Imported.Notes, note)
		}
		seen[t.Arm] = true
		if doc.StartTime.IsZero() || t.StartTime.Before(doc.StartTime) {
			doc.StartTime = t.StartTime
		}
		if t.EndTime.After(doc.EndTime) {
			doc.EndTime = t.EndTime
		}
		if r.Id != "" && len(env.results) == 1 {
			doc.ID = r.Id
		}
		doc.Trials = append(doc.Trials, t)
	}
	doc.Warnings = append([]string{importWarning(doc.Imported)}, doc.Imported.Notes...)
	return doc, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// smpArm names result i: its smp.dev/arm label (smp's own export), else its mesh, else
// smp (smp-<i+1> when taken).
func smpArm(r *smp.PerformanceTestResult, mesh spec.MeshType, i int, seen map[string]bool) string {
	for _, name := range []string{r.Labels["smp.dev/arm"], string(mesh), "smp"} {
		if name != "" && dnsLabel.MatchString(name) && !seen[name] {
			return name
		}
	}
	return fmt.Sprintf("smp-%d", i+1)
}

// smpMesh is what a result's mesh config (in smp's envelope) says was in the data path.
func smpMesh(r *smp.PerformanceTestResult, env *smpEnvelope) MeshInfo {
	var info MeshInfo
	if l := r.Labels[smpMeshLabel]; l != "" {
		info.Type = spec.MeshType(l)
	}
	m := env.meshes[r.MeshConfigId]
	if m == nil {
		return info
	}
	if l := m.Labels[smpMeshLabel]; l != "" {
		info.Type = spec.MeshType(l)
	} else if mt := m.MeshType; mt != nil && mt.Type != smp.ServiceMesh_INVALID_MESH {
		info.Type = meshByName(mt.Type.String())
	}
	info.Version, info.ProxyVersion, info.ProxyConcurrency = m.MeshBuild, m.ProxyBuild, int(m.ProxyConcurrency)
	if m.MtlsEnabled {
		info.MTLS = spec.MTLSStrict // SMP says only on or off; strict is the closer reading
	}
	info.DataPlane = spec.DataPlane(m.Profile)
	return info
}

func smpTrial(r *smp.PerformanceTestResult, env *smpEnvelope, i int, seen map[string]bool) (Trial, string, error) {
	l := r.LatenciesMs
	if l == nil {
		return Trial{}, "", fmt.Errorf("no latencies_ms")
	}
	scale, note := float64(time.Millisecond), ""
	if r.SmpVersion == mesheryPlaceholder {
		scale = float64(time.Second)
		note = "smp_version " + mesheryPlaceholder + " is Meshery's exporter, which writes fortio's seconds into latencies_ms: read as seconds"
	}
	d := func(v float64) time.Duration { return time.Duration(math.Round(v * scale)) }
	mesh := smpMesh(r, env)
	arm := smpArm(r, mesh.Type, i, seen)
	t := Trial{ID: arm + "-1", Arm: arm, Repetition: 1, Order: i + 1, Status: StatusComplete, Mesh: mesh,
		Generator: GeneratorInfo{Name: "unknown"}, StartTime: r.StartTime.AsTime().UTC(), EndTime: r.EndTime.AsTime().UTC(),
		Load: LoadStats{AchievedRateRPS: r.ActualQps, RateHeld: true}}
	if r.StartTime == nil {
		t.StartTime = time.Time{}
	}
	if r.EndTime == nil {
		t.EndTime = t.StartTime
	}
	if c := env.config; c != nil && len(c.Clients) > 0 {
		cl := c.Clients[0]
		t.Generator.Name = spec.Generator(cl.LoadGenerator)
		t.Load.Connections = int(cl.Connections)
		t.Load.RequestedRateRPS = float64(cl.Rps)
		t.Load.ClosedLoop = cl.Rps == 0
		t.Targets = cl.EndpointUrls
	}
	window := t.EndTime.Sub(t.StartTime)
	t.Load.DurationMS = float64(window) / float64(time.Millisecond)
	n := int64(math.Round(r.ActualQps * window.Seconds()))
	t.Generator.Caveats = []string{"histogram " + smpRebuilt}
	switch {
	case n <= 0:
		// The histogram must hold as many latencies as the trial has requests (Check):
		// both are nominal then, and say so.
		n = smpNominalRequests
		t.Warnings = append(t.Warnings, fmt.Sprintf("no start and end time, or no actual_qps: the request count is unknown; "+
			"counts and the rebuilt histogram are %d nominal requests, not a measurement", n))
	case n < smpExactRequests:
		t.Generator.Caveats = append(t.Generator.Caveats, fmt.Sprintf("%d requests, too few for p99 to have ranks of its own: "+
			"the rebuilt percentiles are within a request of SMP's", n))
	}
	t.Counts = Counts{Requests: n, Succeeded: n}
	lat, err := rebuiltDist(smpHistogram(d(l.Min), d(l.P50), d(l.P90), d(l.P99), d(l.Max), n), smpRebuilt)
	if err != nil {
		return Trial{}, "", err
	}
	lat.MeanMS = float64(d(l.Average)) / float64(time.Millisecond) // SMP's own mean, not the rebuilt one's
	t.Latency = lat
	return t, note, nil
}

const (
	// smpExactRequests is the fewest requests whose rebuilt histogram reads SMP's p50,
	// p90 and p99 back exactly: p99's two ranks then lie below the last one (max).
	smpExactRequests = 100
	// smpNominalRequests stand in when a result's request count is unknown.
	smpNominalRequests = 1000
)

const smpRebuilt = "rebuilt from SMP's min, p50, p90, p99 and max: those exact, values spread evenly between them"

// smpHistogram rebuilds n values from SMP's statistics: rank 1 at min, ranks ⌈n/2⌉−1 and
// ⌈n/2⌉ at p50, the same two ranks of p90 and p99 at them, rank n at max, the ranks
// between spread evenly between their neighbours. Two ranks per statistic make it read
// back exactly whether a reader takes the percentile's rank rounded (HdrHistogram) or
// rounded up (nearest rank). Below smpExactRequests p99 has no ranks of its own: the n
// values are then taken evenly from the shape of smpNominalRequests (min and max exact).
func smpHistogram(min, p50, p90, p99, max time.Duration, n int64) *hist.Histogram {
	if n < smpExactRequests {
		shape := smpHistogram(min, p50, p90, p99, max, smpNominalRequests)
		h := hist.New()
		for k := range n {
			q := 50.0
			if n > 1 {
				q = 100 * float64(k) / float64(n-1)
			}
			h.Record(shape.Percentile(q))
		}
		return h
	}
	rank := func(q float64) int64 { return int64(math.Ceil(q * float64(n))) }
	r50, r90, r99 := rank(0.5), rank(0.9), rank(0.99)
	h := hist.Spread([]hist.Range{
		{Start: min, End: p50, Count: r50 - 2}, // rank 1 (min) and the ranks below p50's two
		{Start: p50, End: p90, Count: r90 - r50 - 2},
		{Start: p90, End: p99, Count: r99 - r90 - 2},
		{Start: p99, End: max, Count: n - r99}, // ranks above p99's, the last one max
	}, min, max)
	for _, v := range []time.Duration{p50, p90, p99} {
		h.RecordN(v, 2)
	}
	return h
}
