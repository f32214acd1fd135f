package app

import (
	"context"
	"time"
)

// spinRounds sets how much arithmetic runs between two reads of the clock:
// about 2-5µs on current x86 and arm64 cores, so the reads (a system call
// for the thread clock, ~0.2-0.5µs) stay a small part of the burn and the
// overshoot stays in microseconds.
const spinRounds = 2048

// spin runs spinRounds rounds of xorshift64 on x, work the compiler cannot
// drop because the result feeds the next call.
func spin(x uint64) uint64 {
	for range spinRounds {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// burnWall spins until d of wall time has passed or ctx is done.
func burnWall(ctx context.Context, d time.Duration) {
	done := ctx.Done()
	x := uint64(d) | 1
	for start := time.Now(); time.Since(start) < d; {
		x = spin(x)
		select {
		case <-done:
			return
		default:
		}
	}
}
