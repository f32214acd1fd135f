package hist

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/json"
	"flag"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The fixtures in testdata/interop are real output of the Java reference
// implementation, HdrHistogram 2.1.11 (Debian's libhdrhistogram-java), made
// by testdata/interop/Interop.java. No JVM is needed to run the tests; to
// capture them again, with java and the jar installed:
//
//	go test ./internal/hist -run Java -update-interop
var updateInterop = flag.Bool("update-interop", false, "rewrite testdata/interop with the Java HdrHistogram's output")

const (
	interopDir  = "testdata/interop"
	javaJar     = "/usr/share/java/hdrhistogram.jar"
	javaEncoded = "java-encoded.json"  // histograms Java wrote, with Java's figures
	goEncoded   = "go-encoded.txt"     // histograms Encode wrote, one per line
	javaReadGo  = "java-reads-go.json" // Java's figures for go-encoded.txt
)

// javaFigures is what Interop.java reports for one histogram.
type javaFigures struct {
	Name        string       `json:"name"`
	Lowest      int64        `json:"lowest"`
	Highest     int64        `json:"highest"`
	Digits      int64        `json:"digits"`
	Encoded     string       `json:"encoded"`
	Above1h     int64        `json:"above_1h"`
	Count       int64        `json:"count"`
	Min         int64        `json:"min"`
	Max         int64        `json:"max"`
	Mean        float64      `json:"mean"`
	StdDev      float64      `json:"stddev"`
	Percentiles [][2]float64 `json:"percentiles"`
}

// interopHistograms are the histograms whose encoding Java reads. Their
// 100000 values make p/100·N whole for Interop.java's percentiles, where Java's
// rank rule (ceiling) and Percentile's (round half up) pick the same value.
func interopHistograms() []*Histogram {
	r := rand.New(rand.NewPCG(7, 7))
	mixed := New()
	for i := range 100_000 {
		switch {
		case i%1000 == 0:
			mixed.Record(2 * time.Hour) // clamped, in the top bucket
		case i%10 == 0:
			mixed.Record(logNormal(r, 40*time.Millisecond, 0.5))
		default:
			mixed.Record(logNormal(r, 300*time.Microsecond, 0.8))
		}
	}
	small := New()
	for i := range 100_000 {
		small.Record(time.Duration(i%50) * us)
	}
	return []*Histogram{mixed, small, New()}
}

func readFigures(t *testing.T, name string) []javaFigures {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(interopDir, name))
	if err != nil {
		t.Fatal(err)
	}
	var out []javaFigures
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

func runJava(t *testing.T, args ...string) []byte {
	t.Helper()
	if _, err := os.Stat(javaJar); err != nil {
		t.Fatalf("-update-interop needs %s (apt-get install libhdrhistogram-java): %v", javaJar, err)
	}
	cmd := exec.CommandContext(t.Context(), "java", append([]string{"-cp", javaJar, "Interop.java"}, args...)...)
	cmd.Dir = interopDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.Bytes())
	}
	return out
}

