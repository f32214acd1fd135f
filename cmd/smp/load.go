package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/service-mesh-performance/smp/internal/experiment"
	"github.com/service-mesh-performance/smp/spec"
)

// loadFlags are named like the plan's workload fields, so that a `smp load` command line
// reads like the plan it stands for.
type loadFlags struct {
	rate         float64
	connections  int
	streams      int
	duration     time.Duration
	warmup       time.Duration
	timeout      time.Duration
	keepAlive    bool
	payloadSize  string
	headers      []string
	method       string
	body         string
	protocol     string
	arrival      string
	maxInflight  int
	generator    string
	grpcMethod   string
	grpcService  string
	percentiles  []float64
	caFile       string
	certFile     string
	keyFile      string
	insecure     bool
	output       string
	maxP99       time.Duration
	maxErrorRate string
	agents       []string
	agentCerts   string
	reachTimeout time.Duration
	common       runCommon
}

func newLoadCommand(s streams) *cobra.Command {
	f := &loadFlags{}
	cmd := &cobra.Command{
		Use:   "load URL",
		Short: "Send load to one URL and report latency, throughput and errors",
		Long: `Load runs one trial against any endpoint, like fortio load, wrk2 or hey, with smp's engine:
open loop at a total --rate (0 = closed loop, as fast as possible), latency charged from
each request's intended send time (coordinated-omission correct) with the service time
beside it, HDR histograms, errors by class.

URL schemes: http:// and https:// (HTTP/1.1, or --protocol h2 over TLS), h2c:// (HTTP/2
cleartext), grpc:// and grpcs:// (gRPC health check, or --grpc-method echo against smp's
sample app), tcp://host:port (a TCP echo: each message of --payload-size bytes, 1KiB by
default, is read back whole; --keepalive=false connects, exchanges and closes per
message). Flags are named like the plan's workload fields (docs/plan.md).

It prints a summary; -o writes the result document, which smp export and smp report read.
The exit code is 3 when --max-p99, --max-error-rate or an --slo condition fails; 4 when
an open-loop run did not hold its --rate (requests skipped, or sent late because the
target, the connections or the machine could not keep up), unless --allow-rate-miss; 1
when no request succeeded or more than --error-ceiling of them failed; 130 or 143 when
SIGINT or SIGTERM stopped it (-o still writes the partial result).`,
		Example: `  smp load http://127.0.0.1:8080/ --rate 1000 -c 16 -d 30s
  smp load http://127.0.0.1:8080/ --rate 0 -c 64 -d 10s          # closed loop: maximum throughput
  smp load h2c://127.0.0.1:8080/ --rate 5000 -c 4 --streams 16
  smp load grpc://127.0.0.1:9090 --rate 2000 -c 8 --max-p99 5ms
  smp load tcp://127.0.0.1:8078 --rate 5000 --payload-size 1KiB     # TCP echo (fortio's tcp-echo, smp's app)
  smp load https://api.example.com/health -H 'Authorization: Bearer x' --rate 50 -o result.json
  smp load http://127.0.0.1:8080/ --generator fortio --rate 0 -c 8 -d 10s   # the same through fortio, wrk, wrk2 or nighthawk
  smp load http://10.0.1.5:8080/ --rate 40000 -c 64 --agents 10.0.0.3:7070,10.0.0.4:7070 --agent-certs agent-certs`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			plan, err := f.plan(cmd, args[0])
			if err != nil {
				return err
			}
			extra, err := f.conditions()
			if err != nil {
				return err
			}
			return runPlan(cmd.Context(), s, plan, f.common, extra, runOutput{file: f.output, onlyWithFile: true, table: "trial"})
		},
	}
	f.bind(cmd)
	return cmd
}

