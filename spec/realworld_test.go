package spec_test

import (
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/spec"
)

// TestRealWorldDefaults: pattern realworld gets its documented defaults, churn only
// where connections are reused, and zeros written in the plan stay zeros (they switch
// a part off).
func TestRealWorldDefaults(t *testing.T) {
	p, err := spec.Parse("p.yaml", []byte("workload:\n  duration: 40s\n  arrival: realworld\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := p.Workload.Arrival.RealWorld
	if r.BurstFactor != 3 || r.BurstEvery.D() != 15*time.Second || r.BurstLength.D() != 2*time.Second ||
		r.DiurnalPeriod.D() != 40*time.Second || *r.DiurnalAmplitude != 0.5 || *r.Noise != 0.1 || *r.SizeSpread != 0.5 || *r.Churn != 100 {
		t.Errorf("defaults: %+v amplitude %v noise %v spread %v churn %v", r, *r.DiurnalAmplitude, *r.Noise, *r.SizeSpread, *r.Churn)
	}
	p, err = spec.Parse("p.yaml", []byte("workload:\n  protocol: h2c\n  arrival:\n    pattern: realworld\n    realworld: {noise: 0, diurnal_amplitude: 0, burst_factor: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	r = p.Workload.Arrival.RealWorld
	if *r.Churn != 0 || *r.Noise != 0 || *r.DiurnalAmplitude != 0 || r.BurstFactor != 1 {
		t.Errorf("h2c with parts switched off: churn %v noise %v amplitude %v burst %v", *r.Churn, *r.Noise, *r.DiurnalAmplitude, r.BurstFactor)
	}
	p, err = spec.Parse("p.yaml", []byte("workload:\n  rate: 10\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Workload.Arrival.RealWorld != (spec.RealWorld{}) || p.Workload.FindMax != (spec.FindMax{}) {
		t.Error("realworld and find_max defaults must not appear in plans that do not use them")
	}
}

func TestFindMaxDefaults(t *testing.T) {
	p, err := spec.Parse("p.yaml", []byte("workload:\n  find_max: {enabled: true, start_rate: 50}\n"))
	if err != nil {
		t.Fatal(err)
	}
	f := p.Workload.FindMax
	if f.P99.D() != 25*time.Millisecond || *f.MaxErrorRate != 0.001 || f.StartRate != 50 || f.MaxRate != 1e6 ||
		f.Precision != 0.02 || f.StepDuration.D() != 5*time.Second || f.StepWarmup.D() != time.Second {
		t.Errorf("find_max defaults %+v (error rate %v, warmup %v)", f, *f.MaxErrorRate, *f.StepWarmup)
	}
}
