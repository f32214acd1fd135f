//go:build !linux

package app

import (
	"context"
	"time"
)

// burnCPU spins until d of wall time has passed, or ctx is done. Without a
// per-thread CPU clock (Linux only here) a preempted request burns less
// than d of CPU.
func burnCPU(ctx context.Context, d time.Duration) {
	if d > 0 {
		burnWall(ctx, d)
	}
}
