package collect

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/service-mesh-performance/smp/result"
)

// These tests drive the sampler over a fake /proc written to a temporary folder, so that
// the CPU accounting rules (children born, reaped, orphaned, PIDs reused) can be checked
// to the tick. The real kernel is exercised in procfs_test.go.

type fakeProc struct {
	pid, ppid                    int
	state                        byte
	utime, stime, cutime, cstime uint64
	start                        uint64
	rssKiB, pssKiB               int64
	noSmaps                      bool
}

type fakeFS struct {
	t    *testing.T
	root string
}

func newFakeFS(t *testing.T) *fakeFS {
	f := &fakeFS{t: t, root: t.TempDir()}
	f.set(fakeProc{pid: 1, start: 1}) // init, so that "self" has something to point at
	if err := os.Mkdir(filepath.Join(f.root, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.write("self/stat", f.statLine(fakeProc{pid: 1, start: 1}))
	return f
}

func (f *fakeFS) write(rel, content string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.root, rel), []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// statLine writes a stat line in the kernel's layout (the tail copied from a real one).
func (f *fakeFS) statLine(p fakeProc) string {
	state := p.state
	if state == 0 {
		state = 'S'
	}
	return fmt.Sprintf("%d (fake %d) %c %d %d 0 0 -1 4194304 0 0 0 0 %d %d %d %d 20 0 1 0 %d 0 %d 18446744073709551615 0 0 0\n",
		p.pid, p.pid, state, p.ppid, p.pid, p.utime, p.stime, p.cutime, p.cstime, p.start, p.rssKiB/4)
}

func (f *fakeFS) set(p fakeProc) {
	f.t.Helper()
	dir := strconv.Itoa(p.pid)
	if err := os.MkdirAll(filepath.Join(f.root, dir), 0o755); err != nil {
		f.t.Fatal(err)
	}
	f.write(dir+"/stat", f.statLine(p))
	f.write(dir+"/status", fmt.Sprintf("Name:\tfake\nState:\t%c\nVmRSS:\t%8d kB\nThreads:\t1\n", p.state, p.rssKiB))
	rollup := filepath.Join(f.root, dir, "smaps_rollup")
	if p.noSmaps {
		os.Remove(rollup)
	} else {
		f.write(dir+"/smaps_rollup", fmt.Sprintf("00400000-7fff0000 ---p 00000000 00:00 0 [rollup]\nRss: %d kB\nPss: %d kB\nPss_Anon: 1 kB\n", p.rssKiB, p.pssKiB))
	}
}

func (f *fakeFS) remove(pid int) {
	f.t.Helper()
	if err := os.RemoveAll(filepath.Join(f.root, strconv.Itoa(pid))); err != nil {
		f.t.Fatal(err)
	}
}

// manual is a ProcFS over the fake folder whose clock moves only when told, sampled by
// the test rather than by a ticker.
type manual struct {
	*ProcFS
	clock time.Time
}

var t0 = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

func newManual(t *testing.T, f *fakeFS, targets ...Target) *manual {
	t.Helper()
	p, err := NewProcFS(ProcFSConfig{Root: f.root, Interval: time.Second, Retention: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m := &manual{ProcFS: p, clock: t0}
	p.now = func() time.Time { return m.clock }
	if err := p.track(targets); err != nil {
		t.Fatal(err)
	}
	return m
}

// step moves the clock one second on and samples.
func (m *manual) step() {
	m.clock = m.clock.Add(time.Second)
	m.sampleOnce()
}

// collect ends sampling (so that Collect does not wait for a sample past the window)
// and collects.
func (m *manual) collect(t *testing.T, w Window) []result.Resource {
	t.Helper()
	m.mu.Lock()
	m.state = stateStopped
	m.mu.Unlock()
	res, err := m.Collect(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// cum returns the CPU ticks counted for target i at its newest sample.
func (m *manual) cum(t *testing.T, i int) uint64 {
	t.Helper()
	r := &m.targets[i].ring
	if r.len() == 0 {
		t.Fatalf("target %d has no sample", i)
	}
	return r.at(r.len() - 1).cpuTicks
}

func TestTreeAccounting(t *testing.T) {
	f := newFakeFS(t)
	// A shell (100) with a child (101) that has a child (102); an unrelated process (200).
	root := fakeProc{pid: 100, ppid: 1, utime: 10, start: 1000, rssKiB: 1000, pssKiB: 500}
	kid := fakeProc{pid: 101, ppid: 100, utime: 20, start: 1001, rssKiB: 2000, pssKiB: 1000}
	grandkid := fakeProc{pid: 102, ppid: 101, utime: 5, start: 1002, rssKiB: 4000, pssKiB: 2000}
	other := fakeProc{pid: 200, ppid: 1, utime: 999, start: 900, rssKiB: 8000, pssKiB: 8000}
	for _, p := range []fakeProc{root, kid, grandkid, other} {
		f.set(p)
	}
	m := newManual(t, f, Target{Name: "shell", Role: "app", PID: 100})
	m.sampleOnce() // the baseline
	if got := m.cum(t, 0); got != 0 {
		t.Fatalf("after the first sample: %d ticks counted, want 0 (it is the baseline)", got)
	}
	last := m.targets[0].ring.at(0)
	if last.rss != 7000*1024 || last.pss != 3500*1024 || last.procs != 3 || !last.pssOK {
		t.Errorf("first sample: rss %d, pss %d, %d processes, pssOK %v; want the tree's 7000 KiB, 3500 KiB, 3, true",
			last.rss, last.pss, last.procs, last.pssOK)
	}

	steps := []struct {
		name   string
		change func()
		want   uint64 // ticks counted in this step
	}{
		{"everyone works", func() {
			root.utime, kid.stime, grandkid.utime, other.utime = 15, 10, 8, 2000
			f.set(root)
			f.set(kid)
			f.set(grandkid)
			f.set(other)
		}, 5 + 10 + 3},
		{"a child is born and works", func() {
			f.set(fakeProc{pid: 103, ppid: 100, utime: 7, stime: 1, start: 1010})
		}, 8},
		{"the child is waited for: its time moves into the parent's cutime", func() {
			f.remove(103)
			root.cutime += 7 + 1 + 4 // 4 more ticks since the last sample
			f.set(root)
		}, 4},
		{"a middle process exits and is waited for; its child is orphaned and stays counted", func() {
			f.remove(101)
			root.cutime += 20 + 10 + 2
			grandkid.ppid, grandkid.utime = 1, grandkid.utime+6
			f.set(root)
			f.set(grandkid)
		}, 2 + 6},
		{"the orphan is reaped by init: only its last interval is lost", func() {
			f.remove(102)
		}, 0},
		{"a process that existed before joins (reparented to a subreaper): baseline only", func() {
			other.ppid, other.utime = 100, other.utime+50
			f.set(other)
		}, 0},
		{"and counts from then on", func() {
			other.utime += 30
			f.set(other)
		}, 30},
		{"a born child that was already waited for by a born child (cutime) counts in full", func() {
			f.set(fakeProc{pid: 104, ppid: 100, utime: 3, cutime: 9, start: 1020})
		}, 12},
	}
	prev := uint64(0)
	for _, s := range steps {
		s.change()
		m.step()
		got := m.cum(t, 0) - prev
		if got != s.want {
			t.Errorf("%s: counted %d ticks, want %d", s.name, got, s.want)
		}
		prev = m.cum(t, 0)
	}
}

func TestNestedTargets(t *testing.T) {
	f := newFakeFS(t)
	// 300 is smp: it runs the load generator and launched a component (301, with a worker
	// 303) and a helper of its own (302) that is not a target.
	f.set(fakeProc{pid: 300, ppid: 1, start: 3000, rssKiB: 100})
	f.set(fakeProc{pid: 301, ppid: 300, start: 3001, rssKiB: 200})
	f.set(fakeProc{pid: 302, ppid: 300, start: 3002, rssKiB: 400})
	f.set(fakeProc{pid: 303, ppid: 301, start: 3003, rssKiB: 800})
	m := newManual(t, f, Target{Name: "load generator", PID: 300}, Target{Name: "svc-1", PID: 301})
	m.sampleOnce()
	if got := m.targets[0].ring.at(0); got.procs != 2 || got.rss != (100+400)*1024 {
		t.Errorf("outer target: %d processes, rss %d; want itself and its helper: 2, %d", got.procs, got.rss, 500*1024)
	}
	if got := m.targets[1].ring.at(0); got.procs != 2 || got.rss != (200+800)*1024 {
		t.Errorf("inner target: %d processes, rss %d; want itself and its worker: 2, %d", got.procs, got.rss, 1000*1024)
	}
	// Once the inner target has exited, its orphaned worker (reparented to init) does not
	// join the outer target.
	f.remove(301)
	f.set(fakeProc{pid: 303, ppid: 1, start: 3003, rssKiB: 800})
	m.step()
	if got := m.targets[0].ring.at(1); got.procs != 2 {
		t.Errorf("outer target after the inner one exited: %d processes, want 2", got.procs)
	}
}

func TestRootGoneAndPIDReuse(t *testing.T) {
	f := newFakeFS(t)
	f.set(fakeProc{pid: 500, ppid: 1, start: 5000, utime: 1})
	f.set(fakeProc{pid: 600, ppid: 1, start: 6000, utime: 1})
	m := newManual(t, f, Target{Name: "reused", PID: 500}, Target{Name: "zombie", PID: 600},
		Target{Name: "absent", PID: 700}, Target{Name: "no pid"})
	m.sampleOnce()
	m.step()
	// 500 ends and its PID is reused by an unrelated process; 600 becomes a zombie.
	f.set(fakeProc{pid: 500, ppid: 1, start: 5100, utime: 100})
	f.set(fakeProc{pid: 600, ppid: 1, start: 6000, utime: 2, state: 'Z'})
	m.step() // t0+2s: both gone
	m.step()
	w := Window{Start: t0, End: t0.Add(3 * time.Second)}
	res := m.collect(t, w)
	for i, want := range []string{"exited during the window (gone 2s after it began); the figures cover the 1s before",
		"process 600 exited during the window", "process 700 was not found", "needs a process ID"} {
		if !strings.Contains(res[i].Error, want) {
			t.Errorf("%s: Error = %q, want it to say %q", res[i].Component, res[i].Error, want)
		}
	}
	if res[0].Samples != 2 {
		t.Errorf("reused: %d samples, want the 2 taken before it ended", res[0].Samples)
	}
	// A window after the end has nothing, and says why.
	res = m.collect(t, Window{Start: t0.Add(2500 * time.Millisecond), End: t0.Add(3 * time.Second)})
	if !strings.Contains(res[0].Error, "exited before the window began") || res[0].Samples != 0 {
		t.Errorf("window after the end: %+v", res[0])
	}
}

// TestGoneAfterWindowEnd: the sample that finds a process gone can come after the
// window's end (a sampler crowded off the CPU), although the process died inside it.
// The report says so; a process seen alive at the window's end has no note.
func TestGoneAfterWindowEnd(t *testing.T) {
	f := newFakeFS(t)
	f.set(fakeProc{pid: 900, ppid: 1, start: 9000, utime: 1, rssKiB: 100})
	m := newManual(t, f, Target{Name: "late", PID: 900})
	m.sampleOnce() // t0
	m.step()       // t0+1s: alive
	f.remove(900)
	m.step() // t0+2s: gone
	res := m.collect(t, Window{Start: t0, End: t0.Add(1500 * time.Millisecond)})
	want := "process 900 exited during the window or just after it (alive 1s and gone 2s after it began, the window being 1.5s long); the figures cover the 1s before"
	if res[0].Error != want || res[0].Samples != 2 {
		t.Errorf("window ending between the last sample alive and the one that found it gone: %d samples, Error %q; want 2 and %q",
			res[0].Samples, res[0].Error, want)
	}
	if res := m.collect(t, Window{Start: t0, End: t0.Add(time.Second)}); res[0].Error != "" {
		t.Errorf("window ending at the last sample alive: Error %q, want none", res[0].Error)
	}
}

func TestCollectWindow(t *testing.T) {
	f := newFakeFS(t)
	p := fakeProc{pid: 800, ppid: 1, start: 8000, rssKiB: 1000, pssKiB: 600}
	f.set(p)
	m := newManual(t, f, Target{Name: "svc-1-proxy", Role: "proxy", Service: "svc-1", PID: 800, Pod: "p"})
	m.sampleOnce() // t0
	// Ticks per second: 0→1: 50 (warm-up), 1→2: 20, 2→3: 40, 3→4: 90 (cool-down).
	for i, add := range []uint64{50, 20, 40, 90} {
		p.utime += add
		p.rssKiB = int64(1000 * (i + 2))
		f.set(p)
		m.step()
	}
	tests := []struct {
		name             string
		w                Window
		samples          int
		cpuAvg, cpuMax   float64
		rssAvg, rssMax   int64
		wantErrSubstring string
	}{
		// Samples at t0+1 and t0+2 and t0+3: 60 ticks over 2 s = 300 mcores; peak 400.
		{"ends included", Window{t0.Add(time.Second), t0.Add(3 * time.Second)}, 3, 300, 400, 3000 * 1024, 4000 * 1024, ""},
		{"inner", Window{t0.Add(500 * time.Millisecond), t0.Add(3500 * time.Millisecond)}, 3, 300, 400, 3000 * 1024, 4000 * 1024, ""},
		{"all", Window{t0, t0.Add(4 * time.Second)}, 5, 500, 900, 3000 * 1024, 5000 * 1024, ""},
		{"one sample", Window{t0.Add(1500 * time.Millisecond), t0.Add(2500 * time.Millisecond)}, 1, 0, 0, 3000 * 1024, 3000 * 1024, "only one sample"},
		{"none", Window{t0.Add(1200 * time.Millisecond), t0.Add(1800 * time.Millisecond)}, 0, 0, 0, 0, 0, "no sample inside the window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := m.collect(t, tt.w)[0]
			if r.Samples != tt.samples || r.CPUMcoresAvg != tt.cpuAvg || r.CPUMcoresMax != tt.cpuMax ||
				r.MemoryBytesAvg != tt.rssAvg || r.MemoryBytesMax != tt.rssMax {
				t.Errorf("got samples %d, cpu %g/%g mcores, rss %d/%d; want %d, %g/%g, %d/%d",
					r.Samples, r.CPUMcoresAvg, r.CPUMcoresMax, r.MemoryBytesAvg, r.MemoryBytesMax,
					tt.samples, tt.cpuAvg, tt.cpuMax, tt.rssAvg, tt.rssMax)
			}
			if (tt.wantErrSubstring == "") != (r.Error == "") || !strings.Contains(r.Error, tt.wantErrSubstring) {
				t.Errorf("Error = %q, want %q", r.Error, tt.wantErrSubstring)
			}
			if r.Component != "svc-1-proxy" || r.Role != "proxy" || r.Service != "svc-1" || r.PID != 800 || r.Pod != "p" ||
				r.Source != "procfs" || r.MemoryMetric != "rss" || !strings.Contains(r.Query, "/proc/800") {
				t.Errorf("identity or provenance not copied: %+v", r)
			}
			if tt.samples > 0 && (len(r.OtherMemory) != 1 || r.OtherMemory[0].Metric != "pss" || r.OtherMemory[0].AvgBytes != 600*1024) {
				t.Errorf("OtherMemory = %+v, want pss avg %d", r.OtherMemory, 600*1024)
			}
		})
	}
	if _, err := m.Collect(context.Background(), Window{Start: t0.Add(time.Second), End: t0}); err == nil {
		t.Error("Collect accepted a window that ends before it starts")
	}
}

func TestPSSUnavailable(t *testing.T) {
	f := newFakeFS(t)
	f.set(fakeProc{pid: 900, ppid: 1, start: 9000, rssKiB: 1000, pssKiB: 500})
	f.set(fakeProc{pid: 901, ppid: 900, start: 9001, rssKiB: 1000, noSmaps: true})
	m := newManual(t, f, Target{Name: "x", PID: 900})
	m.sampleOnce()
	m.step()
	r := m.collect(t, Window{t0, t0.Add(time.Second)})[0]
	if r.OtherMemory != nil || r.Error != "" || r.MemoryBytesAvg != 2000*1024 || !strings.Contains(r.Query, "no PSS: smaps_rollup does not exist") {
		t.Errorf("with one member's smaps_rollup missing: OtherMemory %+v, Error %q, RSS %d, Query %q; want no PSS (said in Query), no error, RSS of both",
			r.OtherMemory, r.Error, r.MemoryBytesAvg, r.Query)
	}
}

func TestRetention(t *testing.T) {
	f := newFakeFS(t)
	f.set(fakeProc{pid: 950, ppid: 1, start: 9500})
	m := newManual(t, f, Target{Name: "x", PID: 950})
	capacity := m.cfg.capacity()
	if capacity != 12 {
		t.Fatalf("capacity for 10s at 1s = %d, want 12", capacity)
	}
	m.sampleOnce()
	for range 30 {
		m.step()
	}
	r := &m.targets[0].ring
	if r.len() != capacity || r.at(0).at != t0.Add(time.Duration(30-capacity+1)*time.Second) {
		t.Fatalf("ring holds %d samples from %v, want %d from %v", r.len(), r.at(0).at, capacity, t0.Add(19*time.Second))
	}
	res := m.collect(t, Window{t0.Add(5 * time.Second), t0.Add(25 * time.Second)})
	if !strings.Contains(res[0].Error, "first 14s of the window were overwritten (retention 10s)") || res[0].Samples != 7 {
		t.Errorf("window reaching past the retention: %d samples, Error %q", res[0].Samples, res[0].Error)
	}
	res = m.collect(t, Window{t0, t0.Add(5 * time.Second)})
	if !strings.Contains(res[0].Error, "oldest sample kept") {
		t.Errorf("window older than the retention: Error %q", res[0].Error)
	}
	if got := unsafe.Sizeof(sample{}); got != 64 {
		t.Errorf("a sample is %d bytes; the memory bound in the documentation says 64", got)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		cfg     ProcFSConfig
		wantErr string
	}{
		{ProcFSConfig{}, ""},
		{ProcFSConfig{Interval: time.Millisecond}, "below 10ms"},
		{ProcFSConfig{Interval: time.Minute, Retention: time.Second}, "shorter than the interval"},
		{ProcFSConfig{Interval: 10 * time.Millisecond, Retention: 1000 * time.Hour}, "more than 1000000"},
	}
	for _, tt := range tests {
		_, err := NewProcFS(tt.cfg)
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("NewProcFS(%+v) error = %v, want %q", tt.cfg, err, tt.wantErr)
		}
	}
	p, _ := NewProcFS(ProcFSConfig{})
	if p.cfg.Interval != time.Second || p.cfg.Retention != time.Hour || p.cfg.Root != "/proc" || p.cfg.capacity() != 3602 {
		t.Errorf("defaults: %+v, capacity %d", p.cfg, p.cfg.capacity())
	}
	if p.tickNS != 1e7 {
		t.Errorf("clock tick = %gns, want 10ms (CLK_TCK 100)", p.tickNS)
	}
	if _, err := NewProcFS(ProcFSConfig{Root: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	q, _ := NewProcFS(ProcFSConfig{Root: t.TempDir()})
	if err := q.Start(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "cannot read the proc filesystem") {
		t.Errorf("Start without a proc filesystem: %v", err)
	}
}
