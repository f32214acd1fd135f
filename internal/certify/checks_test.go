package certify

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/service-mesh-performance/smp/result"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// inspect runs the Inspector over a captured or constructed /proc and /sys.
func inspect(t *testing.T, dir string, soft, hard uint64) map[string]result.Check {
	t.Helper()
	in := Inspector{FS: os.DirFS(filepath.Join("testdata", dir)), Interval: time.Nanosecond, SecondStat: "proc/stat.after",
		NoFile: func() (uint64, uint64, error) { return soft, hard, nil }}
	checks, err := in.Checks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]result.Check{}
	for _, c := range checks {
		if _, dup := out[c.Name]; dup {
			t.Errorf("check %s twice", c.Name)
		}
		if c.Reason == "" {
			t.Errorf("check %s has no reason", c.Name)
		}
		out[c.Name] = c
	}
	return out
}

// TestChecksOnMachines reads each testdata machine and compares every check's verdict
// and value: the parsing of every file and the thresholds in one table.
func TestChecksOnMachines(t *testing.T) {
	type want struct {
		verdict result.Verdict
		value   string // substring
	}
	tests := []struct {
		dir        string
		soft, hard uint64
		want       map[string]want
	}{
		{"vm-kvm-2cpu", 20000, 20000, map[string]want{
			"cpu.governor":     {result.VerdictSkip, "none"},
			"cpu.turbo":        {result.VerdictSkip, "unknown"},
			"cpu.smt":          {result.VerdictPass, "inactive"},
			"cpu.steal":        {result.VerdictPass, "0.5%"},  // 1 of 200 ticks
			"cpu.busy":         {result.VerdictFail, "99.5%"}, // other tenants' builds, idle did not move
			"load.average":     {result.VerdictFail, "12.47 on 2 CPUs"},
			"memory.available": {result.VerdictPass, "22.3GiB (94.7%)"},
			"clock.source":     {result.VerdictPass, "tsc"},
			"limits.nofile":    {result.VerdictWarn, "20000 (hard 20000)"},
			"net.port_range":   {result.VerdictPass, "32768-60999 (28232 ports, ~470"},
			"net.somaxconn":    {result.VerdictPass, "4096"},
		}},
		{"laptop-intel", 1024, 524288, map[string]want{
			"cpu.governor":     {result.VerdictWarn, "powersave"},
			"cpu.turbo":        {result.VerdictWarn, "on"},
			"cpu.smt":          {result.VerdictWarn, "active"},
			"cpu.steal":        {result.VerdictPass, "0.0%"},
			"cpu.busy":         {result.VerdictPass, "7.2%"}, // 29 busy of 402 ticks
			"load.average":     {result.VerdictPass, "0.52 on 4 CPUs"},
			"memory.available": {result.VerdictWarn, "1.3GiB (17.5%)"},
			"clock.source":     {result.VerdictPass, "tsc"},
			"limits.nofile":    {result.VerdictFail, "1024 (hard 524288)"},
			"net.port_range":   {result.VerdictPass, "28232 ports"},
			"net.somaxconn":    {result.VerdictFail, "128"},
		}},
		{"server-tuned", 1048576, 1048576, map[string]want{
			"cpu.governor":     {result.VerdictPass, "performance"},
			"cpu.turbo":        {result.VerdictPass, "off"},
			"cpu.smt":          {result.VerdictPass, "inactive"},
			"cpu.steal":        {result.VerdictPass, "0.0%"},
			"cpu.busy":         {result.VerdictPass, "0.4%"},
			"load.average":     {result.VerdictPass, "0.08 on 8 CPUs"},
			"memory.available": {result.VerdictPass, "60.1GiB"},
			"clock.source":     {result.VerdictPass, "tsc"},
			"limits.nofile":    {result.VerdictPass, "1048576"},
			"net.port_range":   {result.VerdictPass, "64512 ports"},
			"net.somaxconn":    {result.VerdictPass, "65535"},
		}},
		{"cloud-steal", 4096, 4096, map[string]want{
			"cpu.governor":     {result.VerdictWarn, "ondemand,performance"},
			"cpu.turbo":        {result.VerdictWarn, "on"},
			"cpu.smt":          {result.VerdictSkip, "unknown"},
			"cpu.steal":        {result.VerdictFail, "26.3%"}, // 50 of 190 ticks
			"cpu.busy":         {result.VerdictWarn, "42.1%"}, // 80 of 190
			"load.average":     {result.VerdictFail, "3.90 on 2 CPUs"},
			"memory.available": {result.VerdictFail, "294MiB"},
			"clock.source":     {result.VerdictWarn, "hpet"},
			"limits.nofile":    {result.VerdictWarn, "4096"},
			"net.port_range":   {result.VerdictFail, "1001 ports"},
			"net.somaxconn":    {result.VerdictWarn, "1024"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.dir, func(t *testing.T) {
			got := inspect(t, tc.dir, tc.soft, tc.hard)
			if len(got) != len(tc.want) {
				t.Errorf("%d checks, want %d", len(got), len(tc.want))
			}
			for name, w := range tc.want {
				c, ok := got[name]
				if !ok {
					t.Errorf("no check %s", name)
					continue
				}
				if c.Verdict != w.verdict || !strings.Contains(c.Value, w.value) {
					t.Errorf("%s = %s %q, want %s containing %q (%s)", name, c.Verdict, c.Value, w.verdict, w.value, c.Reason)
				}
			}
		})
	}
}

func TestCheckEdges(t *testing.T) {
	tests := []struct {
		name string
		c    result.Check
		want result.Verdict
	}{
		{"boost off", Turbo(nil, []byte("0\n")), result.VerdictPass},
		{"no_turbo garbage", Turbo([]byte("x"), nil), result.VerdictWarn},
		{"smt absent", SMT(nil, nil), result.VerdictSkip},
		{"steal without a second reading", Steal([]byte("cpu  1 2 3 4 5 6 7 8 0 0\n"), nil), result.VerdictSkip},
		{"stat did not move", Busy([]byte("cpu  1 2 3 4 5 6 7 8\n"), []byte("cpu  1 2 3 4 5 6 7 8\n")), result.VerdictSkip},
		{"old kernel stat (no steal column)", Steal([]byte("cpu  10 0 10 80\n"), []byte("cpu  20 0 20 160\n")), result.VerdictPass},
		{"bad stat", Busy([]byte("cpu  a b c d\n"), []byte("cpu  1 2 3 4\n")), result.VerdictSkip},
		{"no meminfo", Memory(nil), result.VerdictSkip},
		{"old meminfo", Memory([]byte("MemTotal: 1000 kB\nMemFree: 10 kB\n")), result.VerdictSkip},
		{"no clocksource", Clocksource(nil), result.VerdictSkip},
		{"kvm-clock", Clocksource([]byte("kvm-clock\n")), result.VerdictWarn},
		{"bad port range", PortRange([]byte("60999 32768")), result.VerdictSkip},
		{"mid port range", PortRange([]byte("40000 60000")), result.VerdictWarn},
		{"no somaxconn", Somaxconn(nil), result.VerdictSkip},
		{"load without cpus", LoadAverage([]byte("1.0 1.0 1.0 1/1 1"), 0), result.VerdictSkip},
		{"bad load", LoadAverage([]byte("x"), 2), result.VerdictSkip},
		{"warm load", LoadAverage([]byte("1.00 1 1 1/1 1"), 2), result.VerdictWarn},
		{"plenty of descriptors", NoFile(65536, 65536), result.VerdictPass},
	}
	for _, tc := range tests {
		if tc.c.Verdict != tc.want {
			t.Errorf("%s: %s (%s %q), want %s", tc.name, tc.c.Verdict, tc.c.Name, tc.c.Value, tc.want)
		}
	}
}

// TestStableChecks: only settings, never transient state, feed the environment hash.
func TestStableChecks(t *testing.T) {
	for name, c := range inspect(t, "server-tuned", 65536, 65536) {
		transient := name == "cpu.steal" || name == "cpu.busy" || name == "load.average" || name == "memory.available"
		if c.Stable == transient {
			t.Errorf("%s: stable %v", name, c.Stable)
		}
	}
}

func TestInspectorHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Inspector{FS: os.DirFS("testdata/server-tuned"), Interval: time.Hour}.Checks(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
}

func TestCPUList(t *testing.T) {
	for in, want := range map[string]int{"0-3\n": 4, "0": 1, "0-1,4,6-7": 5, "": 0, "a-b": 0, "3-1": 0} {
		if got := cpuList([]byte(in)); got != want {
			t.Errorf("cpuList(%q) = %d, want %d", in, got, want)
		}
	}
}
