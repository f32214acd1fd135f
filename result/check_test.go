package result_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/input"
	"github.com/service-mesh-performance/smp/internal/redact"
	"github.com/service-mesh-performance/smp/result"
)

// TestCheckFindsInconsistentDocuments corrupts a sound document one field at a time, as
// a hand edit, a buggy exporter or a truncated merge would, and expects Read to refuse it
// with the path of that field.
func TestCheckFindsInconsistentDocuments(t *testing.T) {
	for _, c := range []struct {
		name, path string
		corrupt    func(d *result.Document)
	}{
		{"negative failed count", "trials[0].counts.failed", func(d *result.Document) {
			d.Trials[0].Counts.Failed = -3
			d.Trials[0].Counts.Requests = d.Trials[0].Counts.Succeeded - 3
		}},
		{"requests that do not add up", "trials[1].counts.requests", func(d *result.Document) { d.Trials[1].Counts.Requests++ }},
		{"latency count off its histogram", "trials[0].latency.count", func(d *result.Document) {
			d.Trials[0].Latency.Count += 5
			d.Trials[0].Counts.Succeeded += 5
			d.Trials[0].Counts.Requests += 5
		}},
		{"latency count off the successes", "trials[2].latency.count", func(d *result.Document) {
			d.Trials[2].Counts.Succeeded--
			d.Trials[2].Counts.Failed++
		}},
		{"negative duration", "trials[0].load.duration_ms", func(d *result.Document) { d.Trials[0].Load.DurationMS = -10000 }},
		{"negative rate", "trials[3].load.achieved_rate_rps", func(d *result.Document) { d.Trials[3].Load.AchievedRateRPS = -1 }},
		{"trial ends before it starts", "trials[1].end_time", func(d *result.Document) {
			d.Trials[1].EndTime = d.Trials[1].StartTime.Add(-time.Second)
		}},
		{"run ends before it starts", "end_time", func(d *result.Document) { d.EndTime = d.StartTime.Add(-time.Hour) }},
		{"percentiles out of order", "trials[0].latency.percentiles[2].value_ms", func(d *result.Document) {
			d.Trials[0].Latency.Percentiles[2].ValueMS = 0
		}},
		{"histogram that does not decode", "trials[0].latency.histogram", func(d *result.Document) {
			d.Trials[0].Latency.Histogram.Data = "HISTFAAAbroken"
		}},
		{"buckets that do not add up", "trials[0].latency.buckets", func(d *result.Document) { d.Trials[0].Latency.Buckets[3].Count += 7 }},
		{"negative memory", "trials[0].resources[1].memory_bytes_avg", func(d *result.Document) {
			d.Trials[0].Resources[1].MemoryBytesAvg = -1
		}},
		{"unknown status", "trials[0].status", func(d *result.Document) { d.Trials[0].Status = "great" }},
		{"no trials in a complete run", "trials", func(d *result.Document) { d.Trials = nil }},
		{"time series out of order", "trials[0].time_series[1].t_s", func(d *result.Document) {
			d.Trials[0].TimeSeries = []result.Point{{OffsetS: 2}, {OffsetS: 1}}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := newFixture(t).doc
			if err := d.Check(); err != nil {
				t.Fatalf("the fixture itself fails: %v", err)
			}
			c.corrupt(d)
			var buf bytes.Buffer
			if err := d.Write(&buf); err != nil {
				t.Fatal(err)
			}
			_, err := result.ReadContext(context.Background(), &buf, result.ReadOptions{Name: "run.json"})
			var fe *result.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Read accepted it (err %v)", err)
			}
			var paths []string
			for _, e := range err.(interface{ Unwrap() error }).Unwrap().(result.CheckErrors) {
				paths = append(paths, e.Path)
			}
			if !strings.Contains(strings.Join(paths, " "), c.path) || !strings.Contains(err.Error(), "run.json") {
				t.Errorf("error does not name %s in run.json:\n%v", c.path, err)
			}
		})
	}
}

