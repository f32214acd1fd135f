package sidecar

import (
	"context"
	"io"
	"net/http"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// BenchmarkBuiltinRoundTrip measures one request through client → A → B → app with
// both builtin sidecars, the app and the client in this process (so that allocations
// of all four are counted), against the same request sent straight to the app
// ("direct"). The difference is what two builtin sidecars add.
func BenchmarkBuiltinRoundTrip(b *testing.B) {
	for _, tc := range []struct {
		p      Protocol
		m      MTLSMode
		direct bool
	}{
		{HTTP1, Off, true},
		{HTTP1, Off, false},
		{HTTP1, Strict, false},
		{H2C, Off, true},
		{H2C, Strict, false},
		{GRPC, Off, true},
		{GRPC, Strict, false},
	} {
		name := string(tc.p) + "/" + string(tc.m)
		if tc.direct {
			name = string(tc.p) + "/direct"
		}
		b.Run(name, func(b *testing.B) {
			a, _, app := inProcessPath(b, tc.p, tc.m)
			target := a.Outbounds[0]
			if tc.direct {
				target = app.addr
			}
			b.ReportAllocs()
			if tc.p == GRPC {
				hc := healthpb.NewHealthClient(grpcConn(b, target, nil))
				req := &healthpb.HealthCheckRequest{Service: "app"}
				ctx := context.Background()
				b.ResetTimer()
				for b.Loop() {
					if _, err := hc.Check(ctx, req); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			client := httpClient(tc.p, nil)
			defer client.CloseIdleConnections()
			url := "http://" + target + "/bench"
			b.ResetTimer()
			for b.Loop() {
				resp, err := client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatal(resp.Status)
				}
			}
		})
	}
}
