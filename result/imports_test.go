package result_test

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fortio.org/fortio/fhttp"
	"fortio.org/fortio/periodic"
	"fortio.org/fortio/tcprunner"
	flog "fortio.org/log"
	smp "github.com/layer5io/service-mesh-performance/spec"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
	"gopkg.in/yaml.v3"

	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

func read(t *testing.T, data []byte) *result.Document {
	t.Helper()
	doc, err := result.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read: %v\n%.600s", err, data)
	}
	return doc
}

func percentile(d result.Distribution, p float64) float64 {
	for _, q := range d.Percentiles {
		if q.Percentile == p {
			return q.ValueMS
		}
	}
	return math.NaN()
}

// fortioHTTPRun runs fortio's own HTTP runner (the library, as `fortio load` runs it)
// against a loopback server that answers every 10th request 503, and returns fortio's
// JSON of the run: the file `fortio load -json` writes.
func fortioHTTPRun(t *testing.T) (data []byte, res *fhttp.HTTPRunnerResults) {
	t.Helper()
	flog.SetLogLevelQuiet(flog.Critical)
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(time.Millisecond) // a latency well above the loopback's, not synchronisation
		if n.Add(1)%10 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	o := &fhttp.HTTPRunnerOptions{RunnerOptions: periodic.RunnerOptions{QPS: 400, Duration: time.Second, NumThreads: 4,
		Out: io.Discard, Stop: periodic.NewAborter(), Percentiles: []float64{50, 90, 99}, Labels: "fortio-run",
		Resolution: 0.0001}, AllowInitialErrors: true}
	o.URL = srv.URL
	res, err := fhttp.RunHTTPTest(o)
	if err != nil {
		t.Fatal(err)
	}
	data, err = json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	return data, res
}

// TestImportFortioFromARealRun reads fortio's own JSON of a real fortio run: every call
// accounted for, the 503s as failures, percentiles within fortio's bucket width of what
// fortio itself reports, and the document says it is imported and what it lacks.
func TestImportFortioFromARealRun(t *testing.T) {
	data, res := fortioHTTPRun(t)
	doc := read(t, data)
	if doc.Imported == nil || doc.Imported.Format != result.ImportFortio || len(doc.Imported.Lacks) == 0 {
		t.Fatalf("imported %+v, want format fortio with what it lacks", doc.Imported)
	}
	if len(doc.Trials) != 1 || doc.Arms()[0] != "fortio" || doc.Name != "fortio-run" {
		t.Fatalf("trials %d arms %v name %q, want one arm fortio, named from fortio's labels", len(doc.Trials), doc.Arms(), doc.Name)
	}
	tr := doc.Trials[0]
	c := tr.Counts
	if c.Requests != res.DurationHistogram.Count || c.Failed != res.ErrorsDurationHistogram.Count || c.Requests < 20 || c.Failed == 0 {
		t.Errorf("counts %+v, fortio counted %d calls and %d errors", c, res.DurationHistogram.Count, res.ErrorsDurationHistogram.Count)
	}
	if tr.StatusCodes["200"] != res.RetCodes[200] || tr.StatusCodes["503"] != res.RetCodes[503] || tr.ErrorsByClass["http"] != res.RetCodes[503] {
		t.Errorf("status %v errors %v, fortio's RetCodes %v", tr.StatusCodes, tr.ErrorsByClass, res.RetCodes)
	}
	if tr.Latency.Count != c.Succeeded || tr.Latency.Rebuilt == "" || tr.ErrorLatency == nil || tr.ErrorLatency.Count != c.Failed {
		t.Errorf("latency count %d (rebuilt %q), error latency %v, want %d and %d", tr.Latency.Count, tr.Latency.Rebuilt, tr.ErrorLatency, c.Succeeded, c.Failed)
	}
	if tr.Load.RequestedRateRPS != 400 || math.Abs(tr.Load.AchievedRateRPS-res.ActualQPS) > 1e-9 || tr.Load.Connections != 4 {
		t.Errorf("load %+v, fortio: qps %v threads %d", tr.Load, res.ActualQPS, res.NumThreads)
	}
	if d := tr.EndTime.Sub(tr.StartTime); d != res.ActualDuration {
		t.Errorf("measured %v, fortio's ActualDuration %v", d, res.ActualDuration)
	}
	// fortio's p50 is over every call (errors too); the imported one over successes, which
	// here are the same calls but 10%: compare at the bucket width of fortio's histogram.
	h := res.DurationHistogram
	var width float64
	for _, b := range h.Data {
		if b.Count > 0 && b.End-b.Start > width {
			width = b.End - b.Start
		}
	}
	fortioP50 := h.CalcPercentile(50) * 1000
	if got := percentile(tr.Latency, 50); math.Abs(got-fortioP50) > width*1000+0.01 {
		t.Errorf("p50 %.3f ms, fortio's %.3f ms (bucket width %.3f ms)", got, fortioP50, width*1000)
	}
	if got := tr.Latency.MinMS; got < h.Min*1000*0.999 || got > h.Max*1000*1.001 {
		t.Errorf("min %.3f ms outside fortio's [%.3f, %.3f]", got, h.Min*1000, h.Max*1000)
	}
	if !strings.Contains(strings.Join(doc.Warnings, " "), "imported from a fortio result") {
		t.Errorf("warnings %v do not say the document is imported", doc.Warnings)
	}
}

