package spec_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/service-mesh-performance/smp/spec"
)

// FuzzParse feeds Parse arbitrary bytes, starting from the bad-plan corpus and the valid
// plans. Whatever the input, Parse must not panic (or overflow its stack), must return
// either a plan or spec.Errors, and every error must say where and what. A plan it
// accepts must survive its own JSON form, as results store it.
//
//	go test ./spec -run '^$' -fuzz FuzzParse -fuzztime 1m
func FuzzParse(f *testing.F) {
	files := validFiles(f)
	for _, pattern := range []string{"testdata/invalid/*.yaml", "testdata/invalid/*.json"} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := spec.Parse("fuzz.yaml", data)
		if err != nil {
			if p != nil {
				t.Errorf("Parse returned a plan together with an error")
			}
			errs, ok := err.(spec.Errors)
			if !ok {
				t.Fatalf("Parse returned %T (%v), want spec.Errors", err, err)
			}
			if len(errs) == 0 {
				t.Fatal("Parse returned an empty spec.Errors")
			}
			for _, e := range errs {
				if e == nil {
					t.Fatal("spec.Errors holds a nil *Error")
				}
				if e.Message == "" {
					t.Errorf("an error without a message: %+v", e)
				}
				if e.Line < 1 || e.Column < 1 {
					t.Errorf("an error without a position: %s", e)
				}
				if e.Fix == "" {
					t.Errorf("an error without a fix: %s", e)
				}
			}
			return
		}
		if p == nil {
			t.Fatal("Parse returned neither a plan nor an error")
		}
		if err := p.Validate(); err != nil {
			t.Errorf("a parsed plan does not validate again: %v", err)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("Marshal of a parsed plan: %v", err)
		}
		if _, err := spec.Parse("fuzz.json", b); err != nil {
			t.Errorf("a parsed plan does not parse back from its JSON: %v\ninput: %q\njson: %s", err, data, b)
		}
	})
}
