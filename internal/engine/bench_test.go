package engine

import (
	"context"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/service-mesh-performance/smp/internal/hist"
)

// BenchmarkHTTP1Request is the HTTP/1.1 client's hot path: write the
// prepared request, parse the response, count bytes, on a keep-alive
// loopback connection. The server side does not allocate, so allocs/op is
// the client's.
func BenchmarkHTTP1Request(b *testing.B) {
	srv := fastServer(b)
	r := &run{cfg: Config{Target: srv.URL(), Timeout: time.Minute}.withDefaults(), stats: &sharedStats{}, base: time.Now()}
	ep, err := r.cfg.endpoint()
	if err != nil {
		b.Fatal(err)
	}
	r.ep = ep
	f, err := newH1Factory(r)
	if err != nil {
		b.Fatal(err)
	}
	callers, err := f.open(context.Background(), 1, 1)
	if err != nil {
		b.Fatal(err)
	}
	c := callers[0]
	defer c.close()
	ps := &phaseStats{}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		st, err := c.do(ctx, ps, time.Hour, 0)
		if err != nil || st != 200 {
			b.Fatalf("status %d err %v", st, err)
		}
	}
}

// BenchmarkScheduleAt is one slot claim plus the inverse of the rate shape.
func BenchmarkScheduleAt(b *testing.B) {
	for _, p := range []Pattern{Constant, Poisson, Ramp} {
		b.Run(p.String(), func(b *testing.B) {
			c := Config{Target: "http://x/", Rate: 1e9, Duration: time.Hour, Arrival: Arrival{Pattern: p}}.withDefaults()
			s := schedule{proc: newProcess(c.Arrival), shape: newShape(c)}
			hint := 0
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok := s.at(&hint); !ok {
					b.Fatal("schedule ended")
				}
			}
		})
	}
}

// BenchmarkRecord is what a worker does per response to its histograms
// (latency, service, start lag, interval): the figure lesson 3 cares about
// is one Record, so the per-histogram cost is reported too.
func BenchmarkRecord(b *testing.B) {
	b.Run("one", func(b *testing.B) {
		h := hist.New()
		d := 137 * time.Microsecond
		b.ReportAllocs()
		for b.Loop() {
			h.Record(d)
			d += 7
		}
	})
	b.Run("worker", func(b *testing.B) {
		ps := newPhaseStats()
		cur := hist.New()
		d := 137 * time.Microsecond
		b.ReportAllocs()
		for b.Loop() {
			ps.lag.Record(d / 8)
			ps.latency.Record(d)
			ps.service.Record(d / 2)
			cur.Record(d)
			ps.counts.Requests++
			ps.status[200]++
			d += 7
		}
	})
}

// TestHeapStaysFlat runs closed-loop load for 250 short intervals and
// compares the live heap early and late: per-request work must not retain
// memory, and the series is pre-allocated.
func TestHeapStaysFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 2.5s of load")
	}
	srv := fastServer(t)
	var early, late runtime.MemStats
	ticks := 0
	res := mustRun(t, Config{Target: srv.URL(), Connections: 2, Duration: 2500 * time.Millisecond, SeriesInterval: 10 * time.Millisecond,
		Progress: func(p Progress) {
			ticks++
			// Ticks can run late (under -race a tick takes longer than 10ms),
			// so the late snapshot is refreshed on every tick from the 100th.
			switch {
			case ticks == 20:
				runtime.GC()
				runtime.ReadMemStats(&early)
			case ticks >= 100:
				runtime.GC()
				runtime.ReadMemStats(&late)
			}
		}})
	if ticks < 100 {
		t.Fatalf("only %d ticks", ticks)
	}
	growth := int64(late.HeapAlloc) - int64(early.HeapAlloc)
	t.Logf("%d requests, %d ticks; live heap %d → %d bytes (%+d)", res.Measure.Requests, ticks, early.HeapAlloc, late.HeapAlloc, growth)
	// ≥ 80 intervals × thousands of requests: any per-request or per-interval
	// retention would be megabytes. 256 KiB allows for runtime noise.
	if growth > 256<<10 {
		t.Errorf("live heap grew by %d bytes over %d intervals", growth, ticks-20)
	}
}

// fastH2Server answers every request HEADERS frame with a canned 200 "ok"
// (HEADERS + DATA) without decoding anything or allocating per request, so
// a benchmark's allocs/op are the client's.
func fastH2Server(b *testing.B) *rawServer {
	return newRawServer(b, func(c net.Conn, _ <-chan struct{}) {
		buf := make([]byte, 64<<10)
		if _, err := io.ReadFull(c, buf[:len(http2.ClientPreface)]); err != nil {
			return
		}
		out := appendFrameHeader(nil, 0, http2.FrameSettings, 0, 0)
		if _, err := c.Write(out); err != nil {
			return
		}
		r, w := 0, 0
		for {
			n, err := c.Read(buf[w:])
			if err != nil {
				return
			}
			w += n
			out = out[:0]
			for w-r >= h2FrameHeaderLen {
				length, typ, flags, id := parseFrameHeader(buf[r:])
				if w-r < h2FrameHeaderLen+length {
					break
				}
				r += h2FrameHeaderLen + length
				switch {
				case typ == http2.FrameSettings && flags&http2.FlagSettingsAck == 0:
					out = appendFrameHeader(out, 0, http2.FrameSettings, http2.FlagSettingsAck, 0)
				case typ == http2.FrameHeaders:
					out = appendFrameHeader(out, len(status200), http2.FrameHeaders, http2.FlagHeadersEndHeaders, id)
					out = append(out, status200...)
					out = appendFrameHeader(out, 2, http2.FrameData, http2.FlagDataEndStream, id)
					out = append(out, "ok"...)
				}
			}
			w = copy(buf, buf[r:w])
			r = 0
			if len(out) > 0 {
				if _, err := c.Write(out); err != nil {
					return
				}
			}
		}
	})
}

// BenchmarkH2CRequest is the HTTP/2 client's hot path on one stream of a
// loopback connection: queue HEADERS, flush, let the reader demultiplex
// the response and wake the worker.
func BenchmarkH2CRequest(b *testing.B) {
	srv := fastH2Server(b)
	r := &run{cfg: Config{Target: srv.URL(), Protocol: H2C, Timeout: time.Minute}.withDefaults(), stats: &sharedStats{}, base: time.Now()}
	ep, err := r.cfg.endpoint()
	if err != nil {
		b.Fatal(err)
	}
	r.ep = ep
	f, err := newH2Factory(r)
	if err != nil {
		b.Fatal(err)
	}
	defer f.close()
	callers, err := f.open(context.Background(), 1, 1)
	if err != nil {
		b.Fatal(err)
	}
	f.start()
	c := callers[0]
	ps := &phaseStats{}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		st, err := c.do(ctx, ps, time.Hour, 0)
		if err != nil || st != 200 {
			b.Fatalf("status %d err %v", st, err)
		}
	}
}
