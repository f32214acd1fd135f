package experiment

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/internal/platform/local"
	"github.com/service-mesh-performance/smp/internal/proc"
	"github.com/service-mesh-performance/smp/internal/sidecar"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// buildSMP builds the smp binary the local platform starts as `smp app` and
// `smp sidecar`.
func buildSMP(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the local platform needs Linux")
	}
	bin := filepath.Join(t.TempDir(), "smp")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/smp").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// installed says whether a sidecar kind can run here; a missing proxy fails the test
// under SMP_INTEGRATION=1 (CI installs them) and skips its arm otherwise.
func installed(t *testing.T, k sidecar.Kind) bool {
	t.Helper()
	if _, err := k.Check(context.Background(), ""); err != nil {
		var nf *proc.NotFoundError
		if errors.As(err, &nf) && os.Getenv("SMP_INTEGRATION") != "1" {
			t.Logf("%s is not installed (%v): its arm is left out; scripts/test installs it", k, err)
			return false
		}
		t.Fatal(err)
	}
	return true
}

// TestHandshakeCostLocal runs the handshake scenario (examples/handshake.yaml, shorter)
// on the local platform with real sidecars: with keep-alive off every request opens a
// connection, and the mTLS arms' connections cost a TLS handshake with client
// certificates that the plaintext arm's do not.
func TestHandshakeCostLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds smp and runs three or four local trials")
	}
	bin := buildSMP(t)
	arms := "  - baseline\n  - {name: mtls, mesh: builtin, mtls: strict}\n  - {name: plaintext, mesh: builtin, mtls: off}\n"
	mtlsArms := []string{"mtls"}
	if installed(t, sidecar.HAProxy) {
		arms += "  - {name: haproxy-mtls, mesh: haproxy, mtls: strict}\n"
		mtlsArms = append(mtlsArms, "haproxy-mtls")
	}
	plan := parse(t, `
name: handshake
repetitions: 1
arms:
`+arms+`workload:
  keep_alive: false
  app: {services: 2}
  rate: 100
  connections: 4
  duration: 1500ms
  warmup: 300ms
`)
	dir := t.TempDir()
	doc, err := Run(context.Background(), plan, Options{
		NewPlatform: func(_ context.Context, plan *spec.Plan, runID string) (platform.Platform, error) {
			return local.New(local.Options{Plan: plan, RunID: runID, Self: bin, TempDir: dir})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if doc.Status != result.StatusComplete {
		t.Fatalf("status %s: %v", doc.Status, doc.Errors)
	}
	trials := map[string]result.Trial{}
	for _, tr := range doc.Trials {
		trials[tr.Arm] = tr
		if tr.Counts.Requests < 100 || tr.Counts.Failed != 0 {
			t.Errorf("trial %s: %d requests, %d failed: %v", tr.ID, tr.Counts.Requests, tr.Counts.Failed, tr.ErrorsByClass)
		}
		h := tr.Handshake
		if h == nil || h.Connect == nil || h.FirstByte == nil || h.Connect.Count != tr.Counts.Requests {
			t.Fatalf("trial %s: handshake %+v, want one connect sample per request (%d)", tr.ID, h, tr.Counts.Requests)
		}
		replaced := false
		for _, w := range tr.Warnings {
			replaced = replaced || strings.Contains(w, "stands in for the client sidecar")
		}
		if replaced != (tr.Arm != "baseline") {
			t.Errorf("trial %s: warnings %q: a mesh arm, and only a mesh arm, must say the generator replaced the client sidecar", tr.ID, tr.Warnings)
		}
	}
	for _, arm := range []string{"baseline", "plaintext"} {
		if h := trials[arm].Handshake; h.Mode != "plaintext" || h.TLS != nil {
			t.Errorf("%s: mode %q with TLS %v, want plaintext without a TLS part", arm, h.Mode, h.TLS)
		}
	}
	plain := trials["plaintext"].Handshake
	plainOpen := plain.Connect.MeanMS
	t.Logf("plaintext: connect mean %.3f ms, p50 %.3f ms", plainOpen, p50(plain.Connect))
	for _, arm := range mtlsArms {
		h := trials[arm].Handshake
		if h.Mode != "mtls" || h.TLS == nil || h.TLS.Count != trials[arm].Counts.Requests || p50(h.TLS) <= 0 {
			t.Errorf("%s: mode %q, TLS %+v: want mtls with a handshake per request", arm, h.Mode, h.TLS)
			continue
		}
		open := h.Connect.MeanMS + h.TLS.MeanMS
		t.Logf("%s: connect mean %.3f ms + mTLS handshake mean %.3f ms (p50 %.3f ms)", arm, h.Connect.MeanMS, h.TLS.MeanMS, p50(h.TLS))
		if open <= plainOpen {
			t.Errorf("%s: opening a connection took %.3f ms, no more than plaintext's %.3f ms", arm, open, plainOpen)
		}
	}
	// The analysis reports it as the arms' added connection cost over the baseline.
	if doc.Analysis == nil {
		t.Fatal("no analysis")
	}
	added := map[string]map[string]float64{}
	for _, o := range doc.Analysis.Overhead {
		added[o.Arm] = map[string]float64{}
		for _, d := range o.Deltas {
			added[o.Arm][d.Metric] = d.Delta
		}
	}
	for _, arm := range mtlsArms {
		hs, ok := added[arm]["handshake"]
		if !ok || hs <= added["plaintext"]["handshake"] || added[arm]["handshake.tls"] <= 0 {
			t.Errorf("%s: handshake delta %.3f ms (tls %.3f), plaintext's %.3f ms: want mTLS larger", arm, hs, added[arm]["handshake.tls"], added["plaintext"]["handshake"])
		}
		t.Logf("%s: analysis handshake delta %+.3f ms (tls %+.3f ms); plaintext %+.3f ms", arm, hs, added[arm]["handshake.tls"], added["plaintext"]["handshake"])
	}
	if _, ok := added["plaintext"]["handshake.tls"]; !ok {
		t.Error("plaintext: no handshake.tls delta")
	}
}

func p50(d *result.Distribution) float64 {
	for _, p := range d.Percentiles {
		if p.Percentile == 50 {
			return p.ValueMS
		}
	}
	panic(fmt.Sprintf("no p50 in %+v", d.Percentiles))
}
