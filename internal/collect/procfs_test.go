package collect_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/service-mesh-performance/smp/internal/collect"
	"github.com/service-mesh-performance/smp/result"
)

// helperEnv makes the test binary act as a helper process instead of running tests.
const helperEnv = "SMP_COLLECT_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode))
	}
	goleak.VerifyTestMain(m)
}

// helper "alloc:<MiB>" allocates and touches that much memory, says "ready", and holds it
// until its standard input closes.
func helper(mode string) int {
	mib, ok := strings.CutPrefix(mode, "alloc:")
	n, err := strconv.Atoi(mib)
	if !ok || err != nil {
		fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
		return 2
	}
	buf := make([]byte, n<<20)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1 // touch every page so that it is resident
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	runtime.KeepAlive(buf)
	return 0
}

// Interval of the real-process tests: short enough for quick tests, long enough that one
// clock tick (10ms) is 10% of one interval's CPU figure and much less of a window's.
const interval = 100 * time.Millisecond

// window is the length of a measured window in these tests: 15 intervals, so that the
// mean CPU, read from the first and last samples inside, is off by at most two ticks
// (±20ms of CPU over ≥1.4s, under 15 mcores).
const window = 1500 * time.Millisecond

// child starts a command that is killed and waited for when the test ends.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
}

