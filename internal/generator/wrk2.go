package generator

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/internal/proc"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// Wrk2 drives the wrk2 binary (github.com/giltene/wrk2, installed as "wrk2"): a constant
// total rate (-R), latency corrected from each request's planned send time, the
// uncorrected view beside it (-U). smp reads its --latency text output.
type Wrk2 struct{ bin *binary }

// NewWrk2 returns the wrk2 generator; the binary is looked for by Check or Run.
func NewWrk2() *Wrk2 {
	return &Wrk2{bin: &binary{name: "wrk2",
		hint:        "build github.com/giltene/wrk2 (make) and put its wrk binary on PATH as wrk2",
		versionArgs: []string{"-v"}, parse: parseWrkVersion}}
}

// wrk2Calibration is wrk2's CALIBRATE_DELAY_MS: each thread measures for 10 s (plus 5 ms
// per connection it opens, staggered), then resets its histograms. smp adds it to -d so
// that the histograms cover workload.duration.
const wrk2Calibration = 10 * time.Second

// Caveats of every wrk2 trial.
const (
	wrk2CaveatCO = "corrected latency from the planned send; 1 ms timer granularity: each connection follows a " +
		"constant-rate plan and is charged from its planned send time, but wrk2 paces with millisecond timers, so " +
		"latencies are accurate to about ±1 ms"
	wrk2CaveatCalibration = "wrk2's 10 s calibration is its warm-up (workload.warmup is not applied apart): the histograms " +
		"exclude it, but the request, byte and error counts of its summary include it"
	wrk2CaveatSpectrum = "histograms rebuilt from wrk2's detailed percentile spectrum: each tick's new count is recorded at " +
		"the tick's value, so a percentile between two ticks reads as the upper tick"
)

// Info implements Generator.
func (g *Wrk2) Info() result.GeneratorInfo {
	return result.GeneratorInfo{Name: spec.GeneratorWrk2, Version: g.bin.cached(),
		Caveats: []string{wrk2CaveatCO, wrk2CaveatCalibration, wrk2CaveatSpectrum}}
}

// Check implements Checker.
func (g *Wrk2) Check(ctx context.Context, w spec.Workload) error {
	if err := wrk2Check(w); err != nil {
		return err
	}
	_, _, err := g.bin.find(ctx)
	return err
}

func wrk2Check(w spec.Workload) error {
	if err := wrkCheck(w, spec.GeneratorWrk2); err != nil {
		return err
	}
	if w.Rate == nil || *w.Rate < 1 {
		return errors.New("wrk2 needs a rate of at least 1/s (-R)")
	}
	return nil
}

// Run implements Generator.
func (g *Wrk2) Run(ctx context.Context, job Job) (result.Trial, error) {
	w := job.Workload
	if err := wrk2Check(w); err != nil {
		return result.Trial{}, err
	}
	path, extra, target, warn, req, err := prepareWrk(ctx, g.bin, job)
	if err != nil {
		return result.Trial{}, err
	}
	script, cleanup, err := wrkFiles(req, "")
	if err != nil {
		return result.Trial{}, err
	}
	defer cleanup()

	conns := max(w.Connections, 1)
	threads := wrkThreads(conns)
	rate := math.Round(*w.Rate)
	calib := wrk2Calibration + time.Duration((conns+threads-1)/threads)*5*time.Millisecond
	ds, _ := wholeSeconds("workload.duration", calib+w.Duration.D())
	timeoutS, twarn := wholeSeconds("workload.timeout", w.Timeout.D())
	m := &measurement{requestedRate: rate, rateHeld: true, connectionsAsked: conns, streams: 1,
		errors: map[string]int64{}, status: map[string]int64{}}
	m.warnings = appendNonEmpty(m.warnings, warn, twarn)
	if rate != *w.Rate {
		m.warnings = append(m.warnings, fmt.Sprintf("wrk2 takes a whole rate: %g/s sent as %g/s", *w.Rate, rate))
	}
	if wu := w.Warmup; wu != nil && wu.D() > calib {
		m.warnings = append(m.warnings, fmt.Sprintf("workload.warmup %s is longer than wrk2's calibration (%s), which replaces it", wu.D(), calib))
	}
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", strconv.Itoa(ds) + "s",
		"-R", strconv.FormatFloat(rate, 'f', 0, 64), "--latency", "-U", "--timeout", strconv.Itoa(timeoutS) + "s", "-s", script}
	args = append(append(args, extra...), target)
	start := time.Now()
	out, interrupted, err := runToEnd(ctx, proc.Cmd{Name: "wrk2", Path: path, Args: args},
		time.Duration(timeoutS)*time.Second+5*time.Second)
	if err != nil {
		return result.Trial{}, fmt.Errorf("wrk2: %w", err)
	}
	rep, err := parseWrk2(out)
	if err != nil {
		return result.Trial{}, fmt.Errorf("wrk2: %w", err)
	}
	m.partial = interrupted
	rep.into(m, start, calib)
	return m.trial(g.Info(), job)
}

