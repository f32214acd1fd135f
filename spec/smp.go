package spec

import (
	"fmt"
	"strings"
)

// SMP and Meshery input shapes. A file whose top level has "clients" is read as SMP's
// PerformanceTestConfig; one whose top level has "test" is read as Meshery's
// {test: PerformanceTestConfig, mesh: ServiceMesh}. Both are converted into a Plan with
// every position kept, so errors still point at the line the user wrote.
//
// Field names are SMP's proto names (snake_case, as Meshery decodes them) and also the
// camelCase names of protobuf JSON and of Meshery's newer schema (loadGenerator,
// endpointUrls). Enums are accepted by name or by today's SMP number, and numbers also in
// quotes, as the protobuf JSON mapping writes int64 ("rps": "10") and lets parsers accept
// every number: a file protojson.Marshal wrote from SMP's own Go types loads unchanged.

// SMPTestConfig is SMP's PerformanceTestConfig (service_mesh_performance.proto), plus the
// sections of a smp plan that SMP has no equivalent for (arms, metrics, environment, …).
type SMPTestConfig struct {
	// SMP spec version (smp_version).
	SMPVersion string `json:"smp_version,omitempty" alias:"smpVersion"`
	// Test identifier.
	ID string `json:"id,omitempty"`
	// Test name.
	Name string `json:"name,omitempty"`
	// Free-form labels.
	Labels map[string]string `json:"labels,omitempty"`
	// Load generators; smp runs the first and rejects more than one (use workload.agents).
	Clients []SMPClient `json:"clients,omitempty"`
	// Length of the load phase.
	Duration Duration `json:"duration,omitempty"`

	// smp extensions, with the same meaning as in a native plan.
	Description string       `json:"description,omitempty"`
	Arms        []Arm        `json:"arms,omitempty"`
	Baseline    string       `json:"baseline,omitempty"`
	Metrics     *Metrics     `json:"metrics,omitempty"`
	Environment *Environment `json:"environment,omitempty"`
	Repetitions int          `json:"repetitions,omitempty"`
	Order       Order        `json:"order,omitempty"`
	Seed        int64        `json:"seed,omitempty"`
	SLO         []SLO        `json:"slo,omitempty"`
	Output      *Output      `json:"output,omitempty"`
}

// SMPClient is SMP's PerformanceTestConfig.Client.
type SMPClient struct {
	// The client runs inside the mesh.
	Internal *bool `json:"internal,omitempty"`
	// fortio, wrk2, nighthawk, … (free text in SMP; one of smp's generators here).
	LoadGenerator Generator `json:"load_generator,omitempty" alias:"loadGenerator"`
	// SMP Protocol enum: PROTOCOL_HTTP=1, PROTOCOL_TCP=2, PROTOCOL_GRPC=4, or a name.
	Protocol Protocol `json:"protocol,omitempty"`
	// Concurrent connections (int32; a quoted number is read too, as protobuf JSON allows).
	Connections int `json:"connections,omitempty" protojson:"number"`
	// Requests per second; 0 means as fast as possible. SMP's int64, which canonical
	// protobuf JSON writes as a string ("rps": "10"); both forms are read.
	RPS *float64 `json:"rps,omitempty" protojson:"number"`
	// Request headers.
	Headers map[string]string `json:"headers,omitempty"`
	// Request cookies.
	Cookies map[string]string `json:"cookies,omitempty"`
	// Request body.
	Body string `json:"body,omitempty"`
	// Content-Type of the body.
	ContentType string `json:"content_type,omitempty" alias:"contentType"`
	// Target URLs.
	EndpointURLs []string `json:"endpoint_urls,omitempty" alias:"endpointUrls,endpoint_url"`
	// CA certificate of the target.
	SSLCertificate string `json:"ssl_certificate,omitempty" alias:"sslCertificate"`
	// Generator-specific options (JSON).
	AdditionalOptions string `json:"additional_options,omitempty" alias:"additionalOptions"`
}

// SMPServiceMesh is SMP's ServiceMesh message (service_mesh.proto). Meshery's newer files
// write the mesh as a plain name, which is a shorthand for {type: <name>}.
type SMPServiceMesh struct {
	// SMP ServiceMesh.Type: ISTIO=3, LINKERD=5, …, or a name.
	Type MeshType `json:"type,omitempty"`
	// Mesh version.
	Version string `json:"version,omitempty"`
	// Labels.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations.
	Annotations map[string]string `json:"annotations,omitempty"`
}

func (SMPServiceMesh) shorthandField() string { return "type" }

// MesheryFile is the file `mesheryctl perf apply -f` reads: {test:, mesh:}.
type MesheryFile struct {
	// The test configuration.
	Test SMPTestConfig `json:"test"`
	// The mesh under test.
	Mesh *SMPServiceMesh `json:"mesh,omitempty"`
}

