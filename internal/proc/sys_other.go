//go:build unix && !linux

package proc

import "syscall"

func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// waitExited reports false: there is no portable non-reaping wait here, so the group is
// signalled after the leader is reaped, which leaves a tiny window for pid reuse.
func waitExited(int) bool { return false }
