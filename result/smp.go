package result

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/service-mesh-performance/smp/spec"
)

// SMPSpecVersion is the version of the SMP protos the export follows
// (github.com/service-mesh-performance/service-mesh-performance, protos/*.proto).
const SMPSpecVersion = "v0.6.1"

// ExportOptions select what an export writes.
type ExportOptions struct {
	// Arm restricts the export to one arm. For SMP it writes a bare PerformanceTestResult;
	// for fortio a single result object.
	Arm string
	// DetailsURI is where the full result lives (SMP's details_uri), e.g. file:///…/run.json.
	DetailsURI string
	// YAML writes YAML instead of JSON (SMP only).
	YAML bool
}

// The smp* types mirror SMP's proto messages field for field (proto names, as both
// protobuf JSON with UseProtoNames and Meshery's encoding/json path read them). Numbers
// are JSON numbers and enums are integers, which both readers accept; times are RFC 3339
// UTC strings, the protobuf JSON form of google.protobuf.Timestamp. A test decodes the
// export with the SMP module's own generated types to keep these in step.

type smpExport struct {
	SMPVersion             string                     `json:"smp_version"`
	PerformanceTestConfig  smpPerformanceTestConfig   `json:"performance_test_config"`
	EnvironmentConfig      smpEnvironmentConfig       `json:"environment_config"`
	ServiceMeshConfigs     []smpServiceMeshConfig     `json:"service_mesh_configs"`
	PerformanceTestResults []smpPerformanceTestResult `json:"performance_test_results"`
}

type smpPerformanceTestConfig struct {
	SMPVersion string            `json:"smp_version,omitempty"`
	ID         string            `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Clients    []smpClient       `json:"clients,omitempty"`
	Duration   string            `json:"duration,omitempty"`
}

type smpClient struct {
	Internal          bool              `json:"internal,omitempty"`
	LoadGenerator     string            `json:"load_generator,omitempty"`
	Protocol          int32             `json:"protocol,omitempty"`
	Connections       int32             `json:"connections,omitempty"`
	RPS               int64             `json:"rps,omitempty"`
	Headers           map[string]string `json:"headers,omitempty"`
	Cookies           map[string]string `json:"cookies,omitempty"`
	Body              string            `json:"body,omitempty"`
	ContentType       string            `json:"content_type,omitempty"`
	EndpointURLs      []string          `json:"endpoint_urls,omitempty"`
	SSLCertificate    string            `json:"ssl_certificate,omitempty"`
	AdditionalOptions string            `json:"additional_options,omitempty"`
}

type smpPerformanceTestResult struct {
	SMPVersion   string            `json:"smp_version,omitempty"`
	ID           string            `json:"id,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	StartTime    string            `json:"start_time,omitempty"`
	EndTime      string            `json:"end_time,omitempty"`
	LatenciesMS  *smpLatency       `json:"latencies_ms,omitempty"`
	ActualQPS    float64           `json:"actual_qps,omitempty"`
	DetailsURI   string            `json:"details_uri,omitempty"`
	TestID       string            `json:"test_id,omitempty"`
	MeshConfigID string            `json:"mesh_config_id,omitempty"`
	EnvID        string            `json:"env_id,omitempty"`
}

type smpLatency struct {
	Min     float64 `json:"min"`
	Average float64 `json:"average"`
	P50     float64 `json:"p50"`
	P90     float64 `json:"p90"`
	P99     float64 `json:"p99"`
	Max     float64 `json:"max"`
}

