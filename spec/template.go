package spec

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"text/template"
)

// TemplateOptions choose what `smp init` writes.
type TemplateOptions struct {
	// Platform of the plan. Default: local.
	Platform Platform
	// Meshes to compare with the baseline. Default: builtin on local, istio on Kubernetes.
	Meshes []MeshType
}

var planTemplate = template.Must(template.New("plan").Parse(`# smp test plan ({{.APIVersion}}). Check it with: smp validate {{"<this file>"}}
# Run it with: smp run {{"<this file>"}}. Every field and its default: docs/plan.md
api_version: {{.APIVersion}}
name: {{.Name}}
description: {{.Description}}

# The configurations to compare. The baseline (mesh: none) is measured the same way, on
# the same machine(s), interleaved with the others, so drift hits every arm alike.
arms:
  - name: baseline
    mesh: none
{{- range .Arms}}
  - name: {{.Name}}
    mesh: {{.Mesh}}          # {{.Doc}}
    mtls: strict{{if .Kubernetes}}
    # version: ""           # the installed version is detected and recorded{{end}}
    # proxy_concurrency: 2  # worker threads per proxy; 0 keeps the proxy's default
{{- end}}

workload:
{{- if .Kubernetes}}
  app: builtin              # builtin | bookinfo | emojivoto | fortio
{{- else}}
  app:
    kind: builtin           # smp's sample app, one process per service
    services: 3             # a chain like productpage -> reviews -> ratings
    topology: chain         # chain | fanout | bookinfo-shape | emojivoto-shape
    response_size: 1KiB     # bytes each service returns
{{- end}}
  protocol: http/1.1        # http/1.1 | h2 | h2c | grpc
  rate: 500                 # total requests per second; 0 = closed loop (as fast as possible)
  arrival: constant         # constant | poisson | uniform | ramp | step
  connections: 16
  duration: 10s             # measured phase of each repetition
  warmup: 5s                # same schedule, not measured
  timeout: 10s
  keep_alive: true          # false opens a connection per request (handshake cost)
{{- if .Kubernetes}}
  load_generator: builtin   # smp's engine, in the cluster as agent pods:
  agents: 2                 # this many per arm, each with its share (docs/kubernetes.md)
{{- else}}
  load_generator: builtin   # builtin | fortio | wrk2 | wrk | nighthawk
{{- end}}

metrics:
  percentiles: [50, 90, 95, 99, 99.9]
{{- if .Kubernetes}}
  collectors:
    - type: prometheus
      url: http://prometheus.monitoring:9090   # change to your Prometheus
{{- else}}
  collectors: [procfs]      # CPU and memory of every process, from /proc
{{- end}}

environment:
  platform: {{.Platform}}
{{- if .Kubernetes}}
  # kubeconfig: ~/.kube/config   # default: $KUBECONFIG, then ~/.kube/config
  # context: my-cluster          # default: the current context
  kubernetes:
    namespace_prefix: smp        # two namespaces per arm: smp-<run key>-<arm> and the same with -load
{{- end}}

repetitions: 5              # each arm this many times, deployed afresh: intervals and verdicts (1 gives none)
order: interleaved          # interleaved | sequential | random

# Pass/fail conditions; smp exits with code 3 when one fails.
slo:
  - error_rate < 0.1%
  - latency.p99 < 50ms
{{- if .Arms}}
  - overhead.latency.p99 < 10ms   # compared with the baseline
{{- end}}
`))

type templateArm struct {
	Name, Mesh, Doc string
	Kubernetes      bool
}

// Template returns a commented, valid plan to start from.
func Template(opt TemplateOptions) ([]byte, error) {
	platform := opt.Platform
	if platform == "" {
		platform = PlatformLocal
	}
	var allowed []MeshType
	switch platform {
	case PlatformLocal:
		allowed = localMeshes
	case PlatformKubernetes:
		allowed = kubernetesMeshes
	default:
		return nil, fmt.Errorf("unknown platform %q (use local or kubernetes)", platform)
	}
	meshes := opt.Meshes
	if len(meshes) == 0 {
		meshes = []MeshType{MeshBuiltin}
		if platform == PlatformKubernetes {
			meshes = []MeshType{MeshIstio}
		}
	}
	var arms []templateArm
	info, _ := Enum(MeshNone)
	for _, m := range meshes {
		if m.IsBaseline() {
			continue
		}
		if !slices.Contains(allowed, m) {
			return nil, fmt.Errorf("mesh %s is not available on the %s platform (use one of: %s)", m, platform, meshList(allowed))
		}
		if slices.ContainsFunc(arms, func(a templateArm) bool { return a.Mesh == string(m) }) {
			return nil, fmt.Errorf("mesh %s is given twice (each arm needs its own name)", m)
		}
		arms = append(arms, templateArm{Name: string(m), Mesh: string(m), Doc: info.Docs[string(m)], Kubernetes: platform == PlatformKubernetes})
	}
	names := make([]string, len(arms))
	for i, a := range arms {
		names[i] = a.Name
	}
	desc := "What the mesh costs compared with no mesh."
	if len(names) > 0 {
		desc = fmt.Sprintf("What %s costs compared with no mesh.", strings.Join(names, " and "))
	}
	var buf bytes.Buffer
	err := planTemplate.Execute(&buf, map[string]any{
		"APIVersion": APIVersion, "Name": "mesh-overhead", "Description": desc,
		"Arms": arms, "Platform": platform, "Kubernetes": platform == PlatformKubernetes,
	})
	if err != nil {
		return nil, fmt.Errorf("render plan template: %w", err)
	}
	return buf.Bytes(), nil
}
