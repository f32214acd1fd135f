package certify

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/service-mesh-performance/smp/result"
)

// Every function here is pure: it takes the contents of a /proc or /sys file (nil when
// the file does not exist) and returns a check. Thresholds carry their reasons;
// docs/certify.md repeats them for users.

func check(name string, v result.Verdict, value, want, reason string) result.Check {
	return result.Check{Name: name, Verdict: v, Value: value, Want: want, Reason: reason}
}

func stable(c result.Check) result.Check { c.Stable = true; return c }

func trim(b []byte) string { return strings.TrimSpace(string(b)) }

// Governors checks the cpufreq scaling governor of every CPU (cpuN → contents of
// cpuN/cpufreq/scaling_governor). Anything but performance lets the frequency follow
// the load, so the same request costs more time at a light rate than at a heavy one and
// runs differ with what else the machine does. No cpufreq at all is usual in VMs, where
// the hypervisor decides: skip.
func Governors(govs map[string][]byte) result.Check {
	const name, want = "cpu.governor", "performance"
	if len(govs) == 0 {
		return stable(check(name, result.VerdictSkip, "none", want, "no cpufreq driver: the frequency is not scaled by this kernel (usual in a VM, where the hypervisor decides)"))
	}
	count := map[string]int{}
	for _, g := range govs {
		count[trim(g)]++
	}
	var names []string
	for g := range count {
		names = append(names, g)
	}
	sort.Strings(names)
	value := strings.Join(names, ",")
	if len(names) == 1 && names[0] == "performance" {
		return stable(check(name, result.VerdictPass, value, want, "every CPU runs at its highest frequency"))
	}
	return stable(check(name, result.VerdictWarn, value, want,
		"the frequency follows the load, so latency depends on the rate and on other work: set the performance governor (cpupower frequency-set -g performance)"))
}

// Turbo checks intel_pstate/no_turbo (1: turbo off) and cpufreq/boost (1: boost on).
// Turbo frequencies depend on temperature and on how many cores are busy, so the same
// run is faster on a cold, idle machine than on a warm, busy one.
func Turbo(noTurbo, boost []byte) result.Check {
	const name, want = "cpu.turbo", "off"
	switch {
	case noTurbo != nil && trim(noTurbo) == "1", boost != nil && trim(boost) == "0":
		return stable(check(name, result.VerdictPass, "off", want, "the frequency does not depend on temperature or on other cores"))
	case noTurbo != nil && trim(noTurbo) == "0", boost != nil && trim(boost) == "1":
		return stable(check(name, result.VerdictWarn, "on", want,
			"turbo frequencies depend on temperature and on how many cores are busy: turn it off (echo 1 > /sys/devices/system/cpu/intel_pstate/no_turbo, or 0 > cpufreq/boost)"))
	case noTurbo != nil || boost != nil:
		return stable(check(name, result.VerdictWarn, trim(noTurbo)+trim(boost), want, "unrecognised turbo setting"))
	}
	return stable(check(name, result.VerdictSkip, "unknown", want, "no intel_pstate or cpufreq boost control (usual in a VM)"))
}

// SMT checks /sys/devices/system/cpu/smt/active. Sibling hyper-threads share a core's
// execution units, so a load generator and a proxy on two siblings slow each other down
// by an amount that depends on what each is doing.
func SMT(active, control []byte) result.Check {
	const name, want = "cpu.smt", "inactive"
	switch {
	case active == nil:
		return stable(check(name, result.VerdictSkip, "unknown", want, "the kernel does not report SMT"))
	case trim(active) == "0":
		reason := "no two CPUs share a core"
		if c := trim(control); c != "" {
			reason += " (smt control: " + c + ")"
		}
		return stable(check(name, result.VerdictPass, "inactive", want, reason))
	}
	return stable(check(name, result.VerdictWarn, "active", want,
		"CPUs share cores: pin the load generator and the system under test to different cores (environment.cpus), or turn SMT off (echo off > /sys/devices/system/cpu/smt/control)"))
}

