package proc

import (
	"syscall"
	"unsafe"
)

func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Setpgid: true,
		// If smp dies without stopping its children (SIGKILL, a crash), the kernel sends
		// the direct child SIGTERM. The signal fires when the *thread* that forked exits;
		// the Go runtime does not retire threads unless a goroutine exits while locked to
		// one, which smp never does.
		Pdeathsig: syscall.SIGTERM,
	}
}

// waitExited blocks until pid has exited, leaving it a zombie (WNOWAIT): its pid, and so
// its process group id, stays reserved until cmd.Wait reaps it.
func waitExited(pid int) bool {
	const pPID = 1     // P_PID from <sys/wait.h>
	var info [128]byte // siginfo_t
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		if errno != syscall.EINTR {
			return errno == 0
		}
	}
}
