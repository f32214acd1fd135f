package spec

import (
	"fmt"
	"sort"
	"strings"
)

// Position is a place in a plan file. Line and Column start at 1; zero means unknown.
type Position struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// Error is one problem with a plan: where it is, which field, what is wrong and how to fix it.
type Error struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Path     string `json:"path"`
	Message  string `json:"message"`
	Fix      string `json:"fix,omitempty"`
	Severity string `json:"severity"` // "error" (warnings are reported in results, not here)
}

// Error formats the problem the way compilers do, so editors and CI annotators can jump to it:
//
//	plan.yaml:7:3: workload.rat: unknown field; did you mean "rate"?
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Line, e.Column)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if e.Fix != "" {
		b.WriteString("; ")
		b.WriteString(e.Fix)
	}
	return b.String()
}

// Errors is every problem found in a plan, in file order. Load returns all of them at
// once so that a user fixes a plan in one pass rather than one error per run.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find an individual *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

func (es Errors) sorted() Errors {
	out := append(Errors(nil), es...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Line != out[j].Line {
			return out[i].Line < out[j].Line
		}
		return out[i].Column < out[j].Column
	})
	return out
}

func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	return es.sorted()
}

// source remembers where every decoded value came from, so that validation (which works on
// the typed plan, after defaults) can still point at the file. Paths are canonical plan
// paths ("workload.rate", "arms[1].mesh"); for SMP and Meshery files, written holds the
// path as the user wrote it ("test.clients[0].rps").
type source struct {
	file    string
	pos     map[string]Position
	written map[string]string
}

func newSource(file string) *source {
	return &source{file: file, pos: map[string]Position{}, written: map[string]string{}}
}

// at returns the position and the user-facing path of a canonical path. A path that was not
// in the file (a default) takes the position of its nearest ancestor that was.
func (s *source) at(path string) (Position, string) {
	if s == nil {
		return Position{}, path
	}
	shown := path
	if w, ok := s.written[path]; ok {
		shown = w
	}
	for p := path; ; p = parentPath(p) {
		if pos, ok := s.pos[p]; ok {
			return pos, shown
		}
		if p == "" {
			return Position{}, shown
		}
	}
}

// parentPath strips the last element: "arms[1].mesh" → "arms[1]" → "arms" → "".
func parentPath(p string) string {
	if i := strings.LastIndexAny(p, ".["); i >= 0 {
		return p[:i]
	}
	return ""
}

// Pos returns where the value at a canonical path (e.g. "arms[1].mesh") was written in
// the plan file, for errors found after loading (a missing proxy binary, an absent mesh).
func (p *Plan) Pos(path string) (file string, pos Position) {
	if p.src == nil {
		return "", Position{}
	}
	pos, _ = p.src.at(path)
	return p.src.file, pos
}

// Errorf builds an *Error about the value at a canonical path of a loaded plan, with its
// file and position. Code that checks a plan against the world (binaries, clusters) uses it
// so that those errors look like validation errors.
func (p *Plan) Errorf(path, fix, format string, args ...any) *Error {
	pos, shown := p.src.at(path)
	file := ""
	if p.src != nil {
		file = p.src.file
	}
	return &Error{File: file, Line: pos.Line, Column: pos.Column, Path: shown,
		Message: fmt.Sprintf(format, args...), Fix: fix, Severity: "error"}
}