// wrk2Report is wrk2's --latency -U output.
type wrk2Report struct {
	recorded, uncorrected *spectrum
	requests              int64
	runtime               time.Duration
	bytesRead             int64 // as wrk2 prints it: 2 decimals of a binary unit
	connect, read, write  int64
	timeout, non2xx       int64
	requestsPerSec        float64
}

// spectrum is one "Detailed Percentile spectrum" block, in µs.
type spectrum struct {
	rows       []spectrumRow
	mean, max  float64 // µs, from the "#[Mean …" and "#[Max …" lines
	totalCount int64
}

type spectrumRow struct {
	valueUS    int64
	percentile float64
	totalCount int64
}

var (
	wrk2RequestsLine = regexp.MustCompile(`^\s*(\d+) requests in ([0-9.]+[a-z]+), ([0-9.]+[A-Z]*B) read`)
	wrk2SocketLine   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrk2Non2xxLine   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrk2RateLine     = regexp.MustCompile(`^Requests/sec:\s+([0-9.]+)`)
	wrk2MeanLine     = regexp.MustCompile(`#\[Mean\s*=\s*([0-9.]+),`)
	wrk2MaxLine      = regexp.MustCompile(`#\[Max\s*=\s*([0-9.]+),\s*Total count\s*=\s*(\d+)\]`)
)

// parseWrk2 reads wrk2's report. The recorded spectrum is required; the uncorrected one
// (from -U) is optional.
func parseWrk2(out []byte) (wrk2Report, error) {
	var r wrk2Report
	var cur **spectrum
	inRows := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		trim := strings.TrimSpace(line)
		switch {
		case strings.Contains(line, "Latency Distribution (HdrHistogram - Recorded Latency)"):
			cur, inRows = &r.recorded, false
			continue
		case strings.Contains(line, "Latency Distribution (HdrHistogram - Uncorrected Latency"):
			cur, inRows = &r.uncorrected, false
			continue
		case strings.HasPrefix(trim, "Detailed Percentile spectrum:"):
			if cur == nil {
				return r, errors.New("a percentile spectrum without its Latency Distribution header")
			}
			*cur = &spectrum{}
			continue
		case strings.HasPrefix(trim, "Value") && strings.Contains(trim, "TotalCount"):
			inRows = cur != nil && *cur != nil
			continue
		}
		if m := wrk2MeanLine.FindStringSubmatch(trim); m != nil && cur != nil && *cur != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			(*cur).mean = v * 1000
			inRows = false
			continue
		}
		if m := wrk2MaxLine.FindStringSubmatch(trim); m != nil && cur != nil && *cur != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			n, _ := strconv.ParseInt(m[2], 10, 64)
			(*cur).max, (*cur).totalCount = v*1000, n
			cur = nil
			continue
		}
		if inRows {
			if trim == "" {
				continue
			}
			row, err := parseSpectrumRow(trim)
			if err != nil {
				return r, err
			}
			(*cur).rows = append((*cur).rows, row)
			continue
		}
		if m := wrk2RequestsLine.FindStringSubmatch(line); m != nil {
			r.requests, _ = strconv.ParseInt(m[1], 10, 64)
			var err error
			if r.runtime, err = parseWrkDuration(m[2]); err != nil {
				return r, err
			}
			if r.bytesRead, err = parseWrkBytes(m[3]); err != nil {
				return r, err
			}
		}
		if m := wrk2SocketLine.FindStringSubmatch(line); m != nil {
			r.connect, _ = strconv.ParseInt(m[1], 10, 64)
			r.read, _ = strconv.ParseInt(m[2], 10, 64)
			r.write, _ = strconv.ParseInt(m[3], 10, 64)
			r.timeout, _ = strconv.ParseInt(m[4], 10, 64)
		}
		if m := wrk2Non2xxLine.FindStringSubmatch(line); m != nil {
			r.non2xx, _ = strconv.ParseInt(m[1], 10, 64)
		}
		if m := wrk2RateLine.FindStringSubmatch(trim); m != nil {
			r.requestsPerSec, _ = strconv.ParseFloat(m[1], 64)
		}
	}
	if err := sc.Err(); err != nil {
		return r, fmt.Errorf("read wrk2 output: %w", err)
	}
	if r.recorded == nil || len(r.recorded.rows) == 0 {
		return r, errors.New("no detailed percentile spectrum in wrk2's output (was --latency given, and did the run last past its 10 s calibration?)")
	}
	for _, s := range []*spectrum{r.recorded, r.uncorrected} {
		if s == nil {
			continue
		}
		if len(s.rows) == 0 { // the uncorrected spectrum's header, and the output ends
			return r, errors.New("wrk2's uncorrected percentile spectrum has no rows (was its output cut short?)")
		}
		if last := s.rows[len(s.rows)-1].totalCount; s.totalCount != 0 && last != s.totalCount {
			return r, fmt.Errorf("wrk2's spectrum ends at count %d but its footer says %d", last, s.totalCount)
		}
	}
	return r, nil
}

