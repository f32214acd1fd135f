package analysis

import (
	"math"

	"github.com/service-mesh-performance/smp/internal/hist"
)

// The resolution of each scalar metric: the smallest difference between two arms that
// the instrument can tell, in the metric's unit. A delta smaller than its resolution is
// never significant (controlFamily), however narrow its interval: when every trial gives
// the same count, the spread is 0 and only the resolution stands between a difference of
// one request and a verdict.

// userHZ is the kernel's clock tick for process CPU times in /proc (USER_HZ, 100 on
// every Linux architecture smp runs on): procfs CPU figures move in steps of 10 ms.
const userHZ = 100

// pageBytes is one memory page: RSS moves in pages.
const pageBytes = 4096

// meanSeconds is the mean measured time of the trials of both arms that have any.
func meanSeconds(arms ...*armData) float64 {
	var sum float64
	n := 0
	for _, ad := range arms {
		for _, t := range ad.trials {
			if d := t.EndTime.Sub(t.StartTime); d > 0 {
				sum += d.Seconds()
				n++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// oneRequestPerSecond: a trial's throughput is a count of requests over its measured
// time, so one request more or less moves it by 1/seconds.
func oneRequestPerSecond(base, ad *armData) float64 {
	if s := meanSeconds(base, ad); s > 0 {
		return 1 / s
	}
	return 0
}

// oneRequestInAll: an error rate moves by one request over the requests due in a trial.
func oneRequestInAll(base, ad *armData) float64 {
	var due float64
	n := 0
	for _, x := range []*armData{base, ad} {
		for _, t := range x.trials {
			due += float64(t.Counts.Requests + t.Counts.Overflow)
			n++
		}
	}
	if due == 0 {
		return 0
	}
	return float64(n) / due
}

// oneTick: one clock tick of CPU over the measured time, in millicores.
func oneTick(base, ad *armData) float64 {
	if s := meanSeconds(base, ad); s > 0 {
		return 1000 / userHZ / s
	}
	return 0
}

// oneTickPerKRPS: one tick per 1000 requests per second of the arm's load.
func oneTickPerKRPS(base, ad *armData) float64 {
	rps, ok := throughput(ad, ones(len(ad.trials)))
	if !ok || rps <= 0 {
		return 0
	}
	return oneTick(base, ad) / (rps / 1000)
}

func onePage(*armData, *armData) float64 { return pageBytes }

// oneMicrosecond: the unit latencies are recorded in.
func oneMicrosecond(*armData, *armData) float64 { return ms(hist.LowestDiscernible) }

// searchBracket: a capacity search knows the highest rate only to within the step
// between the last rate that held and the first that broke; the widest mean bracket of
// the two arms is what a difference of capacities must exceed.
func searchBracket(base, ad *armData) float64 {
	var widest float64
	for _, x := range []*armData{base, ad} {
		var sum float64
		n := 0
		for _, t := range x.trials {
			if s := t.Search; s != nil && s.FirstBadRPS > s.MaxRateRPS {
				sum += s.FirstBadRPS - s.MaxRateRPS
				n++
			}
		}
		if n > 0 {
			widest = math.Max(widest, sum/float64(n))
		}
	}
	return widest
}
