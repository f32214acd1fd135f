package spec

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as a Go duration string ("1m30s", "500ms", "250us").
// A bare number is refused rather than guessed at: "30" could mean seconds (fortio -t) or
// nanoseconds (time.Duration), and a benchmark that runs 30 ns instead of 30 s is worse
// than an error.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return formatDuration(time.Duration(d)) }

// formatDuration prints the shortest form that parses back to the same value, so that
// "1m30s" stays "1m30s" rather than becoming "1m30s" vs "90s" depending on the path.
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	s := strings.ReplaceAll(d.String(), "µs", "us")
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ParseDuration parses a Go duration string. It also accepts "µs" and "us".
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return 0, fmt.Errorf("%q has no unit", s)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	return Duration(d), nil
}

// MarshalJSON writes the duration as a string so that plans round-trip through JSON.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads what MarshalJSON writes. Plans are decoded by Load, which gives
// positions; this exists for documents (results) that embed a plan.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"30s\": %w", err)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Size is a number of bytes, written as a plain integer or with a unit: "512", "1KiB",
// "64KB", "1.5MiB". Decimal units (kB, MB, GB) are powers of 1000 and binary units (KiB,
// MiB, GiB, and Kubernetes' Ki, Mi, Gi) powers of 1024, as in IEC 80000-13.
type Size int64

// Bytes returns the size as an int64 byte count.
func (s Size) Bytes() int64 { return int64(s) }

var sizeUnits = []struct {
	suffix string
	factor int64
}{
	// Longest suffixes first so that "KiB" is not read as "B".
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30},
	{"kB", 1000}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"k", 1000}, {"K", 1000}, {"M", 1000 * 1000}, {"G", 1000 * 1000 * 1000},
	{"B", 1},
}

// ParseSize parses a byte size.
func ParseSize(s string) (Size, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty size")
	}
	num, factor := s, int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			num, factor = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.factor
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	if f < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	v := f * float64(factor)
	if v > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	if v != math.Trunc(v) {
		return 0, fmt.Errorf("%q is not a whole number of bytes", s)
	}
	return Size(v), nil
}

// String writes the size with its unit, in its shortest exact binary form: "1KiB",
// "64MiB", "1500B", "0B".
func (s Size) String() string {
	if n, unit := s.binary(); unit != "" {
		return strconv.FormatInt(n, 10) + unit
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// binary returns the size in its largest exact binary unit; unit is "" when there is none.
func (s Size) binary() (int64, string) {
	b := int64(s)
	for _, u := range []struct {
		suffix string
		factor int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b != 0 && b%u.factor == 0 {
			return b / u.factor, u.suffix
		}
	}
	return b, ""
}

// MarshalJSON writes the size in its shortest exact binary form ("1KiB") or as a number
// of bytes.
func (s Size) MarshalJSON() ([]byte, error) {
	if _, unit := s.binary(); unit != "" {
		return json.Marshal(s.String())
	}
	return []byte(strconv.FormatInt(int64(s), 10)), nil
}

// UnmarshalJSON accepts a number of bytes or a string with a unit.
func (s *Size) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("size must be a number of bytes or a string like \"1KiB\"")
		}
		str = strconv.FormatInt(n, 10)
	}
	v, err := ParseSize(str)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseRatio reads a share written as a percentage ("10%", "0.5%") or a fraction ("0.1").
func ParseRatio(s string) (float64, error) {
	t := strings.TrimSpace(s)
	pct := strings.HasSuffix(t, "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(t, "%")), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a share: write a percentage such as 10%% or a fraction such as 0.1", s)
	}
	if pct {
		f /= 100
	}
	return f, nil
}
