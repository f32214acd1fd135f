package result

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/spec"
)

// Other tools' results, read as documents so that smp report, compare and results set
// them beside smp's runs: an SMP PerformanceTestResult (alone, as JSON or YAML in
// protobuf's or Meshery's spelling, or the envelope smp export --format smp writes) and
// fortio's result JSON (alone, as an array, or inside a Meshery result's runner_results).
// What the source does not hold is said in Document.Imported and never made up: a
// histogram rebuilt from what it holds is marked (Distribution.Rebuilt) and gets no
// confidence interval, and there are no CPU or memory figures.

// Import formats.
const (
	ImportSMP    = "smp"
	ImportFortio = "fortio"
)

// readImported reads data as another tool's result. ok is false when data is none of
// the formats it knows (then err is nil).
func readImported(data []byte) (doc *Document, ok bool, err error) {
	var top any
	if err := json.Unmarshal(data, &top); err != nil {
		// SMP results are often YAML (Meshery's export is result_<id>.yaml).
		var y any
		if yaml.Unmarshal(data, &y) != nil {
			return nil, false, nil
		}
		if data, err = json.Marshal(y); err != nil {
			return nil, false, nil
		}
		if json.Unmarshal(data, &top) != nil {
			return nil, false, nil
		}
	}
	id := "imported-" + contentID(data)
	switch {
	case isFortio(top):
		doc, err = importFortio(data, id)
	case hasKey(top, "runner_results", "runnerResults"):
		doc, err = importMeshery(data, id)
	case hasKey(top, "performance_test_results", "performanceTestResults", "latencies_ms", "latenciesMs", "actual_qps", "actualQps"):
		doc, err = importSMP(data, id)
	default:
		return nil, false, nil
	}
	return doc, true, err
}

func contentID(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:4])
}