// cpuTimes are the aggregate "cpu" line of /proc/stat, in clock ticks.
type cpuTimes struct {
	user, nice, system, idle, iowait, irq, softirq, steal uint64
}

func (c cpuTimes) total() uint64 {
	return c.user + c.nice + c.system + c.idle + c.iowait + c.irq + c.softirq + c.steal
}

// ParseStat reads the aggregate cpu line of /proc/stat contents. guest and guest_nice
// are already inside user and nice, so they are not added again.
func ParseStat(stat []byte) (cpuTimes, error) {
	sc := bufio.NewScanner(bytes.NewReader(stat))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || f[0] != "cpu" {
			continue
		}
		var v [8]uint64
		for i := range v {
			if i+1 >= len(f) {
				break // older kernels have fewer columns
			}
			n, err := strconv.ParseUint(f[i+1], 10, 64)
			if err != nil {
				return cpuTimes{}, fmt.Errorf("/proc/stat: column %d of the cpu line: %w", i+1, err)
			}
			v[i] = n
		}
		return cpuTimes{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]}, nil
	}
	return cpuTimes{}, fmt.Errorf("/proc/stat: no aggregate cpu line")
}

// Steal and busy thresholds. Steal is time the hypervisor gave this VM's CPUs to another
// guest: every request waiting on it is slower by a random amount. At 1% the effect on a
// p99 is already visible over a mesh's added microseconds; at 5% it dominates them.
// Busy is the CPU time other processes used while certify sat idle: load that competes
// with the measurement for the same cores.
const (
	stealPass, stealWarn = 0.01, 0.05
	busyPass, busyWarn   = 0.10, 0.50
)

// Steal checks the share of CPU time stolen by the hypervisor between two readings of
// /proc/stat.
func Steal(before, after []byte) result.Check {
	const name = "cpu.steal"
	want := fmt.Sprintf("≤ %s", pct(stealPass))
	d, err := delta(before, after)
	if err != nil {
		return check(name, result.VerdictSkip, "", want, err.Error())
	}
	share := float64(d.steal) / float64(d.total())
	v, reason := result.VerdictPass, "the hypervisor gave these CPUs' time to nobody else"
	switch {
	case share > stealWarn:
		v, reason = result.VerdictFail, "other guests take this VM's CPU time: latency gets random stalls; use dedicated hosts or instances"
	case share > stealPass:
		v, reason = result.VerdictWarn, "other guests take some of this VM's CPU time: tails will move between runs"
	}
	return check(name, v, pct(share), want, reason)
}

// Busy checks the share of CPU time used while certify was idle: other tenants' work.
func Busy(before, after []byte) result.Check {
	const name = "cpu.busy"
	want := fmt.Sprintf("≤ %s", pct(busyPass))
	d, err := delta(before, after)
	if err != nil {
		return check(name, result.VerdictSkip, "", want, err.Error())
	}
	share := float64(d.user+d.nice+d.system+d.irq+d.softirq) / float64(d.total())
	v, reason := result.VerdictPass, "the CPUs were idle apart from smp"
	switch {
	case share > busyWarn:
		v, reason = result.VerdictFail, "other processes kept the CPUs busy: they compete with the measurement; run on a quiet machine"
	case share > busyPass:
		v, reason = result.VerdictWarn, "other processes used the CPUs: their load adds to and varies the figures"
	}
	return check(name, v, pct(share), want, reason)
}

func delta(before, after []byte) (cpuTimes, error) {
	a, err := ParseStat(before)
	if err != nil {
		return cpuTimes{}, err
	}
	b, err := ParseStat(after)
	if err != nil {
		return cpuTimes{}, err
	}
	if b.total() <= a.total() {
		return cpuTimes{}, fmt.Errorf("/proc/stat did not advance between the readings")
	}
	return cpuTimes{b.user - a.user, b.nice - a.nice, b.system - a.system, b.idle - a.idle,
		b.iowait - a.iowait, b.irq - a.irq, b.softirq - a.softirq, b.steal - a.steal}, nil
}

