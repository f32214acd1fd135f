package app

import (
	"context"
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

// clockThreadCPUTime is CLOCK_THREAD_CPUTIME_ID from <linux/time.h>: the CPU
// time consumed by the calling thread, user and system.
const clockThreadCPUTime = 3

// burnCPU keeps the calling goroutine's thread busy until it has consumed d
// of CPU time, or ctx is done. The goroutine is locked to its thread so the
// thread's clock is the goroutine's: if it is preempted, the clock stops
// with it, and the loop resumes where it was. Reading the clock is a system
// call, so the loop reads it rarely: each round spins for about half of
// what remains (at most maxBurnSlice), from the measured CPU cost of one
// spin, so a burn takes a dozen reads and overshoots by about one spin
// (a few µs). It falls back to the wall clock if the thread clock cannot
// be read.
func burnCPU(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ts syscall.Timespec
	read := func() (time.Duration, bool) {
		_, _, errno := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0)
		return time.Duration(ts.Nano()), errno == 0
	}
	start, ok := read()
	if !ok {
		burnWall(ctx, d)
		return
	}
	done := ctx.Done()
	end := start + d
	x := uint64(start) | 1
	last, spins := start, 1
	for {
		for range spins {
			x = spin(x)
		}
		now, _ := read()
		if now >= end {
			return
		}
		select {
		case <-done:
			return
		default:
		}
		if per := (now - last) / time.Duration(spins); per > 0 {
			spins = max(1, int(min((end-now)/2, maxBurnSlice)/per))
		}
		last = now
	}
}

// maxBurnSlice bounds how long a burn spins without looking at ctx.
const maxBurnSlice = time.Millisecond
