package collect

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// procStat is what the procfs collector uses from one /proc/<pid>/stat line (proc(5)).
type procStat struct {
	PID   int
	Comm  string
	State byte
	PPID  int
	// UTime, STime, CUTime and CSTime are fields 14–17, in clock ticks (CLK_TCK). They
	// cover every thread of the process, live or gone; CUTime and CSTime add the
	// children the process has waited for (each with its own waited-for children).
	UTime, STime, CUTime, CSTime uint64
	// StartTime is field 22: when the process started, in clock ticks since boot. With
	// the PID it identifies a process across PID reuse.
	StartTime uint64
	// RSSPages is field 24, resident pages (the same counter as status VmRSS).
	RSSPages int64
}

// CPUTicks is the process's CPU time plus that of its waited-for children.
func (s procStat) CPUTicks() uint64 { return s.UTime + s.STime + s.CUTime + s.CSTime }

// parseStat parses the content of /proc/<pid>/stat.
//
// Edge cases: the command name (field 2) is in parentheses and may itself hold spaces,
// parentheses and digits ("(my (weird) proc)", "(x) R 99 (y)"), so the fields after it
// are found from the last ')' in the line, which the kernel guarantees is the closing one
// (everything after it is numbers and a state letter). Lines from older kernels with
// fewer fields than 24 are an error; extra trailing fields are ignored.
func parseStat(data []byte) (procStat, error) {
	var s procStat
	data = bytes.TrimRight(data, "\n")
	open := bytes.IndexByte(data, '(')
	closing := bytes.LastIndexByte(data, ')')
	if open < 0 || closing < open {
		return s, errors.New("stat: no (comm) field")
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(data[:open])))
	if err != nil {
		return s, fmt.Errorf("stat: pid: %w", err)
	}
	s.PID, s.Comm = pid, string(data[open+1:closing])
	// rest[0] is field 3 (state), rest[i] is field i+3.
	rest := bytes.Fields(data[closing+1:])
	if len(rest) < 22 {
		return s, fmt.Errorf("stat: %d fields after comm, want at least 22", len(rest))
	}
	if len(rest[0]) != 1 {
		return s, fmt.Errorf("stat: state %q is not one letter", rest[0])
	}
	s.State = rest[0][0]
	field := func(n int) []byte { return rest[n-3] }
	if s.PPID, err = strconv.Atoi(string(field(4))); err != nil {
		return s, fmt.Errorf("stat: field 4: %w", err)
	}
	uints := []struct {
		n   int
		dst *uint64
	}{{14, &s.UTime}, {15, &s.STime}, {16, &s.CUTime}, {17, &s.CSTime}, {22, &s.StartTime}}
	for _, f := range uints {
		// cutime and cstime are printed as signed longs; they are never negative.
		v, err := strconv.ParseInt(string(field(f.n)), 10, 64)
		if err != nil || v < 0 {
			return s, fmt.Errorf("stat: field %d: %q is not a tick count", f.n, field(f.n))
		}
		*f.dst = uint64(v)
	}
	if s.RSSPages, err = strconv.ParseInt(string(field(24)), 10, 64); err != nil {
		return s, fmt.Errorf("stat: field 24: %w", err)
	}
	return s, nil
}

// kiBField finds "<name>: <n> kB" in a /proc key-value file (status, smaps_rollup) and
// returns n·1024 bytes. found is false when the key is absent, which is normal: a zombie
// or a kernel thread has no VmRSS line.
func kiBField(data []byte, name string) (n int64, found bool, err error) {
	for line := range linesOf(data) {
		key, val, ok := cutColon(line)
		if !ok || key != name {
			continue
		}
		f := splitFields(val)
		if len(f) != 2 || f[1] != "kB" {
			return 0, true, fmt.Errorf("%s: %q is not \"<n> kB\"", name, val)
		}
		kib, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kib < 0 {
			return 0, true, fmt.Errorf("%s: %q is not a size", name, f[0])
		}
		return kib * 1024, true, nil
	}
	return 0, false, nil
}

// parseStatusRSS returns VmRSS from /proc/<pid>/status in bytes; a process without
// memory (zombie, kernel thread) has no VmRSS line and counts as 0.
func parseStatusRSS(data []byte) (int64, error) {
	v, _, err := kiBField(data, "VmRSS")
	return v, err
}

// parseSmapsRollupPSS returns Pss from /proc/<pid>/smaps_rollup in bytes. Unlike VmRSS,
// a missing line is an error: smaps_rollup always has one when it can be read at all.
func parseSmapsRollupPSS(data []byte) (int64, error) {
	v, found, err := kiBField(data, "Pss")
	if err == nil && !found {
		return 0, errors.New("smaps_rollup: no Pss line")
	}
	return v, err
}

// atClkTck is the auxiliary-vector key of the clock tick rate (AT_CLKTCK, elf.h).
const atClkTck = 17

// parseAuxvClkTck finds AT_CLKTCK in the content of /proc/self/auxv: key/value pairs of
// words of wordSize bytes (8 on 64-bit, 4 on 32-bit) in the machine's byte order, ended
// by AT_NULL. This is where the C library's sysconf(_SC_CLK_TCK) gets the value.
func parseAuxvClkTck(data []byte, wordSize int, order binary.ByteOrder) (int64, bool) {
	word := func(b []byte) uint64 {
		if wordSize == 4 {
			return uint64(order.Uint32(b))
		}
		return order.Uint64(b)
	}
	if wordSize != 4 && wordSize != 8 {
		return 0, false
	}
	for i := 0; i+2*wordSize <= len(data); i += 2 * wordSize {
		key, val := word(data[i:]), word(data[i+wordSize:])
		switch key {
		case 0: // AT_NULL
			return 0, false
		case atClkTck:
			if val == 0 || val > 1e6 {
				return 0, false
			}
			return int64(val), true
		}
	}
	return 0, false
}

// linesOf yields the lines of data without their newlines.
func linesOf(data []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(data) > 0 {
			line := data
			if i := bytes.IndexByte(data, '\n'); i >= 0 {
				line, data = data[:i], data[i+1:]
			} else {
				data = nil
			}
			if !yield(line) {
				return
			}
		}
	}
}

func cutColon(line []byte) (key string, val []byte, ok bool) {
	k, v, ok := bytes.Cut(line, []byte{':'})
	return string(k), v, ok
}

func splitFields(b []byte) []string {
	f := bytes.Fields(b)
	out := make([]string, len(f))
	for i, x := range f {
		out[i] = string(x)
	}
	return out
}
