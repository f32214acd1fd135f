//go:build linux

package app

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// processCPU is the CPU time (user + system) this process has used.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestCPUTimeIsBurnt(t *testing.T) {
	const (
		cpu = 20 * time.Millisecond
		n   = 10
	)
	a := start(t, Config{Name: "svc-1", HTTPAddr: "127.0.0.1:0", CPUTime: cpu})
	c := newClient(t, HTTP1)
	c.do(t, a, "/") // connect first, outside the measurement
	before := processCPU(t)
	for range n {
		if r := c.do(t, a, "/"); !r.ok {
			t.Fatalf("reply %s", r.code)
		}
	}
	used := processCPU(t) - before
	// Lower bound: each request burns cpu on its thread's clock, so the
	// process cannot have used less (rusage ticks are exact on Linux, but
	// allow 5% for accounting granularity). Upper bound: everything else
	// a loopback request costs is far below cpu.
	want := n * cpu
	if used < want*95/100 {
		t.Errorf("%d requests with cpu_time %v used %v of CPU, want at least %v", n, cpu, used, want)
	}
	if used > 2*want+100*time.Millisecond {
		t.Errorf("%d requests with cpu_time %v used %v of CPU, more than twice %v", n, cpu, used, want)
	}
}

func TestBurnCPUStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	begin := time.Now()
	burnCPU(ctx, time.Minute)
	if took := time.Since(begin); took > time.Second {
		t.Errorf("a cancelled burn of 1m took %v", took)
	}
}
