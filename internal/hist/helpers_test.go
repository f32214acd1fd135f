package hist

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// dist is a seeded source of test durations.
type dist struct {
	name string
	gen  func(r *rand.Rand) time.Duration
	// wholeMicros is true when every duration is a whole number of
	// microseconds, so the only error left is the HDR bucket width.
	wholeMicros bool
}

func logNormal(r *rand.Rand, median time.Duration, sigma float64) time.Duration {
	return time.Duration(float64(median) * math.Exp(sigma*r.NormFloat64()))
}

// distributions covers the shapes latencies take, both ends of the range and
// values beyond it.
func distributions() []dist {
	return []dist{
		{name: "uniform 1µs-2ms whole µs", wholeMicros: true, gen: func(r *rand.Rand) time.Duration {
			return time.Duration(1+r.IntN(2000)) * time.Microsecond
		}},
		{name: "near 1µs whole µs", wholeMicros: true, gen: func(r *rand.Rand) time.Duration {
			return time.Duration(1+r.IntN(20)) * time.Microsecond
		}},
		{name: "near 1h whole µs", wholeMicros: true, gen: func(r *rand.Rand) time.Duration {
			return time.Hour - time.Duration(r.Int64N(int64(10*time.Second/time.Microsecond)))*time.Microsecond
		}},
		{name: "lognormal 300µs whole µs", wholeMicros: true, gen: func(r *rand.Rand) time.Duration {
			return logNormal(r, 300*time.Microsecond, 1).Truncate(time.Microsecond)
		}},
		{name: "lognormal 300µs ns", gen: func(r *rand.Rand) time.Duration {
			return logNormal(r, 300*time.Microsecond, 1)
		}},
		{name: "near 1µs ns", gen: func(r *rand.Rand) time.Duration {
			return time.Duration(r.Int64N(5000))
		}},
		{name: "exponential mean 5ms ns", gen: func(r *rand.Rand) time.Duration {
			return time.Duration(r.ExpFloat64() * float64(5*time.Millisecond))
		}},
		{name: "bimodal 200µs+40ms ns", gen: func(r *rand.Rand) time.Duration {
			if r.Float64() < 0.8 {
				return logNormal(r, 200*time.Microsecond, 0.3)
			}
			return logNormal(r, 40*time.Millisecond, 0.3)
		}},
		{name: "pareto tail past 1h ns", gen: func(r *rand.Rand) time.Duration {
			// α = 0.3 from 1 ms: about 2% of values exceed 1 h.
			return time.Duration(float64(time.Millisecond) / math.Pow(1-r.Float64(), 1/0.3))
		}},
	}
}

func distNamed(t testing.TB, name string) dist {
	t.Helper()
	for _, d := range distributions() {
		if d.name == name {
			return d
		}
	}
	t.Fatalf("no distribution %q", name)
	return dist{}
}

func samples(d dist, n int, seed uint64) []time.Duration {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d.gen(r)
	}
	return out
}

func histOf(vs []time.Duration) *Histogram {
	h := New()
	for _, v := range vs {
		h.Record(v)
	}
	return h
}

func countAbove(vs []time.Duration, limit time.Duration) int64 {
	var n int64
	for _, v := range vs {
		if v > limit {
			n++
		}
	}
	return n
}

// exactPercentile applies Percentile's rank rule to the raw samples.
func exactPercentile(sorted []time.Duration, p float64) time.Duration {
	return sorted[rank(p, int64(len(sorted)))-1]
}

// rank is the 1-based rank Percentile documents for p > 0.
func rank(p float64, n int64) int64 {
	return min(max(int64(p/100*float64(n)+0.5), 1), n)
}

func sortedCopy(vs []time.Duration) []time.Duration {
	s := slices.Clone(vs)
	slices.Sort(s)
	return s
}

func assertSameBars(t *testing.T, got, want *Histogram) {
	t.Helper()
	gb, wb := got.Bars(), want.Bars()
	if !slices.Equal(gb, wb) {
		t.Fatalf("bars differ: got %d bars, want %d; first difference: %s", len(gb), len(wb), firstDiff(gb, wb))
	}
	if got.Count() != want.Count() {
		t.Fatalf("Count = %d, want %d", got.Count(), want.Count())
	}
}

func firstDiff(a, b []Bar) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("index %d: %s vs %s", i, barString(a[i]), barString(b[i]))
		}
	}
	return "one is a prefix of the other"
}

func barString(b Bar) string {
	return fmt.Sprintf("(%v, %v]×%d", b.From, b.To, b.Count)
}
