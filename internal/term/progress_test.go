package term

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

var sample = Progress{Phase: "measure", Elapsed: 3 * time.Second, PhaseDuration: 10 * time.Second, Requests: 3000, Errors: 3,
	Rate: 1000, RequestedRate: 1000, InFlight: 2, P50: 210 * time.Microsecond, P99: 1052 * time.Microsecond}

func TestFormat(t *testing.T) {
	got := Format(sample)
	want := "measure 3s/10s  1000.0/s of 1000/s  in flight 2  requests 3000  errors 3 (0.10%)  p50 0.210ms  p99 1.052ms"
	if got != want {
		t.Errorf("Format:\n got %q\nwant %q", got, want)
	}
	closed := sample
	closed.RequestedRate, closed.Requests, closed.Errors = 0, 0, 0
	if s := Format(closed); strings.Contains(s, " of ") || strings.Contains(s, "%") {
		t.Errorf("closed loop with no requests: %q", s)
	}
}

func TestModes(t *testing.T) {
	t.Run("lines", func(t *testing.T) {
		var buf bytes.Buffer
		pp := NewProgressPrinter(&buf, Auto) // a buffer is not a terminal
		pp.Update(sample)
		pp.Update(sample)
		pp.Done()
		if lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n"); len(lines) != 2 || strings.Contains(buf.String(), "\r") {
			t.Errorf("want two plain lines, got %q", buf.String())
		}
	})
	t.Run("live", func(t *testing.T) {
		var buf bytes.Buffer
		pp := NewProgressPrinter(&buf, Live)
		long := sample
		long.Requests = 123456789
		pp.Update(long)
		pp.Update(sample)
		pp.Done()
		out := buf.String()
		parts := strings.Split(out, "\r")
		if len(parts) != 3 || !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
			t.Fatalf("want two \\r updates and one final newline, got %q", out)
		}
		// The shorter second line is padded to blank the first's tail.
		if len(strings.TrimSuffix(parts[2], "\n")) != len(parts[1]) {
			t.Errorf("second line %d wide, first %d: leftovers would show", len(parts[2]), len(parts[1]))
		}
	})
	t.Run("quiet", func(t *testing.T) {
		var buf bytes.Buffer
		pp := NewProgressPrinter(&buf, Quiet)
		pp.Update(sample)
		pp.Done()
		if buf.Len() != 0 {
			t.Errorf("quiet wrote %q", buf.String())
		}
	})
}

func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) || IsTerminal(&bytes.Buffer{}) {
		t.Error("a file or a buffer is not a terminal")
	}
}

type filter struct{ w io.Writer }

func (f filter) Write(p []byte) (int, error) { return f.w.Write(p) }
func (f filter) Unwrap() io.Writer           { return f.w }

// A writer that filters a character device (a redacting one) is a terminal too.
func TestIsTerminalThroughAFilter(t *testing.T) {
	dev, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer dev.Close()
	if !IsTerminal(dev) {
		t.Skipf("%s is not a character device here", os.DevNull)
	}
	if !IsTerminal(filter{filter{dev}}) {
		t.Error("a filter over a character device is not taken for a terminal")
	}
}
