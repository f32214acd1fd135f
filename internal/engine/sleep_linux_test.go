package engine

import (
	"testing"
	"time"
)

// TestIdleTickerKeepsTicking: the kernel re-arms an interval timerfd only when
// it is read, so a ticker nobody reads expires once and then never again, and
// runtime timers oversleep to the netpoller's millisecond whenever the
// process idles. The ticker's reader must see expiry after expiry.
func TestIdleTickerKeepsTicking(t *testing.T) {
	tk := newIdleTicker(time.Millisecond)
	if tk == nil {
		t.Fatal("no timerfd")
	}
	defer tk.close()
	deadline := time.Now().Add(5 * time.Second) // a loaded machine delays ticks, never stops them
	for tk.ticks.Load() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("%d expiries in 5s of a 1ms ticker", tk.ticks.Load())
		}
		// Waiting on a runtime timer is what the ticker serves; it is not the synchronisation here.
		time.Sleep(time.Millisecond)
	}
}

// TestTickerRateRun: from tickerRate on, workers wait on runtime timers
// under an idleTicker (no timerfd each); the schedule is still sent slot for
// slot, and the ticker is gone when Run returns.
func TestTickerRateRun(t *testing.T) {
	srv := fastServer(t)
	const rate, dur = tickerRate, 300 * time.Millisecond
	res := mustRun(t, Config{Target: srv.URL(), Rate: rate, Connections: 8, Duration: dur})
	m := res.Measure
	if due := m.Requests + m.Overflow; due != int64(rate*dur.Seconds()) {
		t.Errorf("%d requests and overflows, want exactly %v", due, rate*dur.Seconds())
	}
	t.Logf("%d requests, lag p50 %v p99 %v, ready-lag p99 %v; %s", m.Requests, m.StartLag.Percentile(50),
		m.StartLag.Percentile(99), m.ReadyLag.Percentile(99), res.RateReason)
}
