package hist

import (
	"encoding/base64"
	"slices"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// FuzzDecode feeds Decode arbitrary text. It must never panic, and whatever it
// accepts must be a consistent histogram that survives a round trip.
func FuzzDecode(f *testing.F) {
	for i, d := range distributions() {
		enc, err := histOf(samples(d, 200, uint64(i))).Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	empty, err := New().Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(empty)
	for _, g := range []*hdrhistogram.Histogram{
		hdrhistogram.New(1, 2, 0),
		hdrhistogram.New(1000, 60_000_000_000, 5),
		hdrhistogram.New(1, 24*3_600_000_000, 3),
	} {
		_ = g.RecordValue(g.HighestTrackableValue())
		_ = g.RecordValue(1)
		b, err := g.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("")
	f.Add("HISTFAAA")
	f.Add(base64.StdEncoding.EncodeToString([]byte{0x1c, 0x84, 0x93, 0x14, 0, 0, 0, 0}))

	f.Fuzz(func(t *testing.T, s string) {
		h, err := Decode(s)
		if err != nil {
			if h != nil {
				t.Fatalf("Decode returned a histogram with error %v", err)
			}
			return
		}
		var sum int64
		for _, b := range h.Bars() {
			sum += b.Count
		}
		if sum != h.Count() || h.Clamped() < 0 || h.Clamped() > h.Count() {
			t.Fatalf("inconsistent: bars sum %d, Count %d, Clamped %d", sum, h.Count(), h.Clamped())
		}
		if h.Max() > Highest || h.Min() < 0 || (h.Count() > 0 && h.Min() > h.Max()) {
			t.Fatalf("Min %v, Max %v out of [0, %v]", h.Min(), h.Max(), time.Duration(Highest))
		}
		enc, err := h.Encode()
		if err != nil {
			t.Fatalf("Encode after Decode: %v", err)
		}
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(s))): %v", err)
		}
		if !slices.Equal(again.Bars(), h.Bars()) {
			t.Fatalf("round trip changed the bars")
		}
	})
}
