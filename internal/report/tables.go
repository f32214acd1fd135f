package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// table is a titled grid of cells. The text, markdown and HTML formats render the same
// tables, so the three never disagree about a figure.
type table struct {
	// id names the section in HTML (an anchor); title heads it.
	id, title string
	// note is one line under the title.
	note   string
	header []string
	rows   [][]string
	// numeric tables right-align every column but the first in markdown and HTML.
	numeric bool
	// lines are shown instead of (or after) rows: SLO verdicts, notes.
	lines []string
}

// writeGrid writes a header and rows aligned in columns (two spaces apart), each line
// prefixed with indent.
func writeGrid(w io.Writer, indent string, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if header != nil {
		fmt.Fprintln(tw, indent+strings.Join(header, "\t"))
	}
	for _, r := range rows {
		fmt.Fprintln(tw, indent+strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// writeText writes tables for a terminal: a title line, the note, the grid indented.
func writeText(w io.Writer, tables []table) error {
	for i, t := range tables {
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		title := t.title
		if t.note != "" {
			title += " (" + t.note + ")"
		}
		if _, err := fmt.Fprintln(w, title); err != nil {
			return err
		}
		if len(t.rows) > 0 {
			if err := writeGrid(w, "  ", t.header, t.rows); err != nil {
				return err
			}
		}
		for _, l := range t.lines {
			if _, err := fmt.Fprintln(w, "  "+l); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeMarkdown writes tables as GitHub-flavoured markdown: a heading, the note in
// italics, a pipe table, lines as a list.
func writeMarkdown(w io.Writer, heading string, tables []table) error {
	var b strings.Builder
	b.WriteString("# " + mdEscape(heading) + "\n")
	for _, t := range tables {
		b.WriteString("\n## " + mdEscape(t.title) + "\n\n")
		if t.note != "" {
			b.WriteString("_" + mdEscape(t.note) + "_\n\n")
		}
		if len(t.rows) > 0 {
			header := t.header
			if header == nil {
				header = make([]string, len(t.rows[0]))
			}
			b.WriteString("|")
			for _, h := range header {
				b.WriteString(" " + mdEscape(h) + " |")
			}
			b.WriteString("\n|")
			for i := range header {
				if i > 0 && t.numeric {
					b.WriteString(" ---: |")
				} else {
					b.WriteString(" --- |")
				}
			}
			b.WriteString("\n")
			for _, r := range t.rows {
				b.WriteString("|")
				for i := range header {
					cell := ""
					if i < len(r) {
						cell = r[i]
					}
					b.WriteString(" " + mdEscape(cell) + " |")
				}
				b.WriteString("\n")
			}
			if len(t.lines) > 0 {
				b.WriteString("\n")
			}
		}
		for _, l := range t.lines {
			b.WriteString("- " + mdEscape(l) + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdEscape keeps a cell from breaking the table or turning into markup.
func mdEscape(s string) string {
	r := strings.NewReplacer("\\", "\\\\", "|", "\\|", "*", "\\*", "_", "\\_", "`", "\\`", "<", "&lt;", ">", "&gt;", "\n", " ")
	return r.Replace(s)
}
