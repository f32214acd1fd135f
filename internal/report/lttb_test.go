package report

import (
	"math"
	"strings"
	"testing"
)

func TestLTTB(t *testing.T) {
	// 1000 points of a slow wave with one spike and one dip: both must survive.
	var data []point
	for i := range 1000 {
		y := math.Sin(float64(i) / 50)
		switch i {
		case 337:
			y = 25
		case 612:
			y = -30
		}
		data = append(data, point{float64(i), y})
	}
	got := lttb(data, 100)
	if len(got) != 100 {
		t.Fatalf("%d points, want 100", len(got))
	}
	if got[0] != data[0] || got[len(got)-1] != data[len(data)-1] {
		t.Errorf("ends %v … %v, want the series' own %v … %v", got[0], got[len(got)-1], data[0], data[len(data)-1])
	}
	var spike, dip bool
	for i, p := range got {
		if i > 0 && p.x <= got[i-1].x {
			t.Fatalf("x not ascending at %d: %v after %v", i, p, got[i-1])
		}
		spike = spike || p == data[337]
		dip = dip || p == data[612]
	}
	if !spike || !dip {
		t.Errorf("the spike (%v) or the dip (%v) was lost", spike, dip)
	}

	// A series that fits, or a threshold too small to mean anything, comes back whole.
	for _, n := range []int{1000, 5000, 2, 0} {
		if got := lttb(data, n); len(got) != len(data) {
			t.Errorf("threshold %d: %d points, want all %d", n, len(got), len(data))
		}
	}
	// The copy is a copy.
	short := []point{{0, 1}, {1, 2}}
	lttb(short, 10)[0].y = 99
	if short[0].y != 1 {
		t.Error("lttb returned the caller's slice")
	}
}

func TestTicks(t *testing.T) {
	lin := linearTicks(0, 0.87, msLabel)
	var labels []string
	for _, tk := range lin {
		labels = append(labels, tk.label)
	}
	if got := strings.Join(labels, " "); got != "0 0.2 0.4 0.6 0.8 1" {
		t.Errorf("linear ticks 0..0.87: %s", got)
	}
	lo, hi, ticks := niceLogRange(0.33, 4.2, msLabel)
	labels = nil
	for _, tk := range ticks {
		labels = append(labels, tk.label)
	}
	if lo != 0.2 || hi != 5 || strings.Join(labels, " ") != "0.2 0.5 1 2 5" {
		t.Errorf("log range 0.33..4.2: %g..%g, ticks %s", lo, hi, strings.Join(labels, " "))
	}
	lo, hi, ticks = niceLogRange(0.4, 300, msLabel)
	if lo != 0.1 || hi != 1000 || len(ticks) != 5 {
		t.Errorf("log range 0.4..300: %g..%g, %d ticks (want 0.1..1000, decades only)", lo, hi, len(ticks))
	}
	for k, want := range []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"} {
		if got := percentileTickLabel(k); got != want {
			t.Errorf("percentileTickLabel(%d) = %q, want %q", k, got, want)
		}
	}
}