func writeFixture(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(interopDir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDecodeJavaEncoded decodes histograms the Java implementation wrote with
// other ranges and precisions, and checks them against Java's own figures.
func TestDecodeJavaEncoded(t *testing.T) {
	if *updateInterop {
		writeFixture(t, javaEncoded, runJava(t, "encode"))
	}
	cases := readFigures(t, javaEncoded)
	if len(cases) == 0 {
		t.Fatal("no fixtures")
	}
	for _, jc := range cases {
		t.Run(jc.Name, func(t *testing.T) {
			h, err := Decode(jc.Encoded)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			// hdrhistogram-go reading the same bytes gives the foreign buckets,
			// to tell which ones nest in smp's.
			foreign, err := hdrhistogram.Decode([]byte(jc.Encoded))
			if err != nil {
				t.Fatalf("hdrhistogram.Decode: %v", err)
			}
			if foreign.LowestTrackableValue() != jc.Lowest || foreign.HighestTrackableValue() != jc.Highest || foreign.SignificantFigures() != jc.Digits {
				t.Fatalf("fixture range %d…%d at %d digits, the encoding says %d…%d at %d", jc.Lowest, jc.Highest, jc.Digits,
					foreign.LowestTrackableValue(), foreign.HighestTrackableValue(), foreign.SignificantFigures())
			}
			if h.Count() != jc.Count || h.Min() != time.Duration(jc.Min)*us || h.Clamped() != jc.Above1h {
				t.Errorf("Count, Min, Clamped = %d, %v, %d; Java: %d, %v, %d above 1h", h.Count(), h.Min(), h.Clamped(), jc.Count, time.Duration(jc.Min)*us, jc.Above1h)
			}
			nested := jc.Lowest == 1 && jc.Digits >= SignificantFigures
			// Max is p100, and checked like the percentiles.
			for _, pv := range append(jc.Percentiles, [2]float64{100, float64(jc.Max)}) {
				p, jv := pv[0], int64(pv[1])
				got := h.Percentile(p)
				switch {
				case jv > int64(Highest/us):
					if got != Highest {
						t.Errorf("p%v = %v, want Highest (Java: %d µs)", p, got, jv)
					}
				case nested:
					// Java reports the top of its bucket; smp's bucket holding
					// that value is the same or a wider one with the same top,
					// or, for finer foreign buckets, one that contains it.
					if !ourBucketHolds(got, jv) {
						t.Errorf("p%v = %v, Java: %d µs", p, got, jv)
					}
				default:
					if !foreign.ValuesAreEquivalent(int64(got/us), jv) || got > time.Duration(jv)*us {
						t.Errorf("p%v = %v, want in Java's bucket of %d µs, at or below it", p, got, jv)
					}
				}
			}
		})
	}
}

// ourBucketHolds reports whether v µs lies in the bar whose To is got.
func ourBucketHolds(got time.Duration, v int64) bool {
	h := New()
	h.Record(time.Duration(v) * us)
	return h.Max() == got
}

// TestJavaReadsEncode checks that the Java implementation reads what Encode
// writes and reports the same figures as hist does.
func TestJavaReadsEncode(t *testing.T) {
	hs := interopHistograms()
	if *updateInterop {
		var lines []string
		for _, h := range hs {
			enc, err := h.Encode()
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, enc)
		}
		writeFixture(t, goEncoded, []byte(strings.Join(lines, "\n")+"\n"))
		writeFixture(t, javaReadGo, runJava(t, "decode", goEncoded))
	}
	b, err := os.ReadFile(filepath.Join(interopDir, goEncoded))
	if err != nil {
		t.Fatal(err)
	}
	stored := strings.Fields(string(b))
	figs := readFigures(t, javaReadGo)
	if len(stored) != len(hs) || len(figs) != len(hs) {
		t.Fatalf("%d stored encodings and %d Java readings for %d histograms", len(stored), len(figs), len(hs))
	}
	for i, h := range hs {
		jf := figs[i]
		enc, err := h.Encode()
		if err != nil {
			t.Fatal(err)
		}
		// zlib's output may change between Go releases; the V2 content Java
		// read must not.
		if got, want := inflate(t, enc), inflate(t, stored[i]); !bytes.Equal(got, want) {
			t.Fatalf("histogram %d: Encode's V2 content differs from what Java read (%d vs %d bytes)", i, len(got), len(want))
		}
		if jf.Lowest != 1 || jf.Highest != int64(Highest/us) || jf.Digits != SignificantFigures {
			t.Errorf("histogram %d: Java read the range %d…%d at %d digits", i, jf.Lowest, jf.Highest, jf.Digits)
		}
		if h.Count() != jf.Count || h.Min() != time.Duration(jf.Min)*us || h.Max() != min(time.Duration(jf.Max)*us, Highest) {
			t.Errorf("histogram %d: Count, Min, Max = %d, %v, %v; Java: %d, %d µs, %d µs", i, h.Count(), h.Min(), h.Max(), jf.Count, jf.Min, jf.Max)
		}
		if !near(h.Mean(), jf.Mean) || !near(h.StdDev(), jf.StdDev) {
			t.Errorf("histogram %d: Mean, StdDev = %v, %v; Java: %v µs, %v µs", i, h.Mean(), h.StdDev(), jf.Mean, jf.StdDev)
		}
		for _, pv := range jf.Percentiles {
			if got, want := h.Percentile(pv[0]), min(time.Duration(pv[1])*us, Highest); got != want {
				t.Errorf("histogram %d: p%v = %v, Java: %v", i, pv[0], got, want)
			}
		}
	}
}

// near reports whether d is javaMicros rounded to the nanosecond, allowing
// for the two implementations summing in different orders.
func near(d time.Duration, javaMicros float64) bool {
	return math.Abs(float64(d)-javaMicros*float64(us)) <= 1
}

func inflate(t *testing.T, enc string) []byte {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		t.Fatal(err)
	}
	z, err := zlib.NewReader(bytes.NewReader(raw[8:]))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
