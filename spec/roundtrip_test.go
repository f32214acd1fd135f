package spec_test

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/spec"
)

// TestPlanJSONRoundTrip: a loaded plan, written as JSON (as a result document records it)
// and read back, is the same plan. This is what lets `smp run` replay the plan stored in a
// result.
func TestPlanJSONRoundTrip(t *testing.T) {
	files := validFiles(t)
	for _, must := range []string{"minimal.yaml", "full-native.yaml", "meshery-example.yaml"} {
		if !slices.Contains(files, filepath.Join("testdata", "valid", must)) {
			t.Errorf("testdata/valid/%s is missing", must)
		}
	}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			p, err := spec.Load(file)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			q, err := spec.Parse("roundtrip.json", b)
			if err != nil {
				t.Fatalf("Parse of the marshalled plan: %v\n%s", err, b)
			}
			spec.ClearSource(p)
			spec.ClearSource(q)
			emptyToNil(reflect.ValueOf(p).Elem())
			emptyToNil(reflect.ValueOf(q).Elem())
			if !reflect.DeepEqual(p, q) {
				b2, _ := json.Marshal(q)
				t.Errorf("the plan changed on its way through JSON:\nbefore %s\n after %s", b, b2)
			}
		})
	}
}

// emptyToNil replaces empty maps and lists by nil: "labels: {}" and no labels are the same
// plan, and JSON's omitempty cannot tell them apart.
func emptyToNil(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			emptyToNil(v.Elem())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				emptyToNil(v.Field(i))
			}
		}
	case reflect.Map, reflect.Slice:
		if v.Len() == 0 {
			v.SetZero()
			return
		}
		if v.Kind() == reflect.Slice {
			for i := 0; i < v.Len(); i++ {
				emptyToNil(v.Index(i))
			}
		}
	}
}

func TestDurationFormat(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		text string // String() and JSON form
	}{
		{"1m30s", 90 * time.Second, "1m30s"},
		{"90s", 90 * time.Second, "1m30s"},
		{"500ms", 500 * time.Millisecond, "500ms"},
		{"250us", 250 * time.Microsecond, "250us"},
		{"250µs", 250 * time.Microsecond, "250us"},
		{"1h", time.Hour, "1h"},
		{"60m", time.Hour, "1h"},
		{"2h30m", 150 * time.Minute, "2h30m"},
		{"1h0m5s", time.Hour + 5*time.Second, "1h0m5s"},
		{"30m", 30 * time.Minute, "30m"},
		{"1.5s", 1500 * time.Millisecond, "1.5s"},
		{"10ns", 10, "10ns"},
		{"0s", 0, "0s"},
		{" 5s ", 5 * time.Second, "5s"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, err := spec.ParseDuration(tt.in)
			if err != nil {
				t.Fatalf("ParseDuration(%q): %v", tt.in, err)
			}
			if d.D() != tt.want {
				t.Errorf("ParseDuration(%q) = %v, want %v", tt.in, d.D(), tt.want)
			}
			if got := d.String(); got != tt.text {
				t.Errorf("String() = %q, want %q", got, tt.text)
			}
			back, err := spec.ParseDuration(d.String())
			if err != nil || back != d {
				t.Errorf("ParseDuration(String()) = %v, %v; want %v", back, err, d)
			}
			b, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			if want := `"` + tt.text + `"`; string(b) != want {
				t.Errorf("JSON = %s, want %s", b, want)
			}
			var fromJSON spec.Duration
			if err := json.Unmarshal(b, &fromJSON); err != nil || fromJSON != d {
				t.Errorf("Unmarshal(%s) = %v, %v; want %v", b, fromJSON, err, d)
			}
		})
	}
}

func TestDurationErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"bare number", "30", "has no unit"},
		{"bare float", "1.5", "has no unit"},
		{"empty", "", "empty duration"},
		{"word", "soon", "is not a duration"},
		{"unknown unit", "5d", "is not a duration"},
		{"space inside", "30 s", "is not a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := spec.ParseDuration(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseDuration(%q) error = %v, want one containing %q", tt.in, err, tt.want)
			}
		})
	}
	var d spec.Duration
	if err := json.Unmarshal([]byte(`30`), &d); err == nil {
		t.Errorf("Unmarshal of a JSON number into a Duration succeeded (%v); a number has no unit", d)
	}
}

func TestSizeFormat(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		text string // String()
		json string
	}{
		{"1KiB", 1024, "1KiB", `"1KiB"`},
		{"1.5MiB", 1536 << 10, "1536KiB", `"1536KiB"`},
		{"64KB", 64000, "64000B", `64000`},
		{"64kB", 64000, "64000B", `64000`},
		{"512", 512, "512B", `512`},
		{"512B", 512, "512B", `512`},
		{"1Ki", 1024, "1KiB", `"1KiB"`},
		{"64Mi", 64 << 20, "64MiB", `"64MiB"`},
		{"2GiB", 2 << 30, "2GiB", `"2GiB"`},
		{"1MB", 1000000, "1000000B", `1000000`},
		{"1G", 1e9, "1000000000B", `1000000000`},
		{"0", 0, "0B", `0`},
		{" 4 KiB ", 4096, "4KiB", `"4KiB"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			s, err := spec.ParseSize(tt.in)
			if err != nil {
				t.Fatalf("ParseSize(%q): %v", tt.in, err)
			}
			if s.Bytes() != tt.want {
				t.Errorf("ParseSize(%q) = %d bytes, want %d", tt.in, s.Bytes(), tt.want)
			}
			if got := s.String(); got != tt.text {
				t.Errorf("String() = %q, want %q", got, tt.text)
			}
			back, err := spec.ParseSize(s.String())
			if err != nil || back != s {
				t.Errorf("ParseSize(String()) = %v, %v; want %v", back, err, s)
			}
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.json {
				t.Errorf("JSON = %s, want %s", b, tt.json)
			}
			var fromJSON spec.Size
			if err := json.Unmarshal(b, &fromJSON); err != nil || fromJSON != s {
				t.Errorf("Unmarshal(%s) = %v, %v; want %v", b, fromJSON, err, s)
			}
		})
	}
}

func TestSizeErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", "empty size"},
		{"negative", "-1KiB", "is negative"},
		{"half a byte", "0.5", "not a whole number of bytes"},
		{"unknown unit", "1KQ", "is not a size"},
		{"unit only", "KiB", "is not a size"},
		{"too large", "1e30GiB", "too large"},
		{"not a number", "NaN", "is not a size"},
		{"lower-case b", "1kb", "is not a size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := spec.ParseSize(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseSize(%q) error = %v, want one containing %q", tt.in, err, tt.want)
			}
		})
	}
	var s spec.Size
	if err := json.Unmarshal([]byte(`true`), &s); err == nil {
		t.Errorf("Unmarshal(true) into a Size succeeded (%v)", s)
	}
}