// LoadAverage checks the 1-minute load average of /proc/loadavg against the number of
// CPUs: above a quarter of a CPU per CPU, something else runs here; above one runnable
// task per CPU, tasks queue for CPUs and every figure includes their waits.
func LoadAverage(loadavg []byte, cpus int) result.Check {
	const name = "load.average"
	want := fmt.Sprintf("≤ %.2g (0.25 per CPU)", 0.25*float64(cpus))
	f := strings.Fields(string(loadavg))
	if len(f) < 1 || cpus <= 0 {
		return check(name, result.VerdictSkip, "", want, "no /proc/loadavg")
	}
	l, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return check(name, result.VerdictSkip, f[0], want, "unreadable /proc/loadavg")
	}
	per := l / float64(cpus)
	v, reason := result.VerdictPass, "the machine was quiet over the last minute"
	switch {
	case per > 1:
		v, reason = result.VerdictFail, fmt.Sprintf("%.1f runnable tasks per CPU over the last minute: tasks queue for CPUs; run when the machine is quiet", per)
	case per > 0.25:
		v, reason = result.VerdictWarn, "other work ran over the last minute and competes for CPUs"
	}
	return check(name, v, fmt.Sprintf("%.2f on %d CPUs", l, cpus), want, reason)
}

// Memory thresholds: below 512 MiB the page cache and the processes smp starts (proxies,
// the sample app, histograms of ~190 KB per worker and phase) risk reclaim and swapping
// mid-run; below 2 GiB or 20% a long run can get there.
const (
	memFail  = 512 << 20
	memWarn  = 2 << 30
	memShare = 0.20
)

// Memory checks MemAvailable (and MemTotal) of /proc/meminfo.
func Memory(meminfo []byte) result.Check {
	const name = "memory.available"
	want := "≥ 2GiB and ≥ 20%"
	avail, total := meminfoKB(meminfo, "MemAvailable:"), meminfoKB(meminfo, "MemTotal:")
	if avail < 0 || total <= 0 {
		return check(name, result.VerdictSkip, "", want, "no MemAvailable in /proc/meminfo (kernel older than 3.14)")
	}
	a := avail << 10
	share := float64(avail) / float64(total)
	value := fmt.Sprintf("%s (%s)", bytesText(a), pct(share))
	switch {
	case a < memFail:
		return check(name, result.VerdictFail, value, want, "so little memory is free that the run risks reclaim and swapping")
	case a < memWarn || share < memShare:
		return check(name, result.VerdictWarn, value, want, "memory is short: a long run may push the page cache out and slow I/O")
	}
	return check(name, result.VerdictPass, value, want, "plenty of memory is free")
}

func meminfoKB(meminfo []byte, key string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == key {
			if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				return n
			}
		}
	}
	return -1
}

// Clocksource checks the kernel's clocksource. Every request reads the clock several
// times; tsc is read in user space in nanoseconds. hpet and acpi_pm take a system call
// and microseconds per read, which inflates and blurs latency; kvm-clock is read in user
// space too but, on some hosts, falls back to system calls.
func Clocksource(current []byte) result.Check {
	const name, want = "clock.source", "tsc"
	if current == nil {
		return stable(check(name, result.VerdictSkip, "unknown", want, "the kernel does not report its clocksource"))
	}
	cs := trim(current)
	if cs == "tsc" {
		return stable(check(name, result.VerdictPass, cs, want, "the clock is read in user space, in nanoseconds"))
	}
	return stable(check(name, result.VerdictWarn, cs, want,
		"reading the clock costs more than with tsc and may vary: if tsc is in available_clocksource, select it (echo tsc > /sys/devices/system/clocksource/clocksource0/current_clocksource)"))
}

// File descriptor thresholds: every connection is a descriptor on each side, and
// keep-alive off adds sockets in TIME_WAIT on the client. 65536 covers any plan's
// connections; under 4096 a plan with a few thousand connections fails to connect.
const nofilePass, nofileFail = 65536, 4096

