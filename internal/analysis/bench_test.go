package analysis_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/analysis"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// benchDoc is a typical document: a baseline and two mesh arms, three repetitions each,
// n requests per trial (20 000 is 30 s at 650 rps), with resources for a 3-service chain
// and four SLOs.
func benchDoc(b *testing.B, n int) *result.Document {
	r := rand.New(rand.NewPCG(1, 1))
	arms := []armSpec{{name: "baseline", mesh: spec.MeshNone}, {name: "builtin", mesh: spec.MeshBuiltin}, {name: "haproxy", mesh: spec.MeshHAProxy}}
	for i := range arms {
		for rep := range 3 {
			res := []result.Resource{app("svc-1", 100, 20<<20), app("svc-2", 90, 20<<20), app("svc-3", 80, 20<<20)}
			if i > 0 {
				res = append(res, proxy("client-proxy", 120, 30<<20), proxy("svc-1-proxy", 110, 30<<20),
					proxy("svc-2-proxy", 100, 30<<20), proxy("svc-3-proxy", 90, 30<<20))
			}
			arms[i].trials = append(arms[i].trials, trialSpec{
				samples:   lognormal(r, n, time.Duration(300+100*i+10*rep)*time.Microsecond, 0.7, 0),
				failed:    int64(rep),
				duration:  30 * time.Second,
				resources: res,
			})
		}
	}
	return buildDoc(b, mustPlan(b, `
arms: [baseline, builtin, haproxy]
repetitions: 3
slo: [latency.p99 < 25ms, overhead.latency.p99 < 5ms, error_rate < 0.1%, cpu.proxy < 500m]
`), arms)
}

// BenchmarkAnalyze: the whole analysis (decoding, pooling, every delta with its 1000
// replicates, the SLOs). The bootstrap's cost depends on the number of HDR buckets, not
// of requests: 25 times the requests cost about the same.
func BenchmarkAnalyze(b *testing.B) {
	for _, n := range []int{20_000, 500_000} {
		b.Run(fmt.Sprintf("requests=%d", n), func(b *testing.B) {
			doc := benchDoc(b, n)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := analysis.Analyze(doc, nil, analysis.Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
