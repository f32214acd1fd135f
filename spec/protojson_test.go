package spec_test

import (
	"os"
	"strings"
	"testing"

	smp "github.com/layer5io/service-mesh-performance/spec"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/service-mesh-performance/smp/spec"
)

// canonicalConfig is an SMP test config as SMP's own Go types hold it.
func canonicalConfig() *smp.PerformanceTestConfig {
	return &smp.PerformanceTestConfig{
		SmpVersion: "v0.6.1", Id: "canonical-1", Name: "canonical protobuf JSON",
		Labels:   map[string]string{"team": "platform"},
		Duration: "30s",
		Clients: []*smp.PerformanceTestConfig_Client{{
			Internal: true, LoadGenerator: "fortio", Protocol: smp.PerformanceTestConfig_Client_PROTOCOL_HTTP,
			Connections: 2, Rps: 10, Headers: map[string]string{"x-smp": "1"},
			EndpointUrls: []string{"http://127.0.0.1:8080/"},
		}},
	}
}

// TestCanonicalProtobufJSON loads what protojson writes from SMP's own types: lowerCamel
// names, enum names, and int64 as a string ("rps": "10"), in both of protojson's
// spellings (with UseProtoNames, snake_case), and with every number quoted, which the
// mapping lets a writer do for int32 too.
func TestCanonicalProtobufJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts protojson.MarshalOptions
	}{
		{"lowerCamel", protojson.MarshalOptions{}},
		{"proto names", protojson.MarshalOptions{UseProtoNames: true}},
		{"enum numbers", protojson.MarshalOptions{UseEnumNumbers: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := tc.opts.Marshal(canonicalConfig())
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), `"10"`) {
				t.Fatalf("protojson wrote rps as a number; the test would prove nothing:\n%s", data)
			}
			quoted := strings.Replace(string(data), `"connections":2`, `"connections":"2"`, 1)
			for _, in := range []string{string(data), quoted} {
				p, err := spec.Parse("canonical.json", []byte(in))
				if err != nil {
					t.Fatalf("%v\n%s", err, in)
				}
				w := p.Workload
				if *w.Rate != 10 || w.Connections != 2 || w.Protocol != spec.ProtocolHTTP1 || w.Duration.String() != "30s" ||
					w.LoadGenerator != spec.GeneratorFortio || len(w.EndpointURLs) != 1 || w.Headers["x-smp"] != "1" || p.ID != "canonical-1" {
					t.Errorf("decoded workload %+v (id %q)", w, p.ID)
				}
			}
		})
	}
}

// TestQuotedNumbersOnlyWhereProtobufAllowsThem: a quoted number is read in SMP's
// messages, where the protobuf JSON mapping puts them, and nowhere else; a quoted word is
// still an error with its position.
func TestQuotedNumbersOnlyWhereProtobufAllowsThem(t *testing.T) {
	_, err := spec.Parse("native.yaml", []byte("workload:\n  connections: \"2\"\n"))
	if err == nil || !strings.Contains(err.Error(), "expected a whole number") {
		t.Errorf("a native plan's quoted connections: %v, want an error", err)
	}
	_, err = spec.Parse("smp.json", []byte(`{"clients": [{"rps": "ten", "endpointUrls": ["http://h:1/"]}], "duration": "10s"}`))
	if err == nil || !strings.Contains(err.Error(), "clients[0].rps") && !strings.Contains(err.Error(), "workload.rate") {
		t.Errorf("a quoted word for rps: %v, want an error naming the field", err)
	}
}

// TestCanonicalExample keeps examples/smp-config-protojson.json what protojson writes
// for canonicalConfig, so that the example is the real thing, not a hand-made imitation.
func TestCanonicalExample(t *testing.T) {
	want, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(canonicalConfig())
	if err != nil {
		t.Fatal(err)
	}
	const path = "../examples/smp-config-protojson.json"
	if os.Getenv("SMP_UPDATE_EXAMPLES") == "1" {
		if err := os.WriteFile(path, append(want, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(strings.Fields(string(got)), "") != strings.Join(strings.Fields(string(want)), "") {
		t.Errorf("%s is not protojson's output for the canonical config (SMP_UPDATE_EXAMPLES=1 go test ./spec rewrites it):\n%s", path, want)
	}
}