// moveTree re-homes the recorded positions of an SMP path (and everything under it) onto
// a canonical plan path, remembering how the user spelled it.
func (d *decoder) moveTree(from, to string) {
	for p, pos := range d.src.pos {
		if p == from || strings.HasPrefix(p, from+".") || strings.HasPrefix(p, from+"[") {
			canon := to + strings.TrimPrefix(p, from)
			if _, ok := d.src.pos[canon]; !ok {
				d.src.pos[canon] = pos
				d.src.written[canon] = p
			}
		}
	}
}

// toPlan converts an SMP test config (decoded at prefix, "" or "test") and an optional
// mesh (decoded at meshPath) into a plan.
func (c *SMPTestConfig) toPlan(d *decoder, prefix string, mesh *SMPServiceMesh, meshPath string) *Plan {
	at := func(name string) string { return join(prefix, name) }
	p := &Plan{
		SMPVersion:  c.SMPVersion,
		ID:          c.ID,
		Name:        c.Name,
		Description: c.Description,
		Labels:      c.Labels,
		Arms:        c.Arms,
		Baseline:    c.Baseline,
		Repetitions: c.Repetitions,
		Order:       c.Order,
		Seed:        c.Seed,
		SLO:         c.SLO,
	}
	for _, name := range []string{"smp_version", "id", "name", "description", "labels", "arms", "baseline", "repetitions", "order", "seed", "slo", "metrics", "environment", "output"} {
		d.moveTree(at(name), name)
	}
	if c.Metrics != nil {
		p.Metrics = *c.Metrics
	}
	if c.Environment != nil {
		p.Environment = *c.Environment
	}
	if c.Output != nil {
		p.Output = *c.Output
	}
	p.Workload.Duration = c.Duration
	d.moveTree(at("duration"), "workload.duration")

	// SMP's rps 0 (or absent) means "as fast as possible" (Meshery runs fortio with
	// qps -1), so an SMP file without rps is closed loop, unlike a native plan.
	closed := 0.0
	p.Workload.Rate = &closed
	if len(c.Clients) > 1 {
		d.failPath(at("clients[1]"), "keep one client; for load from several machines set workload.agents in a native plan",
			"smp runs one client definition per plan; this file has %d", len(c.Clients))
	}
	if len(c.Clients) > 0 {
		cl := c.Clients[0]
		base := at("clients[0]")
		w := &p.Workload
		w.Internal = cl.Internal
		w.LoadGenerator = cl.LoadGenerator
		w.Protocol = cl.Protocol
		w.Connections = cl.Connections
		if cl.RPS != nil {
			w.Rate = cl.RPS
		}
		w.Headers = cl.Headers
		w.Cookies = cl.Cookies
		w.Body = cl.Body
		w.ContentType = cl.ContentType
		w.EndpointURLs = cl.EndpointURLs
		w.TLS.CAFile = cl.SSLCertificate
		w.AdditionalOptions = cl.AdditionalOptions
		for from, to := range map[string]string{
			"internal": "workload.internal", "load_generator": "workload.load_generator",
			"protocol": "workload.protocol", "connections": "workload.connections",
			"rps": "workload.rate", "headers": "workload.headers", "cookies": "workload.cookies",
			"body": "workload.body", "content_type": "workload.content_type",
			"endpoint_urls": "workload.endpoint_urls", "ssl_certificate": "workload.tls.ca_file",
			"additional_options": "workload.additional_options",
		} {
			d.moveTree(join(base, from), to)
		}
		d.moveTree(base, "workload")
	}
	if mesh != nil && len(p.Arms) == 0 {
		arm := Arm{Mesh: mesh.Type, Version: mesh.Version, Labels: mesh.Labels, Annotations: mesh.Annotations}
		p.Arms = []Arm{arm}
		for from, to := range map[string]string{"type": "arms[0].mesh", "version": "arms[0].version", "labels": "arms[0].labels", "annotations": "arms[0].annotations"} {
			d.moveTree(join(meshPath, from), to)
		}
		d.moveTree(meshPath, "arms[0]")
		d.moveTree(meshPath, "arms")
	} else if mesh != nil {
		d.failPath(meshPath, "remove mesh, or remove arms and let mesh define the single arm",
			"both mesh and arms are given")
	}
	return p
}

// describeShape names the input shape for messages.
func describeShape(shape string) string {
	switch shape {
	case "smp":
		return "an SMP PerformanceTestConfig"
	case "meshery":
		return "a Meshery {test:, mesh:} file"
	}
	return fmt.Sprintf("a smp plan (%s)", APIVersion)
}
