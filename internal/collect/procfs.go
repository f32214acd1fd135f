package collect

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/service-mesh-performance/smp/result"
)

// ProcFSConfig configures the procfs collector. Zero values mean the defaults.
type ProcFSConfig struct {
	// Interval between samples. Default: 1s. At least 10ms: CPU times advance in clock
	// ticks (10ms at CLK_TCK 100), so a shorter interval measures mostly rounding.
	Interval time.Duration
	// Retention is how much history is kept, counted back from the newest sample: the
	// longest window Collect can answer. Default: 1h. Memory is bounded by it: each target
	// keeps Retention/Interval + 2 samples of 64 bytes (the defaults: 3602 samples, about
	// 225 KiB per target).
	Retention time.Duration
	// Root is where the proc filesystem is mounted. Default: /proc.
	Root string
}

const (
	defaultInterval  = time.Second
	defaultRetention = time.Hour
	minInterval      = 10 * time.Millisecond
	// maxSamples caps the ring so that a typo such as retention 1000h at 10ms cannot
	// allocate gigabytes: 1e6 samples are 64 MB per target.
	maxSamples = 1_000_000
)

func (c ProcFSConfig) withDefaults() ProcFSConfig {
	if c.Interval == 0 {
		c.Interval = defaultInterval
	}
	if c.Retention == 0 {
		c.Retention = defaultRetention
	}
	if c.Root == "" {
		c.Root = "/proc"
	}
	return c
}

// Validate reports every problem with a (defaulted) configuration.
func (c ProcFSConfig) Validate() error {
	var errs []error
	if c.Interval < minInterval {
		errs = append(errs, fmt.Errorf("procfs: interval %v is below %v, the clock-tick resolution of CPU times", c.Interval, minInterval))
	}
	if c.Retention < c.Interval {
		errs = append(errs, fmt.Errorf("procfs: retention %v is shorter than the interval %v", c.Retention, c.Interval))
	} else if c.Interval > 0 && c.capacity() > maxSamples {
		errs = append(errs, fmt.Errorf("procfs: retention %v at interval %v is %d samples per target, more than %d", c.Retention, c.Interval, c.capacity(), maxSamples))
	}
	return errors.Join(errs...)
}

// capacity is the number of samples kept per target: a window of Retention holds
// Retention/Interval intervals, one more sample bounds them, and one more covers a tick
// that arrives late.
func (c ProcFSConfig) capacity() int {
	return int((c.Retention+c.Interval-1)/c.Interval) + 2
}

// ProcFS measures processes through /proc: CPU time and memory of each target process and
// all its descendants. See the package documentation for the method.
type ProcFS struct {
	cfg    ProcFSConfig
	tickNS float64 // nanoseconds per clock tick
	now    func() time.Time

	mu       sync.Mutex
	buf      []byte // read buffer of the sampler
	state    int    // idle, running, stopped
	targets  []*tracked
	prevScan map[procKey]bool // every process of the previous scan
	lastAt   time.Time        // time of the newest sample
	notify   chan struct{}    // closed and replaced after every sample
	cancel   context.CancelFunc
	done     chan struct{} // closed when the sampling goroutine has returned
}

const (
	stateIdle = iota
	stateRunning
	stateStopped
)

var _ Collector = (*ProcFS)(nil)

// NewProcFS returns a procfs collector. It fails when the configuration is invalid.
func NewProcFS(cfg ProcFSConfig) (*ProcFS, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &ProcFS{cfg: cfg, tickNS: 1e9 / float64(clockTicks(cfg.Root)), now: time.Now,
		notify: make(chan struct{})}, nil
}

// clockTicks returns CLK_TCK, the unit of the CPU times in /proc/<pid>/stat. Go has no
// sysconf, so it is read where the C library reads it, the auxiliary vector. Every Linux
// architecture but Alpha uses 100 (USER_HZ); that is the fallback.
func clockTicks(root string) int64 {
	if data, err := os.ReadFile(filepath.Join(root, "self", "auxv")); err == nil {
		if v, ok := parseAuxvClkTck(data, int(unsafe.Sizeof(uintptr(0))), binary.NativeEndian); ok {
			return v
		}
	}
	return 100
}

