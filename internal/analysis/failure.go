package analysis

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// failures says why each measured trial of doc does not count as a measurement: it sent
// no request, none of its requests succeeded, or its error rate (overflow included)
// exceeded the plan's workload.error_ceiling (spec.DefaultErrorCeiling without a plan).
// Trials of a capacity search are judged by the search's own SLO and left out.
func failures(doc *result.Document) []string {
	ceiling := spec.DefaultErrorCeiling
	if doc.Plan != nil && doc.Plan.Workload.ErrorCeiling != nil {
		ceiling = *doc.Plan.Workload.ErrorCeiling
	}
	var out []string
	for _, t := range doc.Trials {
		if t.Status == result.StatusFailed || t.Search != nil {
			continue
		}
		c := t.Counts
		switch rate := c.ErrorRate(); {
		case c.Requests+c.Overflow == 0:
			out = append(out, fmt.Sprintf("trial %s: no request was sent", t.ID))
		case c.Succeeded == 0:
			out = append(out, fmt.Sprintf("trial %s: %s", t.ID, NothingSucceeded(t)))
		case rate > ceiling:
			out = append(out, fmt.Sprintf("trial %s: error rate %s exceeds the ceiling of %s (workload.error_ceiling)",
				t.ID, format(rate, "ratio"), format(ceiling, "ratio")))
		}
	}
	return out
}

// RatesNotHeld says which open-loop trials of doc did not hold their requested rate, and
// why (the generator's own reason, Load.RateWarning), one line per trial: "trial
// builtin-2: rate not held: …". Trials that failed outright are failures' business, and
// a capacity search's steps are meant to find a rate that does not hold.
func RatesNotHeld(doc *result.Document) []string {
	var out []string
	for _, t := range doc.Trials {
		l := t.Load
		if t.Status == result.StatusFailed || t.Search != nil || l.ClosedLoop || l.RequestedRateRPS <= 0 || l.RateHeld {
			continue
		}
		why := l.RateWarning
		if why == "" {
			why = fmt.Sprintf("achieved %.1f/s of %.1f/s requested", l.AchievedRateRPS, l.RequestedRateRPS)
		}
		out = append(out, fmt.Sprintf("trial %s: rate not held: %s", t.ID, strings.TrimPrefix(why, "could not hold rate: ")))
	}
	return out
}

// NothingSucceeded says why a trial that sent load has no successful request — "no
// request succeeded: 1000 of 1000 failed (refused 1000)" — or "" when some succeeded or
// none was due.
func NothingSucceeded(t result.Trial) string {
	c := t.Counts
	if c.Succeeded > 0 || c.Requests+c.Overflow == 0 {
		return ""
	}
	classes := slices.SortedFunc(maps.Keys(t.ErrorsByClass), func(a, b string) int {
		return cmp.Or(cmp.Compare(t.ErrorsByClass[b], t.ErrorsByClass[a]), cmp.Compare(a, b))
	})
	parts := make([]string, len(classes))
	for i, k := range classes {
		parts[i] = fmt.Sprintf("%s %d", k, t.ErrorsByClass[k])
	}
	why := fmt.Sprintf("no request succeeded: %d of %d failed", c.Failed+c.Overflow, c.Requests+c.Overflow)
	if len(parts) > 0 {
		why += " (" + strings.Join(parts, ", ") + ")"
	}
	return why
}
