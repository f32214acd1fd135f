package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/analysis"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

func mainAndPR(t *testing.T) []Run {
	return []Run{
		{Label: "main", Doc: costDoc(t, "20261124-090000-mesh-cost-aaaa", 1, 2, time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC), "main")},
		{Label: "pr", Doc: costDoc(t, "20261125-090000-mesh-cost-bbbb", 1.3, 4, time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC), "pr-7")},
	}
}

// TestCompareReport: a pull request whose builtin arm is 30% slower than main's, on a
// machine with more cores. The regression is flagged, the unchanged baseline arm is not,
// the environment difference is warned about, and the SLO on the overhead against main
// fails on the builtin arm only.
func TestCompareReport(t *testing.T) {
	conds := []spec.Condition{}
	for _, text := range []string{"overhead.latency.p99 < 5%", "error_rate < 0.1%"} {
		c, err := spec.ParseCondition(text)
		if err != nil {
			t.Fatal(err)
		}
		conds = append(conds, c)
	}
	c, err := Compare(mainAndPR(t), 0, conds, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Pass {
		t.Error("the 30% regression passed overhead.latency.p99 < 5%")
	}
	verdicts := map[string]string{}
	for _, p := range c.Arms {
		for _, d := range p.Deltas {
			verdicts[p.Arm+" "+d.Metric] = verdict(d)
		}
	}
	for k, want := range map[string]string{
		"builtin latency.p50":  "significant, worse",
		"builtin latency.p99":  "significant, worse",
		"baseline latency.p50": "not significant",
		"baseline latency.p99": "not significant",
		"builtin cpu.proxy":    "not significant",
	} {
		// Not significant is said two ways: no significant change, or a change smaller
		// than the instrument can tell.
		got := verdicts[k]
		if want == "not significant" && (got == "no significant change" || got == "below resolution") {
			continue
		}
		if got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	var failed []string
	for _, r := range c.SLO {
		if !r.Pass {
			failed = append(failed, r.Message)
		}
	}
	if len(failed) != 1 || !strings.HasPrefix(failed[0], "pr builtin: overhead.latency.p99 = +") || !strings.HasSuffix(failed[0], "in main), not < 5%") {
		t.Errorf("failed SLOs: %q", failed)
	}
	if w := strings.Join(c.Warnings, "\n"); !strings.Contains(w, "cores 4 in pr, 2 in main") || !strings.Contains(w, "environments differ") {
		t.Errorf("warnings: %s", w)
	}
	for _, f := range []struct {
		format Format
		golden string
	}{{FormatTable, "compare.txt.golden"}, {FormatMarkdown, "compare.md.golden"}, {FormatCSV, "compare.csv.golden"}} {
		var buf bytes.Buffer
		if err := c.Render(&buf, f.format); err != nil {
			t.Fatal(err)
		}
		golden(t, f.golden, buf.Bytes())
	}
	var buf bytes.Buffer
	if err := c.Render(&buf, FormatJSON); err != nil {
		t.Fatal(err)
	}
	var back Comparison
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || len(back.Arms) != 2 || back.Pass {
		t.Errorf("json: %v, %d arms, pass %v", err, len(back.Arms), back.Pass)
	}
	if err := c.Render(&buf, FormatHTML); err == nil {
		t.Error("an HTML comparison was rendered")
	}
}

func TestComparePairing(t *testing.T) {
	runs := mainAndPR(t)
	// pr lost its builtin arm and gained an istio arm: neither is compared, both are named.
	pr := runs[1].Doc
	for i := range pr.Trials {
		if pr.Trials[i].Arm == "builtin" {
			pr.Trials[i].Arm = "istio"
		}
	}
	pr.Plan.Arms[1].Name = "istio"
	cond, err := spec.ParseCondition("overhead.latency.p99 < 5%")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compare(runs, 0, []spec.Condition{cond}, analysis.Options{Replicates: 200})
	if err != nil {
		t.Fatal(err)
	}
	// The new arm's overhead against main cannot be measured: it fails, saying why.
	if c.Pass || len(c.SLO) != 2 || c.SLO[1].Message != "pr istio: overhead.latency.p99 cannot be evaluated: main istio has no measured trials" {
		t.Errorf("SLO on an arm main lacks: pass %v, %+v", c.Pass, c.SLO)
	}
	if len(c.Arms) != 1 || c.Arms[0].Arm != "baseline" {
		t.Errorf("pairs %+v, want baseline only", c.Arms)
	}
	w := strings.Join(c.Warnings, "\n")
	for _, want := range []string{"arm builtin of main has no partner in pr", "arm istio of pr has no partner in main"} {
		if !strings.Contains(w, want) {
			t.Errorf("no warning %q in:\n%s", want, w)
		}
	}

	// Two single-arm runs are compared whatever their arms are called.
	one := func(d int) Run {
		r := mainAndPR(t)[d]
		var keep = r.Doc.Trials[:0]
		for _, tr := range r.Doc.Trials {
			if tr.Arm == "builtin" {
				tr.Arm = []string{"target", "service"}[d]
				keep = append(keep, tr)
			}
		}
		r.Doc.Trials, r.Doc.Plan = keep, nil
		return r
	}
	c, err = Compare([]Run{one(0), one(1)}, 0, nil, analysis.Options{Replicates: 200})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Arms) != 1 || c.Arms[0].Arm != "service" || c.Arms[0].BaseArm != "target" {
		t.Errorf("single arms: %+v", c.Arms)
	}
	var buf bytes.Buffer
	if err := c.Render(&buf, FormatTable); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "service vs target: pr vs main") {
		t.Errorf("the pair is not named:\n%s", buf.String())
	}

	if _, err := Compare(runs[:1], 0, nil, analysis.Options{}); err == nil {
		t.Error("one run compared")
	}
	if _, err := Compare(runs, 2, nil, analysis.Options{}); err == nil {
		t.Error("baseline index out of range accepted")
	}
}

// TestCompareImportedGivesNoVerdict: two SMP results of the same throughput but different
// latencies: the throughput's delta is below resolution, which must not make the pair's
// verdict "no significant change", since its latencies have no interval to be tested with.
func TestCompareImportedGivesNoVerdict(t *testing.T) {
	imported := func(p50 float64) *result.Document {
		t.Helper()
		in := fmt.Sprintf(`{"smpVersion": "v0.6.1", "startTime": "2026-12-01T10:00:00Z", "endTime": "2026-12-01T10:00:30Z",
			"actualQps": 100, "latenciesMs": {"min": 0.1, "average": %g, "p50": %g, "p90": %g, "p99": %g, "max": %g}}`,
			p50, p50, 2*p50, 4*p50, 10*p50)
		doc, err := result.Read(strings.NewReader(in))
		if err != nil || doc.Imported == nil {
			t.Fatalf("read %s: %v (imported %v)", in, err, doc)
		}
		return doc
	}
	c, err := Compare([]Run{{Label: "before", Doc: imported(1)}, {Label: "after", Doc: imported(2)}}, 0, nil, analysis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Arms) != 1 || !c.Arms[0].Imported {
		t.Fatalf("pairs %+v, want one marked imported", c.Arms)
	}
	if got := verdictLine(c.Arms[0]); got != "no verdict: no confidence intervals (an imported result)" {
		t.Errorf("verdict %q for a pair whose latencies were never tested", got)
	}
}
