package spec_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/spec"
)

// validationCases exercise the validation rules that the bad-plan corpus does not, each
// with a small plan. Together with the corpus they reach every rule in validate.go
// (TestEveryRuleIsReached checks that).
var validationCases = []struct {
	name string
	plan string
	path string
	at   string // the text the error must point at
	msg  string
	fix  string
}{
	{"name with a slash", "name: a/b", "name", "a/b", `name "a/b" would not make a file name`, "use letters"},
	{"label prefix", "labels: {Example.com/team: x}", "labels.Example.com/team", "x}", `label prefix "Example.com" is not a DNS subdomain`, "example.com/team"},
	{"arm without a URL", "arms:\n  - {mesh: none, endpoint_urls: [http://h:1/]}\n  - {name: b, mesh: builtin}",
		"arms[1].endpoint_urls", "{name: b", `arm "b" has no URL to send load to`, "give this arm endpoint_urls"},
	{"arm URLs with the builtin app", "workload: {app: builtin}\narms:\n  - {mesh: none, endpoint_urls: [http://h:1/]}",
		"arms[0].endpoint_urls", "[http", "endpoint_urls on an arm only apply to an external app", "set workload.app: external"},
	{"negative proxy_concurrency", "arms: [{mesh: builtin, proxy_concurrency: -2}]", "arms[0].proxy_concurrency", "-2", "proxy_concurrency must not be negative", "use 0 for the proxy's default"},
	{"baseline with a data plane", "arms: [{mesh: none, data_plane: sidecar}]", "arms[0].data_plane", "sidecar}", "a baseline arm has no data plane", "remove data_plane"},
	{"baseline with proxy threads", "arms: [{mesh: none, proxy_concurrency: 2}]", "arms[0].proxy_concurrency", "2}", "a baseline arm has no proxies", "remove proxy_concurrency"},
	{"ambient on local", "arms: [{mesh: builtin, data_plane: ambient}]", "arms[0].data_plane", "ambient", "the local platform runs sidecars only, not ambient", "use sidecar"},
	{"node proxy for istio", "environment: {platform: kubernetes}\narms: [{mesh: istio, data_plane: node}]", "arms[0].data_plane", "node}", "mesh istio has no node-proxy mode", "use sidecar for istio"},
	{"cilium sidecars", "environment: {platform: kubernetes}\narms: [{mesh: cilium, data_plane: sidecar}]", "arms[0].data_plane", "sidecar}", "cilium has no sidecars", "use data_plane: node"},
	{"injection for ambient", "environment: {platform: kubernetes}\narms: [{mesh: istio, data_plane: ambient, injection: pod}]", "arms[0].injection", "pod}", "injection applies to sidecar data planes only", "remove injection"},
	{"h2 through local sidecars", "arms: [none, builtin]\nworkload: {protocol: h2}", "workload.protocol", "h2}",
		"protocol h2 (HTTP/2 over TLS from the client) does not combine with local sidecars (arm builtin)", "use protocol h2c"},
	{"load from outside the local mesh", "arms: [none, builtin]\nworkload: {internal: false}", "workload.internal", "false",
		"on the local platform the load generator always sends through a client sidecar (arm builtin)", "remove internal: false"},
	{"too many connections", "workload: {connections: 100001}", "workload.connections", "100001", "connections must be between 1 and 100000, got 100001", "use 1 to 100000"},
	{"negative streams", "workload: {protocol: h2c, streams: -1}", "workload.streams", "-1", "streams must be between 1 and 10000, got -1", "use 1 to 10000"},
	{"negative max_inflight", "workload: {max_inflight: -1}", "workload.max_inflight", "-1", "max_inflight must be positive, got -1", "e.g. 10000"},
	{"short duration", "workload: {duration: 50ms}", "workload.duration", "50ms", "duration 50ms is too short to measure", "at least 100ms"},
	{"no keep-alive with h2c", "workload: {protocol: h2c, keep_alive: false}", "workload.keep_alive", "false", "keep_alive false applies to HTTP/1.1 and TCP; h2c multiplexes", "use protocol http/1.1 or tcp"},
	{"request_size and a body", "workload: {body: x, request_size: 1KiB}", "workload.request_size", "1KiB", "request_size and a body are both set", "keep either request_size"},
	{"bad method", "workload: {method: GE T}", "workload.method", "GE T", `"GE T" is not an HTTP method`, "GET or POST"},
	{"relative path", "workload: {path: api}", "workload.path", "api", `path "api" does not start with '/'`, "start the path with '/'"},
	{"header name", "workload:\n  headers: {X Test: a}", "workload.headers.X Test", "a}", `"X Test" is not a valid header name`, "without spaces"},
	{"header value", "workload:\n  headers: {X-Test: \"a\\nb\"}", "workload.headers.X-Test", `"a`, "header value contains a line break", "remove the line break"},
	{"external app without URLs", "workload: {app: external}", "workload.endpoint_urls", "{app", "app.kind is external but there is nothing to send load to", "list the URL(s) to load"},
	{"URLs with the builtin app", "workload: {app: builtin, endpoint_urls: [http://h:1/]}", "workload.endpoint_urls", "[http", "endpoint_urls point at an external target, but app.kind is builtin", "remove endpoint_urls"},
	{"negative agents", "workload: {agents: -1}", "workload.agents", "-1", "agents must not be negative", "use 0 to run the load in smp itself"},
	{"agents with fortio", "workload: {agents: 2, load_generator: fortio}", "workload.agents", "2,", "agents run smp's own engine, not fortio", "use load_generator: builtin"},
	{"agent address", "workload: {agent_urls: [\"http://a:7070\"], agent_certs: c}", "workload.agent_urls[0]", `"http`, `"http://a:7070" is not an agent address`, "https://host:port"},
	{"agents and agent_urls disagree", "workload: {agents: 3, agent_urls: [a:7070, b:7070], agent_certs: c}", "workload.agents", "3,", "agents is 3 but 2 agent_urls are listed", "remove agents"},
	{"agent_urls without credentials", "workload: {agent_urls: [a:7070]}", "workload.agent_urls", "[a:", "agent_urls need agent_certs", "smp agent certs"},
	{"agent_certs without agents", "workload: {agent_certs: certs}", "workload.agent_certs", "certs}", "agent_certs are for agent_urls, and none are listed", "list the agents"},
	{"reach timeout without agents", "workload: {reach_timeout: 30s}", "workload.reach_timeout", "30s}", "reach_timeout is how long load agents wait for the target, and there are none", "set agents"},
	{"fewer connections than agents", "workload: {agents: 4, connections: 2}", "workload.connections", "2}", "each of the 4 agents needs a connection of its own, and connections is 2", "at least 4 connections"},
	{"certificate without key", "workload:\n  tls: {cert_file: c.pem}", "workload.tls", "{cert", "a client certificate needs both cert_file and key_file", "set both"},
	{"grpc settings for http", "workload:\n  grpc: {service: x}", "workload.grpc", "{service", "grpc settings apply to protocol grpc only", "set protocol: grpc"},
	{"echo on fortio's server", "environment: {platform: kubernetes}\nworkload:\n  app: fortio\n  protocol: grpc\n  grpc: {method: echo}", "workload.grpc.method", "echo}",
		"the echo method exists only in smp's builtin app, not in fortio", "use method: health for fortio"},
	{"mix weight", "workload:\n  mix: [{weight: -1}]", "workload.mix[0].weight", "-1", "weight must not be negative", "use a positive weight"},
	{"mix path", "workload:\n  mix: [{path: items}]", "workload.mix[0].path", "items", `path "items" does not start with '/'`, "start the path with '/'"},
	{"mix method", "workload:\n  mix: [{method: \"P UT\"}]", "workload.mix[0].method", `"P UT"`, `"P UT" is not an HTTP method`, "GET or POST"},
	{"mix body and size", "workload:\n  mix: [{body: x, request_size: 1KiB}]", "workload.mix[0].request_size", "1KiB", "a mix entry has both request_size and a body", "keep either request_size"},
	{"realworld fields without realworld", "workload:\n  arrival: {realworld: {burst_factor: 2}}", "workload.arrival.realworld", "{burst", "realworld settings apply to pattern realworld only", "use pattern: realworld"},
	{"burst factor", "workload:\n  arrival: {pattern: realworld, realworld: {burst_factor: 0.5}}", "workload.arrival.realworld.burst_factor", "0.5", "burst_factor must be between 1 and 100, got 0.5", "use 1 (no bursts)"},
	{"diurnal amplitude", "workload:\n  arrival: {pattern: realworld, realworld: {diurnal_amplitude: 1}}", "workload.arrival.realworld.diurnal_amplitude", "1}", "diurnal_amplitude must be in [0, 1), got 1", "up to 0.9"},
	{"noise", "workload:\n  arrival: {pattern: realworld, realworld: {noise: 3}}", "workload.arrival.realworld.noise", "3}", "noise must be between 0 and 2, got 3", "e.g. 0.1"},
	{"size spread", "workload:\n  arrival: {pattern: realworld, realworld: {size_spread: -1}}", "workload.arrival.realworld.size_spread", "-1", "size_spread must be between 0 and 3, got -1", "e.g. 0.5"},
	{"negative churn", "workload:\n  arrival: {pattern: realworld, realworld: {churn: -5}}", "workload.arrival.realworld.churn", "-5", "churn must not be negative", "mean number of requests"},
	{"churn over h2c", "workload:\n  protocol: h2c\n  arrival: {pattern: realworld, realworld: {churn: 50}}", "workload.arrival.realworld.churn", "50", "churn applies to HTTP/1.1 connections; h2c multiplexes one connection", "use churn: 0 with h2c"},
	{"churn without keep-alive", "workload:\n  keep_alive: false\n  arrival: {pattern: realworld, realworld: {churn: 50}}", "workload.arrival.realworld.churn", "50", "churn needs keep_alive", "set keep_alive: true"},
	{"find_max error rate", "workload:\n  find_max: {enabled: true, max_error_rate: 1.5}", "workload.find_max.max_error_rate", "1.5", "max_error_rate must be in [0, 1), got 1.5", "0.001 for 0.1%"},
	{"find_max start rate", "workload:\n  find_max: {enabled: true, start_rate: -1}", "workload.find_max.start_rate", "-1", "start_rate must not be negative", "use a positive rate"},
	{"find_max max rate", "workload:\n  find_max: {enabled: true, start_rate: 500, max_rate: 100}", "workload.find_max.max_rate", "100}", "max_rate 100 rps is below start_rate 500 rps", "at least start_rate"},
	{"find_max precision", "workload:\n  find_max: {enabled: true, precision: 0.7}", "workload.find_max.precision", "0.7", "precision must be in (0, 0.5], got 0.7", "e.g. 0.02"},
	{"find_max step", "workload:\n  find_max: {enabled: true, step_duration: 50ms}", "workload.find_max.step_duration", "50ms", "step_duration 50ms is too short to measure", "at least 100ms"},
	{"find_max with a ramp", "workload:\n  arrival: ramp\n  find_max: {enabled: true}", "workload.arrival.pattern", "ramp", "find_max sets the rate of each step itself; pattern ramp sets it too", "use constant"},
	{"find_max with wrk", "workload:\n  rate: 0\n  load_generator: wrk\n  find_max: {enabled: true}", "workload.find_max", "{enabled", "find_max needs a generator that holds a rate; wrk is closed loop", "use load_generator: builtin"},
	{"options for builtin", "workload: {additional_options: '{}'}", "workload.additional_options", "'{}'", "the builtin generator takes no additional options", "remove additional_options"},
	{"too many services", "workload:\n  app: {services: 65}", "workload.app.services", "65", "services must be between 1 and 64 on the local platform, got 65", "use 1 to 64"},
	{"too many services on kubernetes", "environment: {platform: kubernetes}\nworkload:\n  app: {services: 501}", "workload.app.services", "501",
		"services must be between 1 and 500 on the kubernetes platform, got 501", "use 1 to 500"},
	{"huge responses", "workload:\n  app: {response_size: 65MiB}", "workload.app.response_size", "65MiB", "response_size 65MiB is larger than 64MiB", "at most 64MiB"},
	{"bookinfo on local", "workload: {app: bookinfo}", "workload.app.kind", "bookinfo", "app bookinfo runs on Kubernetes only", "use app: builtin"},
	{"builtin-only field", "workload:\n  app: {kind: external, topology: fanout}\n  endpoint_urls: [http://h:1/]", "workload.app.topology", "fanout",
		"topology applies to the builtin app only, not external", "use app: builtin"},
	{"negative replicas", "workload:\n  app: {replicas: -1}", "workload.app.replicas", "-1", "replicas must be between 1 and 1000", "use 1 to 1000"},
	{"replicas on local", "workload:\n  app: {replicas: 2}", "workload.app.replicas", "2}", "the local platform runs one process per service", "remove replicas"},
	{"cpu quantity", "environment: {platform: kubernetes}\nworkload:\n  app: {resources: {requests: {cpu: lots}}}", "workload.app.resources.requests.cpu", "lots",
		`"lots" is not a CPU quantity`, "500m"},
	{"poisson closed loop", "workload: {rate: 0, arrival: poisson}", "workload.arrival.pattern", "poisson", "pattern poisson needs a rate; rate 0 is closed loop", "set workload.rate"},
	{"jitter too large", "workload:\n  arrival: {pattern: uniform, jitter: 0.7}", "workload.arrival.jitter", "0.7", "jitter must be in (0, 0.5], got 0.7", "such as 0.1"},
	{"negative from_rate", "workload:\n  arrival: {pattern: ramp, from_rate: -1}", "workload.arrival.from_rate", "-1", "from_rate must not be negative", "use 0 or a positive rate"},
	{"step without rate", "workload:\n  arrival: {pattern: step, steps: [{rate: 0, duration: 1s}]}", "workload.arrival.steps[0].rate", "0,", "a step's rate must be positive", "use a positive rate"},
	{"step without duration", "workload:\n  arrival: {pattern: step, steps: [{rate: 10}]}", "workload.arrival.steps[0].duration", "{rate: 10", "a step needs a duration", "give the step a duration"},
	{"jitter without uniform", "workload:\n  arrival: {jitter: 0.1}", "workload.arrival.jitter", "0.1", "jitter applies to pattern uniform only", "use pattern: uniform"},
	{"ramp fields without ramp", "workload:\n  arrival: {from_rate: 5}", "workload.arrival", "{from", "from_rate and ramp apply to pattern ramp only", "use pattern: ramp"},
	{"steps without step", "workload:\n  arrival: {steps: [{rate: 5, duration: 1s}]}", "workload.arrival.steps", "[{rate", "steps apply to pattern step only", "use pattern: step"},
	{"wrk2 over h2", "workload: {load_generator: wrk2, protocol: h2}", "workload.load_generator", "wrk2", "wrk2 speaks HTTP/1.1 only, not h2", "use load_generator: builtin or fortio for h2"},
	{"nighthawk closed loop", "workload: {load_generator: nighthawk, rate: 0}", "workload.load_generator", "nighthawk", "nighthawk needs a rate", "nighthawk has no max mode"},
	{"fortio h2c", "workload: {load_generator: fortio, protocol: h2c}", "workload.load_generator", "fortio", "fortio does not speak h2c with prior knowledge", "use protocol h2"},
	{"entry field without gateway", "workload:\n  entry: {proxy: nginx}", "workload.entry.proxy", "nginx", "proxy applies to entry via gateway", "set entry: {via: gateway}"},
	{"entry gateway internal", "workload: {entry: gateway, internal: true}", "workload.internal", "true", "cannot be internal", "remove internal: true"},
	{"entry gateway external", "workload: {entry: gateway, endpoint_urls: [\"http://h:1/\"]}", "workload.entry", "gateway", "an external app is reached at its endpoint_urls", "point endpoint_urls at your gateway"},
	{"entry service locally", "workload:\n  entry: {via: gateway, service: a/b:80}", "workload.entry.service", "a/b", "names a Kubernetes gateway", "set entry.proxy"},
	{"entry proxy unknown", "workload:\n  entry: {via: gateway, proxy: istio}", "workload.entry.proxy", "istio", "istio is not a proxy the local platform runs", "use one of"},
	{"entry proxies differ", "arms: [baseline, builtin, haproxy]\nworkload: {entry: gateway}", "workload.entry", "gateway", "the mesh arms use builtin, haproxy", "every arm, the baseline too"},
	{"entry h2 locally", "workload: {entry: gateway, protocol: h2}", "workload.protocol", "h2", "not h2 over TLS", "use protocol h2c"},
	{"entry proxy on kubernetes", "environment: {platform: kubernetes}\nworkload:\n  entry: {via: gateway, proxy: builtin, service: a/b:80}", "workload.entry.proxy", "builtin", "proxy chooses the gateway smp starts", "entry.service or entry.gateway"},
	{"entry no gateway on kubernetes", "environment: {platform: kubernetes}\nworkload: {entry: gateway}", "workload.entry", "gateway", "needs the gateway to send through", "entry.service: istio-system"},
	{"entry service and gateway", "environment: {platform: kubernetes}\nworkload:\n  entry: {via: gateway, service: a/b:80, gateway: a/b}", "workload.entry.gateway", "a/b}", "are both set", "keep either"},
	{"entry service form", "environment: {platform: kubernetes}\nworkload:\n  entry: {via: gateway, service: istio-ingressgateway}", "workload.entry.service", "istio-ingressgateway", "is not a Service as namespace/name:port", "namespace/name:port"},
	{"entry gateway form", "environment: {platform: kubernetes}\nworkload:\n  entry: {via: gateway, gateway: smp}", "workload.entry.gateway", "smp}", "is not a Gateway as namespace/name", "namespace/name"},
	{"shape with services", "workload:\n  app: {topology: bookinfo-shape, services: 3}", "workload.app.services", "3}", "the bookinfo-shape has 4 services in its own graph, not 3", "remove services"},
	{"shape with response_size", "workload:\n  app: {topology: emojivoto-shape, response_size: 1KiB}", "workload.app.response_size", "1KiB", "answer with the sizes of the application", "remove response_size"},
	{"shape over tcp", "workload:\n  protocol: tcp\n  app: {topology: emojivoto-shape}", "workload.protocol", "tcp", "the emojivoto-shape is entered over HTTP/1.1", "use protocol: http/1.1"},
	{"shape over grpc", "workload:\n  protocol: grpc\n  app: {topology: bookinfo-shape}", "workload.protocol", "grpc", "the bookinfo-shape is entered over HTTP/1.1", "use protocol: http/1.1"},
	{"tcp fanout", "workload:\n  protocol: tcp\n  app: {topology: fanout}", "workload.app.topology", "fanout", "it cannot fan out", "topology: chain"},
	{"tcp cpu_time", "workload:\n  protocol: tcp\n  app: {cpu_time: 1ms}", "workload.app.cpu_time", "1ms", "cpu_time is work per request", "remove it"},
	{"tcp on kubernetes", "environment: {platform: kubernetes}\nworkload: {protocol: tcp}", "workload.agents", "{protocol", "TCP load runs in smp agent pods", "set workload.agents"},
	{"tcp with bookinfo", "environment: {platform: kubernetes}\nworkload: {protocol: tcp, app: bookinfo}", "workload.protocol", "tcp", "the bookinfo app serves no TCP echo", "use app: builtin"},
	{"tcp with headers", "workload: {protocol: tcp, headers: {a: b}}", "workload.headers", "{a: b}", "headers applies to HTTP, not to protocol tcp", "a TCP echo sends request_size"},
	{"tcp message too large", "workload: {protocol: tcp, request_size: 65MiB}", "workload.request_size", "65MiB", "a TCP message of 65MiB is larger than 64MiB", "at most 64MiB"},
	{"fortio poisson", "workload: {load_generator: fortio, arrival: poisson}", "workload.arrival.pattern", "poisson", "fortio cannot produce poisson arrivals", "use pattern: constant with fortio"},
	{"short interval", "metrics: {interval: 5ms}", "metrics.interval", "5ms", "interval 5ms is too short", "at least 10ms"},
	{"explicit without bounds", "metrics:\n  buckets: {scheme: explicit}", "metrics.buckets.bounds", "{scheme", "scheme explicit needs bounds", "list the bucket upper bounds"},
	{"zero bound", "metrics:\n  buckets: [0s, 1ms]", "metrics.buckets.bounds[0]", "0s", "a bucket bound must be positive", "use positive durations"},
	{"log from below 1us", "metrics:\n  buckets: {from: 500ns}", "metrics.buckets", "{from", "log buckets need 1us ≤ from < to, got from 500ns to 10s", "from ≥ 1us"},
	{"per_decade", "metrics:\n  buckets: {per_decade: 101}", "metrics.buckets.per_decade", "101", "per_decade must be between 1 and 100", "use 1 to 100"},
	{"collector without type", "metrics:\n  collectors: [{url: http://p:9090}]", "metrics.collectors[0].type", "{url", "a collector needs a type", "set type: procfs"},
	{"collector URL", "metrics:\n  collectors: [{type: prometheus, url: ftp://p}]", "metrics.collectors[0].url", "ftp", `"ftp://p" is not an http(s) URL`, "http://prometheus:9090"},
	{"queries for cadvisor", "metrics:\n  collectors: [{type: cadvisor, queries: {cpu: up}}]", "metrics.collectors[0].queries", "{cpu", "queries apply to the prometheus collector", "use type: prometheus"},
	{"targets file for procfs", "metrics:\n  collectors: [{type: procfs, targets_file: t.json}]", "metrics.collectors[0].targets_file", "t.json", "targets_file applies to the prometheus collector", "use type: prometheus"},
	{"collector port", "metrics:\n  collectors: [{type: envoy-admin, port: 70000}]", "metrics.collectors[0].port", "70000", "port 70000 is out of range", "use a TCP port number"},
	{"context on local", "environment: {context: kind-smp}", "environment.context", "kind-smp", "context applies to the kubernetes platform", "set environment.platform: kubernetes"},
	{"nodes on local", "environment:\n  expect: {nodes: 3}", "environment.expect.nodes", "3}", "the local platform is one machine", "set environment.platform: kubernetes"},
	{"cpus on kubernetes", "environment:\n  platform: kubernetes\n  cpus: {system: 0-3}", "environment.cpus", "{system", "CPU sets apply to the local platform", "load_node_selector"},
	{"namespace prefix", "environment:\n  platform: kubernetes\n  kubernetes: {namespace_prefix: Bad_Prefix}", "environment.kubernetes.namespace_prefix", "Bad_Prefix",
		`"Bad_Prefix" cannot prefix a namespace name`, "at most 20"},
	{"kubernetes version", "environment:\n  expect: {kubernetes_version: latest}", "environment.expect.kubernetes_version", "latest", `"latest" is not a version constraint`, ">=1.30"},
	{"negative cores", "environment:\n  expect: {cores: -1}", "environment.expect", "{cores", "expectations must not be negative", "use positive numbers"},
}

