//go:build unix

package input

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Opening a named pipe waits for a writer (`smp validate <fifo>`, `smp report
// /dev/stdin` of a process that never writes): the wait ends when the context does.
func TestReadFileCancelledWhileOpening(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "plan.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := ReadFile(ctx, fifo, 0)
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), fifo) {
			t.Errorf("err %v, want context.Canceled naming %s", err, fifo)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadFile did not return after cancel")
	}
	// Let the abandoned open end: it waits for a writer, this one closes at once.
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
}
