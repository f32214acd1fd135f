package engine

import (
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// coarseSlack is how early the worker's Go timer is set to fire before a
// deadline. Go's netpoller sleeps in whole milliseconds when the process is
// idle (runtime/netpoll_epoll.go rounds any delay below 1ms up to 1ms), so a
// runtime timer can be up to ~1ms late at light load. The remainder is
// waited for on a timerfd instead (see preciseTimer).
const coarseSlack = 2 * time.Millisecond

// preciseTimer is a Linux timerfd registered with Go's netpoller. Waiting
// on it parks the goroutine like any network read, and epoll wakes as soon
// as the kernel timer fires (hrtimer precision plus timer slack), not at the
// next whole millisecond. Unlike nanosleep(2) it holds no thread and no P
// while waiting, which matters with GOMAXPROCS=1 (a generator pinned to one
// core): a thread asleep in a syscall keeps the only P until sysmon retakes
// it, stalling every other worker.
//
// A wait costs one syscall: it runs inside RawConn.Read, which resets the
// descriptor's readiness before calling arm, and arm sets the timer and
// returns false, so the goroutine parks without a speculative read; the
// expiry (always after the reset) wakes it through the edge-triggered
// netpoller, and the expiration count is never read (timerfd_settime
// clears it). A read-then-park sleep cost three syscalls, ~5µs of CPU per
// request in an open loop at 30k/s.
type preciseTimer struct {
	f     *os.File
	rc    syscall.RawConn
	fn    func(fd uintptr) bool // t.arm, bound once
	spec  [4]int64              // itimerspec{interval, value}
	armed bool
	err   bool
}

const (
	clockMonotonic = 1
	tfdNonblock    = syscall.O_NONBLOCK
	tfdCloexec     = syscall.O_CLOEXEC
)

func newPreciseTimer() *preciseTimer {
	fd, _, errno := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, tfdNonblock|tfdCloexec, 0)
	if errno != 0 {
		return nil // sleep falls back to time.Sleep
	}
	// A non-blocking descriptor makes os.NewFile register it with the netpoller.
	t := &preciseTimer{f: os.NewFile(fd, "timerfd")}
	rc, err := t.f.SyscallConn()
	if err != nil {
		t.f.Close()
		return nil
	}
	t.rc = rc
	t.fn = t.arm
	return t
}

// sleep waits for d. A nil timer falls back to the runtime's.
func (t *preciseTimer) sleep(d time.Duration) {
	if t == nil {
		time.Sleep(d)
		return
	}
	t.spec = [4]int64{0, 0, int64(d / time.Second), int64(d % time.Second)}
	if t.spec[2] == 0 && t.spec[3] == 0 {
		return
	}
	t.armed, t.err = false, false
	if err := t.rc.Read(t.fn); err != nil || t.err {
		time.Sleep(d) // closed, or timerfd_settime failed
	}
}

// arm is sleep's RawConn.Read callback: the first call sets the timer and
// asks to wait; the call after the wake-up ends the wait.
func (t *preciseTimer) arm(fd uintptr) bool {
	if t.armed {
		return true
	}
	t.armed = true
	_, _, errno := syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&t.spec)), 0, 0, 0)
	if errno != 0 {
		t.err = true
		return true
	}
	return false
}

func (t *preciseTimer) close() {
	if t != nil {
		t.f.Close()
	}
}

// idleTicker is a periodic timerfd registered with Go's netpoller, which
// one goroutine reads. At high open-loop rates the workers wait on runtime
// timers, which the scheduler runs at its next scheduling round, within
// microseconds while the process is busy, and which cost no system call; a
// timerfd per wait (preciseTimer) costs one, and its expiry is an I/O event,
// which a busy single P notices only when its run queue is empty. What
// runtime timers lack is precision when the process idles: the netpoller
// then sleeps whole milliseconds. Each expiry of the ticker wakes that
// sleep, after which the scheduler runs the timers that are due, so no wait
// oversleeps by much more than the ticker's period. (The kernel re-arms an
// interval timerfd only when it is read, hence the reader: one read per
// expiry.)
type idleTicker struct {
	f     *os.File
	done  chan struct{}
	ticks atomic.Int64 // expiries seen (tests)
}

func newIdleTicker(period time.Duration) *idleTicker {
	fd, _, errno := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, tfdNonblock|tfdCloexec, 0)
	if errno != 0 {
		return nil
	}
	// A non-blocking descriptor makes os.NewFile register it with the netpoller.
	t := &idleTicker{f: os.NewFile(fd, "timerfd"), done: make(chan struct{})}
	rc, err := t.f.SyscallConn()
	p := int64(period)
	spec := [4]int64{p / 1e9, p % 1e9, p / 1e9, p % 1e9} // interval, first expiry
	if err == nil {
		_, _, errno = syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
	}
	if err != nil || errno != 0 {
		t.f.Close()
		return nil
	}
	go func() {
		defer close(t.done)
		// The readiness is reset before the callback first runs, so every
		// expiry after it is seen; the callback reads (re-arming the timer)
		// and waits for the next one. Read returns when the file is closed.
		var n [8]byte
		_ = rc.Read(func(fd uintptr) bool {
			if k, _ := syscall.Read(int(fd), n[:]); k == 8 {
				t.ticks.Add(1)
			}
			return false
		})
	}()
	return t
}

func (t *idleTicker) close() {
	if t != nil {
		t.f.Close()
		<-t.done
	}
}
