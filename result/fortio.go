package result

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/spec"
)

// fortio's result JSON (fhttp.HTTPRunnerResults with periodic.RunnerResults and the
// flattened HTTPOptions), which fortio's report browser and Meshery's charts read. Times
// in its histograms are seconds; ActualDuration is nanoseconds; RetCodes maps an HTTP
// status (or -1 for a socket error) to a count.
type fortioResult struct {
	RunType                 string           `json:"RunType"`
	Labels                  string           `json:"Labels"`
	StartTime               time.Time        `json:"StartTime"`
	RequestedQPS            string           `json:"RequestedQPS"`
	RequestedDuration       string           `json:"RequestedDuration"`
	ActualQPS               float64          `json:"ActualQPS"`
	ActualDuration          int64            `json:"ActualDuration"`
	NumThreads              int              `json:"NumThreads"`
	Version                 string           `json:"Version"`
	DurationHistogram       fortioHistogram  `json:"DurationHistogram"`
	ErrorsDurationHistogram fortioHistogram  `json:"ErrorsDurationHistogram"`
	Exactly                 int64            `json:"Exactly"`
	Jitter                  bool             `json:"Jitter"`
	Uniform                 bool             `json:"Uniform"`
	NoCatchUp               bool             `json:"NoCatchUp"`
	RunID                   int64            `json:"RunID"`
	AccessLoggerInfo        string           `json:"AccessLoggerInfo"`
	ID                      string           `json:"ID"`
	RetCodes                map[string]int64 `json:"RetCodes"`
	URL                     string           `json:"URL,omitempty"`
	NumConnections          int              `json:"NumConnections"`
	DisableKeepAlive        bool             `json:"DisableKeepAlive"`
	Sizes                   *fortioHistogram `json:"Sizes,omitempty"`
	SocketCount             int64            `json:"SocketCount"`
	// TCP runs (tcprunner.RunnerResults).
	BytesSent     int64 `json:"BytesSent,omitempty"`
	BytesReceived int64 `json:"BytesReceived,omitempty"`
	// gRPC runs (fgrpc.GRPCRunnerResults).
	Destination string `json:"Destination,omitempty"`
	Streams     int    `json:"Streams,omitempty"`
	// LoadGenerator is the key Meshery adds to the runner results it stores.
	LoadGenerator string `json:"load-generator"`
}

type fortioHistogram struct {
	Count       int64              `json:"Count"`
	Min         float64            `json:"Min"`
	Max         float64            `json:"Max"`
	Sum         float64            `json:"Sum"`
	Avg         float64            `json:"Avg"`
	StdDev      float64            `json:"StdDev"`
	Data        []fortioBucket     `json:"Data"`
	Percentiles []fortioPercentile `json:"Percentiles,omitempty"`
}

type fortioBucket struct {
	Start   float64 `json:"Start"`
	End     float64 `json:"End"`
	Percent float64 `json:"Percent"`
	Count   int64   `json:"Count"`
}

