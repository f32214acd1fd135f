package engine

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// sampleSelf reads the process's CPU time and the summed run delay of its
// threads (/proc/self/task/*/schedstat, second field, in ns).
func (r *run) sampleSelf() selfUsage {
	u := selfUsage{at: r.since(), runDelay: -1}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return u
	}
	var sum int64
	threads := make(map[int]time.Duration, len(tasks))
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread exited meanwhile
		}
		// Time on the CPU and time runnable but waiting for one, in ns.
		f := bytes.Fields(b)
		if len(f) < 2 {
			return u
		}
		ran, err1 := strconv.ParseInt(string(f[0]), 10, 64)
		waited, err2 := strconv.ParseInt(string(f[1]), 10, 64)
		if err1 != nil || err2 != nil {
			return u
		}
		sum += waited
		threads[tid] = time.Duration(ran + waited)
	}
	u.runDelay, u.threads = time.Duration(sum), threads
	return u
}
