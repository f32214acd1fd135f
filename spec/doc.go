// Package spec is the public test plan of smp: the types users write (Plan with its arms,
// workload, metrics, environment and SLO conditions), read from YAML or JSON in three
// shapes — smp's own (apiVersion smp.dev/v1alpha1), SMP's PerformanceTestConfig, and
// Meshery's {test:, mesh:} file — and converted into one Plan with the position of every
// field kept.
//
// It owns: strict decoding (unknown fields are errors with a "did you mean"), the
// defaults (written down once, in WithDefaults and each field's default tag, which a test
// keeps in step), complete validation (Validate returns every problem at once, each a
// *Error with file:line:col, field path and a fix), the enums with their aliases and SMP
// numbers, units (durations, sizes, rates), SLO conditions (ParseCondition) and the
// commented plan of `smp init` (Template).
//
// Entry points: Load and Parse (decode, defaults, validate) for a file or bytes; a
// Plan built in Go (as smp load builds one) goes through WithDefaults and Validate.
// Zero values mean "default"; a field whose zero value differs from its default (rate 0
// is closed loop) is a pointer.
//
// A Plan is what the experiment runs and what the result document embeds, so this
// package is the ground floor: it imports nothing of smp (only the standard library and
// gopkg.in/yaml.v3), and its exported API names no internal type.
package spec
