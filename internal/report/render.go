package report

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/service-mesh-performance/smp/result"
)

// Format is an output format of `smp report` and `smp compare`.
type Format string

// Formats.
const (
	FormatTable    Format = "table"
	FormatMarkdown Format = "markdown"
	FormatHTML     Format = "html"
	FormatCSV      Format = "csv"
	FormatJSON     Format = "json"
)

// Formats lists the formats of `smp report`, the default first.
func Formats() []Format {
	return []Format{FormatTable, FormatMarkdown, FormatHTML, FormatCSV, FormatJSON}
}

// ParseFormat checks a format name ("md" is markdown).
func ParseFormat(s string) (Format, error) {
	if s == "md" {
		return FormatMarkdown, nil
	}
	for _, f := range Formats() {
		if string(f) == s {
			return f, nil
		}
	}
	var names []string
	for _, f := range Formats() {
		names = append(names, string(f))
	}
	return "", fmt.Errorf("unknown format %q: use %s", s, strings.Join(names, ", "))
}

// FormatForPath picks a format from an output file's extension (.html, .md, .csv,
// .json); ok is false for any other.
func FormatForPath(path string) (Format, bool) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".html", ".htm":
		return FormatHTML, true
	case ".md", ".markdown":
		return FormatMarkdown, true
	case ".csv":
		return FormatCSV, true
	case ".json":
		return FormatJSON, true
	case ".txt":
		return FormatTable, true
	}
	return "", false
}

// Render writes the report of a result document in format f: the per-arm summary, the
// overhead table with confidence intervals, MeshMark, errors by class, resources, SLO
// verdicts, the plan and the environment. The same document always gives the same bytes.
func Render(w io.Writer, doc *result.Document, f Format) error {
	s, err := Summarize(doc)
	if err != nil {
		return err
	}
	return s.Render(w, f)
}

// Render writes the summary in format f.
func (s *Summary) Render(w io.Writer, f Format) error {
	switch f {
	case FormatTable, "":
		if _, err := fmt.Fprintln(w, s.heading()); err != nil {
			return err
		}
		if _, err := fmt.Fprintln(w); err != nil {
			return err
		}
		return writeText(w, s.tables())
	case FormatMarkdown:
		return writeMarkdown(w, s.heading(), s.tables())
	case FormatCSV:
		return s.writeCSV(w)
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(s); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		return nil
	case FormatHTML:
		return s.writeHTML(w)
	}
	_, err := ParseFormat(string(f))
	return err
}
