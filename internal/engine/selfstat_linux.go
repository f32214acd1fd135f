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
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread exited meanwhile
		}
		f := bytes.Fields(b)
		if len(f) < 2 {
			return u
		}
		n, err := strconv.ParseInt(string(f[1]), 10, 64)
		if err != nil {
			return u
		}
		sum += n
	}
	u.runDelay = time.Duration(sum)
	return u
}
