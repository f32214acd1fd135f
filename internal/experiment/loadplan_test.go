package experiment

import (
	"strings"
	"testing"

	"github.com/service-mesh-performance/smp/spec"
)

// TestLoadPlan: smp load's plan takes its protocol from the URL's scheme (unless one is
// given), switches TLS on for https and grpcs, runs wrk closed loop unless a rate is
// given, keeps the headers, and rejects what it cannot run with the option named.
func TestLoadPlan(t *testing.T) {
	base := LoadOptions{Connections: 2, Duration: 1e9, Timeout: 1e9, KeepAlive: true, Arrival: spec.PatternConstant,
		Generator: spec.GeneratorBuiltin, GRPCMethod: spec.GRPCHealth}
	for _, tc := range []struct {
		url      string
		protocol spec.Protocol
		tls      bool
	}{
		{"http://127.0.0.1:1/", spec.ProtocolHTTP1, false},
		{"https://127.0.0.1:1/", spec.ProtocolHTTP1, true},
		{"h2c://127.0.0.1:1/", spec.ProtocolH2C, false},
		{"grpc://127.0.0.1:1", spec.ProtocolGRPC, false},
		{"grpcs://127.0.0.1:1", spec.ProtocolGRPC, true},
		{"tcp://127.0.0.1:1", spec.ProtocolTCP, false},
	} {
		o := base
		o.URL = tc.url
		p, err := LoadPlan(o)
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		w := p.Workload
		if w.Protocol != tc.protocol || w.TLS.Enabled != tc.tls || *w.Rate != DefaultLoadRate || len(p.Arms) != 1 ||
			w.App.Kind != spec.AppExternal || w.EndpointURLs[0] != tc.url {
			t.Errorf("%s: protocol %s, tls %v, rate %v, arms %d, app %s; want %s, tls %v, the default rate, one arm, an external app",
				tc.url, w.Protocol, w.TLS.Enabled, *w.Rate, len(p.Arms), w.App.Kind, tc.protocol, tc.tls)
		}
	}

	o := base
	o.URL, o.Generator, o.Headers = "http://127.0.0.1:1/", spec.GeneratorWrk, []string{"X-A: 1", "X-B:two "}
	p, err := LoadPlan(o)
	if err != nil {
		t.Fatal(err)
	}
	if *p.Workload.Rate != 0 || p.Workload.Headers["X-A"] != "1" || p.Workload.Headers["X-B"] != "two" {
		t.Errorf("wrk: rate %v, headers %v; want closed loop and both headers", *p.Workload.Rate, p.Workload.Headers)
	}
	rate := 50.0
	o.Rate, o.Generator = &rate, spec.GeneratorWrk2
	if p, err := LoadPlan(o); err != nil || *p.Workload.Rate != 50 {
		t.Errorf("wrk2 with a rate: %v", err)
	}

	for _, bad := range []struct {
		mutate func(*LoadOptions)
		want   string
	}{
		{func(o *LoadOptions) { o.URL = "127.0.0.1:8080" }, "not a URL with a host"},
		{func(o *LoadOptions) { o.URL = "ftp://127.0.0.1/" }, `unsupported URL scheme "ftp"`},
		{func(o *LoadOptions) { o.Headers = []string{"no colon"} }, `-H "no colon"`},
		{func(o *LoadOptions) { o.PayloadSize = "lots" }, "--payload-size"},
		{func(o *LoadOptions) { o.Connections = -1 }, "connections"},
	} {
		o := base
		o.URL = "http://127.0.0.1:1/"
		bad.mutate(&o)
		if _, err := LoadPlan(o); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: error %v, want one naming %q", o, err, bad.want)
		}
	}
}
