package analysis

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// Options configure Analyze. Zero values mean the defaults.
type Options struct {
	// Replicates is the number of bootstrap replicates per interval. Default: 1000. At
	// least 100: a 95% interval reads its ends from the 2.5% tails, which must hold more
	// than a replicate or two.
	Replicates int
	// Confidence of the intervals, between 0 and 1. Default: 0.95.
	Confidence float64
	// Seed of the bootstrap. Default: the plan's seed, or 1 for a document without a plan.
	Seed int64
	// Percentiles are the latency percentiles compared. Default: the plan's
	// metrics.percentiles, or spec.DefaultPercentiles for a document without a plan.
	Percentiles []float64
}

const (
	defaultReplicates = 1000
	minReplicates     = 100
	defaultConfidence = 0.95
)

func (o Options) withDefaults(doc *result.Document) Options {
	if o.Replicates == 0 {
		o.Replicates = defaultReplicates
	}
	if o.Confidence == 0 {
		o.Confidence = defaultConfidence
	}
	if o.Seed == 0 {
		o.Seed = 1
		if doc.Plan != nil && doc.Plan.Seed != 0 {
			o.Seed = doc.Plan.Seed
		}
	}
	if len(o.Percentiles) == 0 {
		o.Percentiles = spec.DefaultPercentiles()
		if doc.Plan != nil && len(doc.Plan.Metrics.Percentiles) > 0 {
			o.Percentiles = doc.Plan.Metrics.Percentiles
		}
	}
	return o
}

// Validate reports every problem with (defaulted) options.
func (o Options) Validate() error {
	var errs []error
	if o.Replicates < minReplicates {
		errs = append(errs, fmt.Errorf("analysis: %d bootstrap replicates; use at least %d", o.Replicates, minReplicates))
	}
	if !(o.Confidence > 0 && o.Confidence < 1) {
		errs = append(errs, fmt.Errorf("analysis: confidence %g is not between 0 and 1", o.Confidence))
	}
	for _, p := range o.Percentiles {
		if !(p > 0 && p <= 100) {
			errs = append(errs, fmt.Errorf("analysis: percentile %g is not in (0, 100]", p))
		}
	}
	return errors.Join(errs...)
}

// The method, as the result records it (result.AnalysisMethod).
const (
	methodTest = "Student's t over per-trial figures (latency percentiles on a log scale), " +
		"pooled variance; with one repetition per arm no test, and a request bootstrap interval"
	methodFamily     = "holm over the deltas of each arm"
	methodBootstrap  = "percentile; requests resampled (arms measured once)"
	methodCompFamily = "holm over every delta of the comparison"
)

// Analyze compares every arm of doc with the baseline arm (doc.Plan.Baseline) and
// evaluates the plan's SLOs and the extra conditions (which apply to every arm; overhead
// conditions to every arm but the baseline). It reads doc and changes nothing; it does no
// I/O. The same document and options always give the same result.
//
// Edge cases: without a plan, the baseline is the first arm whose trials ran without a
// mesh. Without a measured baseline there are no deltas, and overhead SLOs fail saying
// so. A delta that cannot be computed (an arm whose proxies were not measured) is left
// out; an SLO that cannot be computed fails with the reason. An arm with no measured
// trials has no deltas. Analysis.Pass is true when every SLO passed (and when there are
// none). Errors are returned only for invalid options and undecodable histograms.
func Analyze(doc *result.Document, extra []spec.Condition, opts Options) (*result.Analysis, error) {
	if doc == nil {
		return nil, errors.New("analysis: no result document")
	}
	opts = opts.withDefaults(doc)
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	a := newAnalyzer(doc, opts)
	out := &result.Analysis{Baseline: a.baseline, Method: &result.AnalysisMethod{
		Test: methodTest, Family: methodFamily, Bootstrap: methodBootstrap,
		Replicates: opts.Replicates, Confidence: opts.Confidence, Seed: opts.Seed}}
	if base := a.arm(a.baseline); base != nil && len(base.trials) > 0 {
		for _, name := range a.arms {
			ad := a.arm(name)
			if name == a.baseline || len(ad.trials) == 0 {
				continue
			}
			deltas, err := a.deltas(base, ad)
			if err != nil {
				return nil, err
			}
			mark, err := a.meshMark(base, ad)
			if err != nil {
				return nil, err
			}
			out.Overhead = append(out.Overhead, result.ArmOverhead{Arm: name, Deltas: deltas, MeshMark: mark})
		}
	}
	slos, err := a.slos(extra)
	if err != nil {
		return nil, err
	}
	out.SLO = slos
	out.Failed = failures(doc)
	out.RateNotHeld = RatesNotHeld(doc)
	out.RateMissAllowed = doc.Plan != nil && doc.Plan.Workload.AllowRateMiss
	out.Pass = true
	for _, s := range out.SLO {
		out.Pass = out.Pass && s.Pass
	}
	out.Outcome = outcome(out)
	return out, nil
}

