package term

import (
	"io"
	"sync"
)

// Locked returns a writer that passes each Write on to w under a lock, for status output
// written from more than one goroutine (the progress line, and warnings from the load
// agents' controller while it runs). Unwrap returns w, so a terminal is still one.
func Locked(w io.Writer) io.Writer {
	return &locked{w: w}
}

type locked struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *locked) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Unwrap returns the writer the output goes to.
func (l *locked) Unwrap() io.Writer { return l.w }