// Name returns "procfs".
func (p *ProcFS) Name() string { return "procfs" }

// procKey identifies a process across PID reuse.
type procKey struct {
	pid   int
	start uint64
}

// member is a process counted as part of a target at the last sample.
type member struct {
	start uint64
	ppid  int
	cpu   uint64 // CPUTicks at the last sample
}

// tracked is one target and what has been sampled of it. The sampling goroutine owns
// members and cum; everything is guarded by ProcFS.mu.
type tracked struct {
	t       Target
	root    procKey
	members map[int]member
	sampled bool   // the first sample, which only sets the CPU baseline, is taken
	cum     uint64 // CPU ticks of the process tree since the first sample
	ring    ring
	// missing says why the target is not sampled at all ("" when it is).
	missing string
	// goneAt is the first sample that found the root process ended; lastSeen the last
	// that found it alive.
	goneAt, lastSeen time.Time
	// pssNote says why PSS could not be read, the first time it could not.
	pssNote string
}

// sample is the state of one target's process tree at one instant.
type sample struct {
	at       time.Time
	cpuTicks uint64 // cumulative CPU of the tree since sampling started
	rss, pss int64  // bytes, summed over the tree
	pssOK    bool
	procs    int
}

// Start records the targets, takes the first sample (the CPU baseline) and starts
// sampling every Interval until ctx is done or Stop is called. Targets without a PID, or
// whose process does not exist, are reported by Collect with an Error. Start fails while
// sampling runs; after Stop it starts over with the new targets, forgetting the old
// samples, so one collector can serve trial after trial.
func (p *ProcFS) Start(ctx context.Context, targets []Target) error {
	if err := p.track(targets); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	p.mu.Lock()
	p.cancel, p.done = cancel, done
	p.mu.Unlock()
	p.sampleOnce()
	go p.loop(ctx, done)
	return nil
}

// track records the targets and marks the collector running, without sampling (tests
// drive sampleOnce themselves).
func (p *ProcFS) track(targets []Target) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == stateRunning {
		return errors.New("procfs: already started")
	}
	// After Stop, a new Start begins afresh with the new targets.
	p.targets, p.prevScan, p.lastAt = nil, nil, time.Time{}
	if _, err := p.read(filepath.Join(p.cfg.Root, "self", "stat")); err != nil {
		return fmt.Errorf("procfs: cannot read the proc filesystem: %w", err)
	}
	for _, t := range targets {
		tr := &tracked{t: t, members: map[int]member{}, ring: newRing(p.cfg.capacity())}
		if t.PID <= 0 {
			tr.missing = "procfs needs a process ID and this component has none"
			p.targets = append(p.targets, tr)
			continue
		}
		switch st, err := p.readStat(t.PID); {
		case err != nil:
			tr.missing = fmt.Sprintf("process %d was not found when sampling started: %v", t.PID, err)
		case st.State == 'Z' || st.State == 'X':
			tr.missing = fmt.Sprintf("process %d had already exited when sampling started", t.PID)
		default:
			tr.root = procKey{pid: t.PID, start: st.StartTime}
		}
		p.targets = append(p.targets, tr)
	}
	p.state = stateRunning
	return nil
}

func (p *ProcFS) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(p.cfg.Interval) // monotonic; drops ticks rather than bunching them
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			p.mu.Lock()
			p.state = stateStopped
			p.broadcast()
			p.mu.Unlock()
			return
		case <-tick.C:
			p.sampleOnce()
		}
	}
}

