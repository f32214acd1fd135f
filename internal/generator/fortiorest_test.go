package generator

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"fortio.org/fortio/fhttp"
	"fortio.org/fortio/rapi"

	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/spec"
)

// TestFortioREST drives a real fortio REST API (fortio's own handlers, as the fortio
// server in the kubernetes platform's load pod serves them) against a real echo server.
func TestFortioREST(t *testing.T) {
	mux := http.NewServeMux()
	rapi.AddHandlers(nil, mux, "/fortio/", "/fortio/", "")
	api := httptest.NewServer(mux)
	defer api.Close()
	echo := httptest.NewServer(http.HandlerFunc(fhttp.EchoHandler))
	defer echo.Close()

	rate := 200.0
	zero := spec.Duration(0)
	w := spec.Workload{Protocol: spec.ProtocolHTTP1, Rate: &rate, Connections: 2, Duration: spec.Duration(time.Second),
		Warmup: &zero, Timeout: spec.Duration(2 * time.Second)}
	f := FortioREST{BaseURL: api.URL + "/fortio/", Where: "test"}
	if err := f.Check(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	tr, err := f.Run(context.Background(), Job{Workload: w, Target: platform.Target{URLs: []string{echo.URL + "/echo?status=503:10"}}})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Counts.Requests < 150 || tr.Counts.Requests > 250 {
		t.Errorf("requests %d, want about 200", tr.Counts.Requests)
	}
	// status=503:10: fortio's echo answers 10% of the calls with a 503.
	if tr.Counts.Failed == 0 || tr.Counts.Failed > tr.Counts.Requests/3 || tr.ErrorsByClass["http"] != tr.Counts.Failed || tr.StatusCodes["503"] != tr.Counts.Failed {
		t.Errorf("counts %+v, errors %v, status %v: want about 10%% 503s", tr.Counts, tr.ErrorsByClass, tr.StatusCodes)
	}
	if tr.Generator.Version == "" || tr.Load.AchievedRateRPS <= 0 {
		t.Errorf("generator %+v, load %+v", tr.Generator, tr.Load)
	}

	// A target fortio cannot resolve (an in-cluster Service name seen from outside the
	// cluster): fortio's own reason and the URL are in the error.
	_, err = f.Run(context.Background(), Job{Workload: w, Target: platform.Target{URLs: []string{"http://no-such-host.invalid:8080/echo"}}})
	if err == nil || !strings.Contains(err.Error(), "no-such-host.invalid:8080/echo") || !strings.Contains(err.Error(), "no such host") ||
		!strings.Contains(err.Error(), "HTTP 400") {
		t.Errorf("Run with an unresolvable target = %v, want fortio's reason (no such host) and the URL", err)
	}

	// h2 and gRPC are refused before anything runs.
	w.Protocol = spec.ProtocolGRPC
	if err := f.Check(context.Background(), w); err == nil {
		t.Error("Check accepted grpc")
	}
}
