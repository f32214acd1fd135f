package h1wire

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// pipes dials net.Pipe connections and keeps the far ends, so that a test can tell
// which connections the pool closed.
type pipes struct{ far []net.Conn }

func (p *pipes) dial(context.Context) (net.Conn, error) {
	a, b := net.Pipe()
	p.far = append(p.far, b)
	return a, nil
}

// closed reports whether the pool closed connection i: its far end reads EOF.
func (p *pipes) closed(t *testing.T, i int) bool {
	t.Helper()
	_ = p.far[i].SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := p.far[i].Read(make([]byte, 1))
	return errors.Is(err, io.EOF)
}

// TestPoolReuse: the connection given back last is reused first, one over maxIdle is
// closed, and one idle for idleTimeout is closed with everything older and replaced by
// a new one.
func TestPoolReuse(t *testing.T) {
	var ps pipes
	p := NewPool(ps.dial, 64, time.Hour, 2)
	ctx := context.Background()
	var cs []*ClientConn
	for range 3 {
		c, reused, err := p.Get(ctx)
		if err != nil || reused {
			t.Fatalf("Get = %v, reused %v; want a new connection", err, reused)
		}
		cs = append(cs, c)
	}
	for _, c := range cs {
		p.Put(c)
	}
	if !ps.closed(t, 2) || ps.closed(t, 0) || ps.closed(t, 1) {
		t.Error("with maxIdle 2, the third connection given back should be closed, the others kept")
	}
	if c, reused, _ := p.Get(ctx); !reused || c != cs[1] {
		t.Errorf("Get reused %v, want the connection given back last", reused)
	}

	var old pipes
	p = NewPool(old.dial, 64, 0, 4) // every connection given back is past idleTimeout
	a, _, _ := p.Get(ctx)
	b, _, _ := p.Get(ctx)
	p.Put(a)
	p.Put(b)
	if c, reused, err := p.Get(ctx); err != nil || reused || c == a || c == b {
		t.Fatalf("Get after idleTimeout: reused %v, %v; want a new connection", reused, err)
	}
	if !old.closed(t, 0) || !old.closed(t, 1) {
		t.Error("the stale connections were not closed")
	}
}

// TestPoolClose: Close closes the idle connections, refuses new ones and closes one in
// use when it is given back; CloseAll closes those in use at once. Discard closes.
func TestPoolClose(t *testing.T) {
	var ps pipes
	p := NewPool(ps.dial, 64, time.Hour, 4)
	ctx := context.Background()
	idle, _, _ := p.Get(ctx)
	busy, _, _ := p.Get(ctx)
	gone, _, _ := p.Get(ctx)
	p.Put(idle)
	p.Discard(gone)
	if !ps.closed(t, 2) {
		t.Error("Discard did not close")
	}
	p.Close()
	if !ps.closed(t, 0) || ps.closed(t, 1) {
		t.Error("Close should close the idle connection and leave the busy one")
	}
	if _, _, err := p.Get(ctx); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Get after Close = %v, want net.ErrClosed", err)
	}
	p.Put(busy)
	if !ps.closed(t, 1) {
		t.Error("a connection given back after Close was not closed")
	}

	var ps2 pipes
	p = NewPool(ps2.dial, 64, time.Hour, 4)
	if _, _, err := p.Get(ctx); err != nil {
		t.Fatal(err)
	}
	p.CloseAll()
	if !ps2.closed(t, 0) {
		t.Error("CloseAll left a connection in use open")
	}
}
