package collect

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/result"
)

// The endpoint collectors parse what proxies and node agents answer: Envoy's admin
// endpoints (JSON, text and Prometheus), linkerd-proxy's and cAdvisor's Prometheus
// text, cAdvisor's REST JSON. A proxy of another version, a broken one or a hostile pod
// can answer anything. Whatever it answers, parsing must not panic, and what two
// samples of it summarise to must be a figure a result can hold: finite, not negative,
// encodable as JSON. Seed corpora (rendered from the endpoint templates in testdata)
// are in testdata/fuzz/<target>; scripts/fuzz runs every target for a few seconds in CI.
//
//	go test ./internal/collect -run '^$' -fuzz '^FuzzLinkerd$' -fuzztime 5m

var fuzzT0 = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

// checkSummary summarises two points of one target, a second apart, as the sampler does,
// and fails t when the figures could not go into a result.
func checkSummary(t *testing.T, name string, p0, p1 point) {
	t.Helper()
	p0.at, p1.at = fuzzT0, fuzzT0.Add(time.Second)
	st := &sampled{t: Target{Name: "c", Role: result.RoleProxy}}
	st.push(p0, 8)
	st.push(p1, 8)
	s := newSampler(samplerConfig{name: name, interval: time.Second, memoryMetric: "rss", describe: func(Target) string { return name }})
	r, hists := s.summarise(st, Window{Start: p0.at, End: p1.at})
	lat := latencyFrom(name, map[string]map[string]hist{"c": hists}, nil, func(string, string) string { return "" })
	for _, v := range []float64{r.CPUMcoresAvg, r.CPUMcoresMax, float64(r.MemoryBytesAvg), float64(r.MemoryBytesMax)} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			t.Fatalf("resource %+v", r)
		}
	}
	for _, m := range r.OtherMemory {
		if m.AvgBytes < 0 || m.MaxBytes < 0 {
			t.Fatalf("other memory %+v", m)
		}
	}
	for _, l := range lat {
		for _, v := range []float64{l.Count, l.P50MS, l.P99MS} {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Fatalf("proxy latency %+v", l)
			}
		}
	}
	if _, err := json.Marshal(struct {
		R result.Resource
		L []result.ProxyLatency
	}{r, lat}); err != nil {
		t.Fatalf("the figures cannot be written: %v\n%+v", err, r)
	}
}

// FuzzLinkerd reads two scrapes of linkerd-proxy's /metrics.
func FuzzLinkerd(f *testing.F) {
	f.Fuzz(func(t *testing.T, a, b []byte) {
		p0, err0 := parseLinkerdMetrics(a, fuzzT0)
		p1, err1 := parseLinkerdMetrics(b, fuzzT0)
		if err0 == nil && err1 == nil {
			checkSummary(t, "linkerd-proxy", p0, p1)
		}
	})
}

// FuzzCAdvisor reads two scrapes of cAdvisor's Prometheus form (a kubelet's
// /metrics/cadvisor or a standalone cAdvisor's /metrics) and its REST stats.
func FuzzCAdvisor(f *testing.F) {
	target := Target{Namespace: "smp-linkerd", Pod: "svc-1-6d4cf56db6-9xk2p", Container: "linkerd-proxy"} // as in the seeds
	f.Fuzz(func(t *testing.T, a, b []byte) {
		_, _ = CFSCounters(a)
		_, _ = parseCAdvisorStats(a)
		if specs, err := parseCAdvisorSpecs(a); err == nil {
			_ = specs.find(target)
		}
		s0, err0 := parseCAdvisorMetrics(a, fuzzT0)
		s1, err1 := parseCAdvisorMetrics(b, fuzzT0)
		if err0 != nil || err1 != nil {
			return
		}
		p0, err0 := s0.point(target)
		p1, err1 := s1.point(target)
		if err0 == nil && err1 == nil {
			checkSummary(t, "cadvisor", p0, p1)
		}
	})
}

// FuzzEnvoyAdmin reads Envoy's /stats?format=json, /memory, /stats/prometheus,
// /server_info and /clusters; the second sample is the same answer a second later.
func FuzzEnvoyAdmin(f *testing.F) {
	f.Fuzz(func(t *testing.T, stats, memory, prom, info, clusters []byte) {
		parseEnvoyClusters(clusters)
		p, err := parseEnvoyAdmin(fuzzT0, stats, memory, prom, info, clusters)
		if err == nil {
			checkSummary(t, "envoy-admin", p, p)
		}
	})
}
