package history

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// run describes a result document to write: its arms' latencies are constant, so that
// each arm's p99 is known.
type run struct {
	id, name string
	start    time.Time
	labels   map[string]string
	arms     map[string]time.Duration // arm → latency of its every request; 0: failed trial
	sloFail  bool
}

var t0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// folder writes real result documents (real HDR histograms, saved by result.Save) and
// some files that are not results into a temporary folder.
func folder(t *testing.T, runs []run) string {
	t.Helper()
	dir := t.TempDir()
	for _, r := range runs {
		doc := result.New(r.id, r.name, r.start)
		doc.Labels = r.labels
		order := 0
		for _, arm := range []string{"baseline", "builtin", "istio"} {
			lat, ok := r.arms[arm]
			if !ok {
				continue
			}
			order++
			tr := result.Trial{ID: arm + "-1", Arm: arm, Repetition: 1, Order: order, Status: result.StatusComplete,
				StartTime: r.start, EndTime: r.start.Add(10 * time.Second)}
			if lat == 0 {
				tr.Status, tr.Error = result.StatusFailed, "deploy failed"
			} else {
				h := hist.New()
				for range 100 {
					h.Record(lat)
				}
				enc, err := h.Encode()
				if err != nil {
					t.Fatal(err)
				}
				if tr.Latency, err = result.NewDistribution(enc, 0, spec.DefaultPercentiles(), nil); err != nil {
					t.Fatal(err)
				}
				tr.Counts = result.Counts{Requests: 100, Succeeded: 100}
			}
			doc.Trials = append(doc.Trials, tr)
		}
		doc.Analysis = &result.Analysis{Pass: !r.sloFail, SLO: []result.SLOResult{{Condition: "error_rate < 1%", Pass: true}}}
		if r.sloFail {
			doc.Analysis.SLO = append(doc.Analysis.SLO, result.SLOResult{Condition: "latency.p99 < 1ms", Pass: false})
		}
		if err := doc.Save(filepath.Join(dir, r.id+".json")); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range map[string]string{
		"plan.json":               `{"name": "a plan", "arms": ["baseline"]}`,
		"truncated.json":          `{"api_version": "smp.dev/v1alpha1", "kind": "Result", "trials": [`,
		".smp-result-123.json":    `{}`, // a result being written: hidden, ignored
		"report.html":             `<html></html>`,
		"20261120-090000-x.html":  `<html></html>`,
		"subdir/nested-file.json": `{}`,
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func sampleRuns() []run {
	ms := time.Millisecond
	return []run{
		{id: "20261121-100000-quickstart-0a0a", name: "quickstart", start: t0.Add(25 * time.Hour),
			labels: map[string]string{"branch": "main"}, arms: map[string]time.Duration{"baseline": 1 * ms, "builtin": 3 * ms}},
		{id: "20261120-090000-quickstart-1b1b", name: "quickstart", start: t0,
			labels: map[string]string{"branch": "pr-12"}, arms: map[string]time.Duration{"baseline": 1 * ms, "builtin": 4 * ms}, sloFail: true},
		{id: "20261122-080000-istio-2c2c", name: "istio-cost", start: t0.Add(47 * time.Hour),
			labels: map[string]string{"branch": "main", "cluster": "kind"}, arms: map[string]time.Duration{"baseline": 2 * ms, "istio": 0}},
	}
}

func ids(es []Entry) string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID)
	}
	return strings.Join(out, " ")
}