func start(t *testing.T, name string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(name, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(out)}
	t.Cleanup(func() {
		// Kill the whole tree: the shells' children are in the same process group only
		// if we made one, so kill the children the test knows about, then the parent.
		_ = cmd.Process.Kill()
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	return c
}

// line reads one line the child prints.
func (c *child) line(t *testing.T) string {
	t.Helper()
	s, err := c.stdout.ReadString('\n')
	if err != nil {
		t.Fatalf("reading from %v: %v", c.cmd.Args, err)
	}
	return strings.TrimSpace(s)
}

// pinned prefixes a command with taskset so that it runs on one CPU, when taskset exists.
func pinned(cpu int, args ...string) []string {
	if _, err := exec.LookPath("taskset"); err != nil {
		return args
	}
	return append([]string{"taskset", "-c", strconv.Itoa(cpu)}, args...)
}

func startPinned(t *testing.T, cpu int, args ...string) *child {
	t.Helper()
	a := pinned(cpu, args...)
	return start(t, a[0], a[1:]...)
}

const busyLoop = "while :; do :; done"

func newProcFS(t *testing.T, targets ...collect.Target) *collect.ProcFS {
	t.Helper()
	p, err := collect.NewProcFS(collect.ProcFSConfig{Interval: interval, Retention: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background(), targets); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// measure collects over a window that starts now and lasts d. Collect itself waits for
// the sample after the window's end: the wait is the window, not a guess.
func measure(t *testing.T, p *collect.ProcFS, d time.Duration) []result.Resource {
	t.Helper()
	res, _, _ := measureWindow(t, p, d)
	return res
}

func lastCPU() int { return runtime.NumCPU() - 1 }

// kernelClock records, every few milliseconds until the test ends, how long the
// scheduler has run some processes: the first field of /proc/<pid>/schedstat,
// nanoseconds on a CPU, summed. It is a clock independent of the tick-counted utime and
// stime the collector reads, and, read at many instants, it tells what the collector
// should have seen over whichever span its samples covered.
type kernelClock struct {
	mu  sync.Mutex
	at  []time.Time
	ran []time.Duration
	ok  bool // false where the kernel has no schedstat (CONFIG_SCHED_INFO off)
}

func startKernelClock(t *testing.T, pids ...int) *kernelClock {
	t.Helper()
	k := &kernelClock{ok: true}
	read := func() (time.Duration, bool) {
		var sum time.Duration
		for _, pid := range pids {
			data, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
			if err != nil {
				return 0, false
			}
			ns, err := strconv.ParseInt(strings.Fields(string(data))[0], 10, 64)
			if err != nil {
				return 0, false
			}
			sum += time.Duration(ns)
		}
		return sum, true
	}
	record := func() {
		ran, ok := read()
		now := time.Now()
		k.mu.Lock()
		defer k.mu.Unlock()
		k.ok = k.ok && ok
		k.at, k.ran = append(k.at, now), append(k.ran, ran)
	}
	record()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				record()
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return k
}

// rates returns the lowest and highest rate, in millicores, at which the scheduler ran
// the processes over the spans the collector's figure for w can cover: from its first
// sample inside w to its last, at least two thirds of the window apart. The collector
// samples every interval, so its span falls short of the window by two intervals at
// most on a quiet machine; the two thirds leave room for ticks that a loaded machine
// delays by a few intervals more. Each reading of the clock is stamped when it is taken,
// whatever delayed the goroutine that took it.
func (k *kernelClock) rates(w collect.Window) (lo, hi float64, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	lo, hi = math.Inf(1), math.Inf(-1)
	shortest := w.End.Sub(w.Start) * 2 / 3
	for i, a := range k.at {
		if a.Before(w.Start) {
			continue
		}
		for j := i + 1; j < len(k.at); j++ {
			b := k.at[j]
			if b.After(w.End) {
				break
			}
			if b.Sub(a) < shortest {
				continue
			}
			r := float64(k.ran[j]-k.ran[i]) / float64(b.Sub(a)) * 1000
			lo, hi = min(lo, r), max(hi, r)
		}
	}
	return lo, hi, k.ok && lo <= hi
}

// agrees checks a measured CPU figure against the scheduler's clock over the same
// window: it must lie within the rates of the spans its samples can cover, give or take
// two clock ticks over the shortest such span and one reading of the clock at each end
// (30 mcores), and 2% for the two clocks' own difference. Under a steady load those
// rates are one number and the check is tight; when other work on the machine comes and
// goes (a CI machine running every package at once), they spread as far as the truth
// can. It returns the lowest of them (ok false without schedstat, where callers check
// absolute bounds only).
func agrees(t *testing.T, what string, measured float64, k *kernelClock, w collect.Window) (float64, bool) {
	t.Helper()
	lo, hi, ok := k.rates(w)
	if !ok {
		t.Logf("%s: no schedstat here; checking absolute bounds only", what)
		return 0, false
	}
	t.Logf("%s: %.0f mcores measured, %.0f to %.0f by the scheduler's clock over the spans the samples can cover", what, measured, lo, hi)
	if measured < lo-0.02*lo-30 || measured > hi+0.02*hi+30 {
		t.Errorf("%s: %.0f mcores measured, but the scheduler ran it for %.0f to %.0f over the window", what, measured, lo, hi)
	}
	return lo, true
}

// measureWindow is measure with the window it measured and whether other work crowded
// this process off the CPU during it (crowded).
func measureWindow(t *testing.T, p *collect.ProcFS, d time.Duration) ([]result.Resource, collect.Window, func() (bool, string)) {
	t.Helper()
	now := time.Now()
	w := collect.Window{Start: now, End: now.Add(d)}
	crowd := crowded(w)
	res, err := p.Collect(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	return res, w, crowd
}

// crowded tells, once w is over, whether other work kept this process's threads waiting
// for a CPU for more than a quarter of w: their run-queue wait (the second field of
// /proc/self/task/*/schedstat), summed. The collector's sampler is a goroutine of this
// process: crowded out, it drops ticks (one CI run left it 5 samples of a 1.5 s window),
// and its sample count then says how busy the machine was, not how the collector
// samples.
func crowded(w collect.Window) func() (bool, string) {
	return crowdedSince(runQueueWait(), w)
}

// runQueueWait is how long this process's threads have waited for a CPU so far: the
// second field of /proc/self/task/*/schedstat, summed.
func runQueueWait() time.Duration {
	var sum time.Duration
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		data, err := os.ReadFile("/proc/self/task/" + task.Name() + "/schedstat")
		if f := strings.Fields(string(data)); err == nil && len(f) >= 2 {
			ns, _ := strconv.ParseInt(f[1], 10, 64)
			sum += time.Duration(ns)
		}
	}
	return sum
}

// crowdedSince is crowded for a window whose end is known only after it began: before
// is runQueueWait at the window's start.
func crowdedSince(before time.Duration, w collect.Window) func() (bool, string) {
	return func() (bool, string) {
		time.Sleep(time.Until(w.End)) // a reading at the window's end, not a synchronisation
		d := runQueueWait() - before
		span := w.End.Sub(w.Start)
		return d > span/4, fmt.Sprintf("this process's threads waited %v for a CPU during the %v window", d.Round(time.Millisecond), span)
	}
}

// enoughSamples checks that a window holds at least want samples, unless the machine
// crowded the collector's sampler out of the CPU (crowded), which it then logs.
func enoughSamples(t *testing.T, what string, got, want int, crowd func() (bool, string)) {
	t.Helper()
	if got >= want {
		return
	}
	if busy, why := crowd(); busy {
		t.Logf("%s: %d samples where %d were due, not checked: %s", what, got, want, why)
		return
	}
	t.Errorf("%s: %d samples, want at least %d", what, got, want)
}

// TestBusyAndIdle: one busy loop uses one core; a sleeping process uses none.
//
// Tolerance: a single-threaded loop cannot use more than 1000 mcores, and the figure is
// exact to ±15 mcores (two clock ticks over the window), so anything at or above 1300
// means double counting. The lower bound 500 is the share a fair scheduler still gives
// the loop when one other runnable thread shares its CPU. This 2-core machine also runs
// other packages' tests, which can take more than that; so the figure is first checked
// against the scheduler's own clock (which holds under any load), and the lower bound
// applies when the scheduler says the loop did get more than 600 mcores.
func TestBusyAndIdle(t *testing.T) {
	busy := startPinned(t, lastCPU(), "sh", "-c", busyLoop)
	idle := start(t, "sleep", "60")
	p := newProcFS(t,
		collect.Target{Name: "busy", Role: "app", PID: busy.cmd.Process.Pid},
		collect.Target{Name: "idle", Role: "app", PID: idle.cmd.Process.Pid})
	kernel := startKernelClock(t, busy.cmd.Process.Pid)
	res, w, crowd := measureWindow(t, p, window)
	b := res[0]
	k, haveK := agrees(t, "busy loop", b.CPUMcoresAvg, kernel, w)
	if haveK {
		enoughCPU(t, k)
	}
	if b.Error != "" || b.CPUMcoresAvg >= 1300 || ((!haveK || k > 600) && b.CPUMcoresAvg <= 500) {
		t.Errorf("busy loop: %.0f mcores (error %q), want one core: between 500 and 1300", b.CPUMcoresAvg, b.Error)
	}
	enoughSamples(t, "busy loop", b.Samples, 10, crowd)
	if b.CPUMcoresMax < b.CPUMcoresAvg {
		t.Errorf("busy loop: peak %.0f below mean %.0f", b.CPUMcoresMax, b.CPUMcoresAvg)
	}
	if i := res[1]; i.Error != "" || i.CPUMcoresAvg >= 50 {
		t.Errorf("sleep: %.0f mcores (error %q), want < 50", i.CPUMcoresAvg, i.Error)
	}
	enoughSamples(t, "sleep", res[1].Samples, 10, crowd)
	for _, r := range res {
		if r.Source != "procfs" || r.MemoryMetric != "rss" || r.MemoryBytesAvg <= 0 || r.MemoryBytesMax < r.MemoryBytesAvg {
			t.Errorf("%s: source %q, memory %q avg %d max %d", r.Component, r.Source, r.MemoryMetric, r.MemoryBytesAvg, r.MemoryBytesMax)
		}
		if !strings.Contains(r.Query, "/proc/") || !strings.Contains(r.Query, "up to 1 process;") {
			t.Errorf("%s: Query %q does not say what was read", r.Component, r.Query)
		}
	}
}

// TestMemory: a child that allocates and touches N MiB has at least N MiB resident,
// and (being private memory) at least N MiB proportional.
func TestMemory(t *testing.T) {
	const n = 64
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := exec.Command(exe)
	c.Env = append(os.Environ(), fmt.Sprintf("%s=alloc:%d", helperEnv, n))
	stdin, _ := c.StdinPipe()
	out, _ := c.StdoutPipe()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = c.Wait() })
	if s, err := bufio.NewReader(out).ReadString('\n'); err != nil || s != "ready\n" {
		t.Fatalf("helper said %q, %v", s, err)
	}
	p := newProcFS(t, collect.Target{Name: "alloc", Role: "app", PID: c.Process.Pid})
	res, _, crowd := measureWindow(t, p, 5*interval)
	r := res[0]
	if r.Samples < 2 {
		if busy, why := crowd(); !busy {
			t.Fatalf("%d samples of a window of 5 intervals (error %q)", r.Samples, r.Error)
		} else {
			t.Skipf("%d samples of a window of 5 intervals: %s", r.Samples, why)
		}
	}
	if r.Error != "" || r.MemoryBytesAvg < n<<20 || r.MemoryBytesMax < r.MemoryBytesAvg {
		t.Errorf("RSS avg %d max %d (error %q), want at least %d", r.MemoryBytesAvg, r.MemoryBytesMax, r.Error, n<<20)
	}
	if len(r.OtherMemory) == 0 {
		t.Logf("no PSS here (%s)", r.Query)
	} else if pss := r.OtherMemory[0]; pss.Metric != "pss" || pss.AvgBytes < n<<20 || pss.AvgBytes > r.MemoryBytesAvg {
		t.Errorf("PSS %+v, want at least %d and at most the RSS %d", pss, n<<20, r.MemoryBytesAvg)
	}
}

// TestDescendantsSummed: a shell with two busy children, all pinned to one CPU, is
// measured as one tree and each child on its own. The relations hold whatever share of
// the CPU the machine leaves them: the tree is the sum of its children (the shell itself
// waits), it is what the scheduler ran the children for, and it is at most one core
// because they share one.
func TestDescendantsSummed(t *testing.T) {
	sh := startPinned(t, 0, "sh", "-c", fmt.Sprintf("(%s) & echo $!; (%s) & echo $!; wait", busyLoop, busyLoop))
	a, _ := strconv.Atoi(sh.line(t))
	b, _ := strconv.Atoi(sh.line(t))
	t.Cleanup(func() {
		for _, pid := range []int{a, b} {
			if proc, err := os.FindProcess(pid); err == nil {
				_ = proc.Kill()
			}
		}
	})
	// Two collectors over the same window: targets of one collector nest (a child that is
	// a target is counted there, not in its parent's tree), so the children are measured
	// on their own by a second one.
	whole := newProcFS(t, collect.Target{Name: "tree", PID: sh.cmd.Process.Pid})
	parts := newProcFS(t, collect.Target{Name: "a", PID: a}, collect.Target{Name: "b", PID: b})
	kernel := startKernelClock(t, a, b)
	w := collect.Window{Start: time.Now()}
	w.End = w.Start.Add(window)
	var res []result.Resource
	for _, p := range []*collect.ProcFS{whole, parts} {
		r, err := p.Collect(context.Background(), w)
		if err != nil {
			t.Fatal(err)
		}
		res = append(res, r...)
	}
	tree, ca, cb := res[0].CPUMcoresAvg, res[1].CPUMcoresAvg, res[2].CPUMcoresAvg
	t.Logf("tree %.0f = a %.0f + b %.0f? (%s)", tree, ca, cb, res[0].Query)
	agrees(t, "tree", tree, kernel, w)
	if ca < 0.25*tree || cb < 0.25*tree {
		t.Errorf("children use %.0f and %.0f mcores; two identical loops on one CPU should share it about evenly", ca, cb)
	}
	if diff := tree - (ca + cb); math.Abs(diff) > 0.05*tree+30 {
		t.Errorf("tree %.0f mcores is not the sum of its children %.0f + %.0f", tree, ca, cb)
	}
	if tree >= 1300 {
		t.Errorf("tree %.0f mcores; two loops sharing one CPU use at most one core", tree)
	}
	if !strings.Contains(res[0].Query, "up to 3 processes") {
		t.Errorf("tree Query %q, want 3 processes", res[0].Query)
	}
}

// TestShortLivedChildrenCounted: a shell that runs one short command after another
// spends most of its time in children that live a few milliseconds and are never seen by
// a sample; their CPU reaches the shell's cutime when it waits for them, and counts. A
// busy loop pinned to the same CPU is the yardstick: both are always runnable, so they
// get about the same share of it, whatever else runs there. Without the children's time
// the shell shows about a fifth of the loop's.
func TestShortLivedChildrenCounted(t *testing.T) {
	sh := startPinned(t, lastCPU(), "sh", "-c", "while :; do /bin/true; done")
	loop := startPinned(t, lastCPU(), "sh", "-c", busyLoop)
	p := newProcFS(t, collect.Target{Name: "forker", PID: sh.cmd.Process.Pid},
		collect.Target{Name: "loop", PID: loop.cmd.Process.Pid})
	res := measure(t, p, window)
	forker, yardstick := res[0].CPUMcoresAvg, res[1].CPUMcoresAvg
	t.Logf("fork loop %.0f mcores, busy loop on the same CPU %.0f", forker, yardstick)
	enoughCPU(t, forker+yardstick)
	if forker < 0.5*yardstick || forker+yardstick >= 1300 {
		t.Errorf("fork loop: %.0f mcores beside a busy loop's %.0f on the same CPU; want a comparable share", forker, yardstick)
	}
}

// enoughCPU skips a test whose relations cannot be seen because other work on this
// machine left the test's processes less than 100 mcores: then the 10ms tick (±15 mcores
// over a window) is no longer small beside the figures compared.
func enoughCPU(t *testing.T, mcores float64) {
	t.Helper()
	if mcores < 100 {
		t.Skipf("the machine left the test's processes %.0f mcores; too busy to compare figures", mcores)
	}
}

// TestWindowExcludesLaterWork: a child idles through a window, then works. Measured
// after the work has been sampled, the window still shows idle, and a window over the
// work shows it.
func TestWindowExcludesLaterWork(t *testing.T) {
	c := start(t, "sh", "-c", "read go; "+busyLoop)
	p := newProcFS(t, collect.Target{Name: "late", PID: c.cmd.Process.Pid})
	idleStart := time.Now()
	idle := collect.Window{Start: idleStart, End: idleStart.Add(window)}
	idleCrowd := crowded(idle)
	if _, err := p.Collect(context.Background(), idle); err != nil { // returns once the window is over
		t.Fatal(err)
	}
	if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	kernel := startKernelClock(t, c.cmd.Process.Pid)
	res, w, _ := measureWindow(t, p, window)
	busy := res[0]
	agrees(t, "busy phase", busy.CPUMcoresAvg, kernel, w)
	enoughCPU(t, busy.CPUMcoresAvg)
	res, err := p.Collect(context.Background(), idle)
	if err != nil {
		t.Fatal(err)
	}
	enoughSamples(t, "idle window", res[0].Samples, 10, idleCrowd)
	if r := res[0]; r.CPUMcoresAvg >= 50 || r.CPUMcoresMax >= 150 || r.Samples > 16 {
		t.Errorf("idle window measured after the busy phase: %.0f mcores (peak %.0f) over %d samples; want < 50, the busy samples excluded",
			r.CPUMcoresAvg, r.CPUMcoresMax, r.Samples)
	}
}

// TestExitMidWindow: a process killed inside the window gets an Error and the figures of
// the time it lived; nothing crashes and the other targets are unaffected.
func TestExitMidWindow(t *testing.T) {
	doomed := start(t, "sleep", "60")
	stays := start(t, "sleep", "60")
	p := newProcFS(t,
		collect.Target{Name: "doomed", PID: doomed.cmd.Process.Pid},
		collect.Target{Name: "stays", PID: stays.cmd.Process.Pid})
	from, waited := time.Now(), runQueueWait()
	// Wait (by polling, with a deadline) until the window has a few samples, then kill.
	waitFor(t, 30*time.Second, func() bool {
		res, _ := p.Collect(context.Background(), collect.Window{Start: from, End: time.Now()})
		return res[0].Samples >= 3
	})
	if err := doomed.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = doomed.cmd.Wait() // reaped: gone from /proc
	killed := time.Now()
	// The collector learns of the exit from the first scan after it. A crowded machine
	// can hold the sampler back longer than Collect waits past a window's end (two
	// intervals), so wait for that scan: a sample of the survivor taken after the kill.
	waitFor(t, 30*time.Second, func() bool {
		res, _ := p.Collect(context.Background(), collect.Window{Start: killed, End: time.Now()})
		return res[1].Samples >= 1
	})
	// The window ends after the kill, however long the wait for the first samples was, so
	// that the kill is inside it; and it lasts at least window, for the survivor's count.
	w := collect.Window{Start: from, End: from.Add(window)}
	if w.End.Before(killed) {
		w.End = killed
	}
	crowd := crowdedSince(waited, w)
	res, err := p.Collect(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; !strings.Contains(r.Error, "exited during the window") || r.Samples < 3 || r.MemoryBytesAvg <= 0 {
		t.Errorf("killed process: error %q, %d samples, memory %d; want an exit note and what was measured", r.Error, r.Samples, r.MemoryBytesAvg)
	}
	if r := res[1]; r.Error != "" {
		t.Errorf("surviving process: error %q", r.Error)
	}
	enoughSamples(t, "surviving process", res[1].Samples, 10, crowd)
}

func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", limit)
		}
	}
}

