package spec

import (
	"fmt"
	"strconv"
)

// A zero written in a native plan is refused where WithDefaults would replace it: the
// user asked for 0, and silently getting 30s or 16 instead is worse than an error. (Fields
// whose zero has a meaning and is kept are pointers: rate 0 is closed loop, warmup 0s is
// none, response_size 0 is an empty body.) SMP and Meshery files are exempt: their
// protobuf origins write 0 for "unset".

// zeroRule is a field whose written zero is refused: why, and the fix.
type zeroRule struct {
	path, message, fix string
}

func removeFor(def, or string) string {
	return fmt.Sprintf("remove the line for the default (%s), or %s", def, or)
}

var zeroRules = []zeroRule{
	{"repetitions", "0 repetitions measure nothing", removeFor(strconv.Itoa(DefaultRepetitions), "write how many times to measure each arm")},
	{"seed", "seed 0 is reserved: it stands for no seed", removeFor("1", "write any other number")},
	{"workload.connections", "0 connections send nothing", removeFor("16", "write how many connections to open")},
	{"workload.streams", "0 streams per connection send nothing", removeFor("1", "write how many streams each connection carries")},
	{"workload.max_inflight", "max_inflight 0 would skip every request", removeFor("10000", "write a positive number")},
	{"workload.duration", "a measured phase of 0s measures nothing", removeFor("30s", "write how long to measure, e.g. 30s")},
	{"workload.timeout", "a timeout of 0s fails every request", removeFor("10s", "write a positive duration, e.g. 2s")},
	{"workload.app.services", "an app of 0 services has nothing to load", removeFor("3", "write 1 to 64")},
	{"workload.app.replicas", "0 replicas run nothing", removeFor("1", "write how many pods each service has")},
	{"workload.arrival.seed", "seed 0 is reserved: it stands for no seed", "remove the line to use the plan's seed, or write any other number"},
	{"workload.arrival.jitter", "jitter 0 is not a uniform pattern", removeFor("0.1", "use pattern: constant for evenly spaced requests")},
	{"workload.arrival.ramp", "a ramp of 0s is a jump, not a ramp", "remove the line to ramp over the whole duration, or use pattern: step"},
	{"workload.arrival.realworld.burst_factor", "burst_factor 0 would stop the traffic in every burst", removeFor("3", "write 1 for no bursts")},
	{"workload.arrival.realworld.burst_every", "bursts every 0s are not bursts", removeFor("15s", "set burst_factor: 1 for no bursts")},
	{"workload.arrival.realworld.burst_length", "bursts of 0s are not bursts", removeFor("2s", "set burst_factor: 1 for no bursts")},
	{"workload.arrival.realworld.diurnal_period", "a diurnal period of 0s is no cycle", removeFor("the duration", "set diurnal_amplitude: 0 for no swing")},
	{"workload.find_max.p99", "no step holds a p99 of 0s", removeFor("25ms", "write the highest p99 a step may have")},
	{"workload.find_max.start_rate", "a search cannot start at 0 rps", removeFor("100", "write the first rate to try")},
	{"workload.find_max.max_rate", "a search cannot stop at 0 rps", removeFor("1000000", "write the highest rate to try")},
	{"workload.find_max.precision", "a precision of 0 never ends the search", removeFor("0.02", "write a fraction up to 0.5")},
	{"workload.find_max.step_duration", "steps of 0s measure nothing", removeFor("5s", "write how long each step measures")},
	{"metrics.interval", "an interval of 0s samples nothing", removeFor("1s", "write a duration of at least 10ms")},
	{"metrics.buckets.from", "log buckets cannot start at 0s", removeFor("10us", "write the lowest bound, at least 1us")},
	{"metrics.buckets.to", "log buckets cannot end at 0s", removeFor("10s", "write the highest bound")},
	{"metrics.buckets.per_decade", "0 buckets per decade are no buckets", removeFor("5", "write 1 to 100")},
}

// zeros reports the written zeros that WithDefaults would replace. It runs on a native
// plan as decoded, before defaults.
func (d *decoder) zeros(p *Plan) {
	w, m := &p.Workload, &p.Metrics
	f := w.FindMax
	rw := w.Arrival.RealWorld
	zero := map[string]bool{
		"repetitions": p.Repetitions == 0, "seed": p.Seed == 0,
		"workload.connections": w.Connections == 0, "workload.streams": w.Streams == 0,
		"workload.max_inflight": w.MaxInflight == 0, "workload.duration": w.Duration == 0,
		"workload.timeout": w.Timeout == 0, "workload.app.services": w.App.Services == 0,
		"workload.app.replicas": w.App.Replicas == 0, "workload.arrival.seed": w.Arrival.Seed == 0,
		"workload.arrival.jitter": w.Arrival.Jitter == 0, "workload.arrival.ramp": w.Arrival.Ramp == 0,
		"workload.arrival.realworld.burst_factor": rw.BurstFactor == 0, "workload.arrival.realworld.burst_every": rw.BurstEvery == 0,
		"workload.arrival.realworld.burst_length": rw.BurstLength == 0, "workload.arrival.realworld.diurnal_period": rw.DiurnalPeriod == 0,
		"workload.find_max.p99": f.P99 == 0, "workload.find_max.start_rate": f.StartRate == 0,
		"workload.find_max.max_rate": f.MaxRate == 0, "workload.find_max.precision": f.Precision == 0,
		"workload.find_max.step_duration": f.StepDuration == 0, "metrics.interval": m.Interval == 0,
		"metrics.buckets.from": m.Buckets.From == 0, "metrics.buckets.to": m.Buckets.To == 0,
		"metrics.buckets.per_decade": m.Buckets.PerDecade == 0,
	}
	for _, r := range zeroRules {
		if zero[r.path] && d.written(r.path) {
			d.failPath(r.path, r.fix, "%s", r.message)
		}
	}
	for i, r := range w.Mix {
		if at := fmt.Sprintf("workload.mix[%d].weight", i); r.Weight == 0 && d.written(at) {
			d.failPath(at, "remove the entry, or give it a positive weight (without one it is 1)", "a weight of 0 never sends this request")
		}
	}
	for i, c := range m.Collectors {
		if at := fmt.Sprintf("metrics.collectors[%d].interval", i); c.Interval == 0 && d.written(at) {
			d.failPath(at, "remove the line to sample every metrics.interval, or write a positive duration", "an interval of 0s samples nothing")
		}
	}
	if d.written("metrics.percentiles") && len(m.Percentiles) == 0 {
		d.failPath("metrics.percentiles", "remove the line for the default (50, 90, 95, 99, 99.9), or list the percentiles to report",
			"an empty list reports no percentile")
	}
	if w.Agents == 0 && len(w.AgentURLs) > 0 && d.written("workload.agents") {
		d.failPath("workload.agents", "remove agents: it is the number of agent_urls", "agents: 0 runs the load in smp itself, but agent_urls are listed")
	}
}

// written reports whether the plan file gave a (non-null) value at path that decoded
// (a value that did not decode has its error already, and is zero for that reason).
func (d *decoder) written(path string) bool {
	if _, ok := d.src.pos[path]; !ok || d.nulls[path] {
		return false
	}
	for _, e := range d.errs {
		if e.Path == path {
			return false
		}
	}
	return true
}
