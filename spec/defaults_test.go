package spec_test

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/service-mesh-performance/smp/spec"
)

// The `default` struct tags are the documented defaults (docs/plan.md and the JSON Schema
// are generated from them); WithDefaults is what runs. These tests keep the two in step.

// localSkeleton is a plan in which every default applies: the builtin app on the local
// platform, and one empty element in each list whose elements have defaults.
func localSkeleton() *spec.Plan {
	return &spec.Plan{
		Arms: []spec.Arm{{}},
		Workload: spec.Workload{
			App: spec.App{Kind: spec.AppBuiltin},
			Mix: []spec.Request{{}},
		},
		Metrics: spec.Metrics{Collectors: []spec.Collector{{}}},
	}
}

// kubernetesSkeleton is localSkeleton on Kubernetes, where environment.kubernetes applies.
func kubernetesSkeleton() *spec.Plan {
	p := localSkeleton()
	p.Environment.Platform = spec.PlatformKubernetes
	return p
}

// skeletonFor picks the skeleton in which a field's default applies.
func skeletonFor(path string) *spec.Plan {
	if strings.HasPrefix(path, "Environment.Kubernetes.") {
		return kubernetesSkeleton()
	}
	return localSkeleton()
}

// planField is a leaf field of Plan: a Go path ("Workload.Rate", "Arms[0].Mesh"), how to
// reach it by reflection (a field index, or -1 for the first element of a list) and its tag.
type planField struct {
	path   string
	steps  []int
	tag    string
	hasTag bool
}

// planFields lists the leaf fields of Plan, descending into structs and into the element
// type of lists of structs.
func planFields() []planField {
	var out []planField
	var walk func(t reflect.Type, path string, steps []int)
	walk = func(t reflect.Type, path string, steps []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			p := f.Name
			if path != "" {
				p = path + "." + f.Name
			}
			s := append(append([]int(nil), steps...), i)
			ft := f.Type
			switch {
			case ft.Kind() == reflect.Struct:
				walk(ft, p, s)
				continue
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), p+"[0]", append(s, -1))
				continue
			}
			tag, ok := f.Tag.Lookup("default")
			out = append(out, planField{path: p, steps: s, tag: tag, hasTag: ok})
		}
	}
	walk(reflect.TypeOf(spec.Plan{}), "", nil)
	return out
}

// fieldOf follows steps from a plan; ok is false when a list on the way is empty.
func fieldOf(p *spec.Plan, steps []int) (v reflect.Value, ok bool) {
	v = reflect.ValueOf(p).Elem()
	for _, s := range steps {
		if s == -1 {
			if v.Len() == 0 {
				return reflect.Value{}, false
			}
			v = v.Index(0)
			continue
		}
		v = v.Field(s)
	}
	return v, true
}

// asTag writes a value the way a `default` tag does: JSON, with strings unquoted.
func asTag(t *testing.T, v reflect.Value) string {
	t.Helper()
	b, err := json.Marshal(v.Interface())
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	var s string
	if json.Unmarshal(b, &s) == nil {
		return s
	}
	return string(b)
}

// normalTag removes the spacing of a JSON tag ("[50, 90]" → "[50,90]").
func normalTag(tag string) string {
	var b bytes.Buffer
	if json.Compact(&b, []byte(tag)) == nil {
		return b.String()
	}
	return tag
}

func TestDefaultTagsMatchWithDefaults(t *testing.T) {
	tagged := 0
	for _, f := range planFields() {
		if !f.hasTag {
			continue
		}
		tagged++
		t.Run(f.path, func(t *testing.T) {
			in := skeletonFor(f.path)
			before, ok := fieldOf(in, f.steps)
			if !ok {
				t.Fatalf("the skeleton has no element on the way to %s; add one so its defaults apply", f.path)
			}
			if !before.IsZero() {
				t.Fatalf("the skeleton sets %s = %v; it must be unset to test its default", f.path, before)
			}
			got, _ := fieldOf(in.WithDefaults(), f.steps)
			if g, w := asTag(t, got), normalTag(f.tag); g != w {
				t.Errorf("WithDefaults sets %s to %s, but its tag says default:%q", f.path, g, f.tag)
			}
		})
	}
	// 34 tags today; the walk must not quietly stop finding them.
	if tagged < 30 {
		t.Errorf("found %d fields with a default tag, want at least 30: is planFields still walking the whole Plan?", tagged)
	}
}