// parseSpectrumRow reads "12.311 0.999023 39463 1024.00" (ms, fraction, cumulative count,
// 1/(1-p) which is "inf" on the last row).
func parseSpectrumRow(s string) (spectrumRow, error) {
	f := strings.Fields(s)
	if len(f) != 4 {
		return spectrumRow{}, fmt.Errorf("wrk2 spectrum row %q: want 4 columns", s)
	}
	v, err1 := strconv.ParseFloat(f[0], 64)
	p, err2 := strconv.ParseFloat(f[1], 64)
	n, err3 := strconv.ParseInt(f[2], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return spectrumRow{}, fmt.Errorf("wrk2 spectrum row %q: %w", s, err)
	}
	// wrk2 prints values in ms with 3 decimals: whole µs, HdrHistogram's highest value
	// equivalent to the bucket.
	return spectrumRow{valueUS: int64(math.Round(v * 1000)), percentile: p, totalCount: n}, nil
}

// histogram rebuilds the HDR histogram: each row's new count at the row's value. wrk2's
// histogram has smp's geometry (1 µs lowest, 3 significant digits) and prints each tick's
// bucket top, so a count lands in the very bucket it came from when its tick was the next
// non-empty bucket; otherwise it moves up to the tick's bucket.
func (s *spectrum) histogram() *hist.Histogram {
	h := hist.New()
	var prev int64
	for _, row := range s.rows {
		if n := row.totalCount - prev; n > 0 {
			h.RecordN(time.Duration(row.valueUS)*time.Microsecond, n)
		}
		prev = max(prev, row.totalCount)
	}
	return h
}

// into converts the report into m. start is when wrk2 started, calib its calibration.
func (r wrk2Report) into(m *measurement, start time.Time, calib time.Duration) {
	m.latency = r.recorded.histogram()
	if r.uncorrected != nil {
		m.service = r.uncorrected.histogram()
	}
	measured := r.runtime - calib
	if measured <= 0 {
		measured = r.runtime
		m.warnings = append(m.warnings, "wrk2 ended before its calibration did; its histograms cover the whole run")
	}
	m.start = start.Add(r.runtime - measured)
	m.end = m.start.Add(measured)
	m.requests = m.latency.Count()
	if calibrated := r.requests - m.requests; calibrated > 0 {
		m.warmup = &result.Phase{StartTime: start.UTC(), EndTime: m.start.UTC(), Requests: calibrated}
	}
	errs := r.non2xx + r.connect + r.read + r.write + r.timeout
	m.failed = min(errs, m.requests)
	m.succeeded = m.requests - m.failed
	for class, n := range map[string]int64{"http": r.non2xx, "refused": r.connect, "reset": r.read,
		"closed": r.write, "timeout": r.timeout} {
		if n > 0 {
			m.errors[class] += n
		}
	}
	if errs > 0 {
		m.warnings = append(m.warnings, fmt.Sprintf("wrk2 counted %d errors over the whole run, calibration included; "+
			"their responses (if any) are in the latency histogram", errs))
	}
	m.bytesReceived = r.bytesRead
	m.achievedRate = float64(m.requests) / measured.Seconds()
	m.rateHeld, m.rateWarning = rateVerdict(m.requestedRate, m.achievedRate, measured)
}

// parseWrkDuration reads wrk's format_time_us: "30.01s", "1.25ms", "850.00us", "2.00m",
// "1.00h".
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				break
			}
			return time.Duration(v * float64(u.unit)), nil
		}
	}
	return 0, fmt.Errorf("wrk duration %q: want a number and us, ms, s, m or h", s)
}

// parseWrkBytes reads wrk's format_binary: "19.81MB" (base 1024), "512.00B".
func parseWrkBytes(s string) (int64, error) {
	for i, suffix := range []string{"PB", "TB", "GB", "MB", "KB", "B"} {
		if num, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				break
			}
			return int64(math.Round(v * math.Pow(1024, float64(5-i)))), nil
		}
	}
	return 0, fmt.Errorf("wrk byte count %q: want a number and B, KB, MB, GB, TB or PB", s)
}
