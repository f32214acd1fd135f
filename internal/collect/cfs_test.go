package collect_test

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"text/template"
	"time"

	"github.com/service-mesh-performance/smp/internal/collect"
)

// TestCFSCounters reads the CFS counters of the kubelet's /metrics/cadvisor body, rendered
// at two instants 10s apart: only the container with a CFS quota (linkerd-proxy) has them,
// and they advance at the template's rates (10 periods and 1 throttled period a second).
func TestCFSCounters(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "cadvisor", "kubelet-metrics-cadvisor.txt.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	render := func(elapsed float64) []byte {
		now := time.Now()
		tm := template.Must(template.New("cadvisor").Funcs(template.FuncMap{
			"c":  func(base, rate float64) string { return fmt.Sprintf("%d", int64(base+rate*elapsed)) },
			"f":  func(base, rate float64) string { return fmt.Sprintf("%.6f", base+rate*elapsed) },
			"ns": func(base, rate float64) string { return fmt.Sprintf("%d", int64((base+rate*elapsed)*1e9)) },
			"ms": func() string { return fmt.Sprintf("%d", now.UnixMilli()) },
			"ts": func() string { return now.UTC().Format(time.RFC3339Nano) },
		}).Parse(string(data)))
		var b bytes.Buffer
		if err := tm.Execute(&b, nil); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	key := collect.ContainerKey{Namespace: "smp-linkerd", Pod: "svc-1-6d4cf56db6-9xk2p", Container: "linkerd-proxy"}
	for _, c := range []struct {
		elapsed float64
		want    collect.CFS
	}{{0, collect.CFS{Periods: 7000, ThrottledPeriods: 12}}, {10, collect.CFS{Periods: 7100, ThrottledPeriods: 22}}} {
		got, err := collect.CFSCounters(render(c.elapsed))
		if err != nil {
			t.Fatal(err)
		}
		if want := map[collect.ContainerKey]collect.CFS{key: c.want}; !maps.Equal(got, want) {
			t.Errorf("at +%gs: %v, want %v", c.elapsed, got, want)
		}
	}
	if _, err := collect.CFSCounters([]byte("# TYPE up gauge\nup 1\n")); err == nil {
		t.Error("a body without cAdvisor series: no error")
	}
}