type smpServiceMeshConfig struct {
	SMPVersion       string             `json:"smp_version,omitempty"`
	ID               string             `json:"id,omitempty"`
	Labels           map[string]string  `json:"labels,omitempty"`
	IngressGateway   *smpComponentUsage `json:"ingress_gateway,omitempty"`
	Sidecar          *smpComponentUsage `json:"sidecar,omitempty"`
	MeshControlPlane *smpComponentUsage `json:"mesh_control_plane,omitempty"`
	MTLSEnabled      bool               `json:"mtls_enabled,omitempty"`
	ProxyConcurrency int32              `json:"proxy_concurrency,omitempty"`
	MeshBuild        string             `json:"mesh_build,omitempty"`
	ProxyBuild       string             `json:"proxy_build,omitempty"`
	ExpGroupUUID     string             `json:"exp_group_uuid,omitempty"`
	ExpUUID          string             `json:"exp_uuid,omitempty"`
	Profile          string             `json:"profile,omitempty"`
	MeshType         *smpServiceMesh    `json:"mesh_type,omitempty"`
}

// smpComponentUsage covers ServiceMeshConfig.IngressGateway, .Sidecar and .MeshControlPlane
// (int32 fields).
type smpComponentUsage struct {
	Count     int32 `json:"count,omitempty"`
	CPUMcores int32 `json:"cpu_mcores,omitempty"`
	MemMB     int32 `json:"mem_mb,omitempty"`
	RPS       int32 `json:"rps,omitempty"`
}

