//go:build !linux

package engine

import "time"

// coarseSlack: see sleep_linux.go. Elsewhere the runtime timer is all we
// have, so it is used for the whole wait.
const coarseSlack = 0

type preciseTimer struct{}

func newPreciseTimer() *preciseTimer        { return nil }
func (*preciseTimer) sleep(d time.Duration) { time.Sleep(d) }
func (*preciseTimer) close()                {}

// idleTicker: see sleep_linux.go; elsewhere runtime timers wait alone.
type idleTicker struct{}

func newIdleTicker(time.Duration) *idleTicker { return nil }
func (*idleTicker) close()                    {}