// TestImportFortioTCP reads a real run of fortio's TCP echo runner (tcp:OK statuses, bytes
// both ways).
func TestImportFortioTCP(t *testing.T) {
	flog.SetLogLevelQuiet(flog.Critical)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { defer c.Close(); io.Copy(c, c) })
		}
	})
	o := &tcprunner.RunnerOptions{RunnerOptions: periodic.RunnerOptions{QPS: 200, Duration: 500 * time.Millisecond, NumThreads: 2,
		Out: io.Discard, Stop: periodic.NewAborter()}}
	o.Destination = "tcp://" + ln.Addr().String()
	o.Payload = bytes.Repeat([]byte("x"), 100)
	res, err := tcprunner.RunTCPTest(o)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	tr := read(t, data).Trials[0]
	if tr.Counts.Requests < 90 || tr.StatusCodes["tcp:OK"] != tr.Counts.Requests || tr.Counts.Failed != 0 {
		t.Errorf("counts %+v status %v, want every echo tcp:OK", tr.Counts, tr.StatusCodes)
	}
	if tr.BytesSent != res.BytesSent || tr.BytesReceived != res.BytesReceived || tr.BytesSent == 0 {
		t.Errorf("bytes %d/%d, fortio %d/%d", tr.BytesSent, tr.BytesReceived, res.BytesSent, res.BytesReceived)
	}
	if len(tr.Targets) != 1 || !strings.HasPrefix(tr.Targets[0], "tcp://") {
		t.Errorf("targets %v", tr.Targets)
	}
}

// TestImportMesheryResult reads a result as Meshery stores it (fortio's JSON in
// runner_results), from the sample in the SMP spec repository.
func TestImportMesheryResult(t *testing.T) {
	sample := `{"meshery_id":"f9ccd668","name":"No mesh_1650983199033","mesh":null,"performance_profile":"30c9382b",
 "test_start_time":"2022-04-26T19:56:40.358118Z",
 "runner_results":{"RunType":"HTTP","URL":"https://www.facebook.com","Labels":"No mesh_1650983199033 -_- https://www.facebook.com",
   "RequestedQPS":"max","RequestedDuration":"30s","ActualQPS":2.5838,"ActualDuration":30187978458,"NumThreads":1,
   "DurationHistogram":{"Count":78,"Min":0.3349775,"Max":0.509868292,"Avg":0.38663,"StdDev":0.03145,"Sum":30.157,
     "Data":[{"Start":0.3349775,"End":0.35,"Percent":6.41,"Count":5},{"Start":0.35,"End":0.4,"Percent":70.5,"Count":50},
             {"Start":0.4,"End":0.45,"Percent":94.87,"Count":19},{"Start":0.45,"End":0.509868292,"Percent":100,"Count":4}],
     "Percentiles":[{"Percentile":50,"Value":0.3833},{"Percentile":99,"Value":0.5022}]},
   "RetCodes":{"200":78},"SocketCount":0,"Version":"dev","StartTime":"2022-04-26T19:56:40.358118+05:30","load-generator":"fortio"}}`
	doc := read(t, []byte(sample))
	tr := doc.Trials[0]
	if doc.Name != "No mesh_1650983199033" || doc.Imported.Format != result.ImportFortio || tr.Mesh.Type != spec.MeshNone {
		t.Errorf("name %q format %s mesh %q", doc.Name, doc.Imported.Format, tr.Mesh.Type)
	}
	if tr.Counts.Requests != 78 || !tr.Load.ClosedLoop || math.Abs(tr.Latency.MinMS-334.9775) > 0.34 || math.Abs(tr.Latency.MaxMS-509.868) > 0.51 {
		t.Errorf("counts %+v closed %v min %v max %v", tr.Counts, tr.Load.ClosedLoop, tr.Latency.MinMS, tr.Latency.MaxMS)
	}
	if p50 := percentile(tr.Latency, 50); p50 < 350 || p50 > 400 {
		t.Errorf("p50 %v ms, want in fortio's (350, 400] ms bucket", p50)
	}
}

