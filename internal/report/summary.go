package report

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// FormatMS prints a latency in milliseconds with three significant digits, the precision
// of the histograms: 0.0412, 0.412, 4.12, 41.2, 412.
func FormatMS(ms float64) string {
	switch {
	case ms == 0:
		return "0"
	case math.Abs(ms) >= 100:
		return strconv.FormatFloat(ms, 'f', 0, 64)
	case math.Abs(ms) >= 10:
		return strconv.FormatFloat(ms, 'f', 1, 64)
	case math.Abs(ms) >= 1:
		return strconv.FormatFloat(ms, 'f', 2, 64)
	case math.Abs(ms) >= 0.1:
		return strconv.FormatFloat(ms, 'f', 3, 64)
	}
	return strconv.FormatFloat(ms, 'f', 4, 64)
}

// FormatBytes prints a byte count with a binary unit.
func FormatBytes(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for math.Abs(b) >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", b)
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}

func percentileLabel(p float64) string {
	return "p" + strconv.FormatFloat(p, 'f', -1, 64)
}

// Trial writes the summary of one trial, the way `smp load` shows it.
func Trial(w io.Writer, t *result.Trial) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, args...)) }

	l := t.Load
	mode := "closed loop (as fast as possible)"
	if !l.ClosedLoop {
		mode = fmt.Sprintf("open loop at %.6g rps", l.RequestedRateRPS)
		if l.Pattern != "" {
			mode += ", " + l.Pattern
		}
	}
	conns := fmt.Sprintf("%d connections", l.Connections)
	if l.Streams > 1 {
		conns += fmt.Sprintf(" × %d streams", l.Streams)
	}
	row("Target", "%s", strings.Join(t.Targets, ", "))
	row("Load", "%s, %s, %s", mode, conns, t.Generator.Name)
	dur := time.Duration(l.DurationMS * float64(time.Millisecond)).Round(time.Millisecond)
	warm := ""
	if t.Warmup != nil {
		warm = fmt.Sprintf(" after %s of warm-up", t.Warmup.EndTime.Sub(t.Warmup.StartTime).Round(time.Millisecond))
	}
	row("Measured", "%s%s", dur, warm)
	held := "held"
	if !l.RateHeld {
		held = "NOT HELD"
	}
	if l.ClosedLoop {
		row("Requests", "%d  (%.1f/s)", t.Counts.Requests, l.AchievedRateRPS)
	} else {
		row("Requests", "%d  (%.1f/s achieved of %.6g requested: %s)", t.Counts.Requests, l.AchievedRateRPS, l.RequestedRateRPS, held)
	}
	errs := fmt.Sprintf("%d  (%.2f%%)", t.Counts.Failed+t.Counts.Overflow, 100*t.Counts.ErrorRate())
	if len(t.ErrorsByClass) > 0 {
		errs += "  " + countsLine(t.ErrorsByClass)
	}
	row("Errors", "%s", errs)
	if len(t.StatusCodes) > 0 {
		row("Status", "%s", countsLine(t.StatusCodes))
	}
	row("Latency", "%s  ms, %s", distLine(&t.Latency), latencyOrigin(t.Generator.Name))
	if t.ServiceTime != nil {
		row("Service time", "%s  ms, from the actual send", distLine(t.ServiceTime))
	}
	if t.StartLag != nil && !l.ClosedLoop {
		row("Start lag", "%s  ms behind schedule", distLine(t.StartLag))
	}
	if l.GeneratorCPUMcores > 0 {
		gen := fmt.Sprintf("%.0f mcores of CPU", l.GeneratorCPUMcores)
		if l.SpinUS > 0 {
			gen += fmt.Sprintf(", spinning %.0f µs per request", l.SpinUS)
		}
		row("Generator", "%s", gen)
	}
	row("Bytes", "%s received, %s sent", FormatBytes(float64(t.BytesReceived)), FormatBytes(float64(t.BytesSent)))
	if t.Counts.ConnectionsOpened > 0 {
		row("Connections", "%d opened", t.Counts.ConnectionsOpened)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, warning := range t.Warnings {
		if _, err := fmt.Fprintf(w, "WARNING: %s\n", warning); err != nil {
			return err
		}
	}
	return nil
}

func distLine(d *result.Distribution) string {
	if d.Count == 0 {
		return "no samples"
	}
	parts := []string{"min " + FormatMS(d.MinMS)}
	for _, p := range d.Percentiles {
		parts = append(parts, percentileLabel(p.Percentile)+" "+FormatMS(p.ValueMS))
	}
	parts = append(parts, "max "+FormatMS(d.MaxMS), "mean "+FormatMS(d.MeanMS))
	return strings.Join(parts, "  ")
}

func countsLine(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// latencyOrigin says where a generator's latency clock starts: only smp's engine and wrk2
// charge a request from its intended send time (coordinated-omission correct); fortio,
// wrk and nighthawk start it when the request is actually sent.
func latencyOrigin(g spec.Generator) string {
	switch g {
	case spec.GeneratorBuiltin, spec.GeneratorWrk2, "":
		return "from the intended send time"
	}
	return "from the actual send (" + string(g) + " does not correct coordinated omission)"
}

// latencyNote describes where the latency of a document's trials is measured from.
func latencyNote(doc *result.Document) string {
	seen := map[string]bool{}
	var notes []string
	for _, t := range doc.Trials {
		n := latencyOrigin(t.Generator.Name)
		if !seen[n] {
			seen[n] = true
			notes = append(notes, n)
		}
	}
	if len(notes) != 1 {
		return "latency from the intended send time for builtin and wrk2 trials, from the actual send for others"
	}
	return "latency " + notes[0]
}

// RunFailure is the one line that says why a run failed although it ran: its analysis
// found trials that are not measurements (no request succeeded, too many errors). The
// first reason is given, and how many more there are; "" when none failed.
func RunFailure(doc *result.Document) string {
	if doc.Analysis == nil {
		return ""
	}
	return firstAndMore(doc.Analysis.Failed)
}

// RateNotHeld is the one line that says which open-loop trial of a run did not hold its
// rate and why (Analysis.RateNotHeld): the first, and how many more there are; "" when
// every trial held it.
func RateNotHeld(doc *result.Document) string {
	if doc.Analysis == nil {
		return ""
	}
	return firstAndMore(doc.Analysis.RateNotHeld)
}

// firstAndMore is the first of a trial's lines, and how many more trials there are.
func firstAndMore(lines []string) string {
	switch len(lines) {
	case 0:
		return ""
	case 1:
		return lines[0]
	}
	return fmt.Sprintf("%s (and %d more trial(s))", lines[0], len(lines)-1)
}
