package hist

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	type tc struct {
		name string
		vs   []time.Duration
	}
	tests := []tc{
		{name: "empty", vs: nil},
		{name: "only zero", vs: []time.Duration{0, -time.Second}},
		{name: "only clamped", vs: []time.Duration{2 * time.Hour, 5 * time.Hour}},
		{name: "both ends", vs: []time.Duration{us, time.Hour}},
	}
	for i, d := range distributions() {
		tests = append(tests, tc{name: d.name, vs: samples(d, 20_000, uint64(i))})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := histOf(tt.vs)
			enc, err := h.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			// The V2 compressed cookie 0x1c849314 in base64.
			if !strings.HasPrefix(enc, "HISTFAAA") {
				t.Fatalf("encoding %.20q… does not start with HISTFAAA", enc)
			}
			got, err := Decode(enc)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			assertSameBars(t, got, h)
			// Clamped is not in the encoding; everything else is.
			want := h.Snapshot()
			want.Clamped = 0
			if got.Snapshot() != want {
				t.Errorf("decoded Snapshot = %+v, want %+v", got.Snapshot(), want)
			}
			if err := got.SetClamped(h.Clamped()); err != nil {
				t.Fatalf("SetClamped(%d) after Decode: %v", h.Clamped(), err)
			}
			if got.Snapshot() != h.Snapshot() {
				t.Errorf("after SetClamped: Snapshot = %+v, want %+v", got.Snapshot(), h.Snapshot())
			}
		})
	}
}

func TestDecodeIgnoresSurroundingSpace(t *testing.T) {
	h := histOf([]time.Duration{time.Millisecond})
	enc, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode("\n  " + enc + "\r\n")
	if err != nil {
		t.Fatalf("Decode with surrounding space: %v", err)
	}
	assertSameBars(t, got, h)
}

// TestDecodeOtherRanges decodes histograms that hdrhistogram-go itself wrote
// with ranges and precisions other than smp's.
func TestDecodeOtherRanges(t *testing.T) {
	// Whole microseconds, 1 µs … beyond 1 h, so every foreign range below is
	// exercised at both ends.
	vs := samples(distNamed(t, "pareto tail past 1h ns"), 20_000, 11)
	for i := range vs {
		vs[i] = max(vs[i], 0).Truncate(us)
	}
	tests := []struct {
		name     string
		foreign  *hdrhistogram.Histogram
		nested   bool // foreign buckets nest in smp's: decoding is exact
		clampMin time.Duration
	}{
		// wrk2's range: same bucket edges as smp up to 1 h, then more buckets.
		// The foreign bucket holding 1 h starts at or below 1 h, so only values
		// from the next bucket on (3600.809984 s) count as clamped.
		{name: "24h µs 3 digits (wrk2)", foreign: hdrhistogram.New(1, 24*3_600_000_000, 3), nested: true, clampMin: 3600809984 * us},
		{name: "10s µs 4 digits (finer)", foreign: hdrhistogram.New(1, 10_000_000, 4), nested: true},
		{name: "60s lowest 10 2 digits (coarser)", foreign: hdrhistogram.New(10, 60_000_000, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var kept []time.Duration
			for _, v := range vs {
				if tt.foreign.RecordValue(int64(v/us)) == nil {
					kept = append(kept, v)
				}
			}
			b, err := tt.foreign.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(string(b))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got.Count() != tt.foreign.TotalCount() || got.Min() != time.Duration(tt.foreign.Min())*us {
				t.Fatalf("Count, Min = %d, %v, want %d, %v", got.Count(), got.Min(), tt.foreign.TotalCount(), time.Duration(tt.foreign.Min())*us)
			}
			var wantClamped int64
			if tt.clampMin > 0 {
				wantClamped = countAbove(kept, tt.clampMin-1)
				if wantClamped == 0 {
					t.Fatal("test data has no value to clamp")
				}
			}
			if got.Clamped() != wantClamped {
				t.Errorf("Clamped = %d, want %d", got.Clamped(), wantClamped)
			}
			if tt.nested {
				want := histOf(kept)
				assertSameBars(t, got, want)
				return
			}
			// Coarser buckets land at their bottom, as HdrHistogram's own
			// cross-range add puts them: each percentile stays in the foreign
			// bucket the foreign histogram reports, at or below its top.
			for _, p := range []float64{1, 50, 90, 99, 99.9, 100} {
				fp := tt.foreign.ValueAtPercentile(p)
				gp := got.Percentile(p)
				if !tt.foreign.ValuesAreEquivalent(int64(gp/us), fp) || gp > time.Duration(fp)*us {
					t.Errorf("p%v = %v, want in the foreign bucket of %v µs, at or below it", p, gp, fp)
				}
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	valid, err := histOf(samples(distNamed(t, "lognormal 300µs ns"), 1000, 1)).Encode()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(valid)
	if err != nil {
		t.Fatal(err)
	}
	withCookie := func(cookie uint32) string {
		b := append([]byte(nil), raw...)
		binary.BigEndian.PutUint32(b, cookie)
		return base64.StdEncoding.EncodeToString(b)
	}
	corrupt := append([]byte(nil), raw...)
	corrupt[len(corrupt)/2] ^= 0xff

	tests := []struct {
		name    string
		in      string
		wantAs  any // an error type the chain must hold, if any
		wantMsg string
	}{
		{name: "empty", in: "", wantMsg: "empty input"},
		{name: "blank", in: " \n\t", wantMsg: "empty input"},
		{name: "not base64", in: "not a histogram!", wantAs: new(base64.CorruptInputError)},
		{name: "too short", in: base64.StdEncoding.EncodeToString([]byte("abc")), wantMsg: "too short"},
		{name: "V1 cookie", in: withCookie(0x1c849301), wantMsg: "only V2"},
		{name: "uncompressed V2 cookie", in: withCookie(0x1c849313), wantMsg: "only V2"},
		{name: "truncated", in: base64.StdEncoding.EncodeToString(raw[:len(raw)-6])},
		{name: "corrupted payload", in: base64.StdEncoding.EncodeToString(corrupt)},
		{name: "JSON", in: `{"latency_us": [1, 2, 3]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Decode(tt.in)
			if err == nil {
				t.Fatalf("Decode(%.30q) = %v, want an error", tt.in, h.Snapshot())
			}
			if h != nil {
				t.Errorf("Decode returned a histogram with its error")
			}
			if !strings.HasPrefix(err.Error(), "decode histogram: ") || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q: want it to start with %q and contain %q", err, "decode histogram: ", tt.wantMsg)
			}
			if tt.wantAs != nil && !errors.As(err, tt.wantAs) {
				t.Errorf("error %q does not wrap a %T", err, tt.wantAs)
			}
		})
	}
}

func ExampleDecode() {
	h := New()
	h.Record(250 * time.Microsecond)
	h.Record(3 * time.Hour)
	enc, _ := h.Encode()
	// Store h.Clamped() beside enc: the encoding has no field for it.
	got, err := Decode(enc)
	if err != nil {
		panic(err)
	}
	_ = got.SetClamped(h.Clamped())
	fmt.Println(enc[:8], got.Count(), got.Clamped(), got.Min(), got.Max())
	// Output: HISTFAAA 2 1 250µs 1h0m0s
}
