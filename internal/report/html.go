package report

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"strings"
)

// assets are the page's template, style sheet and script, inlined into every report.
//
//go:embed assets/report.html.tmpl assets/report.css assets/report.js
var assets embed.FS

type htmlLine struct{ Text, Class string }

type htmlTable struct {
	ID, Title, Note string
	Numeric         bool
	Header          []string
	Rows            [][]string
	Lines           []htmlLine
}

type htmlPage struct {
	Title, ID             string
	Verdict, VerdictClass string
	Nav                   []htmlTable
	Charts                []template.HTML
	Tables                []htmlTable
	CSS                   template.CSS
	JS                    template.JS
}

func asset(name string) (string, error) {
	b, err := assets.ReadFile("assets/" + name)
	if err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	return string(b), nil
}

// writeHTML writes the report as one self-contained page: the charts as inline SVG drawn
// here (no script needed to see them, nothing fetched), the same tables as the other
// formats, the style sheet and a small script for legend toggling inlined.
func (s *Summary) writeHTML(w io.Writer) error {
	tmplText, err := asset("report.html.tmpl")
	if err != nil {
		return err
	}
	css, err := asset("report.css")
	if err != nil {
		return err
	}
	js, err := asset("report.js")
	if err != nil {
		return err
	}
	tmpl, err := template.New("report").Parse(tmplText)
	if err != nil {
		return fmt.Errorf("report: template: %w", err)
	}
	charts, err := s.charts()
	if err != nil {
		return err
	}
	page := htmlPage{Title: s.heading(), ID: s.ID, CSS: template.CSS(css), JS: template.JS(js)}
	failed := 0
	for _, r := range s.SLO {
		if !r.Pass {
			failed++
		}
	}
	switch {
	case len(s.SLO) == 0:
		page.Verdict = string(s.Status) + "; no SLO"
	case failed == 0:
		page.Verdict, page.VerdictClass = string(s.Status)+"; every SLO passed", "pass"
	default:
		page.Verdict, page.VerdictClass = fmt.Sprintf("%s; %d of %d SLO results failed", s.Status, failed, len(s.SLO)), "fail"
	}
	for _, c := range charts {
		page.Charts = append(page.Charts, template.HTML(c)) // built from escaped text in svg.go
	}
	if len(charts) > 0 {
		page.Nav = append(page.Nav, htmlTable{ID: "charts", Title: "Charts"})
	}
	for _, t := range s.tables() {
		ht := htmlTable{ID: t.id, Title: t.title, Note: t.note, Numeric: t.numeric, Header: t.header, Rows: t.rows}
		for _, l := range t.lines {
			class := ""
			switch {
			case strings.HasPrefix(l, "FAIL "):
				class = "fail"
			case strings.HasPrefix(l, "ok "):
				class = "ok"
			}
			ht.Lines = append(ht.Lines, htmlLine{l, class})
		}
		page.Tables = append(page.Tables, ht)
		page.Nav = append(page.Nav, htmlTable{ID: t.id, Title: t.title})
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, page); err != nil {
		return fmt.Errorf("report: html: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}
