package result_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	smp "github.com/layer5io/service-mesh-performance/spec"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// exportSMP exports d and decodes every message of the envelope with SMP's own types in
// strict mode (unknown fields are errors).
func exportSMP(t *testing.T, d *result.Document) (*smp.PerformanceTestConfig, map[string]*smp.ServiceMeshConfig, map[string]*smp.PerformanceTestResult) {
	t.Helper()
	var buf bytes.Buffer
	if err := result.ExportSMP(&buf, d, result.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	var env struct {
		Config  json.RawMessage   `json:"performance_test_config"`
		Meshes  []json.RawMessage `json:"service_mesh_configs"`
		Results []json.RawMessage `json:"performance_test_results"`
	}
	if err := json.Unmarshal(buf.Bytes(), &env); err != nil {
		t.Fatal(err)
	}
	strict := protojson.UnmarshalOptions{}
	cfg := &smp.PerformanceTestConfig{}
	if err := strict.Unmarshal(env.Config, cfg); err != nil {
		t.Fatalf("PerformanceTestConfig: %v", err)
	}
	meshes, results := map[string]*smp.ServiceMeshConfig{}, map[string]*smp.PerformanceTestResult{}
	for _, raw := range env.Meshes {
		m := &smp.ServiceMeshConfig{}
		if err := strict.Unmarshal(raw, m); err != nil {
			t.Fatalf("ServiceMeshConfig: %v", err)
		}
		meshes[m.Labels["smp.dev/arm"]] = m
	}
	for _, raw := range env.Results {
		r := &smp.PerformanceTestResult{}
		if err := strict.Unmarshal(raw, r); err != nil {
			t.Fatalf("PerformanceTestResult: %v", err)
		}
		results[r.Labels["smp.dev/arm"]] = r
	}
	return cfg, meshes, results
}

// TestExportSMPTellsMeshesApart: the baseline has no ServiceMesh at all, smp's builtin
// sidecar is INVALID_MESH with a label naming it, and an SMP mesh has its number; each
// result's labels name its mesh too.
func TestExportSMPTellsMeshesApart(t *testing.T) {
	f := newFixture(t)
	_, meshes, results := exportSMP(t, f.doc)
	base, side := meshes["baseline"], meshes["sidecar"]
	if base == nil || side == nil {
		t.Fatalf("mesh configs for %v", meshes)
	}
	if base.MeshType != nil {
		t.Errorf("baseline exports mesh_type %v; no mesh was in the data path", base.MeshType)
	}
	if base.Labels["smp.dev/mesh"] != "none" || side.Labels["smp.dev/mesh"] != "builtin" {
		t.Errorf("mesh labels %q and %q", base.Labels["smp.dev/mesh"], side.Labels["smp.dev/mesh"])
	}
	if side.MeshType == nil || side.MeshType.Type != smp.ServiceMesh_INVALID_MESH || side.MeshType.Labels["smp.dev/mesh"] != "builtin" {
		t.Errorf("builtin arm's ServiceMesh %v, want INVALID_MESH labelled builtin", side.MeshType)
	}
	if results["baseline"].Labels["smp.dev/mesh"] != "none" || results["sidecar"].Labels["smp.dev/mesh"] != "builtin" {
		t.Errorf("result labels %v and %v", results["baseline"].Labels, results["sidecar"].Labels)
	}

	f.doc.Plan.Arms[1].Mesh = spec.MeshIstio
	for i := range f.doc.Trials {
		if f.doc.Trials[i].Arm == "sidecar" {
			f.doc.Trials[i].Mesh.Type = spec.MeshIstio
		}
	}
	_, meshes, _ = exportSMP(t, f.doc)
	if m := meshes["sidecar"].MeshType; m == nil || m.Type != smp.ServiceMesh_ISTIO || m.Labels["smp.dev/mesh"] != "" {
		t.Errorf("istio arm's ServiceMesh %v, want ISTIO with no extra label", m)
	}
}

// TestExportSMPOnlyWhatWasDeclared: a Meshery file aimed at a server smp did not deploy
// says mesh ISTIO and nothing about mTLS or the data plane; the export says no more.
func TestExportSMPOnlyWhatWasDeclared(t *testing.T) {
	f := newFixture(t)
	plan, err := spec.Parse("meshery.yaml", []byte(`
test:
  name: plain server
  clients: [{connections: 2, rps: 10, endpoint_urls: ["http://127.0.0.1:2323/"]}]
  duration: 1m30s
mesh: {type: 3}
`))
	if err != nil {
		t.Fatal(err)
	}
	f.doc.Plan = plan
	arm := plan.Arms[0]
	for i := range f.doc.Trials {
		f.doc.Trials[i].Arm = arm.Name
		f.doc.Trials[i].Mesh = result.MeshInfo{Type: arm.Mesh, MTLS: arm.MTLS, DataPlane: arm.DataPlane}
	}
	cfg, meshes, _ := exportSMP(t, f.doc)
	m := meshes[arm.Name]
	if m == nil || m.MeshType.GetType() != smp.ServiceMesh_ISTIO {
		t.Fatalf("mesh config %v", m)
	}
	if m.MtlsEnabled || m.Profile != "" {
		t.Errorf("mtls_enabled %v profile %q: neither was declared or measured", m.MtlsEnabled, m.Profile)
	}
	if cfg.Duration != "90s" {
		t.Errorf("duration %q, want 90s (mesheryctl reads the last character as the unit)", cfg.Duration)
	}
}

func TestExportSMPDurations(t *testing.T) {
	f := newFixture(t)
	for d, want := range map[time.Duration]string{
		10 * time.Second: "10s", 90 * time.Second: "90s", 30 * time.Minute: "30m", 2 * time.Hour: "2h",
		90 * time.Minute: "90m", 1500 * time.Millisecond: "1.5s",
	} {
		f.doc.Plan.Workload.Duration = spec.Duration(d)
		cfg, _, _ := exportSMP(t, f.doc)
		if cfg.Duration != want {
			t.Errorf("%v exports as %q, want %q", d, cfg.Duration, want)
		}
	}
}

// TestExportSMPIngressGateway: with entry via gateway the client is not internal, and the
// gateway's usage is SMP's ingress_gateway, apart from the sidecars.
func TestExportSMPIngressGateway(t *testing.T) {
	f := newFixture(t)
	f.doc.Plan.Workload.Entry.Via = spec.EntryGateway
	internal := false
	f.doc.Plan.Workload.Internal = &internal
	for i := range f.doc.Trials {
		f.doc.Trials[i].Resources = append(f.doc.Trials[i].Resources, result.Resource{Component: "gateway", Role: result.RoleGateway,
			CPUMcoresAvg: 40, MemoryBytesAvg: 12 << 20, Samples: 10, Source: "procfs"})
	}
	cfg, meshes, _ := exportSMP(t, f.doc)
	if cfg.Clients[0].Internal {
		t.Error("clients[0].internal is true for a load that enters through the gateway")
	}
	for arm, m := range meshes {
		g := m.IngressGateway
		if g.GetCount() != 1 || g.GetCpuMcores() != 40 || g.GetMemMb() != 12 || g.GetRps() == 0 {
			t.Errorf("%s: ingress_gateway %v, want count 1, 40 mcores, 12 MB and the rate", arm, g)
		}
		if arm == "sidecar" && m.Sidecar.GetCpuMcores() != 80 {
			t.Errorf("the gateway's CPU leaked into the sidecars': %v", m.Sidecar)
		}
	}
}
