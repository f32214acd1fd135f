package h1wire

import (
	"errors"
	"net"
	"testing"
)

// TestHandOff: a delivered connection is what Accept returns; after Close, Accept says
// net.ErrClosed and Deliver refuses, so the caller keeps the connection to close.
func TestHandOff(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	l := NewHandOff(addr)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go l.Deliver(a)
	if c, err := l.Accept(); err != nil || c != a {
		t.Fatalf("Accept = %v, %v; want the delivered connection", c, err)
	}
	if l.Addr() != addr {
		t.Errorf("Addr = %v", l.Addr())
	}
	l.Close()
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
	if l.Deliver(b) {
		t.Error("Deliver after Close took the connection")
	}
}