// outcome is the one-word verdict of an analysis, the first that applies of: a trial
// that is not a measurement, a rate not held (unless allowed), a failed SLO.
func outcome(a *result.Analysis) result.Outcome {
	switch {
	case len(a.Failed) > 0:
		return result.OutcomeNotMeasured
	case len(a.RateNotHeld) > 0 && !a.RateMissAllowed:
		return result.OutcomeRateNotHeld
	case !a.Pass:
		return result.OutcomeSLOFailed
	}
	return result.OutcomePass
}

type analyzer struct {
	doc      *result.Document
	opts     Options
	baseline string
	arms     []string
	cache    map[string]*armData
}

func newAnalyzer(doc *result.Document, opts Options) *analyzer {
	a := &analyzer{doc: doc, opts: opts, arms: doc.Arms(), cache: map[string]*armData{}}
	if doc.Plan != nil {
		a.baseline = doc.Plan.Baseline
	} else {
		for _, name := range a.arms {
			if ts := doc.TrialsOf(name); len(ts) > 0 && ts[0].Mesh.Type.IsBaseline() {
				a.baseline = name
				break
			}
		}
	}
	return a
}

// armData is what the analysis needs of one arm, computed once.
type armData struct {
	name   string
	trials []result.Trial
	// meshless is set for an arm without a mesh: it has no proxies by design, so its
	// proxy usage is 0 rather than unknown.
	meshless bool
	// roles holds per-trial usage by role (NaN where a trial measured no such component).
	roles map[result.Role]*roleUsage
	// dists holds the decoded distributions of each kind (latency, service_time,
	// start_lag), set by dist.
	dists map[string]*pooledDist
	// imported is the format of a document read from another tool (result.Import), whose
	// source lacks some figures; empty for smp's own.
	imported string
}

// roleUsage is the usage of the components of one role, per trial.
type roleUsage struct {
	cpuMean, cpuTotal, memMean, memTotal []float64 // per trial; NaN when none measured
	cpuPeak, memPeak                     float64   // over all trials and components; NaN when none
}

func (a *analyzer) arm(name string) *armData {
	if name == "" {
		return nil
	}
	if ad, ok := a.cache[name]; ok {
		return ad
	}
	ad := newArmData(a.doc, name, name)
	a.cache[name] = ad
	return ad
}

// newArmData gathers arm name of doc. key names its random streams (the arm name within
// a run; run and arm when runs are compared).
func newArmData(doc *result.Document, name, key string) *armData {
	ad := &armData{name: key, trials: doc.TrialsOf(name), roles: map[result.Role]*roleUsage{}, dists: map[string]*pooledDist{}}
	if doc.Imported != nil {
		ad.imported = doc.Imported.Format
	}
	// The plan says what the arm is; the trials' observed mesh stands in without a plan.
	ad.meshless = len(ad.trials) == 0 || ad.trials[0].Mesh.Type.IsBaseline()
	if doc.Plan != nil {
		for _, arm := range doc.Plan.Arms {
			if arm.Name == name {
				ad.meshless = arm.Mesh.IsBaseline()
			}
		}
	}
	return ad
}

// measured reports whether a resource figure is usable: no error, or an error (a process
// that exited mid-window) after at least two samples, which is enough for CPU and memory.
func measured(r result.Resource) bool { return r.Error == "" || r.Samples >= 2 }

func (ad *armData) role(role result.Role) *roleUsage {
	if u, ok := ad.roles[role]; ok {
		return u
	}
	k := len(ad.trials)
	u := &roleUsage{cpuMean: make([]float64, k), cpuTotal: make([]float64, k), memMean: make([]float64, k),
		memTotal: make([]float64, k), cpuPeak: math.NaN(), memPeak: math.NaN()}
	for j, t := range ad.trials {
		var cpu, mem float64
		n := 0
		for _, r := range t.Resources {
			if r.Role != role || !measured(r) {
				continue
			}
			n++
			cpu += r.CPUMcoresAvg
			mem += float64(r.MemoryBytesAvg)
			u.cpuPeak = nanMax(u.cpuPeak, r.CPUMcoresMax)
			u.memPeak = nanMax(u.memPeak, float64(r.MemoryBytesMax))
		}
		if n == 0 {
			u.cpuMean[j], u.cpuTotal[j], u.memMean[j], u.memTotal[j] = math.NaN(), math.NaN(), math.NaN(), math.NaN()
			continue
		}
		u.cpuMean[j], u.cpuTotal[j], u.memMean[j], u.memTotal[j] = cpu/float64(n), cpu, mem/float64(n), mem
	}
	ad.roles[role] = u
	return u
}

