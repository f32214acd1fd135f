//go:build !linux

package engine

// h2Poller exists on Linux only (h2poll_linux.go); elsewhere every link
// reads in a goroutine of its own.
type h2Poller struct{}

func newH2Pollers(*h2Factory, int, int) []*h2Poller { return nil }
func (*h2Poller) add(*h2Link) bool                  { return false }
func (*h2Poller) closedLater(*h2Link)               {}
func (*h2Poller) shutdown()                         {}
