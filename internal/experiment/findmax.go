package experiment

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/service-mesh-performance/smp/internal/generator"
	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// heldShare is the share of the requested rate a step must send to count as held. The
// schedule's count is exact, so a healthy generator sends all of it (less the last
// requests interrupted at the end); 5% short means the generator, or the connections it
// was allowed, could not keep up, and the step says nothing about the target.
const heldShare = 0.95

// minSearchRate is where a search that fails at every rate gives up halving.
const minSearchRate = 1.0

// marginalFactor: a step that broke the SLO by less than this factor (p99 and error rate
// both within marginalFactor × their limits) is run once more, and the rate counts as
// broken only if it breaks it again. Machine noise only ever adds latency, and a stall
// of a few hundred milliseconds on a shared machine can push one short step's p99 over
// the SLO well below capacity; above capacity the queue makes p99 grow without bound, so
// a rate clearly over the knee breaks it by far more and is not run twice.
const marginalFactor = 10

// findMax runs workload.find_max for one deployed arm: open-loop steps at rising rates
// (doubling from start_rate, or halving while even that breaks the SLO), then bisection
// between the highest rate that held and the lowest that broke the SLO until they are
// within find_max.precision of each other. It returns the trial of the highest step that
// held (so the trial's figures are the arm at its capacity) with Search attached; when no
// step held, the lowest step's trial. Cancelling ctx ends the search after the current
// step, with what it found so far.
func findMax(ctx context.Context, gen generator.Generator, job generator.Job, fm spec.FindMax, status io.Writer, arm string) (result.Trial, error) {
	search := &result.Search{P99MS: ms(fm.P99.D()), MaxErrorRate: *fm.MaxErrorRate}
	var best, lowest *result.Trial
	step := func(rate float64) (bool, error) {
		j := job
		j.Workload.Rate = &rate
		j.Workload.Duration = fm.StepDuration
		j.Workload.Warmup = fm.StepWarmup
		t, err := gen.Run(ctx, j)
		if err != nil {
			return false, fmt.Errorf("find-max step at %g rps: %w", rate, err)
		}
		s := judge(t, rate, fm)
		if !s.Pass && marginal(s, fm) && ctx.Err() == nil {
			s.Reason += "; marginal, so run again"
			search.Steps = append(search.Steps, s)
			fmt.Fprintf(status, "smp:   %s %s\n", arm, stepLine(s))
			if t, err = gen.Run(ctx, j); err != nil {
				return false, fmt.Errorf("find-max step at %g rps: %w", rate, err)
			}
			s = judge(t, rate, fm)
		}
		search.Steps = append(search.Steps, s)
		fmt.Fprintf(status, "smp:   %s %s\n", arm, stepLine(s))
		if s.Pass {
			if best == nil || rate > best.Load.RequestedRateRPS {
				best = &t
			}
		} else if lowest == nil || rate < lowest.Load.RequestedRateRPS {
			lowest = &t
		}
		return s.Pass, nil
	}
	fmt.Fprintf(status, "smp:   %s find-max: p99 ≤ %s, errors ≤ %s, steps of %s\n", arm, fm.P99, pct(*fm.MaxErrorRate), fm.StepDuration)
	fmt.Fprintf(status, "smp:   %s %s\n", arm, stepHeader)
	good, bad, err := searchRates(ctx, fm, step)
	if err != nil {
		return result.Trial{}, err
	}
	search.MaxRateRPS, search.FirstBadRPS = good, bad
	search.AtLeast = bad == 0 && good >= fm.MaxRate
	out := best
	if out == nil {
		out = lowest
	}
	if out == nil {
		return result.Trial{}, fmt.Errorf("find-max: no step ran: %w", ctx.Err())
	}
	t := *out
	t.Search = search
	switch {
	case best == nil:
		t.Warnings = append(t.Warnings, fmt.Sprintf("find-max: no rate down to %g rps held the SLO; the figures are the lowest step's", lowestRate(search)))
	case search.AtLeast:
		t.Warnings = append(t.Warnings, fmt.Sprintf("find-max: the SLO still held at find_max.max_rate %g rps; the capacity is higher", fm.MaxRate))
	}
	if w := stepSamplingWarning(fm, job.Metrics.Interval.D()); w != "" {
		t.Warnings = append(t.Warnings, w)
	}
	fmt.Fprintf(status, "smp:   %s max sustainable rate: %s\n", arm, search.Outcome())
	return t, nil
}

