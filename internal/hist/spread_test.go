package hist

import (
	"testing"
	"time"
)

func TestSpread(t *testing.T) {
	ms := time.Millisecond
	// 1000 values: 500 in (1ms, 2ms], 400 in (2ms, 4ms], 100 in (4ms, 10ms], extremes 1.1ms and 9ms.
	h := Spread([]Range{{ms, 2 * ms, 500}, {2 * ms, 4 * ms, 0}, {2 * ms, 4 * ms, 400}, {4 * ms, 10 * ms, 100}}, 1100*time.Microsecond, 9*ms)
	if h.Count() != 1000 {
		t.Fatalf("count %d, want 1000", h.Count())
	}
	if h.Min() != 1100*time.Microsecond || h.Max() < 9*ms || h.Max() > 9*ms+9*time.Microsecond {
		t.Errorf("min %v max %v, want the given extremes (within the histogram's 0.1%%)", h.Min(), h.Max())
	}
	for _, c := range []struct {
		p      float64
		lo, hi time.Duration // the range that holds the true value
	}{{25, ms, 2 * ms}, {50, ms, 2 * ms}, {51, 2 * ms, 4 * ms}, {90, 2 * ms, 4 * ms}, {95, 4 * ms, 10 * ms}} {
		if got := h.Percentile(c.p); got < c.lo || got > c.hi+c.hi/1000 {
			t.Errorf("p%g = %v, want within (%v, %v]", c.p, got, c.lo, c.hi)
		}
	}
	// Evenly spread: the median of the first range's 500 values is near its middle.
	if got := h.Percentile(25); got < 1400*time.Microsecond || got > 1600*time.Microsecond {
		t.Errorf("p25 = %v, want about 1.5ms (the middle of the first range)", got)
	}
	if Spread(nil, 0, 0).Count() != 0 {
		t.Error("no ranges give a non-empty histogram")
	}
}

func TestWithout(t *testing.T) {
	all := []Range{{0, 10, 5}, {10, 20, 5}, {20, 30, 5}}
	got := Without(all, []Range{{0, 10, 2}, {12, 18, 7}, {30, 40, 1}})
	want := []int64{3, 0, 4} // 7 taken off the 5 of (10, 20] stops at 0; (30, 40] falls to the last
	for i := range want {
		if got[i].Count != want[i] {
			t.Errorf("range %d: %d, want %d", i, got[i].Count, want[i])
		}
	}
	if all[0].Count != 5 {
		t.Error("Without changed its input")
	}
}
