// Package schema holds the JSON Schemas of smp's plans and result documents, generated
// from the Go types in spec and result by internal/schemagen and checked in so that
// editors and other tools can use them without smp. `smp schema` prints them.
//
// Regenerate after changing spec or result types: go test ./schema -update
package schema

import _ "embed"

//go:embed plan.schema.json
var planSchema []byte

//go:embed result.schema.json
var resultSchema []byte

// Plan returns the JSON Schema of a test plan (native, SMP or Meshery shape).
func Plan() []byte { return append([]byte(nil), planSchema...) }

// Result returns the JSON Schema of a result document.
func Result() []byte { return append([]byte(nil), resultSchema...) }