// bind defines the command's flags on f.
func (f *loadFlags) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.Float64Var(&f.rate, "rate", experiment.DefaultLoadRate, "total requests per second; 0 = closed loop (as fast as possible)")
	fl.IntVarP(&f.connections, "connections", "c", 16, "connections to open")
	fl.IntVar(&f.streams, "streams", 1, "concurrent streams per connection (h2, h2c, grpc)")
	fl.DurationVarP(&f.duration, "duration", "d", 30*time.Second, "length of the measured phase")
	fl.DurationVar(&f.warmup, "warmup", 5*time.Second, "warm-up phase before it, same schedule, not measured")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Second, "time allowed for one request")
	fl.BoolVar(&f.keepAlive, "keepalive", true, "reuse connections; --keepalive=false opens one per request (HTTP/1.1, TCP)")
	fl.StringVar(&f.payloadSize, "payload-size", "", "generate a request body of this size (e.g. 1KiB)")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, "request header 'Name: value' (repeatable)")
	fl.StringVar(&f.method, "method", "", "HTTP method (default GET, POST with a body)")
	fl.StringVar(&f.body, "body", "", "request body")
	fl.StringVar(&f.protocol, "protocol", "", "http/1.1, h2, h2c, grpc or tcp (default: from the URL's scheme)")
	fl.StringVar(&f.arrival, "arrival", "constant", "arrival pattern: constant, poisson or uniform")
	fl.IntVar(&f.maxInflight, "max-inflight", 10000, "scheduled requests that may be due but unsent before they count as overflow")
	fl.StringVar(&f.generator, "generator", "builtin", "load generator: builtin, fortio, wrk (closed loop; --rate defaults to 0), wrk2 or nighthawk (docs/generators.md)")
	fl.StringVar(&f.grpcMethod, "grpc-method", "health", "gRPC: health (any server) or echo (smp's sample app)")
	fl.StringVar(&f.grpcService, "grpc-service", "", "gRPC health: the service name to ask about")
	fl.Float64SliceVar(&f.percentiles, "percentiles", spec.DefaultPercentiles(), "latency percentiles to report")
	fl.StringVar(&f.caFile, "cacert", "", "CA bundle to verify the server with")
	fl.StringVar(&f.certFile, "cert", "", "client certificate (mTLS)")
	fl.StringVar(&f.keyFile, "key", "", "client key (mTLS)")
	fl.BoolVarP(&f.insecure, "insecure", "k", false, "do not verify the server's certificate")
	fl.StringVarP(&f.output, "output", "o", "", "write the result document to FILE")
	fl.DurationVar(&f.maxP99, "max-p99", 0, "exit 3 when latency p99 is above this (same as --slo 'latency.p99 <= D')")
	fl.StringSliceVar(&f.agents, "agents", nil, "spread the load over these running agents (host:port, comma-separated; see smp agent)")
	fl.StringVar(&f.agentCerts, "agent-certs", "", "folder from 'smp agent certs' that authenticates this controller to --agents")
	fl.DurationVar(&f.reachTimeout, "reach-timeout", 0, "with --agents: how long they may take to have one request succeed before the load (default 2m)")
	fl.StringVar(&f.maxErrorRate, "max-error-rate", "", "exit 3 when the error rate is above this, e.g. 0.1% (same as --slo 'error_rate <= X')")
	f.common.bind(cmd)
	_ = cmd.RegisterFlagCompletionFunc("protocol", enumCompletion[spec.Protocol]())
	_ = cmd.RegisterFlagCompletionFunc("arrival", cobra.FixedCompletions([]string{"constant", "poisson", "uniform"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("generator", enumCompletion[spec.Generator]())
	_ = cmd.RegisterFlagCompletionFunc("grpc-method", cobra.FixedCompletions([]string{"health", "echo"}, cobra.ShellCompDirectiveNoFileComp))
}

// plan turns the command line into the plan of one load run (experiment.LoadPlan).
func (f *loadFlags) plan(cmd *cobra.Command, url string) (*spec.Plan, error) {
	o := experiment.LoadOptions{URL: url, Connections: f.connections, Streams: f.streams, MaxInflight: f.maxInflight,
		Duration: f.duration, Warmup: f.warmup, Timeout: f.timeout, KeepAlive: f.keepAlive, Method: f.method, Body: f.body,
		Headers: f.headers, PayloadSize: f.payloadSize, GRPCService: f.grpcService, Percentiles: f.percentiles,
		TLS:    spec.TLS{CAFile: f.caFile, CertFile: f.certFile, KeyFile: f.keyFile, InsecureSkipVerify: f.insecure},
		Agents: f.agents, AgentCerts: f.agentCerts, ReachTimeout: f.reachTimeout}
	if cmd.Flags().Changed("rate") {
		o.Rate = &f.rate
	}
	var err error
	if f.protocol != "" {
		if o.Protocol, err = parseEnum[spec.Protocol]("protocol", f.protocol); err != nil {
			return nil, err
		}
	}
	if o.Arrival, err = parseEnum[spec.Pattern]("arrival", f.arrival); err != nil {
		return nil, err
	}
	if o.Generator, err = parseEnum[spec.Generator]("generator", f.generator); err != nil {
		return nil, err
	}
	if o.GRPCMethod, err = parseEnum[spec.GRPCMethod]("grpc-method", f.grpcMethod); err != nil {
		return nil, err
	}
	plan, err := experiment.LoadPlan(o)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	if err := f.common.applyWorkload(&plan.Workload); err != nil {
		return nil, err
	}
	return plan, nil
}

// conditions turns --max-p99 and --max-error-rate into SLO conditions.
func (f *loadFlags) conditions() ([]spec.Condition, error) {
	var texts []string
	if f.maxP99 > 0 {
		texts = append(texts, fmt.Sprintf("latency.p99 <= %s", f.maxP99))
	}
	if f.maxErrorRate != "" {
		texts = append(texts, "error_rate <= "+f.maxErrorRate)
	}
	var out []spec.Condition
	for _, t := range texts {
		c, err := spec.ParseCondition(t)
		if err != nil {
			return nil, usageErrorf("%v", err)
		}
		out = append(out, c)
	}
	return out, nil
}
