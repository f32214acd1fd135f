package hist

import (
	"errors"
	"fmt"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Encode returns h in the standard HdrHistogram V2 compressed encoding, base64
// ("HISTFAAA…"), which the Java, C and Go HdrHistogram implementations and
// their tools (HistogramLogAnalyzer, hdrplot) read. Values are in
// microseconds; the encoding has no unit field. It does not carry
// Clamped either: store that beside it and restore it with SetClamped.
func (h *Histogram) Encode() (string, error) {
	b, err := h.h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return "", fmt.Errorf("encode histogram: %w", err)
	}
	return string(b), nil
}

// Decode reads a histogram in the V2 compressed base64 encoding, reading its
// values as microseconds. Surrounding white space is ignored.
//
// Histograms written by other HdrHistogram implementations, with any range
// and precision, are copied into smp's range bucket by bucket, each bucket at
// its lowest equivalent value as HdrHistogram's own cross-range add does.
// That is exact when the foreign buckets nest in smp's, which holds for any
// histogram with a lowest discernible value of 1 and at least 3 significant
// digits (wrk2's, for one). Buckets whose lowest value is above Highest are
// counted at Highest and in Clamped.
//
// Time and memory follow the number of populated buckets. The worst case is
// the widest range the format can declare (1…MaxInt64 at 5 digits) with all
// of its 6.2 million buckets populated: an 8 KB input that takes about a
// second and 150 MB to decode.
func Decode(s string) (*Histogram, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("decode histogram: empty input")
	}
	// The sparse decoder keeps only populated buckets; the dense one would
	// allocate the whole declared range (49 MB for 1…MaxInt64 at 5 digits)
	// only for us to copy a few thousand buckets out of it.
	p, err := hdrhistogram.DecodePacked([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("decode histogram: %w", err)
	}
	h := New()
	for v, n := range p.ForEachBucket {
		clamped := v > highestUnits
		if clamped {
			v = highestUnits
		}
		// The packed decoder accepts bucket counts that sum past MaxInt64
		// (it saturates its total); a dense histogram cannot hold them.
		if err := h.h.RecordValues(v, n); err != nil {
			return nil, fmt.Errorf("decode histogram: %w", err)
		}
		if clamped {
			h.clamped += n
		}
	}
	return h, nil
}
