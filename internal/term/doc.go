// Package term renders status for people: the live progress line of a load
// run, on stderr. It owns only presentation; the numbers come from its
// callers (internal/experiment converts engine.Progress into Progress here).
//
// Imports: the standard library only.
package term