func TestList(t *testing.T) {
	dir := folder(t, sampleRuns())
	all, skipped, err := List(dir, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(all), "20261120-090000-quickstart-1b1b 20261121-100000-quickstart-0a0a 20261122-080000-istio-2c2c"; got != want {
		t.Errorf("all, oldest first: %s\nwant %s", got, want)
	}
	if len(skipped) != 2 || !strings.Contains(strings.Join(skipped, "\n"), "plan.json") || !strings.Contains(strings.Join(skipped, "\n"), "truncated.json") {
		t.Errorf("skipped %q, want plan.json and truncated.json with reasons", skipped)
	}
	// The p99 of every arm is the constant latency's HDR bucket top; a failed arm has none.
	e := all[0]
	if len(e.Arms) != 2 || e.Arms[1].Name != "builtin" || math.Abs(e.Arms[1].P99MS-4) > 0.004 || e.SLOFailed != 1 || e.SLOResults != 2 {
		t.Errorf("first entry: %+v", e)
	}
	if istio := all[2].Arms[1]; istio.Name != "istio" || !math.IsNaN(istio.P99MS) {
		t.Errorf("a failed arm's p99: %+v, want NaN", istio)
	}

	now := t0.Add(48 * time.Hour)
	for _, c := range []struct {
		name string
		f    Filter
		want string
	}{
		{"name", Filter{Name: "quickstart"}, "20261120-090000-quickstart-1b1b 20261121-100000-quickstart-0a0a"},
		{"name pattern", Filter{Name: "istio*"}, "20261122-080000-istio-2c2c"},
		{"arm", Filter{Arm: "builtin"}, "20261120-090000-quickstart-1b1b 20261121-100000-quickstart-0a0a"},
		{"failed arm still listed", Filter{Arm: "istio"}, "20261122-080000-istio-2c2c"},
		{"label", Filter{Labels: map[string]string{"branch": "main"}}, "20261121-100000-quickstart-0a0a 20261122-080000-istio-2c2c"},
		{"two labels", Filter{Labels: map[string]string{"branch": "main", "cluster": "kind"}}, "20261122-080000-istio-2c2c"},
		{"label value differs", Filter{Labels: map[string]string{"branch": "release"}}, ""},
		{"since 20h", Filter{Since: now.Add(-20 * time.Hour)}, "20261122-080000-istio-2c2c"},
		{"since is inclusive", Filter{Since: t0}, "20261120-090000-quickstart-1b1b 20261121-100000-quickstart-0a0a 20261122-080000-istio-2c2c"},
		{"all filters", Filter{Name: "quickstart", Arm: "baseline", Labels: map[string]string{"branch": "main"}, Since: t0.Add(time.Hour)}, "20261121-100000-quickstart-0a0a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, _, err := List(dir, c.f)
			if err != nil {
				t.Fatal(err)
			}
			if ids(got) != c.want {
				t.Errorf("got %q, want %q", ids(got), c.want)
			}
		})
	}
	if _, _, err := List(dir, Filter{Name: "[bad"}); err == nil {
		t.Error("a bad name pattern was accepted")
	}
	if _, _, err := List(filepath.Join(dir, "nope"), Filter{}); err == nil {
		t.Error("a missing folder was accepted")
	}
}

func TestFind(t *testing.T) {
	dir := folder(t, sampleRuns())
	// A renamed result is found by the id inside it.
	if err := os.Rename(filepath.Join(dir, "20261122-080000-istio-2c2c.json"), filepath.Join(dir, "istio-run.json")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id, want, err string
	}{
		{"20261121-100000-quickstart-0a0a", "20261121-100000-quickstart-0a0a.json", ""},
		{"20261121", "20261121-100000-quickstart-0a0a.json", ""},
		{"2026112", "", "matches 2 results"},
		{"istio-run", "istio-run.json", ""},
		{"20261122-08", "istio-run.json", ""},
		{"plan", "", ""}, // plan.json is a file name: found by name, though not a result (Load says so)
		{"20991231", "", "no result matches"},
		{"", "", "no id given"},
	} {
		got, err := Find(dir, c.id)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("Find(%q) = %q, %v; want an error with %q", c.id, got, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("Find(%q): %v", c.id, err)
		case c.want != "" && filepath.Base(got) != c.want:
			t.Errorf("Find(%q) = %q, want %s", c.id, got, c.want)
		}
	}
	if _, err := Find(dir, "zzz"); !errors.Is(err, ErrNotFound) {
		t.Errorf("not found: %v, want ErrNotFound", err)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"24h":                  now.Add(-24 * time.Hour),
		"90m":                  now.Add(-90 * time.Minute),
		"7d":                   now.Add(-7 * 24 * time.Hour),
		"1.5d":                 now.Add(-36 * time.Hour),
		"2026-11-01":           time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		"2026-11-01T08:00:00Z": time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC),
		"2026-11-01 08:30":     time.Date(2026, 11, 1, 8, 30, 0, 0, time.UTC),
	} {
		got, err := ParseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "-2h", "2026-13-01", ""} {
		if _, err := ParseSince(bad, now); err == nil {
			t.Errorf("ParseSince(%q) accepted", bad)
		}
	}
}

func TestWriteTable(t *testing.T) {
	dir := folder(t, sampleRuns())
	all, _, err := List(dir, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, all); err != nil {
		t.Fatal(err)
	}
	want := `ID                               TIME (UTC)        NAME        ARMS              STATUS                  P99
20261120-090000-quickstart-1b1b  2026-11-20 09:00  quickstart  baseline,builtin  complete, 1 SLO failed  baseline 1.00 ms, builtin 4.00 ms
20261121-100000-quickstart-0a0a  2026-11-21 10:00  quickstart  baseline,builtin  complete, SLO ok        baseline 1.00 ms, builtin 3.00 ms
20261122-080000-istio-2c2c       2026-11-22 08:00  istio-cost  baseline,istio    complete, SLO ok        baseline 2.00 ms, istio —
`
	if buf.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", buf.String(), want)
	}
}
