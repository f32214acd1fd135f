package hist

import (
	"math/bits"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// benchDurations are latencies of a loaded mesh: mostly a few hundred µs, a
// tail into tens of ms. A power-of-two length lets the loops index with a mask.
func benchDurations() []time.Duration {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]time.Duration, 4096)
	for i := range out {
		out[i] = logNormal(r, 300*time.Microsecond, 1)
	}
	return out
}

func benchHist() *Histogram {
	h := New()
	for _, d := range benchDurations() {
		h.Record(d)
	}
	h.Record(2 * time.Second)
	return h
}

func BenchmarkRecord(b *testing.B) {
	h := New()
	ds := benchDurations()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(ds[i&(len(ds)-1)])
	}
}

func BenchmarkMerge(b *testing.B) {
	h, o := New(), benchHist()
	b.ReportAllocs()
	for b.Loop() {
		h.Merge(o)
	}
}

func BenchmarkPercentile(b *testing.B) {
	h := benchHist()
	b.ReportAllocs()
	for b.Loop() {
		h.Percentile(99.9)
	}
}

func BenchmarkEncode(b *testing.B) {
	h := benchHist()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	enc, err := benchHist().Encode()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuckets(b *testing.B) {
	h := benchHist()
	bounds := LogBounds(us, time.Hour, 10)
	b.ReportAllocs()
	for b.Loop() {
		h.Buckets(bounds)
	}
}

// The two benchmarks below answer whether a hand-written HDR would record
// faster than the library: BenchmarkLibraryRecordValue is the library call
// Record makes, BenchmarkHandWrittenRecord the same work on a bare counts
// array. TestHandWrittenIndexMatchesLibrary shows both fill the same buckets.

func BenchmarkLibraryRecordValue(b *testing.B) {
	h := hdrhistogram.New(1, highestUnits, SignificantFigures)
	vs := benchUnits()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = h.RecordValue(vs[i&(len(vs)-1)])
	}
}

func BenchmarkHandWrittenRecord(b *testing.B) {
	h := &handHDR{}
	vs := benchUnits()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.record(vs[i&(len(vs)-1)])
	}
}

func benchUnits() []int64 {
	ds := benchDurations()
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i], _ = toUnits(d)
	}
	return out
}

// handHDR is the smallest recorder with smp's geometry: 2048 sub-buckets
// (3 digits), unit 1, 22 buckets to reach 1 h.
type handHDR struct {
	counts [23 * 1024]int64
	total  int64
}

func (h *handHDR) record(v int64) {
	k := bits.Len64(uint64(v)|2047) - 11
	h.counts[(k+1)<<10+int(v>>k)-1024]++
	h.total++
}

func TestHandWrittenIndexMatchesLibrary(t *testing.T) {
	lib := hdrhistogram.New(1, highestUnits, SignificantFigures)
	if n := len(lib.Export().Counts); n != len(handHDR{}.counts) {
		t.Fatalf("library has %d counts, handHDR %d", n, len(handHDR{}.counts))
	}
	hand := &handHDR{}
	r := rand.New(rand.NewPCG(3, 3))
	for range 200_000 {
		// Log-uniform over the whole range, both ends included.
		v := int64(float64(highestUnits) * r.Float64() * r.Float64() * r.Float64())
		for _, x := range []int64{v, 0, highestUnits} {
			_ = lib.RecordValue(x)
			hand.record(x)
		}
	}
	for i, c := range lib.Export().Counts {
		if hand.counts[i] != c {
			t.Fatalf("index %d: library %d, handHDR %d", i, c, hand.counts[i])
		}
	}
}
