package hist

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// TestBarsHoldTheirSamples checks the (From, To] claim for every sample: the
// bar a duration went into is the one whose interval contains it.
func TestBarsHoldTheirSamples(t *testing.T) {
	for i, d := range distributions() {
		t.Run(d.name, func(t *testing.T) {
			vs := samples(d, 20_000, uint64(i))
			bars := histOf(vs).Bars()

			var sum int64
			for j, b := range bars {
				sum += b.Count
				if b.Count <= 0 {
					t.Fatalf("bar %d is empty: %s", j, barString(b))
				}
				if j > 0 && b.From < bars[j-1].To {
					t.Fatalf("bars %d and %d overlap: %s, %s", j-1, j, barString(bars[j-1]), barString(b))
				}
				if b.From >= b.To && b != (Bar{0, 0, b.Count}) {
					t.Fatalf("bar %d is not an interval: %s", j, barString(b))
				}
			}
			if sum != int64(len(vs)) {
				t.Fatalf("bar counts sum to %d, want %d", sum, len(vs))
			}

			held := make([]int64, len(bars))
			for _, v := range vs {
				v = min(max(v, 0), Highest)
				j, found := slices.BinarySearchFunc(bars, v, func(b Bar, v time.Duration) int {
					switch {
					case v > b.To:
						return -1
					case v <= b.From && b.To > 0:
						return 1
					}
					return 0
				})
				if !found {
					t.Fatalf("no bar holds %v", v)
				}
				held[j]++
			}
			for j, b := range bars {
				if held[j] != b.Count {
					t.Fatalf("bar %s holds %d samples", barString(b), held[j])
				}
			}
		})
	}
}

func TestBarsEmpty(t *testing.T) {
	if b := New().Bars(); b != nil {
		t.Errorf("Bars() of an empty histogram = %v, want nil", b)
	}
}

func TestBucketsBoundaries(t *testing.T) {
	// Bucket i is (bounds[i-1], bounds[i]]; index 6 is the overflow bucket.
	bounds := []time.Duration{us, 10 * us, 2047 * us, 5 * time.Millisecond, 20 * time.Millisecond, time.Hour}
	tests := []struct {
		name string
		d    time.Duration
		want int
	}{
		{name: "negative in the first", d: -time.Second, want: 0},
		{name: "zero in the first", d: 0, want: 0},
		{name: "1ns rounds up to 1µs, at the first bound", d: 1, want: 0},
		{name: "exactly 1µs", d: us, want: 0},
		{name: "1ns above 1µs", d: us + 1, want: 1},
		{name: "exactly 10µs", d: 10 * us, want: 1},
		{name: "1ns above 10µs", d: 10*us + 1, want: 2},
		{name: "exactly 2047µs", d: 2047 * us, want: 2},
		{name: "1ns above 2047µs", d: 2047*us + 1, want: 3},
		// 5 ms is the bottom of the bar (4.999, 5.003] ms: the bar's top is above
		// the bound, so the whole bar counts above it.
		{name: "exactly 5ms straddles, counts above", d: 5 * time.Millisecond, want: 4},
		{name: "below a straddled 5ms", d: 4999 * us, want: 3},
		// Likewise 20 ms, the bottom of (19.999, 20.015] ms (16 µs buckets).
		{name: "exactly 20ms straddles, counts above", d: 20 * time.Millisecond, want: 5},
		{name: "top of the bar below 20ms", d: 19999 * us, want: 4},
		{name: "exactly 1h, capped at Highest", d: time.Hour, want: 5},
		{name: "clamped values land at Highest", d: 5 * time.Hour, want: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New()
			h.Record(tt.d)
			got := h.Buckets(bounds)
			if len(got) != len(bounds)+1 {
				t.Fatalf("%d buckets, want %d", len(got), len(bounds)+1)
			}
			for i, b := range got {
				want := int64(0)
				if i == tt.want {
					want = 1
				}
				if b.Count != want {
					t.Fatalf("%v counted in bucket %d (le %v), want bucket %d: %+v", tt.d, i, b.UpperBound, tt.want, got)
				}
			}
		})
	}
}

func TestBucketsOverflowBucket(t *testing.T) {
	h := New()
	h.Record(time.Second)
	got := h.Buckets([]time.Duration{time.Millisecond})
	want := []Bucket{
		{UpperBound: time.Millisecond, Count: 0, CumulativePercent: 0},
		{UpperBound: InfBound, Count: 1, CumulativePercent: 100},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Buckets = %+v, want %+v", got, want)
	}
}

