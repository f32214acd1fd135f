package certify

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/service-mesh-performance/smp/result"
)

// Inspector reads a machine's /proc and /sys and turns them into checks. The zero value
// reads this machine.
type Inspector struct {
	// FS is the file system rooted at "/". Default os.DirFS("/"); tests give testdata.
	FS fs.FS
	// Interval between the two readings of /proc/stat for steal and busy time. Default 1s.
	Interval time.Duration
	// SecondStat is the file read for the second reading. Default "proc/stat"; captured
	// testdata keeps it in "proc/stat.after".
	SecondStat string
	// NoFile returns RLIMIT_NOFILE. Default: getrlimit of this process (see noFile).
	NoFile func() (soft, hard uint64, err error)
}

const defaultInterval = time.Second

// Checks reads everything and returns one check per property, in a fixed order. It
// waits Interval between the /proc/stat readings (returning early with ctx's error) and
// fails only when ctx ends; an unreadable file makes its check "skip".
func (in Inspector) Checks(ctx context.Context) ([]result.Check, error) {
	fsys := in.FS
	if fsys == nil {
		fsys = os.DirFS("/")
	}
	interval := in.Interval
	if interval == 0 {
		interval = defaultInterval
	}
	second := in.SecondStat
	if second == "" {
		second = "proc/stat"
	}
	read := func(name string) []byte {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil
		}
		return b
	}
	before := read("proc/stat")
	t := time.NewTimer(interval)
	select {
	case <-ctx.Done():
		t.Stop()
		return nil, fmt.Errorf("certify: inspect the machine: %w", ctx.Err())
	case <-t.C:
	}
	after := read(second)

	govs := map[string][]byte{}
	if files, err := fs.Glob(fsys, "sys/devices/system/cpu/cpu*/cpufreq/scaling_governor"); err == nil {
		for _, f := range files {
			if b := read(f); b != nil {
				govs[path.Base(path.Dir(path.Dir(f)))] = b
			}
		}
	}
	cpus := cpuList(read("sys/devices/system/cpu/online"))
	if cpus == 0 {
		cpus = runtime.NumCPU()
	}
	nofile := in.NoFile
	if nofile == nil {
		nofile = noFile
	}
	checks := []result.Check{
		Governors(govs),
		Turbo(read("sys/devices/system/cpu/intel_pstate/no_turbo"), read("sys/devices/system/cpu/cpufreq/boost")),
		SMT(read("sys/devices/system/cpu/smt/active"), read("sys/devices/system/cpu/smt/control")),
		Steal(before, after),
		Busy(before, after),
		LoadAverage(read("proc/loadavg"), cpus),
		Memory(read("proc/meminfo")),
		Clocksource(read("sys/devices/system/clocksource/clocksource0/current_clocksource")),
	}
	if soft, hard, err := nofile(); err != nil {
		checks = append(checks, check("limits.nofile", result.VerdictSkip, "", "", "getrlimit: "+err.Error()))
	} else {
		checks = append(checks, NoFile(soft, hard))
	}
	checks = append(checks,
		PortRange(read("proc/sys/net/ipv4/ip_local_port_range")),
		Somaxconn(read("proc/sys/net/core/somaxconn")))
	return checks, nil
}

// noFile reads this process's RLIMIT_NOFILE. Go raises a program's soft limit to its
// hard limit at start-up, so for smp (the load generator) the soft limit read here is
// the hard one: the most any process started from this shell can get.
func noFile() (soft, hard uint64, err error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, 0, err
	}
	return r.Cur, r.Max, nil
}

// cpuList counts the CPUs of a kernel CPU list such as "0-3,6" (0 when unreadable).
func cpuList(b []byte) int {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return 0
	}
	n := 0
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return 0
		}
		if !isRange {
			n++
			continue
		}
		b, err := strconv.Atoi(hi)
		if err != nil || b < a {
			return 0
		}
		n += b - a + 1
	}
	return n
}