type fortioPercentile struct {
	Percentile float64 `json:"Percentile"`
	Value      float64 `json:"Value"`
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// fortioHist converts an HDR histogram into fortio's form. Buckets are the canonical
// buckets at bounds, clipped to [Min, Max] as fortio's are, empty ones left out; their
// counts add up to Count.
func fortioHist(h *hist.Histogram, percentiles []float64, bounds []time.Duration) fortioHistogram {
	s := h.Snapshot()
	out := fortioHistogram{Count: s.Count, Data: []fortioBucket{}}
	if s.Count == 0 {
		return out
	}
	out.Min, out.Max = seconds(s.Min), seconds(s.Max)
	out.Avg, out.StdDev = seconds(s.Mean), seconds(s.StdDev)
	out.Sum = out.Avg * float64(s.Count)
	prev := s.Min
	for _, b := range h.Buckets(bounds) {
		end := b.UpperBound
		if end > s.Max || b.UpperBound == hist.InfBound {
			end = s.Max
		}
		if b.Count > 0 {
			out.Data = append(out.Data, fortioBucket{Start: seconds(prev), End: seconds(end), Percent: b.CumulativePercent, Count: b.Count})
		}
		if end > prev {
			prev = end
		}
	}
	for _, p := range percentiles {
		out.Percentiles = append(out.Percentiles, fortioPercentile{Percentile: p, Value: seconds(h.Percentile(p))})
	}
	return out
}

// ExportFortio writes fortio result JSON: one object for a single arm (or opt.Arm), an
// array of one object per arm otherwise, as Meshery's runner_results holds them. Each
// arm's repetitions are pooled.
func ExportFortio(w io.Writer, d *Document, opt ExportOptions) error {
	arms := d.Arms()
	if opt.Arm != "" {
		if !slices.Contains(arms, opt.Arm) {
			return fmt.Errorf("export fortio: no arm %q in %s (arms: %v)", opt.Arm, d.ID, arms)
		}
		arms = []string{opt.Arm}
	}
	var out []fortioResult
	for _, arm := range arms {
		r, err := fortioFor(d, arm)
		if err != nil {
			return fmt.Errorf("export fortio: %w", err)
		}
		out = append(out, r)
	}
	if len(out) == 1 {
		return writeJSONOrYAML(w, out[0], false)
	}
	return writeJSONOrYAML(w, out, false)
}

func fortioFor(d *Document, arm string) (fortioResult, error) {
	trials := d.TrialsOf(arm)
	if len(trials) == 0 {
		return fortioResult{}, fmt.Errorf("arm %q has no measured trials", arm)
	}
	percentiles, bounds := d.percentilesAndBounds()
	// fortio's DurationHistogram holds every call, failed ones included, and
	// ErrorsDurationHistogram the failed ones again.
	all, errs := hist.New(), hist.New()
	for _, t := range trials {
		h, err := t.Latency.Histogram.decode()
		if err != nil {
			return fortioResult{}, fmt.Errorf("trial %s: %w", t.ID, err)
		}
		all.Merge(h)
		if t.ErrorLatency != nil && t.ErrorLatency.Histogram.Data != "" {
			eh, err := t.ErrorLatency.Histogram.decode()
			if err != nil {
				return fortioResult{}, fmt.Errorf("trial %s errors: %w", t.ID, err)
			}
			all.Merge(eh)
			errs.Merge(eh)
		}
	}
	totals := d.Totals(arm)
	first := trials[0]
	r := fortioResult{
		RunType:                 "HTTP",
		Labels:                  strings.TrimSpace(d.Name + " " + arm),
		StartTime:               totals.Start,
		RequestedQPS:            "max",
		ActualQPS:               totals.AchievedRPS(),
		ActualDuration:          int64(totals.Measured),
		NumThreads:              first.Load.Connections,
		Version:                 "smp",
		DurationHistogram:       fortioHist(all, percentiles, bounds),
		ErrorsDurationHistogram: fortioHist(errs, percentiles, bounds),
		ID:                      d.ID + "_" + arm,
		RetCodes:                fortioRetCodes(totals),
		NumConnections:          first.Load.Connections,
		SocketCount:             totals.Counts.ConnectionsOpened,
		LoadGenerator:           string(first.Generator.Name),
		Uniform:                 first.Load.Pattern == string(spec.PatternConstant),
		Jitter:                  first.Load.Pattern == string(spec.PatternUniform),
	}
	if rate := first.Load.RequestedRateRPS; rate > 0 && !first.Load.ClosedLoop {
		r.RequestedQPS = strconv.FormatFloat(rate, 'f', -1, 64)
	}
	r.RequestedDuration = time.Duration(math.Round(float64(totals.Measured) / float64(len(trials)))).Round(time.Millisecond).String()
	if d.Plan != nil {
		r.RequestedDuration = d.Plan.Workload.Duration.String()
		r.DisableKeepAlive = d.Plan.Workload.KeepAlive != nil && !*d.Plan.Workload.KeepAlive
		if d.Plan.Workload.Protocol == spec.ProtocolGRPC {
			r.RunType = "GRPC"
			r.Streams = d.Plan.Workload.Streams
		}
	}
	if len(first.Targets) > 0 {
		r.URL = first.Targets[0]
		if r.RunType == "GRPC" {
			r.Destination = first.Targets[0]
		}
	}
	if totals.Counts.Requests > 0 {
		avg := float64(totals.BytesReceived) / float64(totals.Counts.Requests)
		r.Sizes = &fortioHistogram{Count: totals.Counts.Requests, Min: avg, Max: avg, Avg: avg,
			Sum: float64(totals.BytesReceived), Data: []fortioBucket{{Start: avg, End: avg, Percent: 100, Count: totals.Counts.Requests}}}
	}
	return r, nil
}

// fortioRetCodes turns our status counts into fortio's: HTTP codes as they are, gRPC codes
// without the "grpc:" prefix (fortio keys gRPC results by status name), and every request
// that got no status at all (refused, reset, timeout, …) under -1 as fortio does.
func fortioRetCodes(t ArmTotals) map[string]int64 {
	out := map[string]int64{}
	var withStatus int64
	for k, v := range t.StatusCodes {
		out[strings.TrimPrefix(k, "grpc:")] += v
		withStatus += v
	}
	if rest := t.Counts.Requests - withStatus; rest > 0 {
		out["-1"] += rest
	}
	return out
}