func TestBucketsSumToCount(t *testing.T) {
	boundSets := []struct {
		name   string
		bounds []time.Duration
	}{
		{name: "none", bounds: nil},
		{name: "fortio-like ms", bounds: msBounds(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 18, 20, 25, 30, 35, 40, 45, 50, 60, 70, 80, 90, 100, 120, 140, 160, 180, 200, 250, 300, 350, 400, 450, 500, 600, 700, 800, 900, 1000, 2000, 3000, 4000, 5000, 7500, 10000, 20000, 30000, 40000, 50000, 75000, 100000)},
		{name: "unsorted with duplicates", bounds: []time.Duration{time.Second, us, time.Millisecond, us, 250 * us, time.Second}},
		{name: "negative bound", bounds: []time.Duration{-time.Millisecond, time.Millisecond}},
		{name: "log 1µs-1h 10 per decade", bounds: LogBounds(us, time.Hour, 10)},
		{name: "log 100µs-10s 5 per decade", bounds: LogBounds(100*us, 10*time.Second, 5)},
	}
	for i, d := range distributions() {
		h := histOf(samples(d, 10_000, uint64(i)))
		for _, bs := range boundSets {
			t.Run(d.name+"/"+bs.name, func(t *testing.T) {
				got := h.Buckets(bs.bounds)
				distinct := slices.Compact(slices.Sorted(slices.Values(bs.bounds)))
				if len(got) != len(distinct)+1 {
					t.Fatalf("%d buckets for %d distinct bounds", len(got), len(distinct))
				}
				var sum int64
				for j, b := range got {
					sum += b.Count
					if j < len(distinct) && b.UpperBound != distinct[j] {
						t.Fatalf("bucket %d UpperBound %v, want %v", j, b.UpperBound, distinct[j])
					}
					if j > 0 && b.CumulativePercent < got[j-1].CumulativePercent {
						t.Fatalf("CumulativePercent falls at bucket %d: %v < %v", j, b.CumulativePercent, got[j-1].CumulativePercent)
					}
					if want := 100 * float64(sum) / float64(h.Count()); math.Abs(b.CumulativePercent-want) > 1e-9 {
						t.Fatalf("bucket %d CumulativePercent %v, want %v", j, b.CumulativePercent, want)
					}
				}
				if sum != h.Count() {
					t.Errorf("bucket counts sum to %d, want Count %d", sum, h.Count())
				}
				last := got[len(got)-1]
				if last.UpperBound != InfBound || last.CumulativePercent != 100 {
					t.Errorf("last bucket %+v, want UpperBound InfBound and CumulativePercent exactly 100", last)
				}
			})
		}
	}
}

func msBounds(ms ...float64) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = time.Duration(m * float64(time.Millisecond))
	}
	return out
}

func TestBucketsEmpty(t *testing.T) {
	got := New().Buckets([]time.Duration{time.Millisecond, time.Second})
	want := []Bucket{{UpperBound: time.Millisecond}, {UpperBound: time.Second}, {UpperBound: InfBound}}
	if !slices.Equal(got, want) {
		t.Errorf("Buckets of an empty histogram = %+v, want %+v", got, want)
	}
}

func TestBucketsDoNotReorderCallersBounds(t *testing.T) {
	bounds := []time.Duration{time.Second, time.Millisecond}
	New().Buckets(bounds)
	if bounds[0] != time.Second {
		t.Errorf("Buckets sorted the caller's slice: %v", bounds)
	}
}

// TestBucketsAgreeWithPercentile checks the reason for the assignment rule:
// Percentile(p) <= b exactly when at least rank(p) values are counted at or
// below b.
func TestBucketsAgreeWithPercentile(t *testing.T) {
	ps := []float64{1, 10, 50, 90, 95, 99, 99.9, 99.99}
	bounds := append(LogBounds(us, time.Hour, 20), msBounds(5, 20, 50, 250)...)
	for i, d := range distributions() {
		t.Run(d.name, func(t *testing.T) {
			h := histOf(samples(d, 20_000, uint64(i)))
			var cum int64
			for _, b := range h.Buckets(bounds) {
				cum += b.Count
				for _, p := range ps {
					below := h.Percentile(p) <= b.UpperBound
					if enough := cum >= rank(p, h.Count()); below != enough {
						t.Fatalf("bound %v: Percentile(%v) = %v, but %d values counted at or below it (rank %d)",
							b.UpperBound, p, h.Percentile(p), cum, rank(p, h.Count()))
					}
				}
			}
		})
	}
}

