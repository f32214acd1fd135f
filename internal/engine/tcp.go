package engine

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"time"
)

// The TCP echo client: each request writes one message of the Config's body (PayloadSize
// bytes) on a TCP connection, or a TLS one, and reads the same number of bytes back; the
// bytes read must equal the bytes written (an echo server, as fortio's tcp-echo and smp's
// sample app are). The request is done when the last byte of the echo has arrived. With
// keep-alive off every message opens its own connection, and its connect, TLS handshake
// and first-byte times are recorded as HTTP/1.1's are (connection-rate mode: connect,
// exchange, close).
//
// Scheduling, pacing, overflow and the histograms are the engine's, shared with every
// other protocol: this file only opens connections and moves bytes.

// tcpStatus is the status key of a complete, matching echo ("tcp:OK", fortio's "OK" for
// its TCP runner with a prefix, as gRPC codes have theirs).
const tcpStatus = grpcStatusBase + 17

// errEchoMismatch: the server answered with other bytes than it was sent.
var errEchoMismatch = &protocolError{"the echo differs from the message sent"}

// tcpFactory builds TCP echo callers; the message is built once and shared read-only.
type tcpFactory struct {
	r         *run
	tls       *tls.Config // nil for cleartext
	msg       []byte
	keepAlive bool
	slack     time.Duration // see link.deadline
	dialer    net.Dialer
}

func newTCPFactory(r *run) (*tcpFactory, error) {
	c := r.cfg
	f := &tcpFactory{r: r, msg: c.Body, keepAlive: *c.KeepAlive, slack: c.Timeout / 16}
	if r.ep.tls {
		conf, err := clientTLS(c.TLS, r.ep, nil)
		if err != nil {
			return nil, err
		}
		f.tls = conf
	}
	return f, nil
}

func (f *tcpFactory) open(ctx context.Context, conns, _ int) ([]caller, error) {
	callers := make([]caller, conns)
	ts := make([]*tcpCaller, conns)
	for i := range callers {
		ts[i] = &tcpCaller{f: f, echo: make([]byte, len(f.msg))}
		callers[i] = ts[i]
	}
	if !f.keepAlive {
		return callers, nil
	}
	return callers, dialAll(ctx, f.r.cfg.Timeout, ts)
}

func (f *tcpFactory) connections() int64 { return f.r.stats.connections.Load() }
func (f *tcpFactory) reconnects() int64  { return f.r.stats.reconnects.Load() }
func (f *tcpFactory) start()             {}
func (f *tcpFactory) close()             {}

// tcpCaller is one connection, used by one worker.
type tcpCaller struct {
	f    *tcpFactory
	echo []byte // where the echo is read, len(f.msg)
	link
}

func (c *tcpCaller) dial(ctx context.Context) error {
	_, err := c.link.dial(ctx, c.f.r, &c.f.dialer, c.f.tls)
	return err
}

func (c *tcpCaller) close() { c.drop() }

func (c *tcpCaller) do(ctx context.Context, ps *phaseStats, deadline time.Duration, _ int) (int, error) {
	f := c.f
	dl := f.r.base.Add(deadline)
	for attempt := 0; ; attempt++ {
		if c.conn == nil {
			dctx, cancel := context.WithDeadline(ctx, dl)
			err := c.dial(dctx)
			cancel()
			if !f.keepAlive {
				c.recordDial(ps)
			}
			if err != nil {
				return 0, err
			}
		}
		reused := c.used
		if err := c.keepDeadline(dl, f.slack); err != nil {
			return 0, err
		}
		got, err := c.exchange(ps)
		if err != nil {
			c.drop()
			if c.retryOnNew(ctx, f.r, reused, got > 0, attempt, err) {
				continue
			}
			return 0, err
		}
		c.used = true
		if !f.keepAlive {
			c.drop()
		}
		return tcpStatus, nil
	}
}

// exchange writes the message and reads its echo; it returns how many echo bytes came
// back. With keep-alive off it records the time from the end of the write to the first
// byte of the echo.
func (c *tcpCaller) exchange(ps *phaseStats) (int, error) {
	f := c.f
	n, err := c.conn.Write(f.msg)
	ps.bytesSent += int64(n)
	if err != nil {
		return 0, err
	}
	wrote := f.r.since()
	got := 0
	for got < len(c.echo) {
		n, err := c.conn.Read(c.echo[got:])
		if n > 0 && got == 0 && !f.keepAlive {
			ps.firstByte.Record(f.r.since() - wrote)
		}
		got += n
		ps.bytesRecv += int64(n)
		if got == len(c.echo) {
			break
		}
		if err != nil {
			if err == io.EOF && got > 0 {
				err = io.ErrUnexpectedEOF
			}
			return got, err
		}
	}
	if !bytes.Equal(c.echo, f.msg) {
		return got, errEchoMismatch
	}
	return got, nil
}
