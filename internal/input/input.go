// Package input reads what users hand to smp (plans, result documents, certificates,
// files a plan names, standard input) with a size limit and a context: a file that is
// too large ends in an error that names the limit instead of exhausting memory
// (`smp validate /dev/zero`), and Ctrl-C ends a read that waits on a pipe
// (`sleep 30 | smp report -`) at once.
//
// Imports: the standard library only.
package input

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// TooLargeError says that an input is larger than the limit it was read with.
type TooLargeError struct {
	// Name is the file name, or "standard input".
	Name  string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than %s", e.Name, FormatSize(e.Limit))
}

// FormatSize writes a byte count the way limits are given: "4MiB", "256MiB", "1500B".
func FormatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// chunk is how much one read asks for; between reads the context is checked.
const chunk = 256 << 10

// ReadAll reads r to its end and returns what it read. It fails with *TooLargeError as
// soon as r has more than limit bytes (limit ≤ 0 means no limit), and with ctx's error
// (wrapped, so errors.Is finds context.Canceled) as soon as ctx ends, even while a read
// waits on a pipe or a terminal: that read is then abandoned to a goroutine that ends
// when r returns, since a blocked read of standard input cannot be interrupted. name
// goes into errors.
func ReadAll(ctx context.Context, r io.Reader, name string, limit int64) ([]byte, error) {
	type outcome struct {
		data []byte
		err  error
	}
	done := make(chan outcome, 1)
	go func() {
		data, err := readBounded(ctx, r, name, limit)
		done <- outcome{data, err}
	}()
	select {
	case o := <-done:
		return o.data, o.err
	case <-ctx.Done():
		return nil, fmt.Errorf("reading %s interrupted: %w", name, context.Cause(ctx))
	}
}

func readBounded(ctx context.Context, r io.Reader, name string, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		want := int64(chunk)
		if limit > 0 {
			want = min(want, limit+1-int64(buf.Len()))
		}
		_, err := io.CopyN(&buf, r, want)
		if limit > 0 && int64(buf.Len()) > limit {
			return nil, &TooLargeError{Name: name, Limit: limit}
		}
		if errors.Is(err, io.EOF) {
			return buf.Bytes(), nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
	}
}

// ReadFile reads the file at path with ReadAll, after opening it with Open. A folder or
// a missing file is an error before anything is read.
func ReadFile(ctx context.Context, path string, limit int64) ([]byte, error) {
	f, err := Open(ctx, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s is a folder, not a file", path)
	}
	return ReadAll(ctx, f, path, limit)
}

// Open opens the file at path for reading, or fails with ctx's error (wrapped) as soon as
// ctx ends: opening a named pipe waits for a writer (`smp validate <fifo>`). The open
// is then abandoned to a goroutine that closes the file if it ever opens.
func Open(ctx context.Context, path string) (*os.File, error) {
	type opened struct {
		f   *os.File
		err error
	}
	done := make(chan opened, 1)
	go func() {
		f, err := os.Open(path)
		done <- opened{f, err}
	}()
	select {
	case o := <-done:
		return o.f, o.err
	case <-ctx.Done():
		go func() {
			if o := <-done; o.f != nil {
				o.f.Close()
			}
		}()
		return nil, fmt.Errorf("opening %s interrupted: %w", path, context.Cause(ctx))
	}
}
