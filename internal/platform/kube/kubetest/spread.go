package kubetest

import (
	"io"
	"net"
	"sync"
)

// Spread is a TCP forwarder on 127.0.0.1 that hands each connection it accepts to the
// target with the fewest connections open through it. kwok forwards a pod port of every
// pod to one local port; behind that port, Spread stands in for several pods (a run's
// load agents), each of a client's long-lived connections reaching a server of its own.
type Spread struct {
	ln      net.Listener
	targets func() ([]string, error)

	mu     sync.Mutex
	open   map[string]int // connections open to each target
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewSpread listens on a free port of 127.0.0.1 and forwards to the targets (host:port)
// that targets returns when a connection arrives: servers may start once what they
// need exists (the credentials in a run's Secret). A connection that finds no target
// is closed.
func NewSpread(targets func() ([]string, error)) (*Spread, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Spread{ln: ln, targets: targets, open: map[string]int{}, conns: map[net.Conn]struct{}{}}
	s.wg.Go(s.accept)
	return s, nil
}

// Port is the port Spread listens on.
func (s *Spread) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Close stops listening, closes every forwarded connection and waits for them to end.
func (s *Spread) Close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	_ = s.ln.Close()
	s.wg.Wait()
}

func (s *Spread) accept() {
	for {
		in, err := s.ln.Accept()
		if err != nil {
			return
		}
		targets, err := s.targets()
		if err != nil || len(targets) == 0 {
			_ = in.Close()
			continue
		}
		s.mu.Lock()
		target := targets[0]
		for _, t := range targets {
			if s.open[t] < s.open[target] {
				target = t
			}
		}
		s.open[target]++
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				s.open[target]--
				s.mu.Unlock()
			}()
			s.forward(in, target)
		})
	}
}

// forward copies between in and a new connection to target until either side ends.
func (s *Spread) forward(in net.Conn, target string) {
	out, err := net.Dial("tcp", target)
	if err != nil {
		_ = in.Close()
		return
	}
	if !s.track(in, out) {
		return
	}
	defer s.untrack(in, out)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	<-done
}

func (s *Spread) track(cs ...net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		for _, c := range cs {
			_ = c.Close()
		}
		return false
	}
	for _, c := range cs {
		s.conns[c] = struct{}{}
	}
	return true
}

func (s *Spread) untrack(cs ...net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
		delete(s.conns, c)
	}
}
