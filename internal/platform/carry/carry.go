// Package carry says what smp's own services and sidecars carry for a plan's protocol,
// for every platform that deploys them (local and Kubernetes): one table, so that a plan's
// protocol means the same there. Before it each platform had its own switch, and they
// drifted: protocol h2 was h2c between the local platform's services and HTTP/1.1 on
// Kubernetes.
//
// Imports: spec, internal/app and internal/sidecar, for their protocol names.
package carry

import (
	"github.com/service-mesh-performance/smp/internal/app"
	"github.com/service-mesh-performance/smp/internal/sidecar"
	"github.com/service-mesh-performance/smp/spec"
)

// carried is what a plan's protocol is between smp's services (app) and through its
// sidecars' listeners (sidecar).
type carried struct {
	plan    spec.Protocol
	app     app.Protocol
	sidecar sidecar.Protocol
}

// table has a row for every protocol a plan may name. h2 is HTTP/2 whose TLS ends where
// the load enters (the local platform's TLS listener of svc-1): behind it, as between
// every service and sidecar, HTTP/2 is cleartext with prior knowledge, which the
// sidecars carry as h2 over mTLS between themselves.
var table = []carried{
	{spec.ProtocolHTTP1, app.HTTP1, sidecar.HTTP1},
	{spec.ProtocolH2, app.H2C, sidecar.H2C},
	{spec.ProtocolH2C, app.H2C, sidecar.H2C},
	{spec.ProtocolGRPC, app.GRPC, sidecar.GRPC},
	{spec.ProtocolTCP, app.TCP, sidecar.TCP},
}

// row is p's row; a plan without a protocol (before defaults) is HTTP/1.1, its default,
// and so is a protocol spec's validation would have refused.
func row(p spec.Protocol) carried {
	for _, r := range table {
		if r.plan == p {
			return r
		}
	}
	return table[0]
}

// App is the protocol smp's services speak to each other for a plan's protocol p.
func App(p spec.Protocol) app.Protocol { return row(p).app }

// Sidecar is the protocol smp's sidecars carry for a plan's protocol p.
func Sidecar(p spec.Protocol) sidecar.Protocol { return row(p).sidecar }

// SidecarOf is the protocol a sidecar's listener carries for a service that speaks p (a
// shape's services each say theirs); a protocol not in the table is HTTP/1.1.
func SidecarOf(p app.Protocol) sidecar.Protocol {
	for _, r := range table {
		if r.app == p {
			return r.sidecar
		}
	}
	return sidecar.HTTP1
}