func nanMax(a, b float64) float64 {
	if math.IsNaN(a) || b > a {
		return b
	}
	return a
}

// weightedMean is Σ w·x / Σ w over the xs that are not NaN; ok is false when there are
// none (or their weights are all 0).
func weightedMean(xs, w []float64) (float64, bool) {
	var s, n float64
	for j, x := range xs {
		if !math.IsNaN(x) {
			s += w[j] * x
			n += w[j]
		}
	}
	if n == 0 {
		return 0, false
	}
	return s / n, true
}

func ones(k int) []float64 {
	w := make([]float64, k)
	for i := range w {
		w[i] = 1
	}
	return w
}

// pooledDist is one kind of distribution of an arm's trials: each trial's histogram, and
// all of them merged losslessly (what result.Pool summarises, without re-encoding it).
type pooledDist struct {
	trials []*hist.Histogram
	pooled *hist.Histogram
	boot   *histBoot // built on first use
}

// dist decodes and pools the arm's distributions of one kind: "latency", "service_time"
// or "start_lag". It is uncomputable when a trial did not record that kind.
func (ad *armData) dist(kind string) (*pooledDist, error) {
	if pd, ok := ad.dists[kind]; ok {
		return pd, nil
	}
	pd := &pooledDist{pooled: hist.New()}
	for _, t := range ad.trials {
		d := &t.Latency
		switch kind {
		case "service_time":
			d = t.ServiceTime
		case "start_lag":
			d = t.StartLag
		}
		if d == nil {
			return nil, uncomputable("trial %s did not record %s (generator %s)", t.ID, kind, t.Generator.Name)
		}
		h, err := decode(d.Histogram)
		if err != nil {
			return nil, fmt.Errorf("analysis: trial %s: %s: %w", t.ID, kind, err)
		}
		pd.trials = append(pd.trials, h)
		pd.pooled.Merge(h)
	}
	ad.dists[kind] = pd
	return pd, nil
}

func (pd *pooledDist) resampler() *histBoot {
	if pd.boot == nil {
		pd.boot = newHistBoot(pd.trials)
	}
	return pd.boot
}

// scalar is an arm metric that is a function of its trials, weighted (all ones for the
// estimate; bootstrap multiplicities for a replicate).
type scalar struct {
	metric, unit string
	eval         func(ad *armData, w []float64) (float64, bool)
	// fixed reports whether the arm's value does not depend on its trials (the proxy usage
	// of an arm without proxies), so that it needs no repetitions for an interval.
	fixed func(ad *armData) bool
	// resolution is the smallest difference of the metric the instrument can tell
	// (resolution.go).
	resolution func(base, ad *armData) float64
}

func never(*armData) bool { return false }

// proxyFixed: an arm without a mesh and without measured proxies has proxy usage 0.
func proxyFixed(ad *armData) bool {
	if !ad.meshless {
		return false
	}
	_, ok := weightedMean(ad.role(result.RoleProxy).cpuMean, ones(len(ad.trials)))
	return !ok
}

// roleMean is the mean per component of a role, averaged over the trials that measured
// any; 0 for the proxies of an arm without proxies.
func roleMean(role result.Role, pick func(*roleUsage) []float64) func(*armData, []float64) (float64, bool) {
	return func(ad *armData, w []float64) (float64, bool) {
		if role == result.RoleProxy && proxyFixed(ad) {
			return 0, true
		}
		return weightedMean(pick(ad.role(role)), w)
	}
}

func throughput(ad *armData, w []float64) (float64, bool) {
	var req, sec float64
	for j, t := range ad.trials {
		req += w[j] * float64(t.Counts.Requests)
		sec += w[j] * t.EndTime.Sub(t.StartTime).Seconds()
	}
	if sec <= 0 {
		return 0, false
	}
	return req / sec, true
}

func errorRate(ad *armData, w []float64) (float64, bool) {
	var bad, due float64
	for j, t := range ad.trials {
		bad += w[j] * float64(t.Counts.Failed+t.Counts.Overflow)
		due += w[j] * float64(t.Counts.Requests+t.Counts.Overflow)
	}
	if due == 0 {
		return 0, false
	}
	return bad / due, true
}

