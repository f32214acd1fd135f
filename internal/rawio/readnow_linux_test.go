package rawio

import (
	"errors"
	"io"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestReadNow: ReadNow never waits: EAGAIN while nothing has arrived, the
// bytes once they have, io.EOF after the peer closed; and it (like Control)
// says so for a connection Wrap did not return.
func TestReadNow(t *testing.T) {
	c, peer := pair(t)
	buf := make([]byte, 16)
	if n, ok, err := ReadNow(c, buf); !ok || n != 0 || !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("nothing sent: ReadNow = %d, %v, %v; want 0, true, EAGAIN", n, ok, err)
	}
	// readSoon retries until something other than EAGAIN comes back (on
	// loopback the peer's write has usually delivered already).
	readSoon := func() (int, error) {
		for end := time.Now().Add(10 * time.Second); ; runtime.Gosched() {
			n, _, err := ReadNow(c, buf)
			if !errors.Is(err, syscall.EAGAIN) || time.Now().After(end) {
				return n, err
			}
		}
	}
	if _, err := peer.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if n, err := readSoon(); n != 3 || err != nil || string(buf[:3]) != "abc" {
		t.Fatalf("after the peer wrote abc: ReadNow = %d (%q), %v", n, buf[:n], err)
	}
	peer.Close()
	if n, err := readSoon(); n != 0 || err != io.EOF {
		t.Fatalf("after the peer closed: ReadNow = %d, %v; want 0, io.EOF", n, err)
	}
	fd := -1
	if ok, err := Control(c, func(d uintptr) { fd = int(d) }); !ok || err != nil || fd < 0 {
		t.Fatalf("Control = %v, %v (fd %d)", ok, err, fd)
	}
	c.Close()
	if _, ok, err := ReadNow(c, buf); !ok || err == nil {
		t.Fatalf("closed: ReadNow = %v, %v; want an error", ok, err)
	}
	raw := c.(*rawIOConn).Conn
	if _, ok, _ := ReadNow(raw, buf); ok {
		t.Fatal("ReadNow took a connection Wrap did not return")
	}
	if ok, _ := Control(raw, func(uintptr) {}); ok {
		t.Fatal("Control took a connection Wrap did not return")
	}
}
