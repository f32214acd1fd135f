package hist

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

const us = time.Microsecond

// topFrom is the exclusive lower edge of the HDR bucket that holds Highest:
// 1 h = 3.6e9 µs falls in the bucket [3598712832, 3600809983] µs (2^21 wide).
const topFrom = 3598712831 * us

func TestRecordRounding(t *testing.T) {
	tests := []struct {
		name        string
		d           time.Duration
		want        Bar
		wantClamped int64
	}{
		{name: "zero", d: 0, want: Bar{0, 0, 1}},
		{name: "negative is zero", d: -5 * time.Second, want: Bar{0, 0, 1}},
		{name: "most negative is zero", d: math.MinInt64, want: Bar{0, 0, 1}},
		{name: "1ns rounds up to 1µs", d: 1, want: Bar{0, 1 * us, 1}},
		{name: "999ns rounds up to 1µs", d: 999, want: Bar{0, 1 * us, 1}},
		{name: "1µs", d: us, want: Bar{0, 1 * us, 1}},
		{name: "1µs+1ns rounds up to 2µs", d: us + 1, want: Bar{1 * us, 2 * us, 1}},
		{name: "2047µs last 1µs-wide bucket", d: 2047 * us, want: Bar{2046 * us, 2047 * us, 1}},
		{name: "2048µs first 2µs-wide bucket", d: 2048 * us, want: Bar{2047 * us, 2049 * us, 1}},
		{name: "5001µs in a 4µs bucket", d: 5001 * us, want: Bar{4999 * us, 5003 * us, 1}},
		{name: "1h is in range", d: time.Hour, want: Bar{topFrom, Highest, 1}},
		{name: "1h+1ns is clamped", d: time.Hour + 1, want: Bar{topFrom, Highest, 1}, wantClamped: 1},
		{name: "largest duration is clamped", d: math.MaxInt64, want: Bar{topFrom, Highest, 1}, wantClamped: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New()
			h.Record(tt.d)
			if got := h.Bars(); !slices.Equal(got, []Bar{tt.want}) {
				t.Fatalf("Record(%v): Bars() = %v, want [%s]", tt.d, got, barString(tt.want))
			}
			if h.Count() != 1 || h.Clamped() != tt.wantClamped {
				t.Errorf("Count, Clamped = %d, %d, want 1, %d", h.Count(), h.Clamped(), tt.wantClamped)
			}
			wantMin := tt.want.To
			if tt.want.To > 0 {
				wantMin = tt.want.From + us // the lowest stored value in (From, To]
			}
			if h.Min() != wantMin || h.Max() != tt.want.To {
				t.Errorf("Min, Max = %v, %v, want %v, %v", h.Min(), h.Max(), wantMin, tt.want.To)
			}
		})
	}
}

