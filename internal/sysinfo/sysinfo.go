// Package sysinfo describes the machine smp runs on: CPU model and count, memory, kernel,
// and the settings that make benchmark numbers comparable. It reads /proc and uname and
// imports only the standard library and x/sys/unix.
package sysinfo

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Host is what was found.
type Host struct {
	Hostname    string
	OS, Arch    string
	Kernel      string
	CPUModel    string
	Cores       int // logical CPUs this process may run on
	MemoryBytes int64
	GoVersion   string
}

// Read describes this machine. Fields it cannot read are left empty.
func Read() Host {
	h := Host{OS: runtime.GOOS, Arch: runtime.GOARCH, Cores: runtime.NumCPU(), GoVersion: runtime.Version()}
	h.Hostname, _ = os.Hostname()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		h.CPUModel = CPUModel(b)
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		h.MemoryBytes = MemTotal(b)
	}
	return h
}

// CPUModel returns the first "model name" of /proc/cpuinfo contents.
func CPUModel(cpuinfo []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

// MemTotal returns MemTotal of /proc/meminfo contents in bytes.
func MemTotal(meminfo []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}