// derivedDefaults are fields without a `default` tag that WithDefaults fills in anyway,
// because their default depends on other fields (each field's comment says how).
var derivedDefaults = map[string]string{
	"Name":                           "the plan's file name, else \"plan\"",
	"Baseline":                       "the first arm whose mesh is none",
	"Arms[0].Name":                   "baseline, or the mesh type",
	"Arms[0].MTLS":                   "off for no mesh, strict otherwise",
	"Workload.App.Kind":              "external with endpoint_urls, else builtin",
	"Workload.Method":                "POST when there is a body, else GET (none for tcp)",
	"Workload.Internal":              "true, false with entry gateway",
	"Workload.Arrival.Seed":          "the plan's seed",
	"Metrics.Collectors[0].Interval": "metrics.interval",
}

// TestUntaggedFieldsStayUnset catches a default added to WithDefaults without a tag (and
// so without documentation).
func TestUntaggedFieldsStayUnset(t *testing.T) {
	for _, skel := range []struct {
		name  string
		build func() *spec.Plan
	}{{"local", localSkeleton}, {"kubernetes", kubernetesSkeleton}, {"empty", func() *spec.Plan { return &spec.Plan{} }}} {
		in := skel.build()
		out := in.WithDefaults()
		for _, f := range planFields() {
			if f.hasTag {
				continue
			}
			before, ok := fieldOf(in, f.steps)
			if !ok || !before.IsZero() {
				continue
			}
			after, ok := fieldOf(out, f.steps)
			if !ok || after.IsZero() {
				continue
			}
			if _, derived := derivedDefaults[f.path]; !derived {
				t.Errorf("%s plan: WithDefaults sets %s to %s, but the field has no default tag", skel.name, f.path, asTag(t, after))
			}
		}
	}
}

func TestWithDefaultsLeavesReceiver(t *testing.T) {
	decoded := func(file string) func() *spec.Plan {
		return func() *spec.Plan {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			p, err := spec.Decode(file, data)
			if err != nil {
				t.Fatalf("Decode %s: %v", file, err)
			}
			return p
		}
	}
	tests := []struct {
		name  string
		build func() *spec.Plan
	}{
		{"empty", func() *spec.Plan { return &spec.Plan{} }},
		{"local skeleton", localSkeleton},
		{"kubernetes skeleton", kubernetesSkeleton},
		{"full native", decoded("testdata/valid/full-native.yaml")},
		{"full kubernetes", decoded("testdata/valid/full-kubernetes.yaml")},
		{"meshery", decoded("testdata/valid/meshery-example.yaml")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.build()
			out := p.WithDefaults()
			if out == p {
				t.Fatal("WithDefaults returned its receiver")
			}
			if want := tt.build(); !reflect.DeepEqual(p, want) {
				t.Fatalf("WithDefaults modified its receiver:\n got %+v\nwant %+v", p, want)
			}
			// The lists WithDefaults fills in are its own: changing them leaves p alone.
			out.Arms[0].Name = "changed"
			if len(out.Workload.Mix) > 0 {
				out.Workload.Mix[0].Path = "/changed"
			}
			out.Metrics.Percentiles[0] = 1
			if len(out.Metrics.Collectors) > 0 {
				out.Metrics.Collectors[0].Interval = 12345
			}
			out.SLO = append(out.SLO, spec.SLO{Condition: "error_rate < 1%"})
			if want := tt.build(); !reflect.DeepEqual(p, want) {
				t.Errorf("changing the result of WithDefaults changed its receiver:\n got %+v\nwant %+v", p, want)
			}
			again := out.WithDefaults()
			if !reflect.DeepEqual(again, out) {
				t.Errorf("WithDefaults is not idempotent:\n once %+v\ntwice %+v", out, again)
			}
		})
	}
}

// TestDefaultPercentiles keeps the exported list and the tag in step with each other and
// returns a fresh slice each time.
func TestDefaultPercentiles(t *testing.T) {
	f, _ := reflect.TypeOf(spec.Metrics{}).FieldByName("Percentiles")
	var tag []float64
	if err := json.Unmarshal([]byte(f.Tag.Get("default")), &tag); err != nil {
		t.Fatalf("percentiles tag: %v", err)
	}
	got := spec.DefaultPercentiles()
	if !reflect.DeepEqual(got, tag) {
		t.Errorf("DefaultPercentiles() = %v, tag says %v", got, tag)
	}
	got[0] = 0
	if spec.DefaultPercentiles()[0] != tag[0] {
		t.Error("DefaultPercentiles returns a shared slice")
	}
}