// Stop ends sampling and waits until the sampling goroutine has returned. It is safe to
// call more than once, concurrently, and before Start (then it does nothing).
func (p *ProcFS) Stop() {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// broadcast wakes every Collect waiting for a sample. Callers hold p.mu.
func (p *ProcFS) broadcast() {
	close(p.notify)
	p.notify = make(chan struct{})
}

// sampleOnce scans /proc and appends one sample to every live target.
func (p *ProcFS) sampleOnce() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != stateRunning {
		return
	}
	scan := p.scan()
	children := map[int][]int{}
	for pid, st := range scan {
		children[st.PPID] = append(children[st.PPID], pid)
	}
	// Targets may nest: on the local platform smp itself (the load generator) is the
	// parent of every component. A process that is another target is counted there, with
	// its descendants, and not in its ancestor's tree.
	roots := map[int]bool{}
	for _, tr := range p.targets {
		if st, ok := scan[tr.root.pid]; ok && tr.missing == "" && st.StartTime == tr.root.start {
			roots[tr.root.pid] = true
		}
	}
	for _, tr := range p.targets {
		if tr.missing == "" && tr.goneAt.IsZero() {
			p.sampleTarget(tr, scan, children, roots)
		}
	}
	prev := make(map[procKey]bool, len(scan))
	for pid, st := range scan {
		prev[procKey{pid, st.StartTime}] = true
	}
	p.prevScan = prev
	p.lastAt = p.now()
	p.broadcast()
}

// scan reads the stat file of every process. Processes that end while it runs are
// skipped.
func (p *ProcFS) scan() map[int]procStat {
	out := map[int]procStat{}
	d, err := os.Open(p.cfg.Root)
	if err != nil {
		return out
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 0 {
			continue
		}
		if st, err := p.readStat(pid); err == nil {
			out[pid] = st
		}
	}
	return out
}

func (p *ProcFS) readStat(pid int) (procStat, error) {
	data, err := p.read(filepath.Join(p.cfg.Root, strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, err
	}
	return parseStat(data)
}

// read returns the content of a small /proc file, in p.buf (valid until the next read).
// Callers hold p.mu.
//
// It takes three system calls (open, read, close) where os.ReadFile takes five or more;
// the scan makes one per process on the machine every interval, so this halves the
// sampler's own CPU use. /proc files are seq_files that return a whole record per read,
// so a read that does not fill the buffer has read everything; one that does is followed
// by more, into a larger buffer.
func (p *ProcFS) read(path string) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	if len(p.buf) == 0 {
		p.buf = make([]byte, 4096)
	}
	n := 0
	for {
		if n == len(p.buf) {
			p.buf = append(p.buf, make([]byte, len(p.buf))...)
		}
		k, err := syscall.Read(fd, p.buf[n:])
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		n += k
		if k == 0 || n < len(p.buf) {
			return p.buf[:n], nil
		}
	}
}