func TestValidationRules(t *testing.T) {
	for _, tt := range validationCases {
		t.Run(tt.name, func(t *testing.T) {
			_, err := spec.Parse("rule.yaml", []byte(tt.plan+"\n"))
			errs, ok := err.(spec.Errors)
			if !ok {
				t.Fatalf("Parse error = %v (%T), want spec.Errors naming %s", err, err, tt.path)
			}
			line, col := lineCol(t, tt.plan, tt.at)
			for _, e := range errs {
				if e.Path != tt.path || !strings.Contains(e.Message, tt.msg) {
					continue
				}
				if e.Line != line || e.Column != col {
					t.Errorf("%s: at %d:%d, want %d:%d (where %q is)", e.Path, e.Line, e.Column, line, col, tt.at)
				}
				if !strings.Contains(e.Fix, tt.fix) {
					t.Errorf("fix = %q, want it to contain %q", e.Fix, tt.fix)
				}
				return
			}
			t.Errorf("no error at %s says %q; got:\n%s", tt.path, tt.msg, dumpErrors(errs))
		})
	}
}

// TestValidateBuiltInCode covers what only a plan built in code can hold: values the
// decoder refuses (a negative duration), and a plan without positions.
func TestValidateBuiltInCode(t *testing.T) {
	p := (&spec.Plan{}).WithDefaults()
	if err := p.Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
	p.Workload.Timeout = spec.Duration(-time.Second)
	err := p.Validate()
	errs, ok := err.(spec.Errors)
	if !ok || len(errs) != 1 {
		t.Fatalf("Validate = %v, want one error", err)
	}
	if e := errs[0]; e.Path != "workload.timeout" || e.Message != "timeout must be positive" || e.Line != 0 || e.File != "" {
		t.Errorf("error = %+v", e)
	}
}

