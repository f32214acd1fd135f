package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"html"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/service-mesh-performance/smp/result"
)

// TestRenderFormats renders the rich fixture in every format against golden files, and
// checks that the same document gives the same bytes twice.
func TestRenderFormats(t *testing.T) {
	doc := richDoc(t)
	for _, c := range []struct {
		format Format
		golden string
	}{
		{FormatTable, "report.txt.golden"},
		{FormatMarkdown, "report.md.golden"},
		{FormatCSV, "report.csv.golden"},
		{FormatJSON, "report.json.golden"},
		{FormatHTML, "report.html.golden"},
	} {
		t.Run(string(c.format), func(t *testing.T) {
			var a, b bytes.Buffer
			if err := Render(&a, doc, c.format); err != nil {
				t.Fatal(err)
			}
			if err := Render(&b, doc, c.format); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Fatal("two renderings of one document differ")
			}
			golden(t, c.golden, a.Bytes())
		})
	}
}

// TestRenderContent checks, format by format, the figures a reader looks for, so that a
// golden refresh cannot silently drop them.
func TestRenderContent(t *testing.T) {
	doc := richDoc(t)
	render := func(f Format) string {
		var buf bytes.Buffer
		if err := Render(&buf, doc, f); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	builtinMark := *doc.Analysis.Overhead[0].MeshMark.Score
	for _, f := range []Format{FormatTable, FormatMarkdown, FormatHTML} {
		out := render(f)
		for _, want := range []string{"Overhead vs baseline", "MeshMark", formatScore(doc.Analysis.Overhead[0].MeshMark),
			"latency p99", "error reset", "status 503", "svc-1-proxy", "AMD EPYC 7B13", "overhead.latency.p99 < 2ms",
			"error_rate < 1%", "the system under test used 96% of its CPUs"} {
			switch f {
			case FormatMarkdown:
				want = mdEscape(want)
			case FormatHTML:
				want = html.EscapeString(want)
			}
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %q", f, want)
			}
		}
	}

	// csv: every row has every column; the MeshMark row holds the score in full precision.
	rows, err := csv.NewReader(strings.NewReader(render(FormatCSV))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rows[1:] {
		if len(r) != len(csvHeader()) {
			t.Fatalf("row %v has %d columns, want %d", r, len(r), len(csvHeader()))
		}
		if r[0] == "meshmark" && r[1] == "builtin" && r[2] == "meshmark" {
			found = r[4] == num(builtinMark)
		}
	}
	if !found {
		t.Errorf("csv: no meshmark row for builtin with %s", num(builtinMark))
	}

	// json: the Summary, with every arm and the MeshMark.
	var s Summary
	if err := json.Unmarshal([]byte(render(FormatJSON)), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Arms) != 3 || s.Arms[1].MeshMark == nil || *s.Arms[1].MeshMark.Score != builtinMark || s.Baseline != "baseline" {
		t.Errorf("json: %d arms, baseline %q, builtin MeshMark %+v", len(s.Arms), s.Baseline, s.Arms[1].MeshMark)
	}
}

// TestHTMLSelfContained: one file that loads nothing, with every chart drawn.
func TestHTMLSelfContained(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, richDoc(t), FormatHTML); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)<(script|img|link|iframe)[^>]+(src|href)=`),
		regexp.MustCompile(`(?i)url\(\s*['"]?(https?:|//)`),
		regexp.MustCompile(`(?i)@import`),
		regexp.MustCompile(`(?i)\bfetch\(|XMLHttpRequest`),
	} {
		if m := bad.FindString(page); m != "" {
			t.Errorf("the page loads something: %q", m)
		}
	}
	if n := strings.Count(page, "<script"); n != 1 {
		t.Errorf("%d scripts, want the one inline script", n)
	}
	for _, id := range []string{"meshmark", "histogram", "spectrum", "latency-time", "throughput", "cpu", "memory"} {
		i := strings.Index(page, `data-chart="`+id+`"`)
		if i < 0 {
			t.Errorf("no chart %s", id)
			continue
		}
		end := strings.Index(page[i:], "</svg>")
		if n := strings.Count(page[i:i+end], `class="series"`); n == 0 {
			t.Errorf("chart %s has no series", id)
		}
	}
	// The 600-point series is downsampled; the others are kept whole.
	if !strings.Contains(page, "<title>builtin-2 p99</title>") {
		t.Fatal("no builtin-2 p99 series")
	}
	for _, m := range regexp.MustCompile(`d="([^"]*)"[^>]*><title>(builtin-2|baseline-1) p99</title>`).FindAllStringSubmatch(page, -1) {
		n := strings.Count(m[1], "L") + 1
		want := map[string]int{"builtin-2": maxSeriesPoints, "baseline-1": 30}[m[2]]
		if n != want {
			t.Errorf("%s p99 has %d points, want %d", m[2], n, want)
		}
	}
}