// sampleTarget finds the target's process tree in the scan, reads each member's CPU and
// memory, and appends the sample. See the package documentation for the CPU accounting.
func (p *ProcFS) sampleTarget(tr *tracked, scan map[int]procStat, children map[int][]int, roots map[int]bool) {
	root, ok := scan[tr.root.pid]
	if !ok || root.StartTime != tr.root.start || root.State == 'Z' || root.State == 'X' {
		tr.goneAt = p.now()
		return
	}
	// Members: the root and its descendants, and every earlier member still alive with
	// its descendants (a worker whose parent exited is reparented away from the tree but
	// still belongs to it); never another target's root or what lies below it.
	want := map[int]bool{}
	var queue []int
	add := func(pid int) {
		if !want[pid] && (pid == root.PID || !roots[pid]) {
			want[pid] = true
			queue = append(queue, pid)
		}
	}
	add(root.PID)
	for pid, m := range tr.members {
		if st, ok := scan[pid]; ok && st.StartTime == m.start {
			add(pid)
		}
	}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			add(c)
		}
	}

	type read struct {
		member
		counted bool // its CPU since the last sample is in this sample's delta
	}
	cur := make(map[int]read, len(want))
	var rss, pss int64
	pssOK := true
	t0 := p.now()
	for pid := range want {
		st, err := p.readStat(pid)
		if err != nil || st.StartTime != scan[pid].StartTime {
			continue // ended since the scan
		}
		cur[pid] = read{member: member{start: st.StartTime, ppid: st.PPID, cpu: st.CPUTicks()}}
		if st.State == 'Z' || st.State == 'X' {
			continue // no memory left
		}
		dir := filepath.Join(p.cfg.Root, strconv.Itoa(pid))
		if v, err := p.readRSS(dir); err == nil {
			rss += v
		} else {
			rss += st.RSSPages * int64(os.Getpagesize()) // the same counter, from stat
		}
		data, err := p.read(filepath.Join(dir, "smaps_rollup"))
		var v int64
		if err == nil {
			v, err = parseSmapsRollupPSS(data)
		}
		switch {
		case err == nil:
			pss += v
		case errors.Is(err, syscall.ESRCH) || errors.Is(err, fs.ErrNotExist) && !exists(dir):
			// Exited between the stat and this read: it holds no memory.
		default:
			pssOK = false
			if tr.pssNote == "" {
				tr.pssNote = pssReason(pid, err)
			}
		}
	}
	at := t0.Add(p.now().Sub(t0) / 2)

	if tr.sampled {
		var delta int64
		for pid, r := range cur {
			if old, ok := tr.members[pid]; ok && old.start == r.start {
				delta += int64(r.cpu) - int64(old.cpu)
				r.counted = true
			} else if !p.prevScan[procKey{pid, r.start}] {
				// Born since the last sample: all its CPU time is new.
				delta += int64(r.cpu)
				r.counted = true
			}
			// Otherwise it existed before but joined the tree only now: this sample is its
			// baseline.
			cur[pid] = r
		}
		for pid, old := range tr.members {
			if r, ok := cur[pid]; ok && r.start == old.start {
				continue
			}
			// Gone. If its parent is a member whose delta is counted, the parent waited
			// for it and its whole CPU time moved into the parent's cutime/cstime, so
			// what was already counted of it must come off. Otherwise only its CPU since
			// the last sample is lost.
			if parent, ok := cur[old.ppid]; ok && parent.counted {
				delta -= int64(old.cpu)
			}
		}
		tr.cum += uint64(max(delta, 0))
	}
	tr.sampled = true
	tr.members = make(map[int]member, len(cur))
	for pid, r := range cur {
		tr.members[pid] = r.member
	}
	tr.lastSeen = at
	tr.ring.push(sample{at: at, cpuTicks: tr.cum, rss: rss, pss: pss, pssOK: pssOK, procs: len(cur)})
}

func (p *ProcFS) readRSS(dir string) (int64, error) {
	data, err := p.read(filepath.Join(dir, "status"))
	if err != nil {
		return 0, err
	}
	return parseStatusRSS(data)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func pssReason(pid int, err error) string {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return fmt.Sprintf("smaps_rollup of process %d is not readable (permission denied; it needs ptrace access)", pid)
	case errors.Is(err, fs.ErrNotExist):
		return "smaps_rollup does not exist (Linux before 4.14)"
	}
	return fmt.Sprintf("smaps_rollup of process %d: %v", pid, err)
}

// Collect returns one Resource per target over the window, in the order of the targets.
//
// It first waits, at most two intervals past w.End, for a sample after w.End, so that the
// window's last interval is sampled; it does not wait when ctx is done (an interrupted
// run reports what it has) or when sampling has stopped. Only samples inside the window
// count: nothing from a warm-up before it or a cool-down after it. Edge cases, each
// reported in the Resource's Error with what could be measured: a process that ended
// in (or before) the window, a window with fewer than two samples (no CPU figure), a
// window longer than the retention, sampling stopped before the window ended.
func (p *ProcFS) Collect(ctx context.Context, w Window) ([]result.Resource, error) {
	if w.End.Before(w.Start) {
		return nil, fmt.Errorf("procfs: window ends (%v) before it starts (%v)", w.End, w.Start)
	}
	p.mu.Lock()
	if p.state == stateIdle {
		p.mu.Unlock()
		return nil, errors.New("procfs: Collect before Start")
	}
	p.mu.Unlock()
	p.waitPast(ctx, w.End)

	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]result.Resource, 0, len(p.targets))
	for _, tr := range p.targets {
		out = append(out, p.resource(tr, w))
	}
	return out, nil
}

