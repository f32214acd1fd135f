package term

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// overlapDetector counts the Writes that began while another was still in progress.
type overlapDetector struct {
	inside, overlaps, writes atomic.Int64
}

func (d *overlapDetector) Write(p []byte) (int, error) {
	if d.inside.Add(1) > 1 {
		d.overlaps.Add(1)
	}
	runtime.Gosched() // a write that takes a while, as a terminal's can
	d.inside.Add(-1)
	d.writes.Add(1)
	return len(p), nil
}

// TestLockedSerialisesWrites: writes from many goroutines reach the writer one at a
// time, each whole.
func TestLockedSerialisesWrites(t *testing.T) {
	const goroutines, each = 8, 200
	d := &overlapDetector{}
	w := Locked(d)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				if n, err := w.Write([]byte("line\n")); n != 5 || err != nil {
					t.Errorf("Write = %d, %v", n, err)
				}
			}
		})
	}
	wg.Wait()
	if d.overlaps.Load() != 0 || d.writes.Load() != goroutines*each {
		t.Errorf("%d of %d writes overlapped another", d.overlaps.Load(), d.writes.Load())
	}
}

// TestLockedIsTransparent: what is a terminal (IsTerminal: a character device, here
// /dev/null) stays one when locked, so the progress line stays live; a file does not
// become one.
func TestLockedIsTransparent(t *testing.T) {
	dev, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	f, err := os.CreateTemp(t.TempDir(), "status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !IsTerminal(Locked(dev)) || IsTerminal(Locked(f)) {
		t.Errorf("locked %s is a terminal: %v, locked file: %v; want true, false", os.DevNull, IsTerminal(Locked(dev)), IsTerminal(Locked(f)))
	}
}
