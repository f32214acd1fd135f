package input

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReadAllLimit(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		size, limit int64
		tooLarge    bool
	}{{0, 10, false}, {10, 10, false}, {11, 10, true}, {3 * chunk, 3 * chunk, false}, {3*chunk + 1, 3 * chunk, true}, {5 * chunk, 0, false}} {
		data, err := ReadAll(ctx, strings.NewReader(strings.Repeat("x", int(c.size))), "in", c.limit)
		var tl *TooLargeError
		switch {
		case c.tooLarge && !errors.As(err, &tl):
			t.Errorf("%d bytes, limit %d: err %v, want *TooLargeError", c.size, c.limit, err)
		case !c.tooLarge && (err != nil || int64(len(data)) != c.size):
			t.Errorf("%d bytes, limit %d: got %d bytes, %v", c.size, c.limit, len(data), err)
		}
	}
	if got := (&TooLargeError{Name: "plan.yaml", Limit: 4 << 20}).Error(); got != "plan.yaml is larger than 4MiB" {
		t.Errorf("message %q", got)
	}
}

// /dev/zero never ends: the limit must end the read, at once and without growing.
func TestReadFileDevZero(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	_, err := ReadFile(context.Background(), "/dev/zero", 1<<20)
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Name != "/dev/zero" {
		t.Fatalf("err %v, want *TooLargeError for /dev/zero", err)
	}
}

// A read that waits on a pipe ends when the context does.
func TestReadAllCancelledWhileBlocked(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	defer pr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := ReadAll(ctx, pr, "standard input", 0)
		errc <- err
	}()
	if _, err := pw.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "standard input") {
			t.Errorf("err %v, want context.Canceled naming standard input", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadAll did not return after cancel")
	}
}

func TestReadFileFolder(t *testing.T) {
	if _, err := ReadFile(context.Background(), t.TempDir(), 10); err == nil || !strings.Contains(err.Error(), "folder") {
		t.Errorf("reading a folder: %v", err)
	}
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(context.Background(), p, 3); err != nil || string(b) != "abc" {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
}
