// Command soak runs smp's engine at a steady rate through a local sidecar arm
// (the builtin sidecar with strict mTLS in front of one builtin service) for a
// long time, and records the resident memory, the Go memory and the goroutines
// of the generator (this process) and of each sidecar at a fixed period. It
// writes samples.csv and soak.svg (drawn by internal/report) to -out, prints
// the growth of each series after the first minute, and exits 1 when the Go
// memory or the goroutines of any process grew by more than -max-growth.
// bench/soak.sh builds smp and runs it.
//
// Why the verdict is on Go memory, not RSS: a leak is memory the program keeps
// allocating, and every process here is pure Go, so it shows in the live heap
// after GC (runtime/metrics /gc/heap/live:bytes) or in goroutine stacks. RSS
// also grows without any allocation, as pages allocated at the start are
// touched for the first time: the engine's histograms are allocated whole
// before the run (1µs to 1h at 3 digits, 180 KiB each, a dozen per worker) and
// their pages become resident as the latency tail first reaches their buckets;
// a process's heap, after its first GC cycles, settles at the largest size it
// reached between collections. Touching every histogram page at allocation
// would make the generator's RSS flat but cost 35 MiB here and 350 MiB at 160
// workers for nothing but the figure, so RSS is recorded, plotted and its
// growth printed beside the verdict, not made the verdict.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/service-mesh-performance/smp/internal/engine"
	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/internal/platform/local"
	"github.com/service-mesh-performance/smp/internal/report"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type options struct {
	smp       string
	out       string
	duration  time.Duration
	every     time.Duration
	settle    time.Duration
	rate      float64
	conns     int
	maxGrowth float64
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.smp, "smp", "", "the smp binary that serves `smp app` and `smp sidecar` (required)")
	fs.StringVar(&o.out, "out", ".", "folder for samples.csv and soak.svg")
	fs.DurationVar(&o.duration, "d", 10*time.Minute, "how long to send load")
	fs.DurationVar(&o.every, "every", 10*time.Second, "sampling period")
	fs.DurationVar(&o.settle, "settle", time.Minute, "growth is measured from the first sample at or after this")
	fs.Float64Var(&o.rate, "rate", 1000, "total requests per second")
	fs.IntVar(&o.conns, "c", 16, "connections")
	fs.Float64Var(&o.maxGrowth, "max-growth", 0.05, "largest growth after -settle that counts as flat")
	replot := fs.String("plot", "", "only redraw soak.svg in -out from this samples.csv, and report on it")
	if err := fs.Parse(args); err != nil || (o.smp == "") == (*replot == "") || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: soak -smp PATH [-out DIR] [-d 10m] [-every 10s] [-rate 1000] [-c 16] | soak -plot samples.csv [-out DIR]")
		return 2
	}
	if *replot != "" {
		s, err := readSamples(*replot)
		if err == nil {
			err = s.write(o.out)
		}
		if err != nil {
			fmt.Fprintln(stderr, "soak:", err)
			return 1
		}
		if !s.report(stdout, o.settle, o.maxGrowth) {
			return 1
		}
		return 0
	}
	flat, err := soak(ctx, o, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return 1
	}
	if !flat {
		return 1
	}
	return 0
}

