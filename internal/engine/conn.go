package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// link is the connection of one HTTP/1.1 or TCP caller: the worker alone dials, uses and
// drops it; abort, from the run's collector, only wakes a blocked read or write. Both
// clients reconnect the same way (a kept connection found dead is replaced once), keep
// their deadline with the same slack, and time their dials for keep-alive off.
type link struct {
	mu      sync.Mutex // guards conn against abort; the worker alone writes conn
	conn    net.Conn
	aborted bool
	used    bool // conn has carried a complete exchange
	// deadline is what conn's deadline is set to. Moving a deadline costs two runtime
	// timer updates, a measurable share of a loopback request, so keepDeadline moves it
	// only when the request's own deadline falls outside [deadline−slack, deadline]: a
	// request times out no earlier than its deadline and at most slack later.
	deadline time.Time
	dialPhases
}

var errAborted = errors.New("run cancelled")

// dialAll opens the callers' connections in parallel, each within timeout, before the
// run's clock starts. A failure here is not fatal: the first request dials again and its
// failure is counted as that request's error. Only a cancelled ctx is returned.
func dialAll[C interface{ dial(context.Context) error }](ctx context.Context, timeout time.Duration, callers []C) error {
	var wg sync.WaitGroup
	for _, c := range callers {
		wg.Go(func() {
			dctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			_ = c.dial(dctx)
		})
	}
	wg.Wait()
	return ctx.Err()
}

// dial opens a TCP connection to the run's target, then TLS on it when conf is set,
// recording when each phase ended, and makes it the link's connection (unless the run
// was aborted meanwhile).
func (l *link) dial(ctx context.Context, r *run, d *net.Dialer, conf *tls.Config) (net.Conn, error) {
	l.tDial, l.tConn, l.tTLS = r.since(), 0, 0
	conn, err := d.DialContext(ctx, "tcp", r.ep.hostPort)
	if err != nil {
		return nil, err
	}
	r.stats.connections.Add(1)
	l.tConn = r.since()
	if conf != nil {
		tc := tls.Client(conn, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		conn = tc
		l.tTLS = r.since()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.aborted {
		conn.Close()
		return nil, errAborted
	}
	l.conn, l.used, l.deadline = conn, false, time.Time{}
	return conn, nil
}

func (l *link) drop() {
	l.mu.Lock()
	if l.conn != nil {
		l.conn.Close()
		l.conn = nil
	}
	l.mu.Unlock()
}

func (l *link) abort() {
	l.mu.Lock()
	l.aborted = true
	if l.conn != nil {
		l.conn.SetDeadline(time.Unix(1, 0)) // wakes a blocked Read or Write now
	}
	l.mu.Unlock()
}

// keepDeadline makes sure the connection times out no earlier than dl (see deadline);
// on failure the connection is dropped.
func (l *link) keepDeadline(dl time.Time, slack time.Duration) error {
	if !dl.After(l.deadline) && !dl.Before(l.deadline.Add(-slack)) {
		return nil
	}
	l.deadline = dl.Add(slack)
	if err := l.conn.SetDeadline(l.deadline); err != nil {
		l.drop()
		return err
	}
	return nil
}

// retryOnNew reports whether a request that failed should be sent again on a new
// connection: a kept connection the server closed while it was idle fails on first use
// with EOF or a reset before any byte of the answer, which is not the target failing the
// request. Only once per request (attempt 0), and counted as a reconnect.
func (l *link) retryOnNew(ctx context.Context, r *run, reused, got bool, attempt int, err error) bool {
	if reused && !got && attempt == 0 && ctx.Err() == nil && isDeadConn(err) {
		r.stats.reconnects.Add(1)
		return true
	}
	return false
}

// dialPhases are the instants (offsets from run.base) of a connection's dial: dial
// start, TCP connected, TLS done (0 for a phase that did not complete).
type dialPhases struct {
	tDial, tConn, tTLS time.Duration
}

// recordDial records the connect and TLS times of the dial that just ran (keep-alive
// off): each phase that completed, whether or not the next failed.
func (d *dialPhases) recordDial(ps *phaseStats) {
	if d.tConn == 0 {
		return
	}
	ps.connect.Record(d.tConn - d.tDial)
	if d.tTLS != 0 {
		ps.tls.Record(d.tTLS - d.tConn)
	}
}