// NoFile checks RLIMIT_NOFILE (soft and hard). Go raises its own soft limit to the hard
// one, but the proxies and apps smp starts get the soft limit of the shell.
func NoFile(soft, hard uint64) result.Check {
	const name = "limits.nofile"
	want := fmt.Sprintf("≥ %d", nofilePass)
	value := fmt.Sprintf("%d (hard %d)", soft, hard)
	switch {
	case soft >= nofilePass:
		return stable(check(name, result.VerdictPass, value, want, "enough descriptors for any plan's connections"))
	case soft < nofileFail:
		return stable(check(name, result.VerdictFail, value, want, "plans with a few thousand connections will fail to open them: raise it (ulimit -n 65536)"))
	}
	return stable(check(name, result.VerdictWarn, value, want, "enough for most plans; raise it (ulimit -n 65536) for tens of thousands of connections"))
}

// Ephemeral port thresholds: with keep-alive off every request takes a port that stays
// in TIME_WAIT for 60s, so a range of n ports sustains about n/60 new connections per
// second to one destination. Linux's default, 32768–60999 (28232 ports), gives ~470/s.
const portsPass, portsFail = 28232, 10000

// PortRange checks /proc/sys/net/ipv4/ip_local_port_range.
func PortRange(r []byte) result.Check {
	const name = "net.port_range"
	want := fmt.Sprintf("≥ %d ports", portsPass)
	f := strings.Fields(string(r))
	if len(f) != 2 {
		return stable(check(name, result.VerdictSkip, trim(r), want, "no ip_local_port_range"))
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || hi < lo {
		return stable(check(name, result.VerdictSkip, trim(r), want, "unreadable ip_local_port_range"))
	}
	n := hi - lo + 1
	value := fmt.Sprintf("%d-%d (%d ports, ~%d new connections/s)", lo, hi, n, n/60)
	switch {
	case n >= portsPass:
		return stable(check(name, result.VerdictPass, value, want, "enough ports for keep-alive-off runs at hundreds of connections per second"))
	case n < portsFail:
		return stable(check(name, result.VerdictFail, value, want, "keep-alive-off runs will run out of ports: widen it (sysctl net.ipv4.ip_local_port_range=\"1024 65535\")"))
	}
	return stable(check(name, result.VerdictWarn, value, want, "narrower than Linux's default: keep-alive-off runs may run out of ports"))
}

// Accept-queue thresholds: a listener's queue holds at most somaxconn connections; when it
// overflows, SYNs are dropped and the client retries after 1s, which shows up as
// one-second latency spikes under bursts of new connections. 4096 is the default since
// Linux 5.4; 128, the old default, overflows at modest keep-alive-off rates.
const somaxPass, somaxFail = 4096, 512

// Somaxconn checks /proc/sys/net/core/somaxconn.
func Somaxconn(v []byte) result.Check {
	const name = "net.somaxconn"
	want := fmt.Sprintf("≥ %d", somaxPass)
	n, err := strconv.Atoi(trim(v))
	if err != nil {
		return stable(check(name, result.VerdictSkip, trim(v), want, "no somaxconn"))
	}
	value := strconv.Itoa(n)
	switch {
	case n >= somaxPass:
		return stable(check(name, result.VerdictPass, value, want, "accept queues are deep enough for bursts of connections"))
	case n < somaxFail:
		return stable(check(name, result.VerdictFail, value, want, "accept queues overflow under bursts of new connections (1s SYN retries): raise it (sysctl net.core.somaxconn=4096)"))
	}
	return stable(check(name, result.VerdictWarn, value, want, "bursts of new connections may overflow accept queues: raise it (sysctl net.core.somaxconn=4096)"))
}

func pct(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + "%" }

func bytesText(b int64) string {
	switch {
	case b >= 1<<30:
		return strconv.FormatFloat(float64(b)/(1<<30), 'f', 1, 64) + "GiB"
	case b >= 1<<20:
		return strconv.FormatFloat(float64(b)/(1<<20), 'f', 0, 64) + "MiB"
	}
	return strconv.FormatInt(b, 10) + "B"
}
