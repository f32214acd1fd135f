package sysinfo

import (
	"os"
	"runtime"
	"testing"
)

func TestParsers(t *testing.T) {
	cpuinfo := []byte("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R)   CPU @ 2.20GHz\n\nprocessor\t: 1\nmodel name\t: other\n")
	if got := CPUModel(cpuinfo); got != "Intel(R) Xeon(R) CPU @ 2.20GHz" {
		t.Errorf("CPUModel = %q", got)
	}
	if got := CPUModel([]byte("processor: 0\n")); got != "" {
		t.Errorf("CPUModel without a model = %q", got)
	}
	meminfo := []byte("MemTotal:       24567808 kB\nMemFree:         1234 kB\n")
	if got := MemTotal(meminfo); got != 24567808*1024 {
		t.Errorf("MemTotal = %d", got)
	}
	if got := MemTotal([]byte("MemFree: 1 kB\n")); got != 0 {
		t.Errorf("MemTotal without the line = %d", got)
	}
}

func TestReadThisMachine(t *testing.T) {
	h := Read()
	if h.Cores != runtime.NumCPU() || h.OS != runtime.GOOS || h.GoVersion != runtime.Version() {
		t.Errorf("Read() = %+v", h)
	}
	if _, err := os.Stat("/proc/meminfo"); err == nil && h.MemoryBytes <= 0 {
		t.Errorf("memory not read: %+v", h)
	}
	if runtime.GOOS == "linux" && h.Kernel == "" {
		t.Errorf("kernel not read: %+v", h)
	}
}