// searchRates is the search itself, over a step function that runs one rate and says
// whether it held the SLO: it returns the highest rate that held (0 when none did) and
// the lowest that did not (0 when none broke it). Pure apart from step, so that the
// algorithm is tested on its own (TestSearchRates) as well as against a server.
func searchRates(ctx context.Context, fm spec.FindMax, step func(rate float64) (bool, error)) (good, bad float64, err error) {
	rate := math.Min(fm.StartRate, fm.MaxRate)
	// Exponential phase: double while it holds, halve while it does not.
	for ctx.Err() == nil {
		ok, err := step(rate)
		if err != nil {
			return good, bad, err
		}
		if ok {
			good = rate
			if bad != 0 || rate >= fm.MaxRate {
				break
			}
			rate = math.Min(2*rate, fm.MaxRate)
			continue
		}
		bad = rate
		if good != 0 {
			break
		}
		if rate/2 < minSearchRate {
			return 0, bad, nil
		}
		rate /= 2
	}
	// Bisection between the highest good and the lowest bad rate.
	for ctx.Err() == nil && good > 0 && bad > 0 && (bad-good)/good > fm.Precision {
		mid := (good + bad) / 2
		ok, err := step(mid)
		if err != nil {
			return good, bad, err
		}
		if ok {
			good = mid
		} else {
			bad = mid
		}
	}
	return good, bad, nil
}

// judge decides whether one step held the SLO.
func judge(t result.Trial, rate float64, fm spec.FindMax) result.SearchStep {
	s := result.SearchStep{RateRPS: rate, AchievedRPS: t.Load.AchievedRateRPS, ErrorRate: t.Counts.ErrorRate()}
	var reasons []string
	if h, err := hist.Decode(t.Latency.Histogram.Data); err == nil && h.Count() > 0 {
		s.P50MS, s.P99MS = ms(h.Percentile(50)), ms(h.Percentile(99))
	} else {
		reasons = append(reasons, "no successful request")
	}
	requested := t.Load.RequestedRateRPS
	if requested == 0 {
		requested = rate
	}
	s.Held = t.Status != result.StatusFailed && t.Counts.Overflow == 0 && t.Load.AchievedRateRPS >= heldShare*requested
	if !s.Held {
		reasons = append(reasons, fmt.Sprintf("rate not held (sent %.0f of %.0f rps, %d skipped)", t.Load.AchievedRateRPS, requested, t.Counts.Overflow))
	}
	if s.P99MS > ms(fm.P99.D()) {
		reasons = append(reasons, fmt.Sprintf("p99 %.3gms > %s", s.P99MS, fm.P99))
	}
	if s.ErrorRate > *fm.MaxErrorRate {
		reasons = append(reasons, fmt.Sprintf("errors %s > %s", pct(s.ErrorRate), pct(*fm.MaxErrorRate)))
	}
	s.Pass = len(reasons) == 0
	s.Reason = strings.Join(reasons, "; ")
	return s
}

// marginal reports whether a broken step was close enough to its SLO to be noise.
func marginal(s result.SearchStep, fm spec.FindMax) bool {
	return s.P99MS <= marginalFactor*ms(fm.P99.D()) &&
		s.ErrorRate <= math.Max(marginalFactor**fm.MaxErrorRate, 0.01) &&
		s.AchievedRPS >= heldShare*s.RateRPS/2
}

const stepHeader = "    rate/s  achieved/s     p50 ms     p99 ms   errors  verdict"

func stepLine(s result.SearchStep) string {
	verdict := "ok"
	if !s.Pass {
		verdict = "broke: " + s.Reason
	}
	return fmt.Sprintf("%10.0f  %10.0f %10.3f %10.3f %8s  %s", s.RateRPS, s.AchievedRPS, s.P50MS, s.P99MS, pct(s.ErrorRate), verdict)
}

func lowestRate(s *result.Search) float64 {
	lo := math.Inf(1)
	for _, st := range s.Steps {
		lo = math.Min(lo, st.RateRPS)
	}
	return lo
}

func pct(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// stepSamplingWarning says when find-max steps are too short for the resource
// collectors: the trial's resources come from one step's window, and a window of fewer
// than three samples gives no CPU figure (a rate needs two samples inside it, and the
// window's edges rarely fall on one).
func stepSamplingWarning(fm spec.FindMax, interval time.Duration) string {
	if interval <= 0 || fm.StepDuration.D() >= 3*interval {
		return ""
	}
	return fmt.Sprintf("find-max: steps of %s hold fewer than 3 resource samples (metrics.interval %s), so CPU and memory "+
		"may be missing; use find_max.step_duration of at least %s or a shorter metrics.interval", fm.StepDuration, spec.Duration(interval), spec.Duration(3*interval))
}
