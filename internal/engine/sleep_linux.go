package engine

import (
	"os"
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

// preciseTimer is a Linux timerfd registered with Go's netpoller. Reading it
// parks the goroutine like any network read, and epoll wakes as soon as the
// kernel timer fires (hrtimer precision plus timer slack), not at the next
// whole millisecond. Unlike nanosleep(2) it holds no thread and no P while
// waiting, which matters with GOMAXPROCS=1 (a generator pinned to one core):
// a thread asleep in a syscall keeps the only P until sysmon retakes it,
// stalling every other worker.
type preciseTimer struct {
	f   *os.File
	fd  uintptr
	buf [8]byte
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
	return &preciseTimer{f: os.NewFile(fd, "timerfd"), fd: fd}
}

// sleep waits for d. A nil timer falls back to the runtime's.
func (t *preciseTimer) sleep(d time.Duration) {
	if t == nil {
		time.Sleep(d)
		return
	}
	spec := [4]int64{0, 0, int64(d / time.Second), int64(d % time.Second)} // itimerspec{interval, value}
	if spec[2] == 0 && spec[3] == 0 {
		return
	}
	_, _, errno := syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, t.fd, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
	if errno != 0 {
		time.Sleep(d)
		return
	}
	_, _ = t.f.Read(t.buf[:]) // returns the expiry count; an error only when closed
}

func (t *preciseTimer) close() {
	if t != nil {
		t.f.Close()
	}
}
