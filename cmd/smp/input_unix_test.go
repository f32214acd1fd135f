//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNamedPipeInterrupted: opening a named pipe waits for a writer (`smp validate
// <fifo>`, `smp report <fifo>`); Ctrl-C (the context) ends that wait too, with an error.
func TestNamedPipeInterrupted(t *testing.T) {
	dir := t.TempDir()
	for _, cmd := range []string{"validate", "report", "compare"} {
		fifo := filepath.Join(dir, cmd+".fifo")
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var errOut bytes.Buffer
		done := make(chan int, 1)
		args := []string{cmd, fifo}
		if cmd == "compare" {
			args = append(args, fifo)
		}
		go func() {
			done <- run(ctx, args, streams{in: strings.NewReader(""), out: &bytes.Buffer{}, err: &errOut})
		}()
		cancel()
		select {
		case code := <-done:
			if code != exitFailure || !strings.Contains(errOut.String(), "interrupted") || !strings.Contains(errOut.String(), fifo) {
				t.Errorf("smp %s <fifo>: exit %d:\n%s", cmd, code, errOut.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("smp %s <fifo> did not end when its context did", cmd)
		}
		// Let the abandoned open end: it waits for a writer; this one closes at once (and
		// fails if the open has not started: nothing waits then).
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	}
}

// TestValidateBodyFromNamedPipe: validate checks that a body file can be opened without
// waiting for a writer to a named pipe.
func TestValidateBodyFromNamedPipe(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "body"), 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	plan := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(plan, []byte("name: pipe\narms: [baseline]\nworkload:\n  method: POST\n  body_file: body\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	var errOut bytes.Buffer
	go func() {
		done <- run(context.Background(), []string{"validate", plan}, streams{in: strings.NewReader(""), out: &bytes.Buffer{}, err: &errOut})
	}()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d:\n%s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		if w, err := os.OpenFile(filepath.Join(dir, "body"), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		t.Fatal("validate waited for a writer to the body's named pipe")
	}
}