// TestEveryRuleIsReached reads the messages of validate.go and checks that each is
// produced by the corpus or by validationCases: a rule nobody can trigger is a bug, and a
// new rule needs a test.
func TestEveryRuleIsReached(t *testing.T) {
	// Rules that a plan file cannot reach, with the reason.
	codeOnly := map[string]string{
		"timeout must be positive": "the decoder refuses negative durations and 0 means the default; TestValidateBuiltInCode covers it",
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "validate.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	type rule struct {
		format string
		re     *regexp.Regexp
		pos    token.Position
	}
	var rules []rule
	verb := regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z%]`)
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "errorf" || len(call.Args) < 3 {
			return true
		}
		lit, ok := call.Args[2].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			t.Errorf("%s: the message of a rule is not a string literal; this test cannot follow it", fset.Position(call.Pos()))
			return true
		}
		format, _ := strconv.Unquote(lit.Value)
		parts := verb.Split(format, -1)
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		rules = append(rules, rule{format, regexp.MustCompile("^" + strings.Join(parts, ".*") + "$"), fset.Position(call.Pos())})
		return true
	})
	if len(rules) < 50 {
		t.Fatalf("found %d rules in validate.go; the parse went wrong", len(rules))
	}

	var messages []string
	for _, file := range corpusFiles(t) {
		if _, err := spec.Load(file); err != nil {
			if errs, ok := err.(spec.Errors); ok {
				for _, e := range errs {
					messages = append(messages, e.Message)
				}
			}
		}
	}
	for _, tt := range validationCases {
		if _, err := spec.Parse("rule.yaml", []byte(tt.plan+"\n")); err != nil {
			if errs, ok := err.(spec.Errors); ok {
				for _, e := range errs {
					messages = append(messages, e.Message)
				}
			}
		}
	}
	for _, r := range rules {
		if _, ok := codeOnly[r.format]; ok {
			continue
		}
		reached := false
		for _, m := range messages {
			if r.re.MatchString(m) {
				reached = true
				break
			}
		}
		if !reached {
			t.Errorf("validate.go:%d: no corpus file or validationCases entry produces %q", r.pos.Line, r.format)
		}
	}
}