func TestPercentileConvention(t *testing.T) {
	oneTo100 := func(h *Histogram) {
		for i := 1; i <= 100; i++ {
			h.Record(time.Duration(i) * us)
		}
	}
	tests := []struct {
		name   string
		record func(*Histogram)
		p      float64
		want   time.Duration
	}{
		{name: "empty", record: func(*Histogram) {}, p: 50, want: 0},
		{name: "p0 is Min", record: oneTo100, p: 0, want: 1 * us},
		{name: "negative p is p0", record: oneTo100, p: -1, want: 1 * us},
		{name: "NaN is p0", record: oneTo100, p: math.NaN(), want: 1 * us},
		{name: "tiny p is rank 1", record: oneTo100, p: 0.1, want: 1 * us},
		{name: "rank 1.5 rounds down", record: oneTo100, p: 1.49, want: 1 * us},
		{name: "rank 2.0", record: oneTo100, p: 1.5, want: 2 * us},
		{name: "p50 is the 50th", record: oneTo100, p: 50, want: 50 * us},
		{name: "p99", record: oneTo100, p: 99, want: 99 * us},
		{name: "rank 99.5 rounds up", record: oneTo100, p: 99.5, want: 100 * us},
		{name: "p100 is Max", record: oneTo100, p: 100, want: 100 * us},
		{name: "p above 100 is p100", record: oneTo100, p: 150, want: 100 * us},
		{name: "top of the bucket", record: func(h *Histogram) { h.Record(5001 * us); h.Record(5002 * us) }, p: 50, want: 5003 * us},
		{name: "NaN is p0, not rank 1", record: func(h *Histogram) { h.Record(5001 * us); h.Record(5002 * us) }, p: math.NaN(), want: 5000 * us},
		{name: "bottom of the bucket at p0", record: func(h *Histogram) { h.Record(5001 * us); h.Record(5002 * us) }, p: 0, want: 5000 * us},
		{name: "never above Highest", record: func(h *Histogram) { h.Record(2 * time.Hour) }, p: 50, want: Highest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New()
			tt.record(h)
			if got := h.Percentile(tt.p); got != tt.want {
				t.Errorf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestPercentileAccuracy(t *testing.T) {
	ps := []float64{0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100}
	for i, d := range distributions() {
		t.Run(d.name, func(t *testing.T) {
			vs := samples(d, 50_000, uint64(i))
			h := histOf(vs)
			sorted := sortedCopy(vs)
			for _, p := range ps {
				exact := exactPercentile(sorted, p)
				got := h.Percentile(p)
				if exact > Highest {
					if got != Highest {
						t.Errorf("p%v: got %v, want Highest for clamped exact %v", p, got, exact)
					}
					continue
				}
				// 3 significant digits: within 0.1% above the exact value,
				// plus under 1 µs where durations are rounded up to µs.
				slack := exact / 1000
				if !d.wholeMicros {
					slack += us - 1
				}
				if got < exact || got-exact > slack {
					t.Errorf("p%v: got %v, exact %v: want within [exact, exact+%v]", p, got, exact, slack)
				}
			}
		})
	}
}

func TestMinMaxAreBucketEdges(t *testing.T) {
	for i, d := range distributions() {
		t.Run(d.name, func(t *testing.T) {
			vs := samples(d, 10_000, uint64(i))
			h := histOf(vs)
			bars := h.Bars()
			wantMin := bars[0].From + us
			if bars[0].To == 0 {
				wantMin = 0
			}
			if h.Min() != wantMin || h.Max() != bars[len(bars)-1].To {
				t.Errorf("Min, Max = %v, %v, want %v, %v (edges of first and last bar)", h.Min(), h.Max(), wantMin, bars[len(bars)-1].To)
			}
			// Min never above, Max never below the true extremes (up to the
			// rounding to whole µs for Min).
			sorted := sortedCopy(vs)
			if lo := max(sorted[0], 0); h.Min() > lo.Truncate(us)+us {
				t.Errorf("Min %v above the smallest sample %v", h.Min(), lo)
			}
			if hi := min(sorted[len(sorted)-1], Highest); h.Max() < hi {
				t.Errorf("Max %v below the largest sample %v", h.Max(), hi)
			}
		})
	}
}

func TestMergeEqualsRecordingAll(t *testing.T) {
	for i, d := range distributions() {
		for _, parts := range []int{2, 7, 16} {
			t.Run(fmt.Sprintf("%s/%d parts", d.name, parts), func(t *testing.T) {
				vs := samples(d, 20_000, uint64(i))
				want := histOf(vs)

				r := rand.New(rand.NewPCG(uint64(parts), 1))
				hs := make([]*Histogram, parts)
				for j := range hs {
					hs[j] = New()
				}
				for _, v := range vs {
					hs[r.IntN(parts)].Record(v)
				}
				got := New()
				for _, p := range hs {
					got.Merge(p)
				}
				assertSameBars(t, got, want)
				if got.Clamped() != want.Clamped() || got.Clamped() != countAbove(vs, Highest) {
					t.Errorf("Clamped = %d, want %d (%d samples above Highest)", got.Clamped(), want.Clamped(), countAbove(vs, Highest))
				}
				if got.Snapshot() != want.Snapshot() {
					t.Errorf("Snapshot = %+v, want %+v", got.Snapshot(), want.Snapshot())
				}
			})
		}
	}
}

func TestMergeNilAndSelf(t *testing.T) {
	vs := []time.Duration{us, 5 * time.Millisecond, 2 * time.Hour}
	h := histOf(vs)
	before := h.Bars()

	h.Merge(nil)
	if !slices.Equal(h.Bars(), before) || h.Clamped() != 1 {
		t.Fatalf("Merge(nil) changed h: %v, clamped %d", h.Bars(), h.Clamped())
	}

	h.Merge(h)
	want := histOf(append(slices.Clone(vs), vs...))
	assertSameBars(t, h, want)
	if h.Clamped() != 2 {
		t.Errorf("after Merge(self): Clamped = %d, want 2", h.Clamped())
	}
}

func TestClamping(t *testing.T) {
	tests := []struct {
		name        string
		record      func(*Histogram)
		wantCount   int64
		wantClamped int64
		wantMin     time.Duration
		wantMax     time.Duration
	}{
		{
			name:      "above 1h counted and kept at Max",
			record:    func(h *Histogram) { h.Record(2 * time.Hour); h.Record(time.Hour + 1); h.Record(90 * time.Minute) },
			wantCount: 3, wantClamped: 3, wantMin: topFrom + us, wantMax: Highest,
		},
		{
			name:      "in range values keep their place",
			record:    func(h *Histogram) { h.Record(time.Millisecond); h.Record(2 * time.Hour) },
			wantCount: 2, wantClamped: 1, wantMin: time.Millisecond, wantMax: Highest,
		},
		{
			name:      "exactly 1h is not clamped",
			record:    func(h *Histogram) { h.Record(time.Hour) },
			wantCount: 1, wantClamped: 0, wantMin: topFrom + us, wantMax: Highest,
		},
		{
			name:      "negative values are zero",
			record:    func(h *Histogram) { h.Record(-1); h.Record(-time.Hour) },
			wantCount: 2, wantClamped: 0, wantMin: 0, wantMax: 0,
		},
		{
			name:      "RecordN clamps n values",
			record:    func(h *Histogram) { h.RecordN(2*time.Hour, 5) },
			wantCount: 5, wantClamped: 5, wantMin: topFrom + us, wantMax: Highest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New()
			tt.record(h)
			got := [4]any{h.Count(), h.Clamped(), h.Min(), h.Max()}
			want := [4]any{tt.wantCount, tt.wantClamped, tt.wantMin, tt.wantMax}
			if got != want {
				t.Errorf("Count, Clamped, Min, Max = %v, want %v", got, want)
			}
		})
	}
}

func TestRecordN(t *testing.T) {
	tests := []struct {
		name        string
		record      func(*Histogram)
		want        *Histogram
		wantClamped int64
	}{
		{name: "n=0 records nothing", record: func(h *Histogram) { h.RecordN(time.Millisecond, 0) }, want: New()},
		{name: "negative n records nothing", record: func(h *Histogram) { h.RecordN(time.Millisecond, -3) }, want: New()},
		{
			name:   "n=5 is five Records",
			record: func(h *Histogram) { h.RecordN(1234*us, 5) },
			want:   histOf([]time.Duration{1234 * us, 1234 * us, 1234 * us, 1234 * us, 1234 * us}),
		},
		{
			name: "overflowing n records nothing, clamped included",
			record: func(h *Histogram) {
				h.RecordN(time.Millisecond, math.MaxInt64)
				h.RecordN(2*time.Hour, 1)
			},
			want: func() *Histogram { h := New(); h.RecordN(time.Millisecond, math.MaxInt64); return h }(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New()
			tt.record(h)
			assertSameBars(t, h, tt.want)
			if h.Clamped() != tt.wantClamped {
				t.Errorf("Clamped = %d, want %d", h.Clamped(), tt.wantClamped)
			}
		})
	}
}

func TestMeanStdDev(t *testing.T) {
	tests := []struct {
		name       string
		vs         []time.Duration
		wantMean   time.Duration
		wantStdDev time.Duration
	}{
		{name: "empty", vs: nil, wantMean: 0, wantStdDev: 0},
		{name: "one value", vs: []time.Duration{100 * us}, wantMean: 100 * us, wantStdDev: 0},
		{name: "two values", vs: []time.Duration{100 * us, 300 * us}, wantMean: 200 * us, wantStdDev: 100 * us},
		// HdrHistogram's middle of [5000, 5003] µs is 5000 + 4/2.
		{name: "middle of a wide bucket", vs: []time.Duration{5001 * us}, wantMean: 5002 * us, wantStdDev: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := histOf(tt.vs)
			if h.Mean() != tt.wantMean || h.StdDev() != tt.wantStdDev {
				t.Errorf("Mean, StdDev = %v, %v, want %v, %v", h.Mean(), h.StdDev(), tt.wantMean, tt.wantStdDev)
			}
		})
	}

	t.Run("lognormal within 0.1%", func(t *testing.T) {
		vs := samples(distNamed(t, "lognormal 300µs whole µs"), 50_000, 9)
		var sum, sq float64
		for _, v := range vs {
			sum += float64(v)
		}
		mean := sum / float64(len(vs))
		for _, v := range vs {
			sq += (float64(v) - mean) * (float64(v) - mean)
		}
		std := math.Sqrt(sq / float64(len(vs)))
		h := histOf(vs)
		if e := math.Abs(float64(h.Mean())-mean) / mean; e > 0.001 {
			t.Errorf("Mean %v vs exact %v: relative error %.5f", h.Mean(), time.Duration(mean), e)
		}
		if e := math.Abs(float64(h.StdDev())-std) / std; e > 0.001 {
			t.Errorf("StdDev %v vs exact %v: relative error %.5f", h.StdDev(), time.Duration(std), e)
		}
	})
}

func TestResetAndClone(t *testing.T) {
	vs := samples(distNamed(t, "pareto tail past 1h ns"), 5_000, 3)
	h := histOf(vs)
	want := histOf(vs)
	c := h.Clone()
	assertSameBars(t, c, want)
	if c.Clamped() != want.Clamped() || c.Clamped() == 0 {
		t.Fatalf("Clone: Clamped = %d, want %d (> 0)", c.Clamped(), want.Clamped())
	}

	h.Record(time.Millisecond)
	h.Record(3 * time.Hour)
	assertSameBars(t, c, want) // the clone does not share counts
	if c.Clamped() != want.Clamped() {
		t.Errorf("recording into the original changed the clone's Clamped")
	}

	h.Reset()
	if h.Count() != 0 || h.Clamped() != 0 || h.Bars() != nil || h.Snapshot() != (Summary{}) || h.Percentile(99) != 0 {
		t.Errorf("after Reset: Count %d, Clamped %d, Bars %v, Snapshot %+v, p99 %v; want all zero",
			h.Count(), h.Clamped(), h.Bars(), h.Snapshot(), h.Percentile(99))
	}
	assertSameBars(t, c, want)

	h.Record(7 * us)
	if got := h.Bars(); !slices.Equal(got, []Bar{{6 * us, 7 * us, 1}}) {
		t.Errorf("recording after Reset: Bars = %v", got)
	}
}

func TestSnapshot(t *testing.T) {
	h := histOf(samples(distNamed(t, "pareto tail past 1h ns"), 5_000, 4))
	want := Summary{Count: h.Count(), Clamped: h.Clamped(), Min: h.Min(), Max: h.Max(), Mean: h.Mean(), StdDev: h.StdDev()}
	if got := h.Snapshot(); got != want || got.Clamped == 0 || got.Min == got.Max {
		t.Errorf("Snapshot = %+v, want %+v with clamped values and Min < Max", got, want)
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	h := New()
	for _, d := range []time.Duration{0, -1, 500, 300 * us, 45 * time.Millisecond, time.Hour, 3 * time.Hour} {
		if n := testing.AllocsPerRun(1000, func() { h.Record(d) }); n != 0 {
			t.Errorf("Record(%v) allocates %v times", d, n)
		}
	}
	// The library builds an error for a negative n; RecordN must not ask it.
	for _, n := range []int64{-1, 0, 1, 100} {
		if a := testing.AllocsPerRun(1000, func() { h.RecordN(time.Millisecond, n) }); a != 0 {
			t.Errorf("RecordN(1ms, %d) allocates %v times", n, a)
		}
	}
}

func TestSetClamped(t *testing.T) {
	h := histOf([]time.Duration{time.Millisecond, 2 * time.Hour, 3 * time.Hour, 59*time.Minute + 59*time.Second})
	tests := []struct {
		name    string
		n       int64
		wantErr bool
	}{
		{name: "restores", n: 2},
		{name: "zero", n: 0},
		{name: "up to the values at Highest", n: 3}, // 59m59s shares the top bucket
		{name: "negative", n: -1, wantErr: true},
		{name: "more than at Highest", n: 4, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := h.Clone()
			err := c.SetClamped(tt.n)
			if (err != nil) != tt.wantErr {
				t.Fatalf("SetClamped(%d) error = %v, wantErr %v", tt.n, err, tt.wantErr)
			}
			want := tt.n
			if tt.wantErr {
				want = h.Clamped() // unchanged
			}
			if c.Clamped() != want {
				t.Errorf("Clamped = %d, want %d", c.Clamped(), want)
			}
		})
	}
	if err := New().SetClamped(1); err == nil {
		t.Error("SetClamped(1) on an empty histogram: want an error")
	}
}

// TestResolution checks Resolution against the library's own buckets: a value and the
// value one resolution below the top of its bucket share a bar, and the next value up
// starts a new one.
func TestResolution(t *testing.T) {
	for _, d := range []time.Duration{0, time.Microsecond, 999 * time.Microsecond, 2047 * time.Microsecond,
		2048 * time.Microsecond, 3 * time.Millisecond, 12345 * time.Microsecond, time.Second, 59 * time.Minute} {
		res := Resolution(d)
		h := New()
		h.Record(d)
		bar := h.Bars()[0]
		if d > 0 && bar.To-bar.From != res {
			t.Errorf("Resolution(%v) = %v; the bucket holding it is (%v, %v], %v wide", d, res, bar.From, bar.To, bar.To-bar.From)
		}
		if d == 0 && res != LowestDiscernible {
			t.Errorf("Resolution(0) = %v, want %v", res, LowestDiscernible)
		}
	}
}
