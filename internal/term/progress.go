package term

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Progress is one snapshot of a running load test.
type Progress struct {
	Phase         string        // "warmup" or "measure"
	Elapsed       time.Duration // since the phase started
	PhaseDuration time.Duration
	Requests      int64   // completed in the phase
	Errors        int64   // failed in the phase
	Rate          float64 // completed per second, last interval
	RequestedRate float64 // 0 in closed loop
	InFlight      int64
	P50, P99      time.Duration
}

// Mode selects how progress is shown.
type Mode int

const (
	// Auto is Live on a terminal and Lines otherwise.
	Auto Mode = iota
	// Live rewrites one line in place with \r.
	Live
	// Lines prints one line per update, for logs and CI.
	Lines
	// Quiet prints nothing.
	Quiet
)

// ProgressPrinter writes progress to w. It is not safe for concurrent use;
// the engine calls it from one goroutine.
type ProgressPrinter struct {
	w       io.Writer
	mode    Mode
	lastLen int // width of the live line, to blank leftovers
}

// NewProgressPrinter returns a printer for w. With Auto, w is live when it
// is an *os.File attached to a terminal.
func NewProgressPrinter(w io.Writer, mode Mode) *ProgressPrinter {
	if mode == Auto {
		mode = Lines
		if IsTerminal(w) {
			mode = Live
		}
	}
	return &ProgressPrinter{w: w, mode: mode}
}

// IsTerminal reports whether w is a character device (a terminal), without
// a dependency on x/term: a pipe, a file or a buffer is not. A writer that
// filters another (it has an Unwrap() io.Writer method, as redaction's has) is
// a terminal when the writer it wraps is.
func IsTerminal(w io.Writer) bool {
	for {
		u, ok := w.(interface{ Unwrap() io.Writer })
		if !ok {
			break
		}
		w = u.Unwrap()
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Update shows p.
func (pp *ProgressPrinter) Update(p Progress) {
	switch pp.mode {
	case Quiet:
		return
	case Live:
		line := Format(p)
		pad := ""
		if n := pp.lastLen - len(line); n > 0 {
			pad = strings.Repeat(" ", n)
		}
		pp.lastLen = len(line)
		fmt.Fprintf(pp.w, "\r%s%s", line, pad)
	default:
		fmt.Fprintln(pp.w, Format(p))
	}
}

// Done ends the live line so that what follows starts on a fresh line.
func (pp *ProgressPrinter) Done() {
	if pp.mode == Live && pp.lastLen > 0 {
		fmt.Fprintln(pp.w)
		pp.lastLen = 0
	}
}

// Format renders p as one line, e.g.
// "measure  3s/10s  1000.0/s of 1000/s  in flight 2  errors 0  p50 0.210ms  p99 1.052ms".
func Format(p Progress) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-7s %s/%s  %.1f/s", p.Phase, round(p.Elapsed), round(p.PhaseDuration), p.Rate)
	if p.RequestedRate > 0 {
		fmt.Fprintf(&b, " of %.0f/s", p.RequestedRate)
	}
	fmt.Fprintf(&b, "  in flight %d  requests %d  errors %d", p.InFlight, p.Requests, p.Errors)
	if p.Requests > 0 {
		fmt.Fprintf(&b, " (%.2f%%)", 100*float64(p.Errors)/float64(p.Requests))
	}
	fmt.Fprintf(&b, "  p50 %s  p99 %s", ms(p.P50), ms(p.P99))
	return b.String()
}

func round(d time.Duration) time.Duration { return d.Round(time.Second) }

// ms prints a latency in milliseconds with µs resolution: one unit keeps
// successive lines comparable at a glance.
func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond)) }
