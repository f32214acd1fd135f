package local

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// cpuList parses a CPU list such as "0", "1-3" or "0,2-3".
func cpuList(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("CPU list %q: %q is not a number", s, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("CPU list %q: bad range %q", s, part)
			}
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	return out, nil
}

// formatCPUs prints CPUs as a list with ranges: [0 1 2 5] → "0-2,5".
func formatCPUs(cpus []int) string {
	var parts []string
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(cpus[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", cpus[i], cpus[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// splitCPUs decides the CPU sets of the load generator and the system under test. Given
// sets are used as they are; otherwise, with two or more CPUs available, the load
// generator gets the first quarter (at least one) and the system the rest, so neither
// steals the other's cycles. With one CPU both share it and the sets are empty.
func splitCPUs(loadgen, system string) (string, string, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return "", "", fmt.Errorf("read CPU affinity: %w", err)
	}
	var avail []int
	for c := 0; c < runtime.NumCPU()*4 && len(avail) < set.Count(); c++ {
		if set.IsSet(c) {
			avail = append(avail, c)
		}
	}
	for _, s := range []string{loadgen, system} {
		if s == "" {
			continue
		}
		cpus, err := cpuList(s)
		if err != nil {
			return "", "", err
		}
		for _, c := range cpus {
			if !set.IsSet(c) {
				return "", "", fmt.Errorf("CPU %d is not available to smp (available: %s)", c, formatCPUs(avail))
			}
		}
	}
	if loadgen != "" || system != "" || len(avail) < 2 {
		return loadgen, system, nil
	}
	n := max(1, len(avail)/4)
	return formatCPUs(avail[:n]), formatCPUs(avail[n:]), nil
}

// pinTree sets the CPU affinity of every thread of pid and of all its descendants. Threads
// and processes created later inherit it from their creator.
func pinTree(pid int, list string) error {
	if list == "" {
		return nil
	}
	cpus, err := cpuList(list)
	if err != nil {
		return err
	}
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	return walkTree(pid, func(tid int) error {
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("pin thread %d to CPUs %s: %w", tid, list, err)
		}
		return nil
	})
}

// walkTree calls fn for every thread of pid and of its descendants.
func walkTree(pid int, fn func(tid int) error) error {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(filepath.Base(t))
		if err != nil {
			continue
		}
		if err := fn(tid); err != nil {
			return err
		}
		kids, _ := os.ReadFile(filepath.Join(t, "children"))
		for _, k := range strings.Fields(string(kids)) {
			if child, err := strconv.Atoi(k); err == nil {
				if err := walkTree(child, fn); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
