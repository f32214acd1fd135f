// Package report renders result documents for people: the per-trial summary that
// `smp load` prints, the overhead table of `smp run`, the report of `smp report` (table,
// markdown, self-contained HTML with SVG charts, CSV, JSON) and the comparison of
// `smp compare`. It reads only result documents, so every report can be made again later
// from a file, on another machine, and the same document always gives the same bytes.
//
// It owns presentation: which figures a report shows, in which order and format, the
// charts and their downsampling. The statistics (deltas, intervals, MeshMark,
// comparisons) are internal/analysis's; a document without an analysis is analysed
// through it, never here.
//
// Imports: result, spec, internal/analysis, internal/hist. Nothing that sends load or
// touches a cluster (internal/layout's test enforces it).
package report