// A document with only its version and kind has nothing to report: refused.
func TestCheckBareDocument(t *testing.T) {
	_, err := result.Read(strings.NewReader(`{"api_version": "smp.dev/v1alpha1", "kind": "Result", "status": "complete"}`))
	if err == nil || !strings.Contains(err.Error(), "trials: a complete run has at least one trial") {
		t.Errorf("err %v", err)
	}
	// A run that failed before its first trial is a sound (if empty) document.
	d := result.New("x", "x", time.Now())
	d.Status = result.StatusFailed
	if err := d.Check(); err != nil {
		t.Errorf("a failed run without trials: %v", err)
	}
}

func TestReadTellsAPlanFromAResult(t *testing.T) {
	for name, doc := range map[string]string{
		"yaml plan":    "name: x\nworkload:\n  rate: 10\n",
		"json plan":    `{"api_version": "smp.dev/v1alpha1", "name": "x", "workload": {}}`,
		"meshery file": "test:\n  name: x\n  duration: 10s\nmesh: {type: ISTIO}\n",
	} {
		_, err := result.ReadContext(context.Background(), strings.NewReader(doc), result.ReadOptions{Name: "plan.yaml"})
		if err == nil || !strings.Contains(err.Error(), "plan.yaml is a test plan, not a result; run it with `smp run plan.yaml`") {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, doc := range map[string]string{"empty": " \n", "yaml": "a: b\n"} {
		if _, err := result.Read(strings.NewReader(doc)); err == nil || strings.Contains(err.Error(), "test plan") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestReadIsBounded(t *testing.T) {
	var buf bytes.Buffer
	if err := newFixture(t).doc.Write(&buf); err != nil {
		t.Fatal(err)
	}
	_, err := result.ReadContext(context.Background(), bytes.NewReader(buf.Bytes()), result.ReadOptions{Name: "big.json", MaxBytes: int64(buf.Len() - 1)})
	var tl *input.TooLargeError
	if !errors.As(err, &tl) || tl.Name != "big.json" {
		t.Errorf("a document over the limit: %v", err)
	}
	if _, err := result.ReadContext(context.Background(), bytes.NewReader(buf.Bytes()), result.ReadOptions{MaxBytes: int64(buf.Len())}); err != nil {
		t.Errorf("a document at the limit: %v", err)
	}
}

func TestSaveIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "results")
	path := filepath.Join(dir, "run.json")
	if err := newFixture(t).doc.Save(path); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: %v, %v; want mode %v", p, st.Mode().Perm(), err, want)
		}
	}
}

func TestRedacted(t *testing.T) {
	d := newFixture(t).doc
	d.Plan.Workload.Headers = map[string]string{"Authorization": "Bearer planted-bearer-1", "X-Trace": "on"}
	d.Plan.Workload.Cookies = map[string]string{"sid": "planted-cookie-2"}
	d.Plan.Workload.EndpointURLs = []string{"http://u:planted-pass-3@h/?token=planted-token-4"}
	d.Trials[0].Targets = d.Plan.Workload.EndpointURLs
	d.Trials[1].Error = `Get "http://u:planted-pass-3@h/?token=planted-token-4": refused`
	r := redact.New([]byte("salt"))
	red, err := d.Redacted(r)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := red.Write(&buf); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"planted-bearer-1", "planted-cookie-2", "planted-pass-3", "planted-token-4"} {
		if strings.Contains(buf.String(), s) {
			t.Errorf("%s is still in the document", s)
		}
	}
	if got := red.Plan.Workload.Headers; got["X-Trace"] != "on" || !strings.HasPrefix(got["Authorization"], "Bearer redacted-") {
		t.Errorf("headers %v", got)
	}
	if d.Plan.Workload.Headers["Authorization"] != "Bearer planted-bearer-1" {
		t.Error("Redacted changed the original")
	}
	if red.Trials[0].Latency.Histogram.Data != d.Trials[0].Latency.Histogram.Data || red.Trials[0].Counts != d.Trials[0].Counts {
		t.Error("Redacted changed measurements")
	}
	if err := red.Check(); err != nil {
		t.Errorf("the redacted document fails its check: %v", err)
	}
}
