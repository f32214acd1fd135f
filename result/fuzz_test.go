package result_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/service-mesh-performance/smp/internal/report"
	"github.com/service-mesh-performance/smp/result"
)

// FuzzRead feeds the result decoder arbitrary bytes. Results travel between machines and
// people (smp report and compare read files from anywhere): whatever the input, Read
// must not panic, and a document it accepts must pass Check, survive its own JSON form,
// and render in every report format without a panic (reports trust what Read accepts).
// The seed corpus (testdata/fuzz/FuzzRead) holds real results, broken ones, and the
// other tools' results Read imports: fortio's JSON, Meshery's, and SMP in JSON and YAML.
//
//	go test ./result -run '^$' -fuzz '^FuzzRead$' -fuzztime 5m
func FuzzRead(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := result.ReadContext(context.Background(), bytes.NewReader(data), result.ReadOptions{Name: "fuzz.json", MaxBytes: 1 << 20})
		if err != nil {
			if doc != nil {
				t.Fatal("Read returned a document with an error")
			}
			return
		}
		if err := doc.Check(); err != nil {
			t.Fatalf("Read accepted a document that fails Check: %v", err)
		}
		var buf bytes.Buffer
		if err := doc.Write(&buf); err != nil {
			t.Fatalf("Write of an accepted document: %v", err)
		}
		if _, err := result.Read(&buf); err != nil {
			t.Fatalf("an accepted document does not read back from its JSON: %v", err)
		}
		for _, format := range report.Formats() {
			var out bytes.Buffer
			_ = report.Render(&out, doc, format) // an error is fine; a panic is not
		}
	})
}
