// Command engineload drives internal/engine for bench/compare.sh, without the
// plan, result document and report that `smp load` puts around the engine, so that
// the comparison with wrk, fortio, h2load and ghz measures the engine alone and -b can
// put an engine built from another tree beside it. It prints one line of key=value
// figures.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/service-mesh-performance/smp/internal/engine"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, out io.Writer) int {
	fs := flag.NewFlagSet("engineload", flag.ContinueOnError)
	var (
		proto    = fs.String("proto", "http1", "http1, h2c, grpc or tcp")
		conns    = fs.Int("c", 16, "connections")
		streams  = fs.Int("s", 1, "streams per connection (h2c, grpc)")
		rate     = fs.Float64("rate", 0, "total requests/s; 0 = closed loop")
		duration = fs.Duration("d", 10*time.Second, "measured duration")
		warmup   = fs.Duration("warmup", time.Second, "warm-up")
		spin     = fs.Duration("spin", 0, "busy-wait before each send: 0 = automatic, negative = never")
		size     = fs.Int("size", 0, "request body bytes (tcp: the echoed message; default 1024)")
		cpuprof  = fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	)
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: engineload [flags] URL")
		return 2
	}
	protocols := map[string]engine.Protocol{"http1": engine.HTTP1, "h2c": engine.H2C, "grpc": engine.GRPC, "tcp": engine.TCP}
	p, ok := protocols[*proto]
	if !ok {
		fmt.Fprintf(os.Stderr, "engineload: unknown protocol %q\n", *proto)
		return 2
	}
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err != nil {
			fmt.Fprintf(os.Stderr, "engineload: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "engineload: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	var before syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	res, err := engine.Run(ctx, engine.Config{Target: fs.Arg(0), Protocol: p, Connections: *conns, Streams: *streams,
		Rate: *rate, Duration: *duration, Warmup: *warmup, Spin: *spin, PayloadSize: *size})
	if err != nil {
		fmt.Fprintf(os.Stderr, "engineload: %v\n", err)
		return 1
	}
	var after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	m := res.Measure
	total := m.Requests + res.Warmup.Requests
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	g := res.Generator
	fmt.Fprintf(out, "rps=%.1f requested=%.1f requests=%d ok=%d failed=%d overflow=%d p50_us=%.1f p99_us=%.1f svc_p50_us=%.1f svc_p99_us=%.1f lag_p50_us=%.1f lag_p99_us=%.1f ready_p99_us=%.1f cpu_us_per_req=%.2f gen_busy=%.3f run_delay_ms_per_s=%.2f spin_us=%.1f held=%v late=%s\n",
		res.AchievedRate, res.RequestedRate, m.Requests, m.Succeeded, m.Failed, m.Overflow,
		us(m.Latency.Percentile(50)), us(m.Latency.Percentile(99)), us(m.Service.Percentile(50)), us(m.Service.Percentile(99)),
		us(m.StartLag.Percentile(50)), us(m.StartLag.Percentile(99)), us(m.ReadyLag.Percentile(99)), us(cpu)/float64(max(total, 1)),
		g.Busy(), float64(g.RunDelay)/1e6/max(g.Wall.Seconds(), 1e-9), us(g.Spin), res.RateHeld, orDash(string(res.LateCause)))
	if !res.RateHeld {
		fmt.Fprintln(os.Stderr, "engineload:", res.RateReason)
	}
	return 0
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
