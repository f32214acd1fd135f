package engine

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestAutoSpin: the automatic spin costs at most spinBudget of a core at
// the rate it is chosen for, is capped at autoSpinMax at light rates and
// is off where the generator is too busy to go idle.
func TestAutoSpin(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		want time.Duration
	}{
		{0, 0}, {-5, 0}, {10, autoSpinMax}, {750, autoSpinMax}, {1000, 75 * time.Microsecond},
		{3000, 25 * time.Microsecond}, {15000, 5 * time.Microsecond}, {16000, 0}, {50000, 0},
	} {
		if got := autoSpin(tc.rate); got != tc.want {
			t.Errorf("autoSpin(%v) = %v, want %v", tc.rate, got, tc.want)
		}
		if s := autoSpin(tc.rate); s > 0 && tc.rate*2*s.Seconds() > spinBudget+1e-9 {
			t.Errorf("autoSpin(%v) = %v costs %.3f of a core, over the budget %v", tc.rate, s, tc.rate*2*s.Seconds(), spinBudget)
		}
	}
	r := &run{open: true, constRate: 1000, constSpin: autoSpin(1000)}
	for _, tc := range []struct {
		spin, want time.Duration
	}{{0, 75 * time.Microsecond}, {-1, 0}, {30 * time.Microsecond, 30 * time.Microsecond}} {
		r.cfg.Spin = tc.spin
		if got := r.spinAt(0); got != tc.want {
			t.Errorf("Config.Spin %v: spinAt = %v, want %v", tc.spin, got, tc.want)
		}
	}
	r.open = false
	r.cfg.Spin = 0
	if got := r.spinAt(0); got != 0 {
		t.Errorf("closed loop spins %v", got)
	}
}

// TestGeneratorStats: an open-loop run reports its own CPU over the
// measured phase (not the warm-up), the spin it used, and the lag of the
// requests whose worker was free.
func TestGeneratorStats(t *testing.T) {
	srv := fastServer(t)
	const rate, warm, dur = 2000.0, 200 * time.Millisecond, 400 * time.Millisecond
	t0 := time.Now()
	res := mustRun(t, Config{Target: srv.URL(), Rate: rate, Connections: 4, Warmup: warm, Duration: dur})
	elapsed := time.Since(t0)
	g, m := res.Generator, res.Measure
	t.Logf("generator: cpu %v over %v on %d CPUs (%.1f%%), wanted %.3f, run delay %v, spin %v; lag p99 %v, ready-lag p99 %v (%d of %d)",
		g.CPU, g.Wall, g.CPUs, 100*g.Busy(), g.Wanted, g.RunDelay, g.Spin, m.StartLag.Percentile(99), m.ReadyLag.Percentile(99), m.ReadyLag.Count(), m.StartLag.Count())
	// The measured phase, from its first tick to the stop: the warm-up is out
	// (a loaded machine may stretch the run, and the stop waits for the last
	// responses, so only the warm-up bounds it from above).
	if g.Wall < dur-50*time.Millisecond || g.Wall > elapsed-warm+20*time.Millisecond {
		t.Errorf("measured over %v, want %v..%v", g.Wall, dur-50*time.Millisecond, elapsed-warm)
	}
	if g.CPU <= 0 || g.CPUs != runtime.GOMAXPROCS(0) || g.Spin != autoSpin(rate) {
		t.Errorf("cpu %v, cpus %d (GOMAXPROCS %d), spin %v (want %v)", g.CPU, g.CPUs, runtime.GOMAXPROCS(0), g.Spin, autoSpin(rate))
	}
	if runtime.GOOS == "linux" && g.RunDelay < 0 {
		t.Errorf("run delay unknown on Linux")
	}
	// At 2000/s against an instant server most connections are free when
	// their request is due, unless other processes starve this one.
	starved := g.RunDelay.Seconds() >= machineBusy*g.Wall.Seconds()
	if m.ReadyLag.Count() == 0 && !starved || m.ReadyLag.Count() > m.StartLag.Count() {
		t.Errorf("ready-lag count %d, start-lag count %d", m.ReadyLag.Count(), m.StartLag.Count())
	}
}

// TestWantedFollowsAMovingP: a P that moves to another thread mid-run (Go hands it over
// when its thread blocks in a system call, for long on a loaded machine) still counts as
// wanted all along: the busiest threads are taken per interval between samples. Over the
// whole run, the busiest thread held it only half the time.
func TestWantedFollowsAMovingP(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const s = time.Second
	usage := func(at time.Duration, a, b time.Duration) selfUsage {
		return selfUsage{at: at, threads: map[int]time.Duration{1: a, 2: b}}
	}
	c := newCollector(&run{cfg: Config{SeriesInterval: s}}, nil)
	c.measuring, c.first = true, usage(0, 0, 0)
	c.prev = c.first
	c.addWanted(usage(s, s, 0)) // thread 1 holds the P
	c.last = usage(2*s, s, s)   // thread 2 does
	c.addWanted(c.last)
	if g := c.generator(); g.Wanted != 1 {
		t.Errorf("wanted %v, want 1: the P was busy all along", g.Wanted)
	}
	if top := busiest(c.first, c.last, 1); top != s {
		t.Errorf("busiest over the whole run %v, want %v (half of it)", top, s)
	}
}

// TestLateCauseEngine: with one CPU and a goroutine of the same process
// burning it, workers that are ready for their slots start them up to a
// preemption period (10ms) late; the run is not held and the result blames
// the engine, whose CPU was saturated (or the machine, when other processes
// took the CPU from both). Without the attribution the cause is empty, or
// "connections", which the server's instant answers rule out.
func TestLateCauseEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("burns a CPU for half a second")
	}
	srv := fastServer(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			// A hog without function calls: only asynchronous preemption stops it.
		}
	}()
	res := mustRun(t, Config{Target: srv.URL(), Rate: 500, Connections: 4, Duration: 500 * time.Millisecond})
	stop.Store(true)
	<-done
	t.Logf("held %v, cause %q: %s", res.RateHeld, res.LateCause, res.RateReason)
	// On a machine whose other processes keep this one off the CPU (other
	// tests, other builds) that is the cause named, and a fair one.
	g := res.Generator
	want := LateEngine
	if g.RunDelay.Seconds() >= machineBusy*g.Wall.Seconds() && g.Busy() < engineBusy {
		want = LateMachine
	}
	if res.RateHeld || res.LateCause != want {
		t.Errorf("held %v, cause %q, want not held and %q", res.RateHeld, res.LateCause, want)
	}
}