func TestLifecycle(t *testing.T) {
	p, err := collect.NewProcFS(collect.ProcFSConfig{Interval: interval})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "procfs" {
		t.Errorf("Name() = %q", p.Name())
	}
	p.Stop() // before Start: nothing to do
	if _, err := p.Collect(context.Background(), collect.Window{}); err == nil {
		t.Error("Collect before Start did not fail")
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := p.Start(ctx, []collect.Target{{Name: "self", PID: os.Getpid()}, {Name: "gone", PID: 1 << 30}}); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx, nil); err == nil {
		t.Error("second Start did not fail")
	}
	from := time.Now()
	waitFor(t, 5*time.Second, func() bool {
		res, _ := p.Collect(context.Background(), collect.Window{Start: from, End: time.Now()})
		return res[0].Samples >= 2
	})
	cancel() // the context ends sampling like Stop does
	p.Stop()
	p.Stop()
	// After Stop, Collect answers from what was kept, without waiting for the window end.
	end := time.Now().Add(time.Hour)
	res, err := p.Collect(context.Background(), collect.Window{Start: from, End: end})
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Samples < 2 || !strings.Contains(r.Error, "sampling stopped") {
		t.Errorf("after Stop: %d samples, error %q; want the samples kept and a note that sampling stopped", r.Samples, r.Error)
	}
	if r := res[1]; !strings.Contains(r.Error, "not found") {
		t.Errorf("nonexistent PID: error %q", r.Error)
	}
	// After Stop, Start begins afresh with other targets.
	if err := p.Start(context.Background(), []collect.Target{{Name: "again", PID: os.Getpid()}}); err != nil {
		t.Fatalf("Start after Stop: %v", err)
	}
	again := time.Now()
	aw := collect.Window{Start: again, End: again.Add(5 * interval)}
	crowd := crowded(aw)
	res, err = p.Collect(context.Background(), aw)
	p.Stop()
	if err != nil || len(res) != 1 || res[0].Component != "again" {
		t.Fatalf("restarted collector: %+v, %v", res, err)
	}
	enoughSamples(t, "restarted collector", res[0].Samples, 2, crowd)
	// A cancelled context makes a running collector's Collect answer at once.
	q := newProcFS(t, collect.Target{Name: "self", PID: os.Getpid()})
	done, stop := context.WithCancel(context.Background())
	stop()
	began := time.Now()
	if _, err := q.Collect(done, collect.Window{Start: began, End: began.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(began); waited > time.Second {
		t.Errorf("Collect with a cancelled context waited %v", waited)
	}
}
