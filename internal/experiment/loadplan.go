package experiment

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/service-mesh-performance/smp/spec"
)

// DefaultLoadRate is smp load's rate when none is given (requests per second), except
// with wrk, which has no open loop.
const DefaultLoadRate = 1000

// LoadOptions describe one load run against one URL: smp load's flags, typed, named like
// the plan's workload fields (docs/plan.md). Zero values are the plan's defaults unless
// said otherwise.
type LoadOptions struct {
	// URL is the target: http://, https://, h2c://, grpc://, grpcs:// or tcp://.
	URL string
	// Protocol overrides the one the URL's scheme implies ("": the scheme's).
	Protocol spec.Protocol
	// Rate in requests per second, 0 for closed loop; nil: DefaultLoadRate, or closed
	// loop with wrk.
	Rate                              *float64
	Connections, Streams, MaxInflight int
	Duration, Timeout                 time.Duration
	Warmup                            time.Duration // 0: none
	KeepAlive                         bool
	Method, Body                      string
	// Headers are "Name: value" lines.
	Headers []string
	// PayloadSize generates a request body of this size ("1KiB"); "": none.
	PayloadSize string
	Arrival     spec.Pattern
	Generator   spec.Generator
	// GRPCMethod and GRPCService apply to gRPC.
	GRPCMethod  spec.GRPCMethod
	GRPCService string
	Percentiles []float64
	// TLS is the client's (CA, certificate, key, verification); https and grpcs switch
	// it on.
	TLS spec.TLS
	// Agents spread the load over running agents, authenticated with AgentCerts (a
	// folder from `smp agent certs`, made absolute here).
	Agents     []string
	AgentCerts string
	// ReachTimeout bounds the agents' wait for the target before the load (0: the
	// plan's default).
	ReachTimeout time.Duration
}

// LoadPlan turns a load run into a plan (validated, with defaults): an external app at
// the URL, one arm, and no collector but procfs, for the load generator's own CPU and
// memory. Its errors are about the options, as the user gave them.
func LoadPlan(o LoadOptions) (*spec.Plan, error) {
	u, err := url.Parse(o.URL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%q is not a URL with a host; write e.g. http://127.0.0.1:8080/", o.URL)
	}
	protocol, err := schemeProtocol(u.Scheme)
	if err != nil {
		return nil, err
	}
	if o.Protocol != "" {
		protocol = o.Protocol
	}
	w, err := loadWorkload(o, protocol)
	if err != nil {
		return nil, err
	}
	w.TLS.Enabled = w.TLS.Enabled || u.Scheme == "https" || u.Scheme == "grpcs"
	p := &spec.Plan{
		Name:        "load",
		Repetitions: 1, // one load run, like fortio load: nothing to compare it with
		Arms:        []spec.Arm{{Name: "target", Mesh: spec.MeshNone}},
		Workload:    w,
		Metrics:     spec.Metrics{Percentiles: o.Percentiles, Collectors: []spec.Collector{{Type: spec.CollectorProcfs}}},
	}
	full := p.WithDefaults()
	if err := full.Validate(); err != nil {
		return nil, err
	}
	return full, nil
}

// schemeProtocol is the protocol a URL scheme implies.
func schemeProtocol(scheme string) (spec.Protocol, error) {
	switch scheme {
	case "h2c":
		return spec.ProtocolH2C, nil
	case "h2":
		return spec.ProtocolH2, nil
	case "grpc", "grpcs":
		return spec.ProtocolGRPC, nil
	case "tcp":
		return spec.ProtocolTCP, nil
	case "http", "https":
		return spec.ProtocolHTTP1, nil
	}
	return "", fmt.Errorf("unsupported URL scheme %q: use http, https, h2c, grpc or tcp", scheme)
}

// loadWorkload is the workload of a load run.
func loadWorkload(o LoadOptions, protocol spec.Protocol) (spec.Workload, error) {
	rate := o.Rate
	if rate == nil {
		r := float64(DefaultLoadRate)
		if o.Generator == spec.GeneratorWrk {
			r = 0 // wrk is closed loop only
		}
		rate = &r
	}
	keepAlive, warmup := o.KeepAlive, spec.Duration(o.Warmup)
	w := spec.Workload{Protocol: protocol, Rate: rate, Connections: o.Connections, Streams: o.Streams,
		MaxInflight: o.MaxInflight, Duration: spec.Duration(o.Duration), Warmup: &warmup, Timeout: spec.Duration(o.Timeout),
		KeepAlive: &keepAlive, Method: o.Method, Body: o.Body, EndpointURLs: []string{o.URL}, TLS: o.TLS,
		LoadGenerator: o.Generator}
	w.Arrival.Pattern = o.Arrival
	w.ReachTimeout = spec.Duration(o.ReachTimeout)
	if len(o.Agents) > 0 || o.AgentCerts != "" {
		w.AgentURLs = o.Agents
		if o.AgentCerts != "" {
			dir, err := filepath.Abs(o.AgentCerts)
			if err != nil {
				return w, fmt.Errorf("--agent-certs: %w", err)
			}
			w.AgentCerts = dir
		}
	}
	if o.PayloadSize != "" {
		size, err := spec.ParseSize(o.PayloadSize)
		if err != nil {
			return w, fmt.Errorf("--payload-size: %w", err)
		}
		w.RequestSize = size
	}
	if protocol == spec.ProtocolGRPC {
		w.GRPC = spec.GRPC{Method: o.GRPCMethod, Service: o.GRPCService}
	}
	headers := map[string]string{}
	for _, h := range o.Headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return w, errors.New("-H " + fmt.Sprintf("%q", h) + ": write 'Name: value'")
		}
		headers[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	if len(headers) > 0 {
		w.Headers = headers
	}
	return w, nil
}
