//go:build unix

package engine

import (
	"os"
	"syscall"
	"time"

	"github.com/service-mesh-performance/smp/internal/rawio"
)

// rawExchange: the fused write-and-wait of exchangeRaw is available.
const rawExchange = true

// h1RawState is one fused exchange (see exchangeRaw) between the calls of
// rawStep.
type h1RawState struct {
	req      []byte
	written  int
	wrote    bool // the write step ran
	blocked  bool // the socket took only part of the request
	werr     error
	rbuf     []byte
	nread    int
	rerr     error
	readDone bool
	pollTo   time.Duration // busy-poll for the response until this offset (0: don't)
	pollFor  time.Duration // how long: the spin of the request's slot
}

// exchangeRaw writes the request and waits for the first bytes of the
// response with one pass through the netpoller. conn.Write followed by
// conn.Read would try a read right after the write, which on loopback
// almost always finds nothing yet (EAGAIN) and costs a syscall before the
// goroutine parks: a tenth of the client's CPU per request at wrk's rate.
// Inside RawConn.Read the descriptor's readiness is reset before the callback
// first runs, and the callback writes the request, so the response's
// arrival is always seen; the callback returns false to wait for it without
// a speculative read, and reads once the netpoller reports the descriptor
// readable. A request the socket does not take whole (a large body) is
// finished with conn.Write.
func (c *h1Caller) exchangeRaw(req []byte) (int, error) {
	x := &c.x
	*x = h1RawState{req: req, rbuf: c.rd.buf[c.rd.w:]}
	if r := c.f.r; r.open {
		if x.pollFor = r.spinAt(r.since()); x.pollFor > 0 {
			x.pollTo = -1 // set after the write
		}
	}
	err := c.raw.Read(c.rawFn)
	switch {
	case x.werr != nil:
		return x.written, os.NewSyscallError("write", x.werr)
	case x.blocked:
		n, err := c.conn.Write(req[x.written:])
		if c.f.phases {
			c.tWrote = c.f.r.since()
		}
		return x.written + n, err
	case err != nil:
		return x.written, err
	}
	if x.readDone {
		c.rd.preload(x.nread, x.rerr)
	}
	return x.written, nil
}

// rawStep is exchangeRaw's callback: the first call writes, later ones
// read; it reports whether the exchange is done.
func (c *h1Caller) rawStep(fd uintptr) bool {
	x := &c.x
	if !x.wrote {
		x.wrote = true
		for x.written < len(x.req) {
			n, err := rawio.Write(fd, x.req[x.written:])
			if n > 0 {
				x.written += n
			}
			switch err {
			case nil, syscall.EINTR:
			case syscall.EAGAIN:
				x.blocked = true
				return true
			default:
				x.werr = err
				return true
			}
		}
		if c.f.phases {
			c.tWrote = c.f.r.since()
		}
		if x.pollTo == 0 {
			return false // wait for readiness: no speculative read
		}
		// Spinning (spin.go): poll for the response for as long as the send
		// spun, so the client's own wake-up from idle stays out of the figures.
		x.pollTo = c.f.r.since() + x.pollFor
	}
	for {
		n, err := rawio.Read(fd, x.rbuf)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			if x.pollTo > 0 && c.f.r.since() < x.pollTo {
				continue
			}
			x.pollTo = 0
			return false
		}
		x.nread, x.rerr, x.readDone = max(n, 0), err, true
		return true
	}
}
