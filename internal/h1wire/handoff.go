package h1wire

import (
	"net"
	"sync"
)

// HandOff is a net.Listener fed by its owner: the fast HTTP/1.1 path serves what it can
// parse itself and delivers the other connections (HTTP/2, upgrades, heads it leaves to
// net/http) to an http.Server that Serves this listener.
type HandOff struct {
	addr   net.Addr
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

// NewHandOff returns a listener that reports addr as its address.
func NewHandOff(addr net.Addr) *HandOff {
	return &HandOff{addr: addr, ch: make(chan net.Conn), closed: make(chan struct{})}
}

// Accept waits for a delivered connection.
func (l *HandOff) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Deliver hands c to Accept's caller; false once the listener is closed (c is then
// still the caller's to close).
func (l *HandOff) Deliver(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.closed:
		return false
	}
}

// Close makes Accept and Deliver return; it may be called more than once.
func (l *HandOff) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

// Addr is the address given to NewHandOff.
func (l *HandOff) Addr() net.Addr { return l.addr }
