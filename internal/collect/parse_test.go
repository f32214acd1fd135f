package collect

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		file string
		want procStat
	}{
		{"stat-weird-comm.txt", procStat{PID: 30433, Comm: "my (weird) proc", State: 'S', PPID: 1,
			StartTime: 1025135, RSSPages: 387}},
		{"stat-evil-comm.txt", procStat{PID: 30783, Comm: "x) R 99 (y", State: 'S', PPID: 30780,
			StartTime: 1026768, RSSPages: 414}},
		{"stat-busy.txt", procStat{PID: 30869, Comm: "cat", State: 'R', PPID: 30866,
			UTime: 174, STime: 25, CUTime: 20, CSTime: 4, StartTime: 1027120, RSSPages: 358}},
		{"stat-zombie.txt", procStat{PID: 30789, Comm: "sleep", State: 'Z', PPID: 30787,
			StartTime: 1026779}},
		{"stat-kthread.txt", procStat{PID: 2, Comm: "kthreadd", State: 'S', StartTime: 14}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := parseStat(readTestdata(t, tt.file))
			if err != nil {
				t.Fatalf("parseStat: %v", err)
			}
			if got != tt.want {
				t.Errorf("parseStat:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if got := (procStat{UTime: 1, STime: 2, CUTime: 3, CSTime: 4}).CPUTicks(); got != 10 {
		t.Errorf("CPUTicks = %d, want 10", got)
	}
}

func TestParseStatErrors(t *testing.T) {
	full := string(readTestdata(t, "stat-busy.txt"))
	tests := []struct{ name, in, wantErr string }{
		{"empty", "", "no (comm)"},
		{"no closing paren", "12 (cat R 1 2", "no (comm)"},
		{"bad pid", "x (cat) R " + strings.Repeat("1 ", 30), "pid"},
		{"too few fields", "12 (cat) R 1 2 3", "fields after comm"},
		{"long state", strings.Replace(full, ") R ", ") RR ", 1), "state"},
		{"negative utime", strings.Replace(full, " 174 25 ", " -174 25 ", 1), "field 14"},
		{"text ppid", strings.Replace(full, ") R 30866", ") R abc", 1), "field 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseStat([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseStat(%q) error = %v, want one mentioning %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestParseStatusRSS(t *testing.T) {
	tests := []struct {
		file string
		want int64
	}{
		{"status-sleep.txt", 1656 * 1024},
		{"status-zombie.txt", 0}, // no VmRSS line
	}
	for _, tt := range tests {
		got, err := parseStatusRSS(readTestdata(t, tt.file))
		if err != nil || got != tt.want {
			t.Errorf("parseStatusRSS(%s) = %d, %v; want %d", tt.file, got, err, tt.want)
		}
	}
	if _, err := parseStatusRSS([]byte("Name:\tx\nVmRSS:\t12 MB\n")); err == nil {
		t.Error("parseStatusRSS accepted a size in MB; the kernel writes kB")
	}
	if _, err := parseStatusRSS([]byte("VmRSS:\t-3 kB\n")); err == nil {
		t.Error("parseStatusRSS accepted a negative size")
	}
}

func TestParseSmapsRollupPSS(t *testing.T) {
	got, err := parseSmapsRollupPSS(readTestdata(t, "smaps_rollup-sleep.txt"))
	if err != nil || got != 225*1024 {
		t.Errorf("parseSmapsRollupPSS = %d, %v; want %d", got, err, 225*1024)
	}
	// Pss_Anon and friends must not be mistaken for Pss.
	got, err = parseSmapsRollupPSS([]byte("Rss: 8 kB\nPss_Anon: 4 kB\nPss: 6 kB\n"))
	if err != nil || got != 6*1024 {
		t.Errorf("parseSmapsRollupPSS with Pss_Anon first = %d, %v; want %d", got, err, 6*1024)
	}
	if _, err := parseSmapsRollupPSS([]byte("Rss: 8 kB\n")); err == nil {
		t.Error("parseSmapsRollupPSS without a Pss line did not fail")
	}
}

func TestParseAuxvClkTck(t *testing.T) {
	data := readTestdata(t, "auxv-linux-amd64.bin")
	if v, ok := parseAuxvClkTck(data, 8, binary.LittleEndian); !ok || v != 100 {
		t.Errorf("parseAuxvClkTck(captured amd64 auxv) = %d, %v; want 100, true", v, ok)
	}
	// A 32-bit vector with AT_CLKTCK = 1024 (Alpha's USER_HZ).
	v32 := binary.BigEndian.AppendUint32(nil, 6)
	v32 = binary.BigEndian.AppendUint32(v32, 4096)
	v32 = binary.BigEndian.AppendUint32(v32, atClkTck)
	v32 = binary.BigEndian.AppendUint32(v32, 1024)
	if v, ok := parseAuxvClkTck(v32, 4, binary.BigEndian); !ok || v != 1024 {
		t.Errorf("parseAuxvClkTck(32-bit) = %d, %v; want 1024, true", v, ok)
	}
	// AT_NULL ends the vector before a (bogus) AT_CLKTCK.
	end := binary.LittleEndian.AppendUint64(nil, 0)
	end = binary.LittleEndian.AppendUint64(end, 0)
	end = binary.LittleEndian.AppendUint64(end, atClkTck)
	end = binary.LittleEndian.AppendUint64(end, 100)
	for name, in := range map[string][]byte{"after AT_NULL": end, "truncated": data[:70], "empty": nil} {
		if v, ok := parseAuxvClkTck(in, 8, binary.LittleEndian); ok {
			t.Errorf("parseAuxvClkTck(%s) = %d, true; want not found", name, v)
		}
	}
}

// FuzzParseStat checks that no input panics the parser, and that any command name, as
// the kernel may report it, comes back intact with the fields after it.
func FuzzParseStat(f *testing.F) {
	for _, name := range []string{"stat-weird-comm.txt", "stat-evil-comm.txt", "stat-zombie.txt"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data), "my (weird) proc")
	}
	const tail = " S 1 2 3 0 -1 4194304 125 0 0 0 7 8 9 10 20 0 1 0 1025135 2990080 387 18446744073709551615 0 0\n"
	f.Fuzz(func(t *testing.T, line, comm string) {
		_, _ = parseStat([]byte(line))
		if strings.ContainsAny(comm, "\n\x00") {
			return
		}
		got, err := parseStat([]byte("42 (" + comm + ")" + tail))
		if err != nil {
			t.Fatalf("comm %q: %v", comm, err)
		}
		if got.Comm != comm || got.PID != 42 || got.PPID != 1 || got.UTime != 7 || got.CSTime != 10 || got.RSSPages != 387 {
			t.Fatalf("comm %q: got %+v", comm, got)
		}
	})
}
