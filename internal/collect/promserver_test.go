package collect_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// promServer is a real Prometheus (Debian package prometheus), started by a test on
// loopback with a generated configuration and a temporary TSDB, stopped and removed when
// the test ends.
type promServer struct {
	URL string
	PID int
	Dir string // holds the configuration; file_sd files go here too
	api promv1.API
	tr  *http.Transport
}

// scrapeInterval is the test Prometheus's scrape interval: short, so that a window of a
// few seconds holds a dozen samples.
const scrapeInterval = 200 * time.Millisecond

// needPrometheus returns the prometheus binary, or skips the test without it (fails
// with SMP_INTEGRATION=1, where it must be there).
func needPrometheus(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("SMP_INTEGRATION") == "1" {
			t.Fatalf("prometheus not found (apt-get install prometheus): %v", err)
		}
		t.Skip("prometheus not found; apt-get install prometheus, or run scripts/test")
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startPrometheus runs prometheus with scrapeConfigs (YAML list items, indented by two
// spaces; "$DIR" stands for the server's folder) and returns once it is ready.
func startPrometheus(t *testing.T, scrapeConfigs string) *promServer {
	t.Helper()
	bin := needPrometheus(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf("global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: 1s\nscrape_configs:\n%s",
		scrapeInterval, scrapeInterval, strings.ReplaceAll(scrapeConfigs, "$DIR", dir))
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	var log bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tr := &http.Transport{Proxy: nil}
	s := &promServer{URL: fmt.Sprintf("http://127.0.0.1:%d", port), PID: cmd.Process.Pid, Dir: dir, tr: tr}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", log.String())
		}
		// t.TempDir removes the configuration and the TSDB.
	})
	client, err := api.NewClient(api.Config{Address: s.URL, RoundTripper: tr})
	if err != nil {
		t.Fatal(err)
	}
	s.api = promv1.NewAPI(client)
	ready := func() bool {
		resp, err := (&http.Client{Transport: tr, Timeout: time.Second}).Get(s.URL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	deadline := time.Now().Add(30 * time.Second)
	for !ready() {
		select {
		case err := <-exited:
			t.Fatalf("prometheus exited: %v\n%s", err, log.String())
		case <-time.After(50 * time.Millisecond): // polling interval, bounded by the deadline
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30s\n%s", log.String())
		}
	}
	return s
}

// query runs an instant query now.
func (s *promServer) query(t *testing.T, q string) model.Vector {
	t.Helper()
	return s.queryAt(t, q, time.Now())
}

// queryAt runs an instant query at a given time.
func (s *promServer) queryAt(t *testing.T, q string, at time.Time) model.Vector {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, _, _, err := s.api.Query(ctx, q, at)
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	return v.(model.Vector)
}

// waitSeries polls until q returns at least n series, each with value ≥ min, or fails
// after the deadline.
func (s *promServer) waitSeries(t *testing.T, q string, n int, minValue float64, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	poll := time.NewTicker(scrapeInterval / 2)
	defer poll.Stop()
	for {
		vec := s.query(t, q)
		ok := len(vec) >= n
		for _, x := range vec {
			ok = ok && float64(x.Value) >= minValue
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v after %v, want %d series ≥ %v", q, vec, limit, n, minValue)
		}
		<-poll.C
	}
}