func hasKey(v any, keys ...string) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	for _, k := range keys {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

// isFortio: a fortio result, or an array of them, has a DurationHistogram.
func isFortio(v any) bool {
	if a, ok := v.([]any); ok {
		return len(a) > 0 && hasKey(a[0], "DurationHistogram")
	}
	return hasKey(v, "DurationHistogram")
}

// importDefaults are the percentiles and buckets an imported distribution is summarised
// with: a default plan's.
func importDefaults() ([]float64, []time.Duration) {
	p := (&spec.Plan{}).WithDefaults()
	return p.Metrics.Percentiles, BucketBounds(p.Metrics.Buckets)
}

// rebuiltDist summarises a rebuilt histogram, marked with how it was rebuilt.
func rebuiltDist(h *hist.Histogram, how string) (Distribution, error) {
	enc, err := h.Encode()
	if err != nil {
		return Distribution{}, fmt.Errorf("encode rebuilt histogram: %w", err)
	}
	ps, bounds := importDefaults()
	d := summarise(h, enc, ps, bounds)
	d.Rebuilt = how
	return d, nil
}

// ---- fortio --------------------------------------------------------------------------

// fortioLacks is what every fortio result lacks.
var fortioLacks = []string{
	"CPU and memory figures (fortio measures the client side only)",
	"an HDR histogram: latency is rebuilt from fortio's buckets, so percentiles are known only to within a bucket's width",
	"latency from the intended send time: fortio times each call from its actual start (coordinated omission is not corrected)",
	"the test plan and the environment",
}

func importFortio(data []byte, id string) (*Document, error) {
	var rs []fortioResult
	if err := json.Unmarshal(data, &rs); err != nil {
		var one fortioResult
		if err := json.Unmarshal(data, &one); err != nil {
			return nil, fmt.Errorf("read fortio result: %w", err)
		}
		rs = []fortioResult{one}
	}
	return fortioDocument(rs, id, "")
}

// importMeshery reads a Meshery result: {name, mesh, runner_results: <fortio result>}
// (snake_case as stored, camelCase as newer APIs answer).
func importMeshery(data []byte, id string) (*Document, error) {
	var m struct {
		Name          string          `json:"name"`
		Mesh          any             `json:"mesh"`
		RunnerResults json.RawMessage `json:"runner_results"`
		Runner        json.RawMessage `json:"runnerResults"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("read Meshery result: %w", err)
	}
	raw := m.RunnerResults
	if len(raw) == 0 {
		raw = m.Runner
	}
	var rs []fortioResult
	if err := json.Unmarshal(raw, &rs); err != nil {
		var one fortioResult
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, fmt.Errorf("read Meshery result's runner_results: %w", err)
		}
		rs = []fortioResult{one}
	}
	// Meshery's mesh is null (or "None") when the test ran without one.
	mesh, _ := m.Mesh.(string)
	if mesh == "" {
		mesh = "none"
	}
	doc, err := fortioDocument(rs, id, mesh)
	if err == nil && m.Name != "" {
		doc.Name = m.Name
	}
	return doc, err
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// fortioArm names the arm of fortio result i of n: fortio for a single result (fortio's
// own labels are the URL and the host name); in an array, the last word of its labels
// when that is an arm name (smp's fortio export labels each arm's result "<run> <arm>"),
// else fortio-<i+1>.
func fortioArm(r fortioResult, i, n int, seen map[string]bool) string {
	if n == 1 {
		return "fortio"
	}
	if f := strings.Fields(r.Labels); len(f) > 0 {
		if last := strings.ToLower(f[len(f)-1]); dnsLabel.MatchString(last) && !seen[last] {
			return last
		}
	}
	return fmt.Sprintf("fortio-%d", i+1)
}

func fortioDocument(rs []fortioResult, id, mesh string) (*Document, error) {
	if len(rs) == 0 {
		return nil, errors.New("read fortio result: no results")
	}
	doc := &Document{APIVersion: APIVersion, Kind: Kind, ID: id, Name: strings.TrimSpace(rs[0].Labels), Status: StatusComplete,
		Trials: []Trial{}, Imported: &Import{Format: ImportFortio, Lacks: fortioLacks}}
	if doc.Name == "" {
		doc.Name = "fortio"
	}
	seen := map[string]bool{}
	for i, r := range rs {
		arm := fortioArm(r, i, len(rs), seen)
		seen[arm] = true
		t, err := fortioTrial(r, arm, i+1)
		if err != nil {
			return nil, fmt.Errorf("read fortio result %d: %w", i+1, err)
		}
		if mesh != "" {
			t.Mesh.Type = meshByName(mesh)
		}
		if doc.StartTime.IsZero() || t.StartTime.Before(doc.StartTime) {
			doc.StartTime = t.StartTime
		}
		if t.EndTime.After(doc.EndTime) {
			doc.EndTime = t.EndTime
		}
		doc.Trials = append(doc.Trials, t)
	}
	doc.Warnings = []string{importWarning(doc.Imported)}
	return doc, nil
}

func importWarning(im *Import) string {
	what := map[string]string{ImportSMP: "an SMP PerformanceTestResult", ImportFortio: "a fortio result"}[im.Format]
	return fmt.Sprintf("imported from %s, not measured by smp: it lacks %s", what, strings.Join(im.Lacks, "; "))
}

// meshByName maps a mesh name another tool wrote (ISTIO, "Istio", "No mesh") to smp's.
func meshByName(name string) spec.MeshType {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" || n == "no mesh" || n == "none" || n == "invalid_mesh" {
		return spec.MeshNone
	}
	info, _ := spec.Enum(spec.MeshNone)
	for _, v := range info.Values {
		if v == n {
			return spec.MeshType(v)
		}
		for _, a := range info.Aliases[v] {
			if strings.EqualFold(a, n) {
				return spec.MeshType(v)
			}
		}
	}
	return spec.MeshType(n)
}

func fortioSecs(v float64) time.Duration { return time.Duration(math.Round(v * float64(time.Second))) }

func (h fortioHistogram) ranges() []hist.Range {
	out := make([]hist.Range, len(h.Data))
	for i, b := range h.Data {
		out[i] = hist.Range{Start: fortioSecs(b.Start), End: fortioSecs(b.End), Count: b.Count}
	}
	return out
}

const fortioRebuilt = "rebuilt from fortio's buckets: each bucket's count spread evenly over it, the fastest and slowest call exact"

func fortioTrial(r fortioResult, arm string, n int) (Trial, error) {
	all, errs := r.DurationHistogram, r.ErrorsDurationHistogram
	if all.Count > 0 && len(all.Data) == 0 {
		return Trial{}, errors.New("DurationHistogram has a count but no buckets")
	}
	start := r.StartTime.UTC()
	t := Trial{ID: fmt.Sprintf("%s-%d", arm, n), Arm: arm, Repetition: 1, Order: n, Status: StatusComplete,
		Mesh:      MeshInfo{},
		Generator: GeneratorInfo{Name: spec.GeneratorFortio, Version: r.Version},
		StartTime: start, EndTime: start.Add(time.Duration(r.ActualDuration)),
		Counts: Counts{Requests: all.Count, Succeeded: all.Count - errs.Count, Failed: errs.Count,
			ConnectionsOpened: r.SocketCount},
		BytesSent: r.BytesSent, BytesReceived: r.BytesReceived,
	}
	if g := r.LoadGenerator; g != "" && g != "fortio" {
		t.Generator.Caveats = append(t.Generator.Caveats, "Meshery ran "+g+" and converted its result to fortio's format")
	}
	if r.Sizes != nil && t.BytesReceived == 0 {
		t.BytesReceived = int64(r.Sizes.Sum)
	}
	if u := r.URL; u != "" {
		t.Targets = []string{u}
	} else if r.Destination != "" {
		t.Targets = []string{r.Destination}
	}
	t.Load = LoadStats{AchievedRateRPS: r.ActualQPS, Connections: r.NumThreads, Streams: r.Streams,
		DurationMS: float64(r.ActualDuration) / float64(time.Millisecond), RateHeld: true}
	if q, err := strconv.ParseFloat(r.RequestedQPS, 64); err == nil && q > 0 {
		t.Load.RequestedRateRPS = q
		if short := 1 - r.ActualQPS/q; short > 0.01 {
			t.Load.RateHeld = false
			t.Load.RateWarning = fmt.Sprintf("achieved %.1f/s of %.1f/s requested", r.ActualQPS, q)
		}
	} else {
		t.Load.ClosedLoop = true
	}
	t.StatusCodes, t.ErrorsByClass = fortioCodes(r)
	t.Generator.Caveats = append(t.Generator.Caveats,
		"latency measured from the actual send (coordinated omission not corrected)", "histogram "+fortioRebuilt)
	ok := hist.Spread(hist.Without(all.ranges(), errs.ranges()), fortioSecs(all.Min), fortioSecs(all.Max))
	lat, err := rebuiltDist(ok, fortioRebuilt)
	if err != nil {
		return Trial{}, err
	}
	t.Latency = lat
	if errs.Count > 0 {
		el, err := rebuiltDist(hist.Spread(errs.ranges(), fortioSecs(errs.Min), fortioSecs(errs.Max)), fortioRebuilt)
		if err != nil {
			return Trial{}, err
		}
		t.ErrorLatency = &el
	}
	return t, nil
}

// fortioCodes turns fortio's RetCodes into smp's status counts and error classes: HTTP
// codes as they are (4xx and 5xx are class http), -1 (no response) class other; gRPC
// health answers (SERVING is grpc:OK); TCP's OK is tcp:OK and its other keys, error texts,
// classed by FortioTCPOutcome.
func fortioCodes(r fortioResult) (status, classes map[string]int64) {
	status, classes = map[string]int64{}, map[string]int64{}
	for k, v := range r.RetCodes {
		switch r.RunType {
		case "TCP":
			key, class := FortioTCPOutcome(k)
			if key != "" {
				status[key] += v
			}
			if class != "" {
				classes[class] += v
			}
		case "GRPC":
			if k == "SERVING" {
				status["grpc:OK"] += v
			} else {
				status["health:"+k] += v
				classes["grpc"] += v
			}
		default:
			code, err := strconv.Atoi(k)
			switch {
			case err != nil || code <= 0:
				classes["other"] += v
			case code >= 400:
				status[k] += v
				classes["http"] += v
			default:
				status[k] += v
			}
		}
	}
	return nonEmptyCounts(status), nonEmptyCounts(classes)
}

func nonEmptyCounts(m map[string]int64) map[string]int64 {
	if len(m) == 0 {
		return nil
	}
	return m
}

// FortioTCPOutcome sorts the outcome fortio's TCP runner reports for a call: "OK" (a
// complete, matching echo: status tcp:OK, as smp's engine writes it), or the text of an
// error: its own "short read" (class closed) and "read not echoing writes" (protocol), or
// the socket's.
func FortioTCPOutcome(details string) (status, class string) {
	switch {
	case details == "OK":
		return "tcp:OK", ""
	case strings.Contains(details, "not echoing"):
		return "", "protocol"
	case strings.Contains(details, "short read"), strings.Contains(details, "EOF"):
		return "", "closed"
	case strings.Contains(details, "connection refused"):
		return "", "refused"
	case strings.Contains(details, "connection reset"), strings.Contains(details, "broken pipe"):
		return "", "reset"
	case strings.Contains(details, "timeout"):
		return "", "timeout"
	}
	return "", "other"
}