// TestHTMLEscapes: names from the document cannot inject markup.
func TestHTMLEscapes(t *testing.T) {
	doc := richDoc(t)
	evil := `<img src=x onerror=alert(1)>`
	doc.Name = evil
	doc.Labels = map[string]string{"x": evil}
	doc.Trials[0].Warnings = []string{evil}
	doc.Environment.Hostname = evil
	for i := range doc.Trials[1].Resources {
		doc.Trials[1].Resources[i].Component = evil + `"`
	}
	var buf bytes.Buffer
	if err := Render(&buf, doc, FormatHTML); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "<img") {
		t.Error("a name from the document became markup")
	}
	if !strings.Contains(buf.String(), "&lt;img src=x onerror=alert(1)&gt;") {
		t.Error("the escaped name is not shown")
	}
}

// TestSummarizeAnalyses: a document without an analysis, or with one from before
// MeshMark, is reported with the analysis smp run would have written.
func TestSummarizeAnalyses(t *testing.T) {
	doc := richDoc(t)
	want := *doc.Analysis.Overhead[1].MeshMark.Score

	noMark := richDoc(t)
	for i := range noMark.Analysis.Overhead {
		noMark.Analysis.Overhead[i].MeshMark = nil
	}
	noMark.Analysis.SLO = nil // a stored analysis is kept: no SLOs come back
	s, err := Summarize(noMark)
	if err != nil {
		t.Fatal(err)
	}
	if m := s.Arms[2].MeshMark; m == nil || m.Score == nil || *m.Score != want {
		t.Errorf("MeshMark not filled in: %+v, want %g", m, want)
	}
	if len(s.SLO) != 0 {
		t.Errorf("the stored analysis was replaced: %d SLO results", len(s.SLO))
	}
	if noMark.Analysis.Overhead[1].MeshMark != nil {
		t.Error("Summarize changed the document")
	}

	none := richDoc(t)
	none.Analysis = nil
	s, err = Summarize(none)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Overhead) != 2 || len(s.SLO) == 0 || s.Arms[2].MeshMark == nil {
		t.Errorf("no analysis computed: %d overheads, %d SLOs", len(s.Overhead), len(s.SLO))
	}
}

// TestRealResult renders a result captured from `smp run examples/quickstart.yaml` on
// this project's 2-core machine (an older smp: its analysis has no MeshMark) in every
// format.
func TestRealResult(t *testing.T) {
	doc, err := result.Load("testdata/quickstart-local.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range Formats() {
		var buf bytes.Buffer
		if err := Render(&buf, doc, f); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !strings.Contains(buf.String(), "builtin") || buf.Len() < 1000 {
			t.Errorf("%s: %d bytes, without the builtin arm", f, buf.Len())
		}
	}
	s, err := Summarize(doc)
	if err != nil {
		t.Fatal(err)
	}
	if m := s.Arms[1].MeshMark; m == nil || m.Score == nil || *m.Score <= 0 || *m.Score >= 100 || m.Partial {
		t.Errorf("builtin MeshMark %+v, want a full score between 0 and 100", m)
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"table": FormatTable, "md": FormatMarkdown, "markdown": FormatMarkdown, "html": FormatHTML, "csv": FormatCSV, "json": FormatJSON} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil || !strings.Contains(err.Error(), "table, markdown, html, csv, json") {
		t.Errorf("ParseFormat(xml): %v", err)
	}
	for path, want := range map[string]Format{"r.html": FormatHTML, "R.MD": FormatMarkdown, "x/r.csv": FormatCSV, "r.json": FormatJSON} {
		if got, ok := FormatForPath(path); !ok || got != want {
			t.Errorf("FormatForPath(%q) = %q, %v", path, got, ok)
		}
	}
	if _, ok := FormatForPath("report"); ok {
		t.Error("a path without extension picked a format")
	}
}