// waitPast returns once a sample newer than end exists, sampling has stopped, ctx is
// done, or two intervals past end have gone by.
func (p *ProcFS) waitPast(ctx context.Context, end time.Time) {
	waitForSample(ctx, end, p.cfg.Interval, func() (bool, <-chan struct{}) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.lastAt.After(end) || p.state != stateRunning, p.notify
	})
}

// waitForSample is the wait of both samplers (ProcFS, sampler): poll says, under the
// sampler's lock, whether the wait is over and which channel the next sample closes.
// Two intervals past end it gives up: a sampler that stalls must not hold the trial.
func waitForSample(ctx context.Context, end time.Time, interval time.Duration, poll func() (done bool, next <-chan struct{})) {
	timer := time.NewTimer(max(time.Until(end), 0) + 2*interval)
	defer timer.Stop()
	for {
		done, ch := poll()
		if done {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		}
	}
}

// resource summarises one target over the window. Callers hold p.mu.
func (p *ProcFS) resource(tr *tracked, w Window) result.Resource {
	r := resourceOf(tr.t)
	r.MemoryMetric, r.Source = "rss", "procfs"
	if tr.missing != "" {
		r.Error = tr.missing
		return r
	}
	in := tr.ring.within(w)
	s := summarise(in, p.tickNS)
	r.Samples = s.samples
	r.CPUMcoresAvg, r.CPUMcoresMax = s.cpuAvg, s.cpuMax
	r.MemoryBytesAvg, r.MemoryBytesMax = s.rssAvg, s.rssMax
	if s.samples > 0 && s.pssOK {
		r.OtherMemory = []result.Memory{{Metric: "pss", AvgBytes: s.pssAvg, MaxBytes: s.pssMax}}
	}
	procs := "1 process"
	if s.procs != 1 {
		procs = fmt.Sprintf("%d processes", s.procs)
	}
	r.Query = fmt.Sprintf("/proc/%d and its descendants: stat utime+stime+cutime+cstime, status VmRSS, smaps_rollup Pss; up to %s; every %v",
		tr.t.PID, procs, p.cfg.Interval)
	if s.samples > 0 && !s.pssOK {
		r.Query += "; no PSS: " + tr.pssNote
	}

	var notes []string
	oldest, hasOldest := tr.ring.oldest()
	gone := !tr.goneAt.IsZero() && !tr.goneAt.After(w.End)
	// The sample that finds the process gone may come after the window's end although the
	// process died inside it: on a crowded machine the sampler can be late by more than
	// the window's last interval. It exited between the last sample that saw it and that
	// one; when that span straddles the window's end, the window's end is not covered and
	// the report must say so.
	goneNearEnd := !tr.goneAt.IsZero() && !gone && tr.lastSeen.Before(w.End)
	switch {
	case gone && s.samples == 0:
		notes = append(notes, fmt.Sprintf("process %d exited before the window began", tr.t.PID))
	case gone:
		notes = append(notes, fmt.Sprintf("process %d exited during the window (gone %s after it began); the figures cover the %s before",
			tr.t.PID, round(tr.goneAt.Sub(w.Start)), round(s.last.Sub(s.first))))
	case goneNearEnd && s.samples > 0:
		notes = append(notes, fmt.Sprintf("process %d exited during the window or just after it (alive %s and gone %s after it began, "+
			"the window being %s long); the figures cover the %s before",
			tr.t.PID, round(tr.lastSeen.Sub(w.Start)), round(tr.goneAt.Sub(w.Start)), round(w.End.Sub(w.Start)), round(s.last.Sub(s.first))))
	case s.samples == 0 && hasOldest && oldest.After(w.End):
		notes = append(notes, fmt.Sprintf("the window ended before the oldest sample kept (retention %v)", p.cfg.Retention))
	case s.samples == 0:
		notes = append(notes, fmt.Sprintf("no sample inside the window (%s long, sampled every %v)", round(w.End.Sub(w.Start)), p.cfg.Interval))
	default:
		if hasOldest && tr.ring.wrapped() && oldest.Sub(w.Start) > p.cfg.Interval {
			notes = append(notes, fmt.Sprintf("the first %s of the window were overwritten (retention %v)", round(oldest.Sub(w.Start)), p.cfg.Retention))
		}
		if p.state != stateRunning && w.End.Sub(tr.lastSeen) > p.cfg.Interval {
			notes = append(notes, fmt.Sprintf("sampling stopped %s before the window ended", round(w.End.Sub(tr.lastSeen))))
		}
	}
	if s.samples == 1 {
		notes = append(notes, fmt.Sprintf("only one sample inside the window, so no CPU figure (sampled every %v)", p.cfg.Interval))
	}
	if len(notes) > 0 {
		r.Error = joinNotes(notes)
	}
	return r
}

