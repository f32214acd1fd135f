package h1wire

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Server runs the connections of a fast HTTP/1.1 path. One goroutine per connection
// (the caller's, in Serve) waits for a request head (PeekHead) and gives it to a
// Handler, which parses and answers it on the same goroutine; a connection the Handler does
// not take, or whose head is too large or malformed, is handed with what is buffered to
// net/http through the fallback HandOff. Server keeps the set of live connections so
// that Shutdown closes the idle ones at once and lets the others finish their request.
//
// What a connection costs per request is one interface call over what a loop written
// for one handler costs: no allocation, no copy, no other goroutine.
type Server struct {
	fallback    *HandOff
	bufferSize  int
	idleTimeout time.Duration

	mu      sync.Mutex
	conns   map[*Conn]struct{}
	closing atomic.Bool
	drained chan struct{} // closed once closing and no connection is left
}

// NewServer returns a Server whose connections have read and write buffers of
// bufferSize bytes (a request head must fit in the read buffer to be served here), wait
// for a request for at most idleTimeout (a server's IdleTimeout), and hand what they do
// not serve to fallback.
func NewServer(fallback *HandOff, bufferSize int, idleTimeout time.Duration) *Server {
	return &Server{fallback: fallback, bufferSize: bufferSize, idleTimeout: idleTimeout,
		conns: map[*Conn]struct{}{}, drained: make(chan struct{})}
}

// Conn is one connection a Server serves: the connection and its buffers.
type Conn struct {
	Net net.Conn
	R   *bufio.Reader
	W   *bufio.Writer

	idle     atomic.Bool // waiting for the next request head
	deadline time.Time   // the read deadline of the idle wait; zero: none set
}

// NoReadDeadline lifts the idle wait's read deadline, for a request body that is read
// without one (as net/http reads it: it has no ReadTimeout); the next idle wait sets it
// again. A bodiless request leaves it alone, since nothing is read before the next head.
func (c *Conn) NoReadDeadline() {
	_ = c.Net.SetReadDeadline(time.Time{})
	c.deadline = time.Time{}
}

// Handler answers the requests of one connection.
type Handler interface {
	// Handle answers the request whose head (PeekHead's, not yet consumed) is at the
	// start of c.R, and says what becomes of the connection. c is the same at every
	// call for one connection.
	Handle(c *Conn, head []byte) Next
}

// Next is what becomes of a connection after a Handler's answer.
type Next int

const (
	// Close: the connection is done (the client asked for it, an error, shutdown); the
	// Server closes it.
	Close Next = iota
	// KeepAlive: the Server waits for the next request.
	KeepAlive
	// Fallback: the Handler did not take the request; the connection goes, with the head
	// still buffered, to net/http.
	Fallback
)

// Closing reports whether Shutdown has begun; a Handler answers "Connection: close"
// then.
func (s *Server) Closing() bool { return s.closing.Load() }

// Serve serves nc with h until it closes, fails, goes to net/http or the Server shuts
// down. It owns nc.
func (s *Server) Serve(nc net.Conn, h Handler) {
	c := &Conn{Net: nc, R: bufio.NewReaderSize(nc, s.bufferSize), W: bufio.NewWriterSize(nc, s.bufferSize)}
	if !s.track(c) {
		nc.Close()
		return
	}
	handedOver := false
	defer func() {
		if !handedOver {
			nc.Close()
		}
		s.untrack(c)
	}()
	for {
		head, err := s.nextHead(c)
		if err != nil {
			if errors.Is(err, ErrHeadTooLarge) || errors.Is(err, ErrMalformed) {
				handedOver = s.handOver(c)
			}
			return
		}
		switch h.Handle(c, head) {
		case KeepAlive:
		case Fallback:
			handedOver = s.handOver(c)
			return
		default:
			return
		}
	}
}

// nextHead waits, idle, for the next request head; net.ErrClosed once shutting down.
func (s *Server) nextHead(c *Conn) ([]byte, error) {
	c.idle.Store(true)
	// The deadline is moved when it has aged by a second, not at every request. It is
	// set before closing is read, so that Shutdown's wake-up, which comes after closing
	// is set, cannot be overwritten by it.
	if now := time.Now(); now.Add(s.idleTimeout - time.Second).After(c.deadline) {
		c.deadline = now.Add(s.idleTimeout)
		_ = c.Net.SetReadDeadline(c.deadline)
	}
	if s.closing.Load() {
		return nil, net.ErrClosed
	}
	head, err := PeekHead(c.R)
	c.idle.Store(false)
	return head, err
}

// handOver gives the connection, with what is buffered, to net/http, and reports
// whether it took it.
func (s *Server) handOver(c *Conn) bool {
	_ = c.Net.SetReadDeadline(time.Time{})
	var nc net.Conn = c.Net
	if c.R.Buffered() > 0 {
		nc = &bufferedConn{Conn: c.Net, r: c.R}
	}
	return s.fallback.Deliver(nc)
}

// bufferedConn reads what a bufio.Reader holds before the rest of the connection.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

func (s *Server) track(c *Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if s.closing.Load() && len(s.conns) == 0 {
		s.closeDrained()
	}
}

// closeDrained closes s.drained once; s.mu is held.
func (s *Server) closeDrained() {
	select {
	case <-s.drained:
	default:
		close(s.drained)
	}
}

// Shutdown stops serving: idle connections are closed at once, the others after their
// current request. When ctx is done first, every connection is closed and ctx's error
// returned. The fallback HandOff is not closed: it belongs to the caller.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	if len(s.conns) == 0 {
		s.closeDrained()
	}
	for c := range s.conns {
		if c.idle.Load() {
			_ = c.Net.SetReadDeadline(time.Unix(1, 0))
		}
	}
	s.mu.Unlock()
	select {
	case <-s.drained:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.Net.Close()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}
