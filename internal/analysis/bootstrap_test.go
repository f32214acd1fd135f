package analysis

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// histFrom records samples and takes them through a result document's encoding and back,
// as Analyze reads them.
func histFrom(t testing.TB, samples []time.Duration) *hist.Histogram {
	t.Helper()
	h := hist.New()
	for _, d := range samples {
		h.Record(d)
	}
	enc, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	d, err := result.NewDistribution(enc, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decode(d.Histogram)
	if err != nil {
		t.Fatal(err)
	}
	return back
}

func TestBetaMoments(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, c := range []struct{ a, b float64 }{{1, 1}, {2, 5}, {50, 3}, {990, 11}, {9.9e8, 1e7 + 1}} {
		const n = 40000
		var s, s2 float64
		for range n {
			x := betaRand(r, c.a, c.b)
			if !(x > 0 && x < 1) {
				t.Fatalf("Beta(%g, %g) drew %g", c.a, c.b, x)
			}
			s += x
			s2 += x * x
		}
		mean, variance := s/n, s2/n-(s/n)*(s/n)
		wantMean := c.a / (c.a + c.b)
		wantVar := c.a * c.b / ((c.a + c.b) * (c.a + c.b) * (c.a + c.b + 1))
		// The mean of n draws is within 5 standard errors; the variance within 5%.
		if math.Abs(mean-wantMean) > 5*math.Sqrt(wantVar/n) || math.Abs(variance/wantVar-1) > 0.05 {
			t.Errorf("Beta(%g, %g): mean %g variance %g, want %g and %g", c.a, c.b, mean, variance, wantMean, wantVar)
		}
	}
}

// TestPercentileMatchesHist: the resampler's buckets reproduce hist's percentiles of the
// pooled trials exactly, so intervals sit around the reported figures.
func TestPercentileMatchesHist(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	var dists []*hist.Histogram
	pooled := hist.New()
	for k := range 3 {
		var s []time.Duration
		for range 3000 + 500*k {
			d := time.Duration(float64(time.Duration(k+1)*time.Millisecond) * math.Exp(0.8*r.NormFloat64()))
			s = append(s, d)
			pooled.Record(d)
		}
		dists = append(dists, histFrom(t, s))
	}
	hb := newHistBoot(dists)
	for _, p := range []float64{0.001, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100} {
		got, want := hb.percentile(p, []int64{1, 1, 1}), ms(pooled.Percentile(p))
		if got != want {
			t.Errorf("p%g: resampler %g ms, hist %g ms", p, got, want)
		}
	}
	if !math.IsNaN(hb.percentile(50, []int64{0, 0, 0})) {
		t.Error("percentile of nothing is not NaN")
	}
}

// TestQuantileShortcutMatchesNaiveResampling: the Beta shortcut gives each percentile the
// same bootstrap distribution as drawing N requests one by one (with trials drawn first
// when there are several). Compared by the largest gap between the two empirical CDFs
// (Kolmogorov–Smirnov): with 20 000 replicates each, two samples of one distribution stay
// within 0.02 of each other 99.9% of the time.
func TestQuantileShortcutMatchesNaiveResampling(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	// Few distinct values (20 µs steps) so that ties matter; all below 2048 µs, where HDR
	// buckets are 1 µs wide, so that a bucket's top is the value itself.
	const step = 20 * time.Microsecond
	trial := func(n int, shift int) []time.Duration {
		s := make([]time.Duration, n)
		for i := range s {
			s[i] = time.Duration(r.IntN(40)+shift) * step
		}
		return s
	}
	for _, c := range []struct {
		name   string
		trials [][]time.Duration
	}{
		{"one trial", [][]time.Duration{trial(300, 1)}},
		{"three trials that disagree", [][]time.Duration{trial(200, 1), trial(250, 8), trial(150, 20)}},
	} {
		var dists []*hist.Histogram
		for _, s := range c.trials {
			dists = append(dists, histFrom(t, s))
		}
		hb := newHistBoot(dists)
		ps := []float64{50, 90, 99}
		const B = 20000
		fast := make([][]float64, len(ps))
		naive := make([][]float64, len(ps))
		w := make([]int64, len(c.trials))
		out := make([]float64, len(ps))
		for range B {
			hb.replicate(r, ps, out, w)
			for i := range ps {
				fast[i] = append(fast[i], out[i])
			}
			// Naive: draw trials, pool their raw values, draw that many values one by one.
			var pool []time.Duration
			k := len(c.trials)
			for range k {
				j := 0
				if k > 1 {
					j = r.IntN(k)
				}
				pool = append(pool, c.trials[j]...)
			}
			var counts [64]int64 // by value / step
			for range pool {
				counts[pool[r.IntN(len(pool))]/step]++
			}
			for i, p := range ps {
				rk, c := rank(p, int64(len(pool))), int64(0)
				for v, n := range counts {
					if c += n; c >= rk {
						naive[i] = append(naive[i], ms(time.Duration(v)*step))
						break
					}
				}
			}
		}
		for i, p := range ps {
			if d := ksDistance(fast[i], naive[i]); d > 0.02 {
				t.Errorf("%s, p%g: bootstrap distributions differ by %.3f (KS)", c.name, p, d)
			}
		}
	}
}

func ksDistance(a, b []float64) float64 {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	var i, j int
	var d float64
	for i < len(a) && j < len(b) {
		x := min(a[i], b[j])
		for i < len(a) && a[i] == x {
			i++
		}
		for j < len(b) && b[j] == x {
			j++
		}
		d = max(d, math.Abs(float64(i)/float64(len(a))-float64(j)/float64(len(b))))
	}
	return d
}

func TestInterval(t *testing.T) {
	reps := make([]float64, 1001)
	for i := range reps {
		reps[i] = float64(1000 - i) // 0..1000, unsorted
	}
	lo, hi, ok := interval(reps, 0.95)
	if !ok || math.Abs(lo-25) > 1e-9 || math.Abs(hi-975) > 1e-9 {
		t.Errorf("interval of 0..1000 = %g..%g, %v; want 25..975", lo, hi, ok)
	}
	for i := range 600 {
		reps[i] = math.NaN()
	}
	if _, _, ok := interval(reps, 0.95); ok {
		t.Error("interval with most replicates NaN is ok")
	}
}

func TestRank(t *testing.T) {
	for _, c := range []struct {
		p    float64
		n    int64
		want int64
	}{{50, 10, 5}, {99, 10, 10}, {0, 10, 1}, {100, 10, 10}, {99.9, 1000, 999}, {50, 1, 1}, {math.NaN(), 5, 1}} {
		if got := rank(c.p, c.n); got != c.want {
			t.Errorf("rank(%g, %d) = %d, want %d", c.p, c.n, got, c.want)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		v    float64
		unit string
		want string
	}{
		{31.2, "ms", "31.2ms"}, {1.8, "ms", "1.8ms"}, {0.45234, "ms", "0.452ms"}, {1234.56, "ms", "1235ms"},
		{25, "ms", "25ms"}, {-1.8, "ms", "-1.8ms"}, {0, "ms", "0ms"},
		{0.0012, "ratio", "0.12%"}, {498.3, "rps", "498 rps"}, {412.4, "mcores", "412m"},
		{31.5 * (1 << 20), "bytes", "31.5MiB"}, {2 << 30, "bytes", "2GiB"}, {512, "bytes", "512B"},
		{0.0004, "ms", "0.0004ms"},
	} {
		if got := format(c.v, c.unit); got != c.want {
			t.Errorf("format(%g, %s) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}

// BenchmarkLatencyBootstrap: 1000 replicates of the five default percentiles for one arm
// against the baseline, three trials each: the two-level bootstrap alone.
func BenchmarkLatencyBootstrap(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	boot := func(median time.Duration) *histBoot {
		var hs []*hist.Histogram
		for range 3 {
			var s []time.Duration
			for range 20000 {
				s = append(s, time.Duration(float64(median)*math.Exp(0.7*r.NormFloat64())))
			}
			hs = append(hs, histFrom(b, s))
		}
		return newHistBoot(hs)
	}
	base, arm := boot(300*time.Microsecond), boot(450*time.Microsecond)
	a := &analyzer{opts: Options{Replicates: 1000, Confidence: 0.95, Seed: 1}}
	b.ReportAllocs()
	for b.Loop() {
		a.percentileIntervals("arm", spec.DefaultPercentiles(), base, arm)
	}
	b.ReportMetric(float64(len(base.tops)+len(arm.tops))/2, "buckets")
}
