// Package history is the results folder seen as a history of runs: it lists the result
// documents a folder holds (filtered by name, arm, label and time), finds one by its id
// or a prefix of it, and writes the listing as a table for `smp results`.
//
// It owns reading a folder of results and matching ids. It does not own the document
// format (package result) or the reports of one result (package report). Imports: result
// and the standard library only; it reads files and never writes, sends load or touches a
// cluster.
package history