// soak deploys the arm, loads it, samples, and reports; it tears everything down.
func soak(ctx context.Context, o options, stdout io.Writer) (flat bool, err error) {
	plan, err := spec.Parse("soak.yaml", []byte(`name: soak
arms: [{name: builtin, mesh: builtin, mtls: strict}]
workload: {app: {kind: builtin, services: 1}, protocol: http/1.1}
`))
	if err != nil {
		return false, err
	}
	p, err := local.New(local.Options{Plan: plan, RunID: "soak", Self: o.smp})
	if err != nil {
		return false, err
	}
	defer p.Close()
	d, err := p.Deploy(ctx, plan.Arms[0])
	if err != nil {
		return false, fmt.Errorf("deploy: %w", err)
	}
	defer p.Teardown(context.WithoutCancel(ctx), d)
	var proxies []platform.Component
	for _, c := range d.Components {
		if c.Role == result.RoleProxy {
			proxies = append(proxies, c)
		}
	}
	cfg := engine.Config{Target: d.Target.URLs[0], Rate: o.rate, Connections: o.conns, Duration: o.duration, SeriesInterval: o.every}
	if t := d.Target.TLS; t != nil {
		cfg.TLS = &engine.TLS{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, ServerName: t.ServerName}
	}
	fmt.Fprintf(stdout, "soak: %v at %.0f/s over %d connections to %s through %d sidecar(s), a sample every %v\n",
		o.duration, o.rate, o.conns, cfg.Target, len(proxies), o.every)
	s := newSampler(proxies)
	start := time.Now()
	s.sample(0)
	cfg.Progress = func(engine.Progress) { s.sample(time.Since(start)) }
	res, err := engine.Run(ctx, cfg)
	if err != nil {
		return false, err
	}
	m := res.Measure
	fmt.Fprintf(stdout, "load: %d requests, %d failed, %.1f/s, latency p50 %v p99 %v, held %v, generator %.0f mcores\n",
		m.Requests, m.Failed, res.AchievedRate, m.Latency.Percentile(50), m.Latency.Percentile(99), res.RateHeld,
		1000*res.Generator.CPU.Seconds()/max(res.Generator.Wall.Seconds(), 1e-9))
	if err := s.write(o.out); err != nil {
		return false, err
	}
	return s.report(stdout, o.settle, o.maxGrowth) && m.Failed == 0, nil
}

// sample is one row of samples.csv: seconds, then per process RSS (MiB),
// goroutines and Go memory (MiB: live heap after the last GC plus goroutine
// stacks).
type sample struct {
	t    float64
	vals []float64
}

type sampler struct {
	proxies []platform.Component
	names   []string // the columns after t
	rows    []sample
	client  http.Client
}

func newSampler(proxies []platform.Component) *sampler {
	s := &sampler{proxies: proxies, client: http.Client{Timeout: 2 * time.Second}}
	for _, name := range append([]string{"generator"}, componentNames(proxies)...) {
		s.names = append(s.names, name+"_rss_mib", name+"_goroutines", name+"_go_mib")
	}
	return s
}

func componentNames(cs []platform.Component) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

// sample reads every process's RSS, goroutines and Go memory; a value it
// cannot read is -1. It collects the generator's garbage first: the engine
// allocates nothing per request, so left alone its GCs come minutes apart
// (the runtime forces one every two minutes) and the live heap of the last
// one can predate half the histograms allocated at the start, which read as
// a step of several MiB at the first forced GC. A GC of a heap of histograms
// (no pointers inside) takes about a millisecond. The sidecars allocate per
// request and collect several times a second.
func (s *sampler) sample(at time.Duration) {
	runtime.GC()
	m := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(m)
	goMem := float64(m[0].Value.Uint64()+m[1].Value.Uint64()) / (1 << 20)
	row := sample{t: at.Seconds(), vals: []float64{rssMiB(os.Getpid()), float64(runtime.NumGoroutine()), goMem}}
	for _, c := range s.proxies {
		g, mem := s.scrape(c.MetricsURL)
		row.vals = append(row.vals, rssMiB(c.PID), g, mem)
	}
	s.rows = append(s.rows, row)
}

// rssMiB is VmRSS of pid in MiB, or -1.
func rssMiB(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err == nil {
				return kb / 1024
			}
		}
	}
	return -1
}

// scrape reads go_goroutines and the Go memory (go_gc_heap_live_bytes plus
// go_memstats_stack_inuse_bytes, in MiB) from a Prometheus endpoint; -1 for
// what it cannot read.
func (s *sampler) scrape(url string) (goroutines, goMiB float64) {
	goroutines, goMiB = -1, -1
	if url == "" {
		return
	}
	resp, err := s.client.Get(url)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	want := map[string]float64{"go_goroutines": -1, "go_gc_heap_live_bytes": -1, "go_memstats_stack_inuse_bytes": -1}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if _, wanted := want[name]; ok && wanted {
			if n, err := strconv.ParseFloat(v, 64); err == nil {
				want[name] = n
			}
		}
	}
	goroutines = want["go_goroutines"]
	if live, stacks := want["go_gc_heap_live_bytes"], want["go_memstats_stack_inuse_bytes"]; live >= 0 && stacks >= 0 {
		goMiB = (live + stacks) / (1 << 20)
	}
	return
}

