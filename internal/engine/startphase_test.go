package engine

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// slots lists every intended offset of a schedule in seconds, in claim order.
func slots(t *testing.T, c Config) []float64 {
	t.Helper()
	c = c.withDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	s := schedule{proc: newProcess(c.Arrival), shape: newShape(c)}
	var out []float64
	hint := 0
	for {
		n := s.proc.claim()
		at, ok := s.shape.timeAt(n, &hint)
		if !ok {
			return out
		}
		out = append(out, at)
	}
}

// TestPhasedSharesRebuildTheSchedule: n schedules at rate/n with Arrival.Phase
// (i+½)/n − ½ together hold exactly the slots of one schedule at the full rate,
// for an even rate and for a ramp. Without the phases (all 0) they would fire
// together, n at a time, and the comparison fails.
func TestPhasedSharesRebuildTheSchedule(t *testing.T) {
	const n = 4
	for _, tc := range []struct {
		name string
		full Config
		part func(Config) Config
	}{
		{"constant", Config{Target: "http://x/", Rate: 1000, Duration: time.Second, Warmup: 200 * time.Millisecond},
			func(c Config) Config { c.Rate /= n; return c }},
		{"ramp", Config{Target: "http://x/", Rate: 900, Duration: time.Second,
			Arrival: Arrival{Pattern: Ramp, RampFrom: 100, RampDuration: 600 * time.Millisecond}},
			func(c Config) Config { c.Rate /= n; c.Arrival.RampFrom /= n; return c }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := slots(t, tc.full)
			var got, unphased []float64
			for i := range n {
				c := tc.part(tc.full)
				unphased = append(unphased, slots(t, c)...)
				c.Arrival.Phase = (float64(i)+0.5)/n - 0.5
				got = append(got, slots(t, c)...)
			}
			slices.Sort(got)
			slices.Sort(unphased)
			if len(got) != len(want) {
				t.Fatalf("the shares hold %d slots, one schedule %d", len(got), len(want))
			}
			worst := 0.0
			for i := range want {
				worst = math.Max(worst, math.Abs(got[i]-want[i]))
			}
			if worst > 1e-9 {
				t.Errorf("slots differ by up to %.3gs from the single schedule", worst)
			}
			if len(unphased) == len(want) {
				same := 0
				for i := range want {
					if math.Abs(unphased[i]-want[i]) <= 1e-9 {
						same++
					}
				}
				if same == len(want) {
					t.Errorf("unphased shares also match: the check cannot tell")
				}
			}
		})
	}
}

// TestStartAtWaitsAndAnchorsTheClock: connections open at once, the first request
// leaves no earlier than StartAt, and the phases are timed from StartAt itself.
func TestStartAtWaitsAndAnchorsTheClock(t *testing.T) {
	var mu sync.Mutex
	var first time.Time
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if first.IsZero() {
			first = time.Now()
		}
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	defer s.Close()
	at := time.Now().Add(300 * time.Millisecond)
	res := mustRun(t, Config{Target: s.URL, Rate: 200, Connections: 2, Duration: 200 * time.Millisecond,
		Warmup: 100 * time.Millisecond, StartAt: at})
	if !res.Warmup.Start.Equal(at.UTC().Round(0)) {
		t.Errorf("warm-up started at %v, want StartAt %v", res.Warmup.Start, at.UTC())
	}
	mu.Lock()
	defer mu.Unlock()
	if first.Before(at) {
		t.Errorf("first request arrived %v before StartAt", at.Sub(first))
	}
	if res.Warmup.Requests+res.Measure.Requests != 60 {
		t.Errorf("%d + %d requests, want 60 (200/s for 300ms)", res.Warmup.Requests, res.Measure.Requests)
	}
}

// TestStartAtInThePast starts at once, from when the connections were ready.
func TestStartAtInThePast(t *testing.T) {
	s, _ := okServer(t)
	at := time.Now().Add(-time.Second)
	res := mustRun(t, Config{Target: s.URL, Rate: 100, Duration: 100 * time.Millisecond, StartAt: at})
	if late := res.Measure.Start.Sub(at); late < 900*time.Millisecond {
		t.Errorf("started %v after a StartAt one second ago, want now", late)
	}
	if res.Measure.Overflow != 0 || res.Measure.Requests != 10 {
		t.Errorf("requests %d overflow %d, want 10 and 0: the schedule must not be charged for the past",
			res.Measure.Requests, res.Measure.Overflow)
	}
}

// TestStartAtCancelled: a cancelled ctx ends the wait for StartAt at once. With
// keep-alive off nothing is dialled up front, so the cancellation, made before Run,
// is first seen by the wait itself.
func TestStartAtCancelled(t *testing.T) {
	s, served := okServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	res, err := Run(ctx, Config{Target: s.URL, Rate: 100, Duration: time.Second, KeepAlive: boolp(false),
		StartAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Cancelled || served.Load() != 0 || res.Measure.Requests != 0 {
		t.Errorf("cancelled %v, served %d, requests %d: want cancelled with nothing sent", res.Cancelled, served.Load(), res.Measure.Requests)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %v to notice the cancellation", d)
	}
}

func TestPhaseValidation(t *testing.T) {
	for _, p := range []float64{-0.6, 0.5, math.NaN()} {
		err := Config{Target: "http://x/", Rate: 1, Arrival: Arrival{Phase: p}}.withDefaults().Validate()
		if err == nil {
			t.Errorf("phase %v accepted", p)
		}
	}
	if err := (Config{Target: "http://x/", Rate: 1, Arrival: Arrival{Phase: -0.5}}).withDefaults().Validate(); err != nil {
		t.Errorf("phase -0.5: %v", err)
	}
}
