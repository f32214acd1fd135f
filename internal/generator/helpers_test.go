package generator

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/service-mesh-performance/smp/spec"
)

// helperEnv makes the test binary act as a helper program instead of running tests.
const helperEnv = "SMP_GENERATOR_HELPER"

func TestMain(m *testing.M) {
	if dir, ok := strings.CutPrefix(os.Getenv(helperEnv), "late-sigint:"); ok {
		os.Exit(lateSIGINT(dir))
	}
	goleak.VerifyTestMain(m)
}

// lateSIGINT starts the way wrk does: it ignores SIGINT while it sets up, and catches it
// only then. It opens dir/ignoring for writing once it ignores SIGINT (the open returns
// when the test opens that FIFO), then waits for the test to open dir/go, then catches
// SIGINT and answers it by printing "report" and exiting 0. Without a SIGINT it prints
// "full" after a minute.
func lateSIGINT(dir string) int {
	signal.Ignore(os.Interrupt)
	for _, name := range []string{"ignoring", "go"} {
		mode := os.O_WRONLY
		if name == "go" {
			mode = os.O_RDONLY
		}
		f, err := os.OpenFile(filepath.Join(dir, name), mode, 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		f.Close()
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt)
	select {
	case <-ch:
		fmt.Println("report")
	case <-time.After(time.Minute):
		fmt.Println("full")
	}
	return 0
}

// workload returns a valid workload with defaults applied, changed by edit.
func workload(t *testing.T, edit func(w *spec.Workload)) spec.Workload {
	t.Helper()
	p := (&spec.Plan{}).WithDefaults()
	w := p.Workload
	zero := spec.Duration(0)
	w.Warmup = &zero
	edit(&w)
	return w
}

func rate(r float64) *float64 { return &r }

// target is a loopback HTTP server that counts what it receives.
type target struct {
	*httptest.Server
	requests atomic.Int64
	conns    atomic.Int64
	mu       sync.Mutex
	methods  map[string]int
	headers  map[string]string
	bodies   map[string]int
}

// newTarget serves handle (nil: 200 "ok") and records every request. It closes with the test.
func newTarget(t *testing.T, handle func(n int64, w http.ResponseWriter, r *http.Request)) *target {
	t.Helper()
	tg := &target{methods: map[string]int{}, headers: map[string]string{}, bodies: map[string]int{}}
	tg.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := tg.requests.Add(1)
		body, _ := io.ReadAll(r.Body)
		tg.mu.Lock()
		tg.methods[r.Method]++
		tg.bodies[string(body)]++
		for k := range r.Header {
			tg.headers[k] = r.Header.Get(k)
		}
		tg.mu.Unlock()
		if handle != nil {
			handle(n, w, r)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	tg.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			tg.conns.Add(1)
		}
	}
	tg.Start()
	t.Cleanup(tg.Close)
	return tg
}

// needBinary skips the test when name is not on PATH, unless SMP_INTEGRATION=1 asks for
// every integration test to run (then a missing binary fails it).
func needBinary(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("SMP_INTEGRATION") == "1" {
			t.Fatalf("%s is not on PATH and SMP_INTEGRATION=1: install it (scripts/debian-packages)", name)
		}
		t.Skipf("%s is not on PATH (apt-get install %s; SMP_INTEGRATION=1 makes this a failure)", name, name)
	}
}

func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// seen returns copies of what the server recorded (handlers may still be running).
func (tg *target) seen() (methods map[string]int, headers map[string]string, bodies map[string]int) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return maps.Clone(tg.methods), maps.Clone(tg.headers), maps.Clone(tg.bodies)
}