// TestImportSMPRoundTrip: smp's own SMP export reads back as the same arms, meshes and
// statistics.
func TestImportSMPRoundTrip(t *testing.T) {
	f := newFixture(t)
	var buf bytes.Buffer
	if err := result.ExportSMP(&buf, f.doc, result.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	doc := read(t, buf.Bytes())
	if doc.Imported == nil || doc.Imported.Format != result.ImportSMP || doc.Name != "fixture" {
		t.Fatalf("imported %+v name %q", doc.Imported, doc.Name)
	}
	if got := doc.Arms(); len(got) != 2 || got[0] != "baseline" || got[1] != "sidecar" {
		t.Fatalf("arms %v", got)
	}
	for _, arm := range []string{"baseline", "sidecar"} {
		orig, err := f.doc.ArmLatency(arm)
		if err != nil {
			t.Fatal(err)
		}
		tr := doc.TrialsOf(arm)[0]
		for _, p := range []float64{50, 90, 99} {
			want, got := percentile(orig, p), percentile(tr.Latency, p)
			if math.Abs(got-want) > want*0.002 {
				t.Errorf("%s p%g: %v ms read back, %v ms exported", arm, p, got, want)
			}
		}
		if math.Abs(tr.Latency.MaxMS-orig.MaxMS) > orig.MaxMS*0.002 || math.Abs(tr.Latency.MeanMS-orig.MeanMS) > 1e-9 {
			t.Errorf("%s max %v mean %v, exported %v %v", arm, tr.Latency.MaxMS, tr.Latency.MeanMS, orig.MaxMS, orig.MeanMS)
		}
		if math.Abs(doc.Totals(arm).AchievedRPS()-f.doc.Totals(arm).AchievedRPS()) > 0.2 {
			t.Errorf("%s throughput %v, exported %v", arm, doc.Totals(arm).AchievedRPS(), f.doc.Totals(arm).AchievedRPS())
		}
	}
	if m := doc.TrialsOf("sidecar")[0].Mesh; m.Type != spec.MeshBuiltin || m.MTLS != spec.MTLSStrict {
		t.Errorf("sidecar mesh %+v", m)
	}
	if m := doc.TrialsOf("baseline")[0].Mesh; m.Type != spec.MeshNone {
		t.Errorf("baseline mesh %+v", m)
	}
}

// canonicalResult is an SMP result as SMP's own types hold it.
func canonicalResult(version string, lat float64) *smp.PerformanceTestResult {
	start := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	return &smp.PerformanceTestResult{SmpVersion: version, Id: "r-1", Labels: map[string]string{"team": "a"},
		StartTime: timestamppb.New(start), EndTime: timestamppb.New(start.Add(30 * time.Second)), ActualQps: 100,
		LatenciesMs: &smp.PerformanceTestResult_Latency{Min: lat, Average: 3 * lat, P50: 2 * lat, P90: 4 * lat, P99: 8 * lat, Max: 20 * lat}}
}

// TestImportSMPCanonical reads a bare PerformanceTestResult as protojson writes it, and as
// Meshery's exporter writes YAML (its placeholder smp_version, seconds in latencies_ms).
func TestImportSMPCanonical(t *testing.T) {
	data, err := protojson.Marshal(canonicalResult("v0.6.1", 1))
	if err != nil {
		t.Fatal(err)
	}
	doc := read(t, data)
	tr := doc.Trials[0]
	if doc.ID != "r-1" || tr.Arm != "smp" || tr.Counts.Requests != 3000 || len(doc.Imported.Notes) != 0 {
		t.Errorf("id %q arm %q requests %d notes %v", doc.ID, tr.Arm, tr.Counts.Requests, doc.Imported.Notes)
	}
	for p, want := range map[float64]float64{50: 2, 90: 4, 99: 8} {
		if got := percentile(tr.Latency, p); math.Abs(got-want) > want*0.002 {
			t.Errorf("p%g %v ms, want %v", p, got, want)
		}
	}
	if tr.Latency.MinMS != 1 || math.Abs(tr.Latency.MaxMS-20) > 0.02 || tr.Latency.MeanMS != 3 {
		t.Errorf("min %v max %v mean %v", tr.Latency.MinMS, tr.Latency.MaxMS, tr.Latency.MeanMS)
	}

	j, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(canonicalResult("test_smp_version", 0.001))
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(j, &generic); err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(generic)
	if err != nil {
		t.Fatal(err)
	}
	doc = read(t, y)
	tr = doc.Trials[0]
	if got := percentile(tr.Latency, 50); math.Abs(got-2) > 0.004 || len(doc.Imported.Notes) != 1 {
		t.Errorf("Meshery's seconds: p50 %v ms (want 2), notes %v", got, doc.Imported.Notes)
	}
}

// TestImportSMPShortRuns: a result of fewer than 1000 requests (10/s for 30 s) or of a
// handful, and one whose request count is unknown, read as sound
// documents: as many latencies as requests, SMP's statistics read back (exactly from 100
// requests, within a request below), the unknown count nominal and said to be.
func TestImportSMPShortRuns(t *testing.T) {
	for _, tc := range []struct {
		name     string
		qps      float64
		times    bool
		requests int64
		slack    float64 // how far a percentile may read back from SMP's, relative
	}{
		{"300 requests", 10, true, 300, 0.002},
		{"100 requests", 10.0 / 3, true, 100, 0.002},
		{"60 requests", 2, true, 60, 0.5},
		{"one request", 1.0 / 30, true, 1, 9},
		{"no times", 100, false, 1000, 0.002},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := canonicalResult("v0.6.1", 1)
			r.ActualQps = tc.qps
			if !tc.times {
				r.StartTime, r.EndTime = nil, nil
			}
			data, err := protojson.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			tr := read(t, data).Trials[0]
			if tr.Counts.Requests != tc.requests || tr.Counts.Succeeded != tc.requests || tr.Latency.Count != tc.requests {
				t.Errorf("requests %d, succeeded %d, latencies %d; want %d of each", tr.Counts.Requests, tr.Counts.Succeeded, tr.Latency.Count, tc.requests)
			}
			for p, want := range map[float64]float64{50: 2, 90: 4, 99: 8} {
				if got := percentile(tr.Latency, p); math.Abs(got-want) > want*tc.slack {
					t.Errorf("p%g %v ms, want %v", p, got, want)
				}
			}
			if tc.requests > 1 && (tr.Latency.MinMS != 1 || math.Abs(tr.Latency.MaxMS-20) > 0.02) {
				t.Errorf("min %v max %v, want 1 and 20", tr.Latency.MinMS, tr.Latency.MaxMS)
			}
			if nominal := strings.Contains(strings.Join(tr.Warnings, " "), "nominal"); nominal == tc.times {
				t.Errorf("warnings %q: nominal counts must be said exactly when the count is unknown", tr.Warnings)
			}
		})
	}
}

