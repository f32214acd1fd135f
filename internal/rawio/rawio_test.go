package rawio

import (
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// pair is a connected loopback TCP pair: the client side wrapped, the server side not.
func pair(t *testing.T) (wrapped, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer = <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	wrapped = Wrap(c)
	t.Cleanup(func() { wrapped.Close(); peer.Close() })
	return wrapped, peer
}

// TestRoundTrip: a wrapped connection reads and writes like the one it wraps, honours
// deadlines, and reports the peer's EOF.
func TestRoundTrip(t *testing.T) {
	c, peer := pair(t)
	if runtime.GOOS == "linux" {
		if _, ok := c.(*rawIOConn); !ok {
			t.Fatalf("Wrap returned %T on Linux", c)
		}
	}
	msg := make([]byte, 1<<20) // larger than a socket buffer: writes must wait and resume
	for i := range msg {
		msg[i] = byte(i)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(peer, int64(len(msg))))
		got <- b
	}()
	if n, err := c.Write(msg); err != nil || n != len(msg) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if b := <-got; string(b) != string(msg) {
		t.Fatalf("peer read %d bytes, not what was written", len(b))
	}

	if _, err := peer.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("read %q, %v", buf, err)
	}

	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := c.Read(buf); err == nil {
		t.Fatal("Read returned with nothing to read and a deadline passed")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("Read after the deadline: %v, want a timeout", err)
	}
	_ = c.SetReadDeadline(time.Time{})

	if PeerClosed(c) {
		t.Fatal("PeerClosed with the peer open")
	}
	peer.Close()
	if _, err := c.Read(buf); err != io.EOF {
		t.Fatalf("Read after the peer closed: %v, want io.EOF", err)
	}
}

// TestPeerClosed sees that the peer closed its side.
func TestPeerClosed(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("PeerClosed cannot tell outside Linux")
	}
	c, peer := pair(t)
	peer.Close()
	// The FIN arrives asynchronously; poll the socket until the kernel has it.
	deadline := time.Now().Add(5 * time.Second)
	for !PeerClosed(c) {
		if time.Now().After(deadline) {
			t.Fatal("PeerClosed never saw the close")
		}
		runtime.Gosched()
	}
}

// TestReadWriteFD: Read and Write on a descriptor behave as syscall.Read and
// syscall.Write (the engine's HTTP/1.1 client switches on their results): bytes
// written arrive, an empty non-blocking socket reads EAGAIN, a closed peer reads 0.
func TestReadWriteFD(t *testing.T) {
	w, peer := pair(t)
	rw, ok := w.(*rawIOConn)
	if !ok {
		t.Skipf("Wrap returned %T: Read and Write are syscall's outside Linux", w)
	}
	rc := rw.rc
	var n int
	var werr, rerr error
	buf := make([]byte, 16)
	if err := rc.Control(func(fd uintptr) {
		n, werr = Write(fd, []byte("ping"))
		_, rerr = Read(fd, buf)
	}); err != nil {
		t.Fatal(err)
	}
	if n != 4 || werr != nil {
		t.Fatalf("Write = %d, %v", n, werr)
	}
	if rerr != syscall.EAGAIN {
		t.Fatalf("Read on an empty socket: %v, want EAGAIN", rerr)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "ping" {
		t.Fatalf("peer read %q, %v", got, err)
	}
	peer.Write([]byte("pong"))
	peer.Close()
	var read []byte
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var k int
		var err error
		rc.Control(func(fd uintptr) { k, err = Read(fd, buf) })
		if err == syscall.EAGAIN {
			runtime.Gosched()
			continue
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if k == 0 {
			break
		}
		read = append(read, buf[:k]...)
	}
	if string(read) != "pong" {
		t.Fatalf("read %q before EOF, want %q", read, "pong")
	}
}
