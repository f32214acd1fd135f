package engine

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// h2Factory runs HTTP/2 (TLS+ALPN or h2c prior knowledge) over a fixed
// pool of connections it dials itself: each connection is an
// http2.ClientConn shared by Streams workers, so the pool size is exactly
// Connections and the server's MAX_CONCURRENT_STREAMS is honoured by the
// ClientConn (StrictMaxConcurrentStreams: a worker whose stream is not
// allowed yet waits, charged from its intended time).
type h2Factory struct {
	r      *run
	t      *http2.Transport
	tls    *tls.Config
	req    *http.Request // template: never sent itself, only shallow copies
	dialer net.Dialer
	conns  []*h2Conn
}

func newH2Factory(r *run) (*h2Factory, error) {
	c := r.cfg
	f := &h2Factory{r: r, t: &http2.Transport{
		AllowHTTP:                  true,
		StrictMaxConcurrentStreams: true,
		DisableCompression:         true, // a load test measures the response as served
	}}
	scheme := "http"
	if r.ep.tls {
		scheme = "https"
		conf, err := clientTLS(c.TLS, r.ep, []string{"h2"})
		if err != nil {
			return nil, err
		}
		f.tls = conf
	}
	req, err := http.NewRequest(c.Method, scheme+"://"+r.ep.host+r.ep.path, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for _, h := range c.Headers {
		name, value, _ := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if strings.EqualFold(name, "Host") {
			req.Host = value
			continue
		}
		req.Header.Add(name, value)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "smp")
	}
	req.ContentLength = int64(len(c.Body))
	f.req = req
	return f, nil
}

func (f *h2Factory) open(ctx context.Context, conns, streams int) ([]caller, error) {
	f.conns = make([]*h2Conn, conns)
	callers := make([]caller, 0, conns*streams)
	for i := range f.conns {
		hc := &h2Conn{f: f}
		f.conns[i] = hc
		for range streams {
			h := &h2Caller{conn: hc, buf: make([]byte, 16<<10)}
			if len(f.r.cfg.Body) > 0 {
				h.body = &rewindBody{r: bytes.NewReader(f.r.cfg.Body)}
			}
			callers = append(callers, h)
		}
	}
	if *f.r.cfg.KeepAlive {
		var wg sync.WaitGroup
		for _, hc := range f.conns {
			wg.Go(func() {
				dctx, cancel := context.WithTimeout(ctx, f.r.cfg.Timeout)
				defer cancel()
				hc.mu.Lock()
				defer hc.mu.Unlock()
				_ = hc.dialLocked(dctx)
			})
		}
		wg.Wait()
	}
	return callers, ctx.Err()
}

func (f *h2Factory) connections() int64 { return f.r.stats.connections.Load() }
func (f *h2Factory) reconnects() int64  { return f.r.stats.reconnects.Load() }
func (f *h2Factory) close() {
	for _, hc := range f.conns {
		hc.abort()
	}
}

// h2Conn is one pooled connection; its workers share it.
type h2Conn struct {
	f       *h2Factory
	mu      sync.Mutex
	cc      *http2.ClientConn
	aborted bool
	used    atomic.Bool // cc completed a request (so its death is a reconnect)
}

func (hc *h2Conn) dialLocked(ctx context.Context) error {
	f := hc.f
	if hc.aborted {
		return errAborted
	}
	conn, err := f.dialer.DialContext(ctx, "tcp", f.r.ep.hostPort)
	if err != nil {
		return err
	}
	f.r.stats.connections.Add(1)
	if f.tls != nil {
		tc := tls.Client(conn, f.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return err
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
			tc.Close()
			return &protocolError{fmt.Sprintf("server did not negotiate h2 with ALPN (got %q)", p)}
		}
		conn = tc
	}
	cc, err := f.t.NewClientConn(conn)
	if err != nil {
		conn.Close()
		return err
	}
	// The server's SETTINGS frame precedes its PING ack, so after one round
	// trip MAX_CONCURRENT_STREAMS is known; without it the ClientConn would
	// allow 100 streams until the frame arrived.
	if err := cc.Ping(ctx); err != nil {
		cc.Close()
		return err
	}
	hc.cc = cc
	hc.used.Store(false)
	return nil
}

// get returns a usable ClientConn, dialling when there is none or the
// current one can take no more requests (GOAWAY, closed).
func (hc *h2Conn) get(ctx context.Context) (*http2.ClientConn, error) {
	hc.mu.Lock()
	defer hc.mu.Unlock()
	if hc.cc != nil && hc.cc.CanTakeNewRequest() {
		return hc.cc, nil
	}
	if hc.cc != nil {
		hc.cc.Close()
		hc.cc = nil
		if hc.used.Load() {
			hc.f.r.stats.reconnects.Add(1)
		}
	}
	if err := hc.dialLocked(ctx); err != nil {
		return nil, err
	}
	return hc.cc, nil
}

func (hc *h2Conn) abort() {
	hc.mu.Lock()
	hc.aborted = true
	if hc.cc != nil {
		hc.cc.Close()
	}
	hc.mu.Unlock()
}

// h2Caller is one stream slot of an h2Conn, used by one worker.
type h2Caller struct {
	conn *h2Conn
	body *rewindBody
	buf  []byte
}

// rewindBody replays the same bytes for every request without allocating.
type rewindBody struct{ r *bytes.Reader }

func (b *rewindBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *rewindBody) Close() error               { return nil }

func (c *h2Caller) do(ctx context.Context, ps *phaseStats, deadline time.Duration) (int, error) {
	f := c.conn.f
	rctx, cancel := context.WithDeadline(ctx, f.r.base.Add(deadline))
	defer cancel()
	cc, err := c.conn.get(rctx)
	if err != nil {
		return 0, err
	}
	req := f.req.WithContext(rctx)
	if c.body != nil {
		c.body.r.Seek(0, io.SeekStart)
		req.Body = c.body
	}
	resp, err := cc.RoundTrip(req)
	if err != nil {
		return 0, h2Err(err)
	}
	ps.bytesSent += req.ContentLength
	for {
		n, err := resp.Body.Read(c.buf)
		ps.bytesRecv += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			resp.Body.Close()
			return 0, h2Err(err)
		}
	}
	resp.Body.Close()
	if !c.conn.used.Load() {
		c.conn.used.Store(true)
	}
	return resp.StatusCode, nil
}

// h2Err gives HTTP/2 errors a class: stream resets and GOAWAYs are the
// protocol's own failures.
func h2Err(err error) error {
	var se http2.StreamError
	var ce http2.ConnectionError
	var ga http2.GoAwayError
	if errors.As(err, &se) || errors.As(err, &ce) || errors.As(err, &ga) {
		return &classified{class: classProtocol, err: err}
	}
	return err
}

func (c *h2Caller) abort() { c.conn.abort() }
func (c *h2Caller) close() { c.conn.abort() }
