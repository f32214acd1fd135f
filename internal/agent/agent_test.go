package agent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/service-mesh-performance/smp/internal/engine"
	"github.com/service-mesh-performance/smp/internal/hist"
)

// helperEnv, when set, makes the test binary an agent process: it serves with the
// credentials in that folder on 127.0.0.1:0, prints its address on a line, and runs
// until killed. Tests kill it with SIGKILL to see a real agent die.
const helperEnv = "SMP_AGENT_TEST_HELPER_DIR"

// testLead is the tests' start lead: every agent must accept its share before the
// common start, and on a loaded machine (CI, other builds) 300ms was seen to be too
// short for four agents' TLS handshakes and orders.
const testLead = 2 * time.Second

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(helperAgent(dir))
	}
	goleak.VerifyTestMain(m)
}

func helperAgent(dir string) int {
	creds, err := LoadCredentials(dir, RoleAgent)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s, err := NewServer(ServerConfig{Credentials: creds})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(ln.Addr().String())
	if err := s.Serve(context.Background(), ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startProcessAgent runs the test binary as an agent process with b's credentials.
func startProcessAgent(t *testing.T, b *Bundle) (addr string, cmd *exec.Cmd) {
	t.Helper()
	dir := t.TempDir()
	if err := b.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("agent process printed no address: %v", err)
	}
	return strings.TrimSpace(line), cmd
}

// target is a real HTTP server that counts what it serves.
func target(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s, &n
}

// bars returns a histogram's non-empty buckets, keyed by their upper edge.
func bars(h *hist.Histogram) map[time.Duration]int64 {
	m := map[time.Duration]int64{}
	for _, b := range h.Bars() {
		m[b.To] += b.Count
	}
	return m
}

// sameBars reports the first difference between two bucket maps, or "".
func sameBars(want, got map[time.Duration]int64) string {
	for k, v := range want {
		if got[k] != v {
			return fmt.Sprintf("bucket ≤%v: %d samples, want %d", k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			return fmt.Sprintf("bucket ≤%v: %d samples, want none", k, v)
		}
	}
	return ""
}

// TestFourAgentsMergeExactly: four agents on loopback send 2000/s to a real server.
// Each agent hands its engine result, before any encoding, to a hook; the test adds
// up those histograms' buckets itself (no hist.Merge) and requires the controller's
// merged histograms, which travelled encoded over the wire, to hold the same count in
// every bucket, for all four histograms of both phases. Counts must match the server's,
// and, because the agents' phased constant schedules together are the full schedule,
// exactly rate × duration requests are due in the measured phase.
func TestFourAgentsMergeExactly(t *testing.T) {
	const (
		agents   = 4
		rate     = 2000.0
		duration = time.Second
		warmup   = 250 * time.Millisecond
	)
	srv, served := target(t)
	var mu sync.Mutex
	own := make([]*engine.Result, agents)
	l, err := StartLocal(context.Background(), agents, LocalOptions{OnResult: func(i int, _ StartRequest, res *engine.Result) {
		mu.Lock()
		defer mu.Unlock()
		own[i] = res
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var progress atomic.Int64
	c := Controller{Agents: l.Addresses, Credentials: l.Controller, Lead: testLead,
		Progress: func(engine.Progress) { progress.Add(1) }}
	cfg := engine.Config{Target: srv.URL, Rate: rate, Connections: 8, Duration: duration, Warmup: warmup,
		SeriesInterval: 100 * time.Millisecond}
	out, err := c.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range out.Agents {
		if a.State != StateComplete {
			t.Fatalf("agent %d: %s: %v", a.Index, a.State, a.Err)
		}
	}
	m := out.Result
	mu.Lock()
	defer mu.Unlock()
	for ph, name := range []string{"warm-up", "measure"} {
		pick := func(r *engine.Result) *engine.PhaseResult { return phaseOf(r, engine.Phase(ph)) }
		for _, h := range []struct {
			name string
			get  func(*engine.PhaseResult) *hist.Histogram
		}{
			{"latency", func(p *engine.PhaseResult) *hist.Histogram { return p.Latency }},
			{"service", func(p *engine.PhaseResult) *hist.Histogram { return p.Service }},
			{"start lag", func(p *engine.PhaseResult) *hist.Histogram { return p.StartLag }},
			{"error latency", func(p *engine.PhaseResult) *hist.Histogram { return p.ErrorLatency }},
			{"ready lag", func(p *engine.PhaseResult) *hist.Histogram { return p.ReadyLag }},
		} {
			want := map[time.Duration]int64{}
			var clamped int64
			for _, r := range own {
				for k, v := range bars(h.get(pick(r))) {
					want[k] += v
				}
				clamped += h.get(pick(r)).Clamped()
			}
			got := h.get(pick(m))
			if d := sameBars(want, bars(got)); d != "" {
				t.Errorf("%s %s: %s", name, h.name, d)
			}
			if got.Clamped() != clamped {
				t.Errorf("%s %s: %d clamped, want %d", name, h.name, got.Clamped(), clamped)
			}
		}
	}
	var ownRequests int64
	var ownCPU, ownLag time.Duration
	var ownCPUs int
	cause := engine.LateNone
	for _, r := range own {
		ownRequests += r.Measure.Requests
		ownCPU += r.Generator.CPU
		ownCPUs += r.Generator.CPUs
		ownLag += r.Measure.ReadyLagTotal + r.Measure.BusyLagTotal
		if cause == engine.LateNone {
			cause = r.LateCause
		}
	}
	// What the engine says about itself crosses the wire too: its CPU, and why requests left late.
	if m.Generator.CPU != ownCPU || m.Generator.CPUs != ownCPUs || ownCPU <= 0 {
		t.Errorf("merged generator CPU %v on %d CPUs, the agents' %v on %d", m.Generator.CPU, m.Generator.CPUs, ownCPU, ownCPUs)
	}
	if got := m.Measure.ReadyLagTotal + m.Measure.BusyLagTotal; got != ownLag || m.LateCause != cause {
		t.Errorf("merged lag total %v, cause %q; the agents' %v, %q", got, m.LateCause, ownLag, cause)
	}
	if m.Measure.Requests != ownRequests || m.Measure.Latency.Count() != m.Measure.Succeeded {
		t.Errorf("merged %d requests (%d latency samples for %d ok), the agents sent %d",
			m.Measure.Requests, m.Measure.Latency.Count(), m.Measure.Succeeded, ownRequests)
	}
	// Before the run, each agent sent one request of its share (the reach check), which
	// the server answered at once.
	var reached int64
	for _, a := range out.Agents {
		reached += int64(a.Reach.Attempts)
		if a.Reach.Attempts != 1 || a.Reach.FirstError != "" || a.Reach.After <= 0 {
			t.Errorf("agent %d reached the target %+v, want at the first attempt", a.Index, a.Reach)
		}
	}
	if got := served.Load(); got != m.Warmup.Requests+m.Measure.Requests+reached {
		t.Errorf("the server saw %d requests, the merged result %d + %d and the reach checks %d", got, m.Warmup.Requests, m.Measure.Requests, reached)
	}
	// The agents' slots together are exactly the full schedule: rate × duration due.
	if due := m.Measure.Requests + m.Measure.Overflow; due != int64(rate*duration.Seconds()) {
		t.Errorf("%d requests due in the measured phase, want exactly %v", due, rate*duration.Seconds())
	}
	if math.Abs(m.RequestedRate-rate) > 1e-9*rate {
		t.Errorf("requested rate %v, want %v", m.RequestedRate, rate)
	}
	if m.Measure.Overflow == 0 && math.Abs(m.AchievedRate-rate) > 1e-9*rate {
		t.Errorf("achieved %v/s with no overflow, want %v", m.AchievedRate, rate)
	}
	// One time origin: on one machine the agents' clocks agree, so an agent whose clock
	// started within the engine's start slack (100ms) of the common start is anchored at
	// it exactly (StartLate 0), and one that started later (its timer or connections held
	// up by a crowded machine: 155ms seen) says by how much, which is where its phases
	// start.
	for i, a := range out.Agents {
		if a.Clock.RTT <= 0 || a.Clock.Offset.Abs() > a.Clock.RTT+time.Millisecond {
			t.Errorf("agent %d: clock offset %v with round trip %v on one machine", i, a.Clock.Offset, a.Clock.RTT)
		}
		late := a.Result.Warmup.Start.Sub(out.Start)
		switch {
		case a.StartLate == 0 && late.Abs() > time.Millisecond:
			t.Errorf("agent %d: anchored at the common start, but its warm-up started %v after it", i, late)
		case a.StartLate != 0 && (a.StartLate <= 100*time.Millisecond || (late-a.StartLate).Abs() > a.Clock.RTT+time.Millisecond):
			t.Errorf("agent %d: started %v late (its warm-up %v after the common start); want 0, or more than the 100ms slack and where it started",
				i, a.StartLate, late)
		case a.StartLate != 0:
			t.Logf("agent %d started %v after the common start (beyond the engine's slack: a crowded machine)", i, a.StartLate)
		}
	}
	if len(m.Series) < 9 || progress.Load() == 0 {
		t.Errorf("%d series points, %d progress calls", len(m.Series), progress.Load())
	}
	var seriesRequests int64
	for _, p := range m.Series {
		seriesRequests += p.Requests
	}
	if total := m.Warmup.Requests + m.Measure.Requests; seriesRequests != total {
		t.Errorf("series count %d requests, phases %d", seriesRequests, total)
	}
	t.Logf("merged: %d requests, p50 %v p99 %v max %v; lag p99 %v; %s",
		m.Measure.Requests, m.Measure.Latency.Percentile(50), m.Measure.Latency.Percentile(99),
		m.Measure.Latency.Max(), m.Measure.StartLag.Percentile(99), m.RateReason)
}

// TestPoissonAgentsAreIndependent: Poisson agents get different seeds, so their
// counts differ, and together they schedule rate × duration within 4σ (√(rate×duration)).
func TestPoissonAgentsAreIndependent(t *testing.T) {
	srv, _ := target(t)
	l, err := StartLocal(context.Background(), 4, LocalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c := Controller{Agents: l.Addresses, Credentials: l.Controller, Lead: testLead}
	out, err := c.Run(context.Background(), engine.Config{Target: srv.URL, Rate: 2000, Connections: 8,
		Duration: time.Second, Arrival: engine.Arrival{Pattern: engine.Poisson, Seed: 7}})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[int64]bool{}
	for _, a := range out.Agents {
		if a.State != StateComplete {
			t.Fatalf("agent %d: %s: %v", a.Index, a.State, a.Err)
		}
		counts[a.Result.Measure.Requests+a.Result.Measure.Overflow] = true
	}
	if len(counts) == 1 {
		t.Errorf("all four agents scheduled the same count: their seeds are not independent")
	}
	m := out.Result.Measure
	if due := float64(m.Requests + m.Overflow); math.Abs(due-2000) > 4*math.Sqrt(2000) {
		t.Errorf("%v requests due, want 2000 ± %.0f", due, 4*math.Sqrt(2000))
	}
}

// TestKilledAgentIsLost: one of four agents is a separate process, killed with SIGKILL
// 300ms into the measured phase. The controller sees the loss when the agent's
// connection closes (not after LostAfter of silence), the other three finish, the
// trial's merged result holds exactly their three quarters of the schedule, and the lost
// agent is recorded with its share and when it was lost.
func TestKilledAgentIsLost(t *testing.T) {
	const (
		rate     = 1000.0
		duration = 1500 * time.Millisecond
		warmup   = 200 * time.Millisecond
		lead     = testLead
	)
	srv, _ := target(t)
	b, err := NewBundle("", false)
	if err != nil {
		t.Fatal(err)
	}
	l, err := startLocalWith(t, b, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr, proc := startProcessAgent(t, b)
	ctrl, err := b.ControllerCredentials()
	if err != nil {
		t.Fatal(err)
	}
	var killed atomic.Bool
	c := Controller{Agents: append([]string{addr}, l.Addresses...), Credentials: ctrl, Lead: lead,
		Progress: func(p engine.Progress) {
			if p.Phase == engine.Measure && p.Elapsed >= 300*time.Millisecond && killed.CompareAndSwap(false, true) {
				_ = proc.Process.Signal(syscall.SIGKILL)
			}
		}}
	start := time.Now()
	out, err := c.Run(context.Background(), engine.Config{Target: srv.URL, Rate: rate, Connections: 8,
		Duration: duration, Warmup: warmup, SeriesInterval: 100 * time.Millisecond})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if !killed.Load() {
		t.Fatal("the agent process was never killed")
	}
	lost := out.Agents[0]
	if lost.State != StateLost || lost.Err == nil || lost.Share != 0.25 {
		t.Fatalf("agent 0: state %s, share %v, error %v; want lost, 0.25", lost.State, lost.Share, lost.Err)
	}
	// Noticed when its connection closed, not after LostAfter of silence: that is what
	// lets the survivors' run end on its own schedule.
	if lost.LostAt < 300*time.Millisecond || lost.LostAt > duration || lost.Err.Error() != "connection closed before the result" {
		t.Errorf("lost at %v into the measured phase (%v), want after 300ms and before the end, when its connection closed", lost.LostAt, lost.Err)
	}
	for _, a := range out.Agents[1:] {
		if a.State != StateComplete {
			t.Errorf("agent %d: %s: %v", a.Index, a.State, a.Err)
		}
	}
	// How long the run took is logged, not held to a bound: a loaded machine stretched
	// it to 7 s where 3.7 s is due (the survivors' schedule plus the lead); that the
	// loss was seen at once is checked above, by its cause and time.
	m := out.Result.Measure
	if due := m.Requests + m.Overflow; due != int64(0.75*rate*duration.Seconds()) {
		t.Errorf("%d requests due from the three survivors, want exactly %v", due, 0.75*rate*duration.Seconds())
	}
	if math.Abs(out.Result.RequestedRate-rate) > 1e-9*rate {
		t.Errorf("requested rate %v, want the total %v", out.Result.RequestedRate, rate)
	}
	msg := strings.Join(out.Warnings(), "\n")
	for _, want := range []string{"agent https://" + addr + " lost", "25% of the requested rate missing for the rest of the run"} {
		if !strings.Contains(msg, want) {
			t.Errorf("warnings lack %q:\n%s", want, msg)
		}
	}
	t.Logf("took %v; %s", took, msg)
}

// startLocalWith starts n in-process agents with an existing bundle's credentials.
func startLocalWith(t *testing.T, b *Bundle, n int) (*Local, error) {
	t.Helper()
	creds, err := b.AgentCredentials()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Local{cancel: cancel, errs: make([]error, n)}
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		s, err := NewServer(ServerConfig{Credentials: creds})
		if err != nil {
			return nil, err
		}
		l.servers = append(l.servers, s)
		l.Addresses = append(l.Addresses, ln.Addr().String())
		l.wg.Go(func() { l.errs[i] = s.Serve(ctx, ln) })
	}
	return l, nil
}

// TestMergedWarmupEndsWhereMeasureStarts: two agents whose clock offsets leave one's
// warm-up ending 631ns after the other's measurement started (as on the real node) merge
// into a result whose warm-up ends where the measurement starts, as a result document
// requires (result.Check: warm-up end ≤ trial start).
func TestMergedWarmupEndsWhereMeasureStarts(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 2, 44, 0, 0, time.UTC)
	phase := func(start, end time.Time) engine.PhaseResult {
		return engine.PhaseResult{Start: start, End: end, Duration: end.Sub(start), Latency: hist.New(), Service: hist.New(),
			StartLag: hist.New(), ErrorLatency: hist.New()}
	}
	run := func(i int, skew time.Duration) *AgentRun {
		w := t0.Add(skew)
		return &AgentRun{Index: i, Share: 0.5, Result: &engine.Result{
			Warmup: phase(w, w.Add(time.Second)), Measure: phase(w.Add(time.Second), w.Add(6*time.Second))}}
	}
	out := merge(engine.Config{}, []*AgentRun{run(0, 0), run(1, 631*time.Nanosecond)})
	if !out.Warmup.End.Equal(out.Measure.Start) || !out.Measure.Start.Equal(t0.Add(time.Second)) {
		t.Errorf("warm-up ends %s, measurement starts %s; want both at %s", out.Warmup.End, out.Measure.Start, t0.Add(time.Second))
	}
	if want := t0.Add(6*time.Second + 631*time.Nanosecond); !out.Measure.End.Equal(want) {
		t.Errorf("measurement ends %s, want the last agent's end %s", out.Measure.End, want)
	}
}
