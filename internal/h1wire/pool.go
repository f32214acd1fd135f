package h1wire

import (
	"bufio"
	"context"
	"net"
	"sync"
	"time"
)

// Pool is the keep-alive pool of HTTP/1.1 connections to one upstream, last used first,
// so that the connections a low rate needs stay warm and the rest age out. The caller
// writes a request on the connection Get gives it and reads the reply itself, with no
// goroutine of the pool's in between (net/http's Transport has a read loop and a write
// loop per connection, with channel handoffs between them and the caller), then gives
// the connection back with Put, or Discard when it cannot be reused.
type Pool struct {
	dial        func(ctx context.Context) (net.Conn, error)
	bufferSize  int
	idleTimeout time.Duration
	maxIdle     int

	mu     sync.Mutex
	idle   []*ClientConn
	all    map[*ClientConn]struct{}
	closed bool
}

// ClientConn is one pooled connection and its buffers.
type ClientConn struct {
	Net    net.Conn
	R      *bufio.Reader
	W      *bufio.Writer
	idleAt time.Time
}

// NewPool returns a pool that opens connections with dial (which does any TLS
// handshake too), gives each read and write buffers of bufferSize bytes (a response
// head must fit in the read buffer), keeps up to maxIdle of them idle, and does not
// reuse one that has been idle for idleTimeout or longer (less than the upstream's own
// idle timeout, so that the pool, not the upstream, closes it).
func NewPool(dial func(ctx context.Context) (net.Conn, error), bufferSize int, idleTimeout time.Duration, maxIdle int) *Pool {
	return &Pool{dial: dial, bufferSize: bufferSize, idleTimeout: idleTimeout, maxIdle: maxIdle,
		all: map[*ClientConn]struct{}{}}
}

// Get returns an idle connection (reused) or a new one, dialled under ctx. After Close
// it dials no more and returns net.ErrClosed.
func (p *Pool) Get(ctx context.Context) (c *ClientConn, reused bool, err error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		c = p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		if time.Since(c.idleAt) < p.idleTimeout {
			p.mu.Unlock()
			return c, true, nil
		}
		// Last in, first out: everything below is older still.
		p.idle = append(p.idle, c)
		p.closeIdleAndUnlock()
	} else {
		p.mu.Unlock()
	}
	nc, err := p.dial(ctx)
	if err != nil {
		return nil, false, err
	}
	c = &ClientConn{Net: nc, R: bufio.NewReaderSize(nc, p.bufferSize), W: bufio.NewWriterSize(nc, p.bufferSize)}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		nc.Close()
		return nil, false, net.ErrClosed
	}
	p.all[c] = struct{}{}
	p.mu.Unlock()
	return c, false, nil
}

// Put gives back a connection whose exchange completed and left it reusable.
func (p *Pool) Put(c *ClientConn) {
	c.idleAt = time.Now()
	p.mu.Lock()
	if !p.closed && len(p.idle) < p.maxIdle {
		p.idle = append(p.idle, c)
		p.mu.Unlock()
		return
	}
	delete(p.all, c)
	p.mu.Unlock()
	c.Net.Close()
}

// Discard closes a connection that cannot be reused.
func (p *Pool) Discard(c *ClientConn) {
	p.mu.Lock()
	delete(p.all, c)
	p.mu.Unlock()
	c.Net.Close()
}

// Close closes the idle connections and refuses new ones; those in use are closed
// when they are given back.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	p.closeIdleAndUnlock()
}

// closeIdleAndUnlock closes the idle connections. p.mu is held; it is released before
// the connections are closed, which can take a while (a TLS close_notify).
func (p *Pool) closeIdleAndUnlock() {
	idle := p.idle
	p.idle = nil
	for _, c := range idle {
		delete(p.all, c)
	}
	p.mu.Unlock()
	for _, c := range idle {
		c.Net.Close()
	}
}

// CloseAll closes every connection, those in use included, and refuses new ones.
func (p *Pool) CloseAll() {
	p.mu.Lock()
	p.closed = true
	all := p.all
	p.all = map[*ClientConn]struct{}{}
	p.idle = nil
	p.mu.Unlock()
	for c := range all {
		c.Net.Close()
	}
}
