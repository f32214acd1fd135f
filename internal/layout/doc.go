// Package layout holds no code: its test checks the import rules between smp's packages
// (DESIGN.md, "Layout"), so that a forbidden edge fails CI instead of creeping in.
package layout