type smpServiceMesh struct {
	Type        int32             `json:"type,omitempty"`
	Version     string            `json:"version,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type smpEnvironmentConfig struct {
	SMPVersion          string              `json:"smp_version,omitempty"`
	ID                  string              `json:"id,omitempty"`
	Labels              map[string]string   `json:"labels,omitempty"`
	KubernetesVersion   string              `json:"kubernetes_version,omitempty"`
	Nodes               []smpNode           `json:"nodes,omitempty"`
	IndividualWorkloads []smpWorkload       `json:"individual_workloads,omitempty"`
	TrafficMetadata     *smpTrafficMetadata `json:"traffic_metadata,omitempty"`
}

type smpNode struct {
	Type  string `json:"type,omitempty"`
	Cores int32  `json:"cores,omitempty"`
	MemMB int64  `json:"mem_mb,omitempty"`
}

type smpWorkload struct {
	Name      string `json:"name,omitempty"`
	Count     int32  `json:"count,omitempty"`
	CPUMcores int32  `json:"cpu_mcores,omitempty"`
	MemMB     int32  `json:"mem_mb,omitempty"`
}

type smpTrafficMetadata struct {
	HostEndpoint string `json:"host_endpoint,omitempty"`
	HTTPHeaders  string `json:"http_headers,omitempty"`
}

const bytesPerMB = 1 << 20

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func round32(v float64) int32 {
	if v > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(math.Round(v))
}

// smpMeshNumber maps a mesh type to SMP's ServiceMesh.Type; the local sidecars (builtin,
// haproxy, nginx, envoy) have no SMP value and export as INVALID_MESH (0), with a label
// saying what they are (see smpMeshOf).
func smpMeshNumber(m spec.MeshType) int32 {
	info, _ := spec.Enum(m)
	for n, name := range info.Numbers {
		if name == string(m) {
			return n
		}
	}
	return 0
}

func smpProtocolNumber(p spec.Protocol) int32 {
	info, _ := spec.Enum(p)
	for n, name := range info.Numbers {
		if name == string(p) {
			return n
		}
	}
	if p == spec.ProtocolH2 || p == spec.ProtocolH2C {
		return 1 // SMP has one HTTP value for every version
	}
	return 0
}

// ExportSMP writes the document as SMP messages: one PerformanceTestConfig and
// EnvironmentConfig, and a ServiceMeshConfig and PerformanceTestResult per arm, with
// latencies in milliseconds computed from the pooled histograms.
func ExportSMP(w io.Writer, d *Document, opt ExportOptions) error {
	x, err := buildSMP(d, opt)
	if err != nil {
		return err
	}
	var v any = x
	if opt.Arm != "" {
		v = x.PerformanceTestResults[0]
	}
	return writeJSONOrYAML(w, v, opt.YAML)
}

func buildSMP(d *Document, opt ExportOptions) (*smpExport, error) {
	arms := d.Arms()
	if opt.Arm != "" {
		if !slices.Contains(arms, opt.Arm) {
			return nil, fmt.Errorf("export smp: no arm %q in %s (arms: %v)", opt.Arm, d.ID, arms)
		}
		arms = []string{opt.Arm}
	}
	envID := d.Environment.ID
	if envID == "" {
		envID = d.ID + "/environment"
	}
	testID := d.ID
	if d.Plan != nil && d.Plan.ID != "" {
		testID = d.Plan.ID
	}
	x := &smpExport{
		SMPVersion:            SMPSpecVersion,
		PerformanceTestConfig: smpTestConfig(d, testID),
		EnvironmentConfig:     smpEnvironment(d, envID),
	}
	for _, arm := range arms {
		lat, err := d.ArmLatency(arm)
		if err != nil {
			return nil, fmt.Errorf("export smp: %w", err)
		}
		totals := d.Totals(arm)
		meshID := d.ID + "/" + arm + "/mesh"
		labels := map[string]string{"smp.dev/run": d.ID, "smp.dev/arm": arm}
		if m := armMesh(d, arm); m != "" {
			labels[smpMeshLabel] = string(m)
		}
		for k, v := range d.Labels {
			labels[k] = v
		}
		x.PerformanceTestResults = append(x.PerformanceTestResults, smpPerformanceTestResult{
			SMPVersion: SMPSpecVersion,
			ID:         d.ID + "/" + arm,
			Labels:     labels,
			StartTime:  rfc3339(totals.Start),
			EndTime:    rfc3339(totals.End),
			LatenciesMS: &smpLatency{
				Min: lat.MinMS, Average: lat.MeanMS, Max: lat.MaxMS,
				P50: percentileMS(lat, 50), P90: percentileMS(lat, 90), P99: percentileMS(lat, 99),
			},
			ActualQPS:    totals.AchievedRPS(),
			DetailsURI:   opt.DetailsURI,
			TestID:       testID,
			MeshConfigID: meshID,
			EnvID:        envID,
		})
		x.ServiceMeshConfigs = append(x.ServiceMeshConfigs, smpMeshConfig(d, arm, meshID))
	}
	return x, nil
}

// percentileMS returns a percentile of a distribution. Distributions from ArmLatency
// carry the plan's percentiles; p50/p90/p99 are recomputed from the histogram when a plan
// did not ask for them.
func percentileMS(dist Distribution, p float64) float64 {
	for _, q := range dist.Percentiles {
		if q.Percentile == p {
			return q.ValueMS
		}
	}
	h, err := dist.Histogram.decode()
	if err != nil {
		return 0
	}
	return ms(h.Percentile(p))
}

func smpTestConfig(d *Document, testID string) smpPerformanceTestConfig {
	c := smpPerformanceTestConfig{SMPVersion: SMPSpecVersion, ID: testID, Name: d.Name, Labels: d.Labels}
	if d.Plan == nil {
		return c
	}
	w := d.Plan.Workload
	rate := 0.0
	if w.Rate != nil {
		rate = *w.Rate
	}
	cl := smpClient{
		LoadGenerator:     string(w.LoadGenerator),
		Protocol:          smpProtocolNumber(w.Protocol),
		Connections:       int32(w.Connections),
		RPS:               int64(math.Round(rate)),
		Headers:           w.Headers,
		Cookies:           w.Cookies,
		Body:              w.Body,
		ContentType:       w.ContentType,
		SSLCertificate:    w.TLS.CAFile,
		AdditionalOptions: w.AdditionalOptions,
	}
	if w.Internal != nil {
		cl.Internal = *w.Internal
	}
	cl.EndpointURLs = w.EndpointURLs
	if len(cl.EndpointURLs) == 0 {
		cl.EndpointURLs = firstTargets(d)
	}
	c.Clients = []smpClient{cl}
	c.Duration = mesheryDuration(w.Duration.D())
	return c
}

// mesheryDuration writes d as one number and one unit (90s, 5m, 2h), the only form
// mesheryctl reads: it takes the last character as the unit and the rest as a whole
// number, so "1m30s" would become 1s. Other readers parse it as a Go duration. A duration
// that is no whole number of seconds has no such form and is written as Go writes it
// (1.5s), which Meshery cannot read.
func mesheryDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}

func firstTargets(d *Document) []string {
	for _, t := range d.Trials {
		if len(t.Targets) > 0 {
			return t.Targets
		}
	}
	return nil
}

func smpEnvironment(d *Document, envID string) smpEnvironmentConfig {
	e := smpEnvironmentConfig{SMPVersion: SMPSpecVersion, ID: envID}
	env := d.Environment
	if k := env.Kubernetes; k != nil {
		e.KubernetesVersion = k.Version
		for _, n := range k.Nodes {
			typ := n.InstanceType
			if typ == "" {
				typ = n.Name
			}
			e.Nodes = append(e.Nodes, smpNode{Type: typ, Cores: int32(n.Cores), MemMB: n.MemoryBytes / bytesPerMB})
		}
	} else {
		typ := env.CPUModel
		if typ == "" {
			typ = env.Hostname
		}
		e.Nodes = []smpNode{{Type: typ, Cores: int32(env.Cores), MemMB: env.MemoryBytes / bytesPerMB}}
	}
	// Application workloads as measured in the baseline (or the first arm): the app's own
	// cost, without any proxy.
	arm := ""
	if d.Plan != nil {
		arm = d.Plan.Baseline
	}
	if arm == "" {
		if arms := d.Arms(); len(arms) > 0 {
			arm = arms[0]
		}
	}
	for _, u := range usageByComponent(d, arm, RoleApp) {
		e.IndividualWorkloads = append(e.IndividualWorkloads, smpWorkload{
			Name: u.name, Count: 1, CPUMcores: round32(u.cpu), MemMB: round32(u.mem / bytesPerMB)})
	}
	if t := firstTargets(d); len(t) > 0 {
		e.TrafficMetadata = &smpTrafficMetadata{HostEndpoint: t[0]}
	}
	return e
}

type componentUsage struct {
	name string
	cpu  float64 // mean mcores
	mem  float64 // mean bytes
}

// usageByComponent averages each component's CPU and memory over an arm's trials.
func usageByComponent(d *Document, arm string, role Role) []componentUsage {
	sums := map[string]*componentUsage{}
	counts := map[string]int{}
	for _, t := range d.TrialsOf(arm) {
		for _, r := range t.Resources {
			if r.Role != role || r.Error != "" {
				continue
			}
			u := sums[r.Component]
			if u == nil {
				u = &componentUsage{name: r.Component}
				sums[r.Component] = u
			}
			u.cpu += r.CPUMcoresAvg
			u.mem += float64(r.MemoryBytesAvg)
			counts[r.Component]++
		}
	}
	out := make([]componentUsage, 0, len(sums))
	for name, u := range sums {
		n := float64(counts[name])
		out = append(out, componentUsage{name: name, cpu: u.cpu / n, mem: u.mem / n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func sumUsage(us []componentUsage) *smpComponentUsage {
	if len(us) == 0 {
		return nil
	}
	var cpu, mem float64
	for _, u := range us {
		cpu += u.cpu
		mem += u.mem
	}
	return &smpComponentUsage{Count: int32(len(us)), CPUMcores: round32(cpu), MemMB: round32(mem / bytesPerMB)}
}

// smpMeshLabel names the mesh of an arm in SMP labels, for what SMP's enum cannot say:
// smp's own sidecars, and no mesh at all.
const smpMeshLabel = "smp.dev/mesh"

// armInfo is what an arm ran: its first measured trial's mesh, else the plan's arm.
func armInfo(d *Document, arm string) (MeshInfo, *spec.Arm) {
	var info MeshInfo
	if ts := d.TrialsOf(arm); len(ts) > 0 {
		info = ts[0].Mesh
	}
	var planArm *spec.Arm
	if d.Plan != nil {
		for i := range d.Plan.Arms {
			if d.Plan.Arms[i].Name == arm {
				planArm = &d.Plan.Arms[i]
			}
		}
	}
	if info.Type == "" && planArm != nil {
		info.Type, info.Version, info.MTLS, info.ProxyConcurrency = planArm.Mesh, planArm.Version, planArm.MTLS, planArm.ProxyConcurrency
	}
	return info, planArm
}

func armMesh(d *Document, arm string) spec.MeshType {
	info, _ := armInfo(d, arm)
	return info.Type
}

// smpMeshOf is an arm's SMP ServiceMesh: none for the baseline (no mesh was in the data
// path, which SMP's enum cannot say: INVALID_MESH is also what a reader sees for a mesh
// it does not know), the SMP number for the meshes SMP names, and INVALID_MESH with the
// label smp.dev/mesh for smp's own sidecars, so that a reader tells them from the
// baseline and from each other.
func smpMeshOf(info MeshInfo, planArm *spec.Arm) *smpServiceMesh {
	if info.Type == "" || info.Type.IsBaseline() {
		return nil
	}
	mesh := &smpServiceMesh{Type: smpMeshNumber(info.Type), Version: info.Version}
	if planArm != nil {
		mesh.Labels, mesh.Annotations = planArm.Labels, planArm.Annotations
	}
	if mesh.Type == 0 {
		labels := map[string]string{smpMeshLabel: string(info.Type)}
		for k, v := range mesh.Labels {
			labels[k] = v
		}
		mesh.Labels = labels
	}
	return mesh
}

// smpMeshConfig is an arm's ServiceMeshConfig, with what was declared or measured only:
// mtls_enabled, profile and proxy_concurrency as the trial recorded them (for an external
// app, what the plan said; nothing when it said nothing), builds as found, usage as
// measured.
func smpMeshConfig(d *Document, arm, meshID string) smpServiceMeshConfig {
	c := smpServiceMeshConfig{SMPVersion: SMPSpecVersion, ID: meshID, ExpGroupUUID: d.ID, ExpUUID: d.ID + "/" + arm,
		Labels: map[string]string{"smp.dev/run": d.ID, "smp.dev/arm": arm}}
	info, planArm := armInfo(d, arm)
	if info.Type != "" {
		c.Labels[smpMeshLabel] = string(info.Type)
	}
	c.MTLSEnabled = info.MTLS == spec.MTLSStrict || info.MTLS == spec.MTLSPermissive
	c.ProxyConcurrency = int32(info.ProxyConcurrency)
	c.MeshBuild = info.Version
	c.ProxyBuild = info.ProxyVersion
	if info.DataPlane != "" {
		c.Profile = string(info.DataPlane)
	}
	c.MeshType = smpMeshOf(info, planArm)
	c.Sidecar = sumUsage(usageByComponent(d, arm, RoleProxy))
	if c.Sidecar != nil {
		c.Sidecar.RPS = round32(d.Totals(arm).AchievedRPS())
	}
	// entry via gateway: the gateway every request entered through.
	c.IngressGateway = sumUsage(usageByComponent(d, arm, RoleGateway))
	if c.IngressGateway != nil {
		c.IngressGateway.RPS = round32(d.Totals(arm).AchievedRPS())
	}
	c.MeshControlPlane = sumUsage(usageByComponent(d, arm, RoleControlPlane))
	return c
}

// writeJSONOrYAML writes v as indented JSON or as block-style YAML with the same key order.
func writeJSONOrYAML(w io.Writer, v any, asYAML bool) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode export: %w", err)
	}
	if !asYAML {
		data = append(data, '\n')
		_, err = w.Write(data)
		return err
	}
	var node yaml.Node
	if err := yaml.Unmarshal(data, &node); err != nil {
		return fmt.Errorf("encode export as YAML: %w", err)
	}
	blockStyle(&node)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&node); err != nil {
		return fmt.Errorf("encode export as YAML: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// blockStyle clears the flow style that JSON input leaves on every node, so the YAML
// reads as YAML rather than as JSON with different quotes.
func blockStyle(n *yaml.Node) {
	n.Style &^= yaml.FlowStyle
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		n.Style &^= yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}
