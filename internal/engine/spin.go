package engine

import (
	"math"
	"slices"
	"time"
)

// Automatic spinning (Config.Spin = 0). At light rates both CPUs sleep
// between requests, and waking from idle costs tens of µs on a VM: a worker
// whose timerfd fires, and the same worker when its response arrives, start
// running that much late, and the figures carry it (p50 0.159ms against
// nginx at 1000/s without spinning, 0.092ms spinning 100µs). A busy-wait of
// s before each send, and a poll for the response of up to s, keep the CPU
// awake; they cost at most 2s of CPU per request, so at rate R the spin is
// chosen to cost at most spinBudget of one core: s = spinBudget / (2R),
// capped at autoSpinMax. Above the rate where s falls below autoSpinMin the
// generator is busy enough that its CPU does not go idle between requests,
// and it does not spin at all: spinning there would only take CPU from
// sending.
const (
	spinBudget  = 0.15 // of one core
	autoSpinMax = 100 * time.Microsecond
	autoSpinMin = 5 * time.Microsecond
)

// autoSpin is the automatic spin at rate requests/s.
func autoSpin(rate float64) time.Duration {
	if !(rate > 0) {
		return 0
	}
	s := time.Duration(math.Round(math.Min(spinBudget/(2*rate)*float64(time.Second), float64(autoSpinMax))))
	if s < autoSpinMin {
		return 0
	}
	return s
}

// spinAt is how long to spin for a slot due at t (an offset from base): the
// fixed Config.Spin, none when it is negative or in closed loop, else the
// automatic spin at the schedule's rate at t.
func (r *run) spinAt(t time.Duration) time.Duration {
	switch {
	case !r.open || r.cfg.Spin < 0:
		return 0
	case r.cfg.Spin > 0:
		return r.cfg.Spin
	case r.constRate > 0:
		return r.constSpin
	}
	return autoSpin(r.sched.shape.rateAt(t.Seconds()))
}

// selfUsage is what the engine's own process consumed up to one instant:
// its CPU time (user + system, every thread) and how long its runnable
// threads waited for a CPU (the kernel's schedstat run delay; negative when
// unknown). Run samples it where the measured phase starts and where the run
// stops, so the result can say whether the generator itself was busy or
// starved when requests left late.
type selfUsage struct {
	at       time.Duration // offset from base
	cpu      time.Duration
	runDelay time.Duration
	// threads holds each thread's CPU time plus run delay (schedstat), by
	// thread id: the time it ran or wanted to.
	threads map[int]time.Duration
}

// busiest is how long the process's busiest cpus threads ran or waited to run from u
// to v, or -1 when unknown. Summing over all threads instead would count every briefly
// woken idle thread of a waiting engine. Go moves a P to another thread when the one
// holding it blocks in a system call (and a loaded machine makes such blocks long), so
// over a long span the time of one busy P is split among threads; the collector adds up
// short spans (one per interval, see collector.addWanted) to keep that split small.
func busiest(u, v selfUsage, cpus int) time.Duration {
	if v.at <= u.at || cpus <= 0 || len(u.threads) == 0 {
		return -1
	}
	var per []time.Duration
	for tid, t := range v.threads {
		if t0, ok := u.threads[tid]; ok {
			per = append(per, t-t0)
		}
	}
	slices.Sort(per)
	var top time.Duration
	for i := len(per) - 1; i >= 0 && i >= len(per)-cpus; i-- {
		top += per[i]
	}
	return top
}

// GeneratorStats is what the engine cost its own process over the measured
// phase (zero when the run was cancelled before it started).
type GeneratorStats struct {
	// CPU is the process's CPU time (user + system) over Wall.
	CPU  time.Duration
	Wall time.Duration
	// CPUs is how many CPUs the engine could use at once (GOMAXPROCS).
	CPUs int
	// RunDelay is how long the process's threads, while runnable, waited for
	// a CPU over Wall (Linux schedstat; negative when unknown): CPU time
	// taken by other processes, or by the engine's own other threads.
	RunDelay time.Duration
	// Spin is the busy-wait per request at the requested rate (Config.Spin,
	// or the automatic one; 0 = none).
	Spin time.Duration
	// Wanted is the share of CPUs × Wall that the process's busiest CPUs
	// threads ran or waited to run, interval by interval (Linux schedstat; 0
	// when unknown): near 1 the engine had no time to spare, even when other
	// processes kept it from running (RunDelay) so that its own CPU stayed low.
	Wanted float64
}

// Busy is the share of its CPUs the generator used, in [0, 1] (0 when unknown).
func (g GeneratorStats) Busy() float64 {
	if g.Wall <= 0 || g.CPUs <= 0 {
		return 0
	}
	return min(1, g.CPU.Seconds()/(g.Wall.Seconds()*float64(g.CPUs)))
}