// writeArtifact keeps a rendering for people to look at when SMP_ARTIFACTS names a folder.
func writeArtifact(t *testing.T, name string, data []byte) {
	dir := os.Getenv("SMP_ARTIFACTS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/"+name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s/%s", dir, name)
}

// TestHTMLCapacityChart: a run with capacity searches gets the latency-vs-rate chart, one
// p99 and one p50 line per searching trial with the steps in rate order, and the SLO
// line; a run without searches has no such chart.
func TestHTMLCapacityChart(t *testing.T) {
	render := func(doc *result.Document) string {
		t.Helper()
		var buf bytes.Buffer
		if err := Render(&buf, doc, FormatHTML); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	doc := richDoc(t)
	if strings.Contains(render(doc), `data-chart="capacity"`) {
		t.Error("a run without a capacity search has a latency-vs-rate chart")
	}
	searched := 0
	for i := range doc.Trials {
		tr := &doc.Trials[i]
		if tr.Repetition != 1 {
			continue
		}
		searched++
		// Steps in the order a search runs them: 100 (marginal, run again), 200, 400
		// (broken), then 300.
		tr.Search = &result.Search{MaxRateRPS: 300, FirstBadRPS: 400, P99MS: 25, MaxErrorRate: 0.001, Steps: []result.SearchStep{
			{RateRPS: 100, AchievedRPS: 100, P50MS: 1, P99MS: 40, Held: true, Reason: "p99 40ms > 25ms; marginal, so run again"},
			{RateRPS: 100, AchievedRPS: 100, P50MS: 1, P99MS: 2, Held: true, Pass: true},
			{RateRPS: 200, AchievedRPS: 200, P50MS: 1.2, P99MS: 3, Held: true, Pass: true},
			{RateRPS: 400, AchievedRPS: 390, P50MS: 40, P99MS: 900, Held: true, Reason: "p99 900ms > 25ms"},
			{RateRPS: 300, AchievedRPS: 300, P50MS: 2, P99MS: 9, Held: true, Pass: true},
		}}
	}
	page := render(doc)
	i := strings.Index(page, `data-chart="capacity"`)
	if i < 0 {
		t.Fatal("no capacity chart")
	}
	chart := page[i : i+strings.Index(page[i:], "</figure>")]
	paths := regexp.MustCompile(`<path class="series" data-series="([^"]+)" d="([^"]*)"`).FindAllStringSubmatch(chart, -1)
	if len(paths) != 2*searched+1 {
		t.Fatalf("%d lines, want a p99 and a p50 line for each of %d trials and the SLO line", len(paths), searched)
	}
	for _, m := range paths[:2*searched] {
		var xs []float64
		for _, pt := range regexp.MustCompile(`[ML]([0-9.]+) `).FindAllStringSubmatch(m[2], -1) {
			x, _ := strconv.ParseFloat(pt[1], 64)
			xs = append(xs, x)
		}
		if len(xs) != 4 || !slices.IsSorted(xs) || len(slices.Compact(slices.Clone(xs))) != 4 {
			t.Errorf("line of %s has x positions %v: want the 4 rates in order, the marginal one once", m[1], xs)
		}
	}
	if paths[2*searched][1] != "slo" || !strings.Contains(chart, "SLO: p99 ≤ 25.0 ms") {
		t.Errorf("no SLO line at 25 ms: %q", paths[2*searched][1])
	}
	if !strings.Contains(chart, "max 300 rps (the SLO broke at 400 rps)") || !strings.Contains(chart, "latency (ms, log scale)") {
		t.Error("the tooltips lack the search's outcome, or 1–900 ms is not on a log axis")
	}
}
