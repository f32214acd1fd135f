package generator

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"fortio.org/fortio/rapi"

	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/spec"
)

// TestFortioREST drives a real fortio REST API (fortio's own handlers, as the fortio
// server in the kubernetes platform's load pod serves them) against a real server.
//
// What it checks holds at any speed: fortio may send fewer than the 200 requests asked
// when the machine is crowded (142 seen under load), so the trial's counts are held to
// what the server answered, not to the rate: every measured request counted once, every
// 503 the server sent counted as an HTTP failure.
func TestFortioREST(t *testing.T) {
	mux := http.NewServeMux()
	rapi.AddHandlers(nil, mux, "/fortio/", "/fortio/", "")
	api := httptest.NewServer(mux)
	defer api.Close()
	const conns = 2
	var (
		mu              sync.Mutex
		received, sent5 int64
	)
	// fortio warms up each connection with one request, which it does not count, and
	// starts measuring once all of them are answered: the first conns requests are the
	// warm-up's. Every tenth measured request, from the first, is answered with a 503.
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		received++
		n := received - conns
		fail := n > 0 && n%10 == 1
		if fail {
			sent5++
		}
		mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer target.Close()

	rate := 200.0
	zero := spec.Duration(0)
	// A timeout no stall of a crowded machine reaches: a call fortio gave up on would be
	// a socket error here while the server still answered it.
	w := spec.Workload{Protocol: spec.ProtocolHTTP1, Rate: &rate, Connections: conns, Duration: spec.Duration(time.Second),
		Warmup: &zero, Timeout: spec.Duration(30 * time.Second)}
	f := FortioREST{BaseURL: api.URL + "/fortio/", Where: "test"}
	if err := f.Check(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	tr, err := f.Run(context.Background(), Job{Workload: w, Target: platform.Target{URLs: []string{target.URL + "/"}}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	measured, failed := received-conns, sent5
	mu.Unlock()
	// fortio's schedule never goes above the rate asked: 200/s for 1 s.
	if tr.Counts.Requests != measured || measured <= 0 || measured > 210 {
		t.Errorf("requests %d, the server answered %d after the warm-up; want them equal, between 1 and 210 (200/s asked for 1 s)",
			tr.Counts.Requests, measured)
	}
	if tr.Counts.Failed != failed || tr.Counts.Succeeded != measured-failed || tr.ErrorsByClass["http"] != failed ||
		tr.StatusCodes["503"] != failed || tr.StatusCodes["200"] != measured-failed {
		t.Errorf("counts %+v, errors %v, status %v; the server sent %d 503s of %d", tr.Counts, tr.ErrorsByClass, tr.StatusCodes, failed, measured)
	}
	// Short of the rate by a quarter or more (fortio fell behind on a crowded machine):
	// the trial says so.
	if measured < 150 {
		t.Logf("fortio sent %d of the 200 requests asked", measured)
		if tr.Load.RateHeld || len(tr.Warnings) == 0 {
			t.Errorf("%d of 200 requests: rate held %v, warnings %q; want the rate not held, with a warning", measured, tr.Load.RateHeld, tr.Warnings)
		}
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