func TestReadRefusesOtherFiles(t *testing.T) {
	for name, in := range map[string]string{
		"plan":    "name: x\nworkload: {rate: 10}\n",
		"garbage": "{\"hello\": 1}",
		"bad smp": `{"latenciesMs": {"p50": "fast"}}`,
	} {
		if _, err := result.Read(strings.NewReader(in)); err == nil {
			t.Errorf("%s: read without an error", name)
		}
	}
}

// TestImportFortioArray reads smp's own fortio export of a two-arm run back, arms by name.
func TestImportFortioArray(t *testing.T) {
	f := newFixture(t)
	var buf bytes.Buffer
	if err := result.ExportFortio(&buf, f.doc, result.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	doc := read(t, buf.Bytes())
	if got := doc.Arms(); len(got) != 2 || got[0] != "baseline" || got[1] != "sidecar" {
		t.Fatalf("arms %v", got)
	}
	for _, arm := range []string{"baseline", "sidecar"} {
		tr := doc.TrialsOf(arm)[0]
		want := int64(len(f.samples[arm])) + f.errors[arm]
		if tr.Counts.Requests != want || tr.Counts.Failed != f.errors[arm] || tr.ErrorsByClass["other"] != f.errors[arm] {
			t.Errorf("%s: counts %+v errors %v, want %d requests, %d failed", arm, tr.Counts, tr.ErrorsByClass, want, f.errors[arm])
		}
	}
}