// proxyPerKRPS is the CPU of all proxies together per 1000 requests per second of achieved
// load: mean total proxy mcores over achieved krps.
func proxyPerKRPS(ad *armData, w []float64) (float64, bool) {
	if proxyFixed(ad) {
		return 0, true
	}
	cpu, ok := weightedMean(ad.role(result.RoleProxy).cpuTotal, w)
	rps, ok2 := throughput(ad, w)
	if !ok || !ok2 || rps <= 0 {
		return 0, false
	}
	return cpu / (rps / 1000), true
}

var scalars = []scalar{
	{"throughput", "rps", throughput, never, oneRequestPerSecond},
	{"error_rate", "ratio", errorRate, never, oneRequestInAll},
	{"cpu.proxy", "mcores", roleMean(result.RoleProxy, func(u *roleUsage) []float64 { return u.cpuMean }), proxyFixed, oneTick},
	{"memory.proxy", "bytes", roleMean(result.RoleProxy, func(u *roleUsage) []float64 { return u.memMean }), proxyFixed, onePage},
	{"cpu.app", "mcores", roleMean(result.RoleApp, func(u *roleUsage) []float64 { return u.cpuMean }), never, oneTick},
	// Entry via gateway only: every arm has one, so its difference is what the mesh adds
	// to it (mTLS towards the first sidecar).
	{"cpu.gateway", "mcores", roleMean(result.RoleGateway, func(u *roleUsage) []float64 { return u.cpuMean }), never, oneTick},
	{"cpu.proxy.per_krps", "mcores", proxyPerKRPS, proxyFixed, oneTickPerKRPS},
	// Keep-alive off only (handshake.go): mean connect + TLS time per request, and TLS alone.
	{"handshake", "ms", handshakeMean(false), never, oneMicrosecond},
	{"handshake.tls", "ms", handshakeMean(true), never, oneMicrosecond},
	// Capacity searches only (handshake.go): the highest rate that held the SLO.
	{"max_rate", "rps", maxRate, never, searchBracket},
}

// deltas compares arm ad with the baseline, and gives the arm's deltas their verdicts as
// one family (controlFamily). A histogram rebuilt from another tool's summary has no
// sampling behind it that a test could use: its differences are shown without an
// interval or verdict, and figures its source lacks are left out.
func (a *analyzer) deltas(base, ad *armData) ([]result.Delta, error) {
	measured := !base.rebuilt() && !ad.rebuilt()
	out, err := a.latencyDeltas(base, ad, measured)
	if err != nil {
		return nil, err
	}
	for _, m := range scalars {
		if base.lacks(m.metric) || ad.lacks(m.metric) {
			continue
		}
		bv, bok := m.eval(base, ones(len(base.trials)))
		av, aok := m.eval(ad, ones(len(ad.trials)))
		if !bok || !aok {
			continue
		}
		d := newDelta(m.metric, m.unit, bv, av)
		d.Resolution = m.resolution(base, ad)
		bFixed, aFixed := m.fixed(base), m.fixed(ad)
		if s, ok := trialSpread(perTrial(m, base), perTrial(m, ad), bFixed, aFixed); ok && measured {
			lo, hi, p := tTest(d.Delta, s, a.opts.Confidence)
			a.setCI(&d, lo, hi, result.IntervalTrials)
			d.PValue = &p
		}
		out = append(out, d)
	}
	family := make([]*result.Delta, len(out))
	for i := range out {
		family[i] = &out[i]
	}
	controlFamily(family, a.opts.Confidence)
	return out, nil
}

// lacks reports whether an imported arm's source cannot give metric: no imported result
// holds CPU or memory figures, and an SMP result holds no error counts.
func (ad *armData) lacks(metric string) bool {
	switch {
	case ad.imported == "":
		return false
	case strings.HasPrefix(metric, "cpu.") || strings.HasPrefix(metric, "memory."):
		return true
	case metric == "error_rate":
		return ad.imported == result.ImportSMP
	}
	return false
}

// rebuilt reports whether any of the arm's latencies was rebuilt from an imported
// result's summary rather than recorded (result.Distribution.Rebuilt).
func (ad *armData) rebuilt() bool {
	for _, t := range ad.trials {
		if t.Latency.Rebuilt != "" {
			return true
		}
	}
	return false
}

// perTrial is a scalar metric of each trial alone (NaN where the trial has none).
func perTrial(m scalar, ad *armData) []float64 {
	out := make([]float64, len(ad.trials))
	w := make([]float64, len(ad.trials))
	for j := range ad.trials {
		clear(w)
		w[j] = 1
		v, ok := m.eval(ad, w)
		out[j] = v
		if !ok {
			out[j] = math.NaN()
		}
	}
	return out
}