// readSamples reads a samples.csv that write saved.
func readSamples(path string) (*sampler, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	head := strings.Split(lines[0], ",")
	s := &sampler{names: head[1:]}
	for i, l := range lines[1:] {
		f := strings.Split(l, ",")
		if len(f) != len(head) {
			return nil, fmt.Errorf("%s:%d: %d fields, want %d", path, i+2, len(f), len(head))
		}
		var r sample
		for j, v := range f {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, i+2, err)
			}
			if j == 0 {
				r.t = x
			} else {
				r.vals = append(r.vals, x)
			}
		}
		s.rows = append(s.rows, r)
	}
	return s, nil
}

// write saves samples.csv and soak.svg in dir.
func (s *sampler) write(dir string) error {
	var b strings.Builder
	b.WriteString("t_s," + strings.Join(s.names, ",") + "\n")
	for _, r := range s.rows {
		b.WriteString(strconv.FormatFloat(r.t, 'f', 1, 64))
		for _, v := range r.vals {
			b.WriteString("," + strconv.FormatFloat(v, 'f', 2, 64))
		}
		b.WriteString("\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "samples.csv"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	// One chart per kind of series, processes in the same order in each, so
	// each process keeps its colour in all three.
	goMem := report.LineChart{Title: "Go memory (the verdict)", XLabel: "seconds", YLabel: "MiB",
		Caption: "live heap after GC plus goroutine stacks (runtime/metrics; sidecars: their /metrics)"}
	rss := report.LineChart{Title: "Resident memory", XLabel: "seconds", YLabel: "MiB",
		Caption: "VmRSS from /proc/PID/status: also grows as pages allocated earlier are first touched"}
	gor := report.LineChart{Title: "Goroutines", XLabel: "seconds", YLabel: "goroutines",
		Caption: "runtime.NumGoroutine (generator), go_goroutines from /metrics (sidecars)"}
	for i, name := range s.names {
		kind, chart := "", (*report.LineChart)(nil)
		for _, k := range []struct {
			suffix string
			chart  *report.LineChart
		}{{"_rss_mib", &rss}, {"_goroutines", &gor}, {"_go_mib", &goMem}} {
			if strings.HasSuffix(name, k.suffix) {
				kind, chart = k.suffix, k.chart
			}
		}
		if chart == nil {
			continue // a column of an older samples.csv
		}
		l := report.Line{Name: strings.TrimSuffix(name, kind)}
		for _, r := range s.rows {
			if r.vals[i] >= 0 {
				l.Points = append(l.Points, [2]float64{r.t, r.vals[i]})
			}
		}
		chart.Lines = append(chart.Lines, l)
	}
	return os.WriteFile(filepath.Join(dir, "soak.svg"), report.ChartsSVG(goMem, rss, gor), 0o644)
}

// report prints, per series, its value at the first sample at or after
// settle and its largest value later, and says whether every Go memory and
// goroutine series stayed within maxGrowth of it. RSS growth is printed,
// not judged (see the package comment).
func (s *sampler) report(w io.Writer, settle time.Duration, maxGrowth float64) bool {
	first := -1
	for i, r := range s.rows {
		if r.t >= settle.Seconds() {
			first = i
			break
		}
	}
	if first < 0 || first == len(s.rows)-1 {
		fmt.Fprintf(w, "FAIL: no samples after %v\n", settle)
		return false
	}
	flat := true
	for i, name := range s.names {
		base, peak, last := s.rows[first].vals[i], s.rows[first].vals[i], s.rows[len(s.rows)-1].vals[i]
		for _, r := range s.rows[first:] {
			peak = max(peak, r.vals[i])
		}
		growth := 0.0
		if base > 0 {
			growth = peak/base - 1
		}
		verdict := "flat"
		switch {
		case strings.HasSuffix(name, "_rss_mib"):
			verdict = "(resident; not judged)"
		case base < 0 || growth > maxGrowth:
			verdict, flat = "GROWS", false
		}
		fmt.Fprintf(w, "%-28s at %4.0fs %9.2f  peak after %9.2f  last %9.2f  growth %+6.2f%%  %s\n",
			name, s.rows[first].t, base, peak, last, 100*growth, verdict)
	}
	return flat
}