func TestLogBounds(t *testing.T) {
	tests := []struct {
		name          string
		from, to      time.Duration
		perDecade     int
		want          []time.Duration
		wantPerDecade int // checked per full decade when want is nil
		wantFirst     time.Duration
		wantLast      time.Duration
		wantLen       int
	}{
		{
			name: "1ms to 1s, 3 per decade", from: time.Millisecond, to: time.Second, perDecade: 3,
			want: []time.Duration{1000 * us, 2154 * us, 4642 * us, 10000 * us, 21544 * us, 46416 * us, 100000 * us, 215443 * us, 464159 * us, 1000000 * us},
		},
		{
			name: "1µs to 10µs, 10 per decade, rounding merges", from: us, to: 10 * us, perDecade: 10,
			want: []time.Duration{1 * us, 2 * us, 3 * us, 4 * us, 5 * us, 6 * us, 8 * us, 10 * us},
		},
		{
			name: "to off the grid is kept", from: time.Millisecond, to: 3 * time.Second, perDecade: 1,
			want: []time.Duration{time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond, time.Second, 3 * time.Second},
		},
		{
			name: "from below 1µs starts at 1µs", from: 0, to: 100 * us, perDecade: 1,
			want: []time.Duration{us, 10 * us, 100 * us},
		},
		{
			name: "from equals to", from: time.Second, to: time.Second, perDecade: 5,
			want: []time.Duration{time.Second},
		},
		{name: "perDecade 0", from: us, to: time.Second, perDecade: 0, want: nil},
		{name: "to below from", from: time.Second, to: time.Millisecond, perDecade: 3, want: nil},
		{
			name: "100µs to 10s, 20 per decade", from: 100 * us, to: 10 * time.Second, perDecade: 20,
			wantPerDecade: 20, wantFirst: 100 * us, wantLast: 10 * time.Second, wantLen: 5*20 + 1,
		},
		{
			name: "1ms to 1h, 7 per decade", from: time.Millisecond, to: time.Hour, perDecade: 7,
			wantPerDecade: 7, wantFirst: time.Millisecond, wantLast: time.Hour,
			// 6 full decades to 1000 s, then 1000 s·10^(j/7) ≤ 3600 s for j = 0…3, then 1 h.
			wantLen: 6*7 + 4 + 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := LogBounds(tt.from, tt.to, tt.perDecade)
			if tt.wantPerDecade == 0 {
				if !slices.Equal(got, tt.want) {
					t.Fatalf("LogBounds(%v, %v, %d) = %v, want %v", tt.from, tt.to, tt.perDecade, got, tt.want)
				}
				return
			}
			if len(got) != tt.wantLen || got[0] != tt.wantFirst || got[len(got)-1] != tt.wantLast {
				t.Fatalf("got %d bounds %v … %v, want %d bounds %v … %v", len(got), got[0], got[len(got)-1], tt.wantLen, tt.wantFirst, tt.wantLast)
			}
			for j, b := range got {
				if b%us != 0 {
					t.Errorf("bound %v is not a whole microsecond", b)
				}
				if j > 0 && b <= got[j-1] {
					t.Errorf("bounds not increasing at %d: %v after %v", j, b, got[j-1])
				}
			}
			for lo := tt.from; lo*10 <= tt.to; lo *= 10 {
				n := 0
				for _, b := range got {
					if b >= lo && b < lo*10 {
						n++
					}
				}
				if n != tt.wantPerDecade {
					t.Errorf("decade [%v, %v) has %d bounds, want %d", lo, lo*10, n, tt.wantPerDecade)
				}
			}
		})
	}
}

func ExampleHistogram_Buckets() {
	h := New()
	for _, d := range []time.Duration{300 * us, 800 * us, 1200 * us, 7 * time.Millisecond, 2 * time.Hour} {
		h.Record(d)
	}
	for _, b := range h.Buckets([]time.Duration{time.Millisecond, 10 * time.Millisecond}) {
		le := b.UpperBound.String()
		if b.UpperBound == InfBound {
			le = "+Inf"
		}
		fmt.Printf("le %-5s %d %5.1f%%\n", le, b.Count, b.CumulativePercent)
	}
	fmt.Println("clamped:", h.Clamped(), "max:", h.Max())
	// Output:
	// le 1ms   2  40.0%
	// le 10ms  2  80.0%
	// le +Inf  1 100.0%
	// clamped: 1 max: 1h0m0s
}
