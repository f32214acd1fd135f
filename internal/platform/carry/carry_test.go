package carry

import (
	"testing"

	"github.com/service-mesh-performance/smp/internal/app"
	"github.com/service-mesh-performance/smp/internal/sidecar"
	"github.com/service-mesh-performance/smp/spec"
)

// TestEveryPlanProtocol: each protocol a plan may name has its row, and is carried as
// the same protocol by the services and by their sidecars. h2's TLS ends at the entry:
// behind it HTTP/2 is h2c (it was HTTP/1.1 on Kubernetes, h2c locally).
func TestEveryPlanProtocol(t *testing.T) {
	info, ok := spec.Enum(spec.ProtocolH2)
	if !ok || len(info.Values) < 5 {
		t.Fatalf("spec's protocols: %+v", info)
	}
	want := map[spec.Protocol]app.Protocol{
		spec.ProtocolHTTP1: app.HTTP1, spec.ProtocolH2: app.H2C, spec.ProtocolH2C: app.H2C,
		spec.ProtocolGRPC: app.GRPC, spec.ProtocolTCP: app.TCP,
	}
	for _, name := range info.Values {
		p := spec.Protocol(name)
		if row(p).plan != p {
			t.Errorf("protocol %s has no row: it would be carried as HTTP/1.1", p)
		}
		if w, ok := want[p]; !ok || App(p) != w {
			t.Errorf("App(%s) = %s, want %s", p, App(p), w)
		}
		if string(Sidecar(p)) != string(App(p)) || SidecarOf(App(p)) != Sidecar(p) {
			t.Errorf("%s: the services carry %s, their sidecars %s (of the services' protocol: %s)", p, App(p), Sidecar(p), SidecarOf(App(p)))
		}
	}
	if App("") != app.HTTP1 || Sidecar("") != sidecar.HTTP1 {
		t.Errorf("a plan without a protocol: %s, %s; want HTTP/1.1, the default", App(""), Sidecar(""))
	}
}
