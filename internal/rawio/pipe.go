package rawio

import (
	"net"
	"sync"
)

// PipeBuffer is what one direction of a relayed connection reads at a time.
const PipeBuffer = 32 << 10

// Pipe copies src to dst until src ends or a write to dst fails, calling counted (when
// not nil) with the size of every chunk read before the chunk is written on: the relay
// of a TCP stream, one direction of it, as the app's TCP echo and the builtin sidecar's
// L4 mode run it. It allocates one buffer.
func Pipe(dst, src net.Conn, counted func(n int)) {
	buf := make([]byte, PipeBuffer)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if counted != nil {
				counted(n)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// CloseWrite half-closes c when it can (TCP, TLS, a Wrap'ed connection), so that the peer
// sees the end of the stream while the other direction still flows.
func CloseWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// Relay copies a to b and b to a until both directions are done, the first to end
// half-closing its destination, as a TCP proxy does: the relay loop of the app's TCP
// services and of the builtin sidecar's L4 mode. aToB and bToA count each direction's
// bytes as Pipe's counted does (nil: not counted).
func Relay(a, b net.Conn, aToB, bToA func(n int)) {
	var wg sync.WaitGroup
	wg.Go(func() {
		Pipe(b, a, aToB)
		CloseWrite(b)
	})
	Pipe(a, b, bToA)
	CloseWrite(a)
	wg.Wait()
}

// ConnSet holds the open connections of a server that relays streams, so that its
// shutdown can close them all: a TCP stream has no request to let finish. Once closed,
// it refuses new ones. The zero value is ready to use.
type ConnSet struct {
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// Add holds c; it returns false, holding nothing, once CloseAll has run.
func (s *ConnSet) Add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	return true
}

// Remove lets go of c (it does not close it).
func (s *ConnSet) Remove(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// CloseAll closes every connection held and refuses new ones.
func (s *ConnSet) CloseAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
}
