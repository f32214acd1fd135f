package generator

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/spec"
)

// TestTLSFailureSaysWhyAndWhatFixesIt: load against a server whose CA smp was not given
// fails in TLS; the trial keeps the reason and a warning names --cacert and -k.
func TestTLSFailureSaysWhyAndWhatFixesIt(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	w := workload(t, func(w *spec.Workload) {
		w.Rate, w.Connections, w.Duration = rate(50), 1, spec.Duration(200*time.Millisecond)
		w.TLS.Enabled = true
	})
	tr, err := Builtin{}.Run(testContext(t, time.Minute), Job{Workload: w, Target: platform.Target{URLs: []string{srv.URL + "/"}}})
	if err != nil {
		t.Fatal(err)
	}
	if tr.ErrorsByClass["tls"] == 0 || !strings.Contains(tr.ErrorExamples["tls"], "unknown authority") {
		t.Fatalf("errors %v, examples %v", tr.ErrorsByClass, tr.ErrorExamples)
	}
	warnings := strings.Join(tr.Warnings, "\n")
	for _, want := range []string{"failed in TLS: ", "x509: certificate signed by unknown authority", "--cacert FILE", "-k"} {
		if !strings.Contains(warnings, want) {
			t.Errorf("warnings lack %q:\n%s", want, warnings)
		}
	}
}

func TestTLSFix(t *testing.T) {
	for msg, want := range map[string]string{
		"tls: failed to verify certificate: x509: certificate signed by unknown authority": "--cacert FILE",
		"x509: certificate is valid for example.com, not 127.0.0.1":                        "server_name",
		"tls: first record does not look like a TLS handshake":                             "http://",
		"remote error: tls: certificate required":                                          "--cert FILE and --key FILE",
		"x509: certificate has expired or is not yet valid":                                "clock",
		"tls: something else": "-k skips verification",
	} {
		if got := tlsFix(msg); !strings.Contains(got, want) {
			t.Errorf("tlsFix(%q) = %q, want it to mention %q", msg, got, want)
		}
	}
}