func joinNotes(notes []string) string {
	out := notes[0]
	for _, n := range notes[1:] {
		out += "; " + n
	}
	return out
}

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

// summary is what summarise computes from the samples inside a window.
type summary struct {
	samples        int
	cpuAvg, cpuMax float64 // mcores
	rssAvg, rssMax int64
	pssAvg, pssMax int64
	pssOK          bool // every sample had PSS
	procs          int  // most processes in one sample
	first, last    time.Time
}

// summarise computes a window's figures from its samples, oldest first.
//
// The mean CPU is exact: the tree's CPU time between the first and the last sample over
// the time between them (not a mean of per-interval rates, which would weigh short and
// long intervals alike). The peak is the highest rate of one interval. Memory mean and
// peak are over every sample. With fewer than two samples there is no CPU figure.
func summarise(in []sample, tickNS float64) summary {
	s := summary{samples: len(in), pssOK: true}
	if len(in) == 0 {
		return s
	}
	s.first, s.last = in[0].at, in[len(in)-1].at
	var rssSum, pssSum float64
	for i, x := range in {
		rssSum += float64(x.rss)
		pssSum += float64(x.pss)
		s.rssMax, s.pssMax = max(s.rssMax, x.rss), max(s.pssMax, x.pss)
		s.pssOK = s.pssOK && x.pssOK
		s.procs = max(s.procs, x.procs)
		if i > 0 {
			if dt := x.at.Sub(in[i-1].at); dt > 0 {
				s.cpuMax = max(s.cpuMax, mcores(x.cpuTicks-in[i-1].cpuTicks, dt, tickNS))
			}
		}
	}
	n := float64(len(in))
	s.rssAvg, s.pssAvg = int64(math.Round(rssSum/n)), int64(math.Round(pssSum/n))
	if dt := s.last.Sub(s.first); len(in) > 1 && dt > 0 {
		s.cpuAvg = mcores(in[len(in)-1].cpuTicks-in[0].cpuTicks, dt, tickNS)
	}
	return s
}

// mcores converts CPU ticks used over dt into millicores.
func mcores(ticks uint64, dt time.Duration, tickNS float64) float64 {
	return float64(ticks) * tickNS / float64(dt) * 1000
}

// ring keeps the newest samples of one target; push overwrites the oldest once full.
type ring struct {
	buf  []sample
	next int // where the next sample goes
	full bool
}

func newRing(capacity int) ring { return ring{buf: make([]sample, capacity)} }

func (r *ring) push(s sample) {
	r.buf[r.next] = s
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

func (r *ring) len() int {
	if r.full {
		return len(r.buf)
	}
	return r.next
}

func (r *ring) wrapped() bool { return r.full }

// at returns the i-th oldest sample.
func (r *ring) at(i int) sample {
	if r.full {
		return r.buf[(r.next+i)%len(r.buf)]
	}
	return r.buf[i]
}

func (r *ring) oldest() (time.Time, bool) {
	if r.len() == 0 {
		return time.Time{}, false
	}
	return r.at(0).at, true
}

// within returns the samples taken inside the window (both ends included), oldest first.
func (r *ring) within(w Window) []sample {
	n := r.len()
	// Samples are in time order, so the first inside is found by binary search.
	i := sort.Search(n, func(i int) bool { return !r.at(i).at.Before(w.Start) })
	var out []sample
	for ; i < n && !r.at(i).at.After(w.End); i++ {
		out = append(out, r.at(i))
	}
	return out
}