// latencyDeltas compares the latency percentiles of the plan (metrics.percentiles) of
// arm ad with the baseline's. Each figure is the percentile of the arm's pooled
// histogram. With repetitions, the interval and test come from the spread of the
// per-trial percentiles, on a log scale (trialSpread, tTest): a repetition's whole
// distribution moves by a factor (another placement, another CPU frequency), and a ratio
// is what both arms share. With one repetition per arm, the interval resamples requests
// and there is no verdict; an arm that was not measured (rebuilt histograms) gets
// neither.
func (a *analyzer) latencyDeltas(base, ad *armData, measured bool) ([]result.Delta, error) {
	bl, err := base.dist("latency")
	if err != nil {
		return nil, err
	}
	al, err := ad.dist("latency")
	if err != nil {
		return nil, err
	}
	if bl.pooled.Count() == 0 || al.pooled.Count() == 0 {
		return nil, nil
	}
	ps := a.opts.Percentiles
	var lo, hi []float64
	var bootOK []bool
	out := make([]result.Delta, len(ps))
	for i, p := range ps {
		bp, ap := bl.pooled.Percentile(p), al.pooled.Percentile(p)
		d := newDelta(latencyMetric(p), "ms", ms(bp), ms(ap))
		d.Resolution = ms(hist.Resolution(max(bp, ap)))
		if !measured {
			out[i] = d
			continue
		}
		if s, ok := trialSpread(logPercentiles(bl, p), logPercentiles(al, p), false, false); ok {
			llo, lhi, pv := tTest(math.Log(ms(ap)/ms(bp)), s, a.opts.Confidence)
			a.setCI(&d, ms(bp)*math.Expm1(llo), ms(bp)*math.Expm1(lhi), result.IntervalTrials)
			d.PValue = &pv
		} else {
			if lo == nil {
				lo, hi, bootOK = a.percentileIntervals(ad.name, ps, bl.resampler(), al.resampler())
			}
			if bootOK[i] {
				a.setCI(&d, lo[i], hi[i], result.IntervalRequests)
			}
		}
		out[i] = d
	}
	return out, nil
}

func latencyMetric(p float64) string { return "latency.p" + strconv.FormatFloat(p, 'f', -1, 64) }

// logPercentiles is the log of percentile p (in ms) of each trial that has latencies;
// NaN for one without. A percentile reads the top of an HDR bucket, never 0.
func logPercentiles(pd *pooledDist, p float64) []float64 {
	out := make([]float64, len(pd.trials))
	for j, h := range pd.trials {
		out[j] = math.NaN()
		if h.Count() > 0 {
			out[j] = math.Log(ms(max(h.Percentile(p), hist.LowestDiscernible)))
		}
	}
	return out
}

func newDelta(metric, unit string, base, value float64) result.Delta {
	d := result.Delta{Metric: metric, Unit: unit, Baseline: base, Value: value, Delta: value - base}
	if base != 0 {
		pct := d.Delta / base * 100
		d.DeltaPercent = &pct
	}
	return d
}

func (a *analyzer) setCI(d *result.Delta, lo, hi float64, interval string) {
	d.CILow, d.CIHigh, d.Confidence, d.Interval = &lo, &hi, a.opts.Confidence, interval
}

// percentileIntervals bootstraps the difference of each percentile in ps between the arm
// and the baseline by resampling requests (see histBoot.replicate); ok[i] is false when
// too few replicates held a value. It is the interval of arms measured once.
func (a *analyzer) percentileIntervals(arm string, ps []float64, bboot, aboot *histBoot) (lo, hi []float64, ok []bool) {
	r := newRand(a.opts.Seed, arm, "latency")
	B := a.opts.Replicates
	reps := make([][]float64, len(ps))
	for i := range reps {
		reps[i] = make([]float64, B)
	}
	bw, aw := make([]int64, len(bboot.n)), make([]int64, len(aboot.n))
	bv, av := make([]float64, len(ps)), make([]float64, len(ps))
	for b := range B {
		bboot.replicate(r, ps, bv, bw)
		aboot.replicate(r, ps, av, aw)
		for i := range ps {
			reps[i][b] = av[i] - bv[i]
		}
	}
	lo, hi, ok = make([]float64, len(ps)), make([]float64, len(ps)), make([]bool, len(ps))
	for i := range ps {
		lo[i], hi[i], ok[i] = interval(reps[i], a.opts.Confidence)
	}
	return lo, hi, ok
}
