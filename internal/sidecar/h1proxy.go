package sidecar

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/service-mesh-performance/smp/internal/h1wire"
	"github.com/service-mesh-performance/smp/internal/rawio"
)

// The HTTP/1.1 fast path. With Protocol HTTP1, each downstream connection is served by
// one goroutine that reads a request head in place, writes it (hop-by-hop headers
// removed) and the body to a pooled upstream connection, reads the response head in
// place and copies it and the body back: two writes and a handful of reads per request
// and no other goroutine, where net/http's server and Transport cost a background
// reader, a read loop and a write loop per connection, channel handoffs between them,
// and a header map, a context and a request clone per request. See doc.go.
//
// A connection whose next request the fast path does not take (HTTP/1.0, an Upgrade,
// CONNECT, an h2c preface, an absolute-form target, a head too large for the buffer,
// anything malformed) is handed, with the bytes already buffered, to the frontend's
// net/http server and its ReverseProxy, so every corner of HTTP keeps net/http's
// behaviour.

const (
	// h1BufferSize is the size of each connection's read and write buffers: a request
	// or response head must fit in the read buffer to take the fast path (net/http
	// serves larger request heads; an upstream response head larger than this is a 502).
	h1BufferSize = 16 << 10
	// maxChunkLine bounds a chunk-size line or a trailer line.
	maxChunkLine = 4 << 10
)

// h1Proxy is the fast path of one frontend.
type h1Proxy struct {
	st     *listenerStats
	log    *slog.Logger
	target string
	srv    *h1wire.Server // its connections; what they do not serve goes to the frontend's net/http server
	pool   *h1wire.Pool   // the keep-alive connections to target
	// dials bounds the pool's dials and handshakes; cancelled once the pool is closed.
	// It is not the sidecar's: requests in flight when it starts to stop may still dial.
	dials     context.Context
	stopDials context.CancelFunc
}

// h1Down is one downstream connection: the h1wire.Handler of its requests. The heads
// are kept from one request to the next, so that their lines' slice is reused.
type h1Down struct {
	*h1wire.Conn // set at each Handle: the same connection every time
	p            *h1Proxy
	req          head
	resp         head
}

// newH1Proxy forwards to target, over TLS when upTLS is not nil, and hands what it
// does not serve to fallback.
func newH1Proxy(st *listenerStats, log *slog.Logger, target string, upTLS *tls.Config, fallback *h1wire.HandOff) *h1Proxy {
	dials, stopDials := context.WithCancel(context.Background())
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	dial := func(ctx context.Context) (net.Conn, error) { return dialUpstream(ctx, dialer, target, upTLS) }
	return &h1Proxy{st: st, log: log, target: target,
		srv:   h1wire.NewServer(fallback, h1BufferSize, serverIdleTimeout),
		pool:  h1wire.NewPool(dial, h1BufferSize, clientIdleTimeout, maxIdlePerHost),
		dials: dials, stopDials: stopDials}
}

// serve serves c until it closes, fails, is handed to net/http or the proxy shuts
// down. It owns c.
func (p *h1Proxy) serve(c net.Conn) {
	p.srv.Serve(c, &h1Down{p: p})
}

// Handle forwards one request and its reply, or leaves the connection to net/http.
func (d *h1Down) Handle(c *h1wire.Conn, raw []byte) h1wire.Next {
	d.Conn = c
	if !parseRequest(raw, &d.req) {
		return h1wire.Fallback
	}
	if d.req.chunked || d.req.contentLength > 0 {
		// A body is read without a deadline (net/http has no ReadTimeout here
		// either); the next idle wait sets one again.
		c.NoReadDeadline()
	}
	d.p.st.requests.Add(1)
	if d.p.roundTrip(d) {
		return h1wire.KeepAlive
	}
	return h1wire.Close
}

// upstreamError is a failure on the upstream side of a request.
type upstreamError struct {
	err      error
	headSent bool // the response head was already passed to the client
}

func (e *upstreamError) Error() string { return "upstream: " + e.err.Error() }
func (e *upstreamError) Unwrap() error { return e.err }

// roundTrip forwards the request in d.req and its reply. It reports whether the
// downstream connection can serve another request.
func (p *h1Proxy) roundTrip(d *h1Down) bool {
	req := &d.req
	hasBody := req.chunked || req.contentLength > 0
	if req.expect && hasBody {
		// The client waits for this before it sends the body; the upstream's own 100
		// Continue, if any, is skipped below.
		if _, err := d.W.WriteString("HTTP/1.1 100 Continue\r\n\r\n"); err != nil || d.W.Flush() != nil {
			return false
		}
	}
	// The head's bytes stay where they are until d.R reads again, which is after
	// writeRequest has written them (only a body makes it read).
	d.R.Discard(len(req.raw))
	up, err := p.send(d, hasBody)
	if err != nil {
		// A request with a body that failed may have left part of it unread.
		return p.fail(d, err, !hasBody)
	}
	keepUp, keepDown, err := p.relay(d, up)
	if keepUp {
		p.pool.Put(up)
	} else {
		p.pool.Discard(up)
	}
	if err != nil {
		var ue *upstreamError
		if errors.As(err, &ue) && !ue.headSent {
			return p.fail(d, err, true)
		}
		p.log.Debug("proxy error", "listener", p.st.name, "target", p.target, "err", err)
		return false
	}
	return keepDown && !req.close && !p.srv.Closing()
}

// send writes the request head and body to an upstream connection. A bodiless
// request that fails on a pooled connection before any answer (the upstream closed
// it while idle) is sent once more on a new connection, as net/http's Transport does.
func (p *h1Proxy) send(d *h1Down, hasBody bool) (*h1wire.ClientConn, error) {
	for attempt := 0; ; attempt++ {
		up, reused, err := p.pool.Get(p.dials)
		if err != nil {
			return nil, &upstreamError{err: err}
		}
		err = p.writeRequest(d, up, hasBody)
		if err == nil && !hasBody && reused {
			// A dead pooled connection shows itself only when its answer is read.
			if _, perr := up.R.Peek(1); perr != nil {
				err = &upstreamError{err: perr}
			}
		}
		if err == nil {
			return up, nil
		}
		p.pool.Discard(up)
		var ue *upstreamError
		if !errors.As(err, &ue) || hasBody || !reused || attempt > 0 {
			return nil, err
		}
	}
}

// writeRequest writes the request to up: request line, the end-to-end header lines as
// they came, the body in the coding it came in.
func (p *h1Proxy) writeRequest(d *h1Down, up *h1wire.ClientConn, hasBody bool) error {
	req, w := &d.req, up.W
	w.Write(req.method)
	w.WriteByte(' ')
	w.Write(req.target)
	w.WriteString(" HTTP/1.1\r\n")
	for _, l := range req.lines {
		if !l.drop {
			w.Write(l.line)
			w.WriteString("\r\n")
		}
	}
	w.WriteString("\r\n")
	var werr, rerr error
	switch {
	case req.chunked:
		werr, rerr = copyChunked(w, d.R)
	case hasBody:
		werr, rerr = copyN(w, d.R, req.contentLength)
	}
	if rerr != nil {
		return rerr // the client's side failed: nothing to answer
	}
	if werr == nil {
		werr = w.Flush()
	}
	if werr != nil {
		return &upstreamError{err: werr}
	}
	return nil
}

// relay reads the response from up and writes it to the client. keepUp tells whether
// up can be pooled again, keepDown whether the client's connection stays open. An
// *upstreamError with headSent false means nothing was written to the client yet.
func (p *h1Proxy) relay(d *h1Down, up *h1wire.ClientConn) (keepUp, keepDown bool, err error) {
	resp := &d.resp
	for {
		raw, err := h1wire.PeekHead(up.R)
		if err != nil {
			return false, false, &upstreamError{err: err}
		}
		if !parseResponse(raw, resp) {
			return false, false, &upstreamError{err: h1wire.ErrMalformed}
		}
		if resp.status >= 200 {
			break
		}
		// 1xx: 100 Continue was already sent to the client; others (103) are passed on.
		up.R.Discard(len(raw))
		if resp.status == 101 {
			return false, false, &upstreamError{err: errors.New("101 Switching Protocols without an upgrade")}
		}
		if resp.status != 100 {
			d.W.Write(raw)
		}
	}
	noBody := string(d.req.method) == "HEAD" || resp.status == 204 || resp.status == 304
	untilClose := !noBody && !resp.chunked && resp.contentLength < 0
	keepDown = !untilClose && !p.srv.Closing() && !d.req.close
	w := d.W
	w.Write(resp.statusLine)
	w.WriteString("\r\n")
	for _, l := range resp.lines {
		if !l.drop {
			w.Write(l.line)
			w.WriteString("\r\n")
		}
	}
	if !keepDown {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
	up.R.Discard(len(resp.raw))
	var werr, rerr error
	switch {
	case noBody:
	case resp.chunked:
		werr, rerr = copyChunked(w, up.R)
	case resp.contentLength >= 0:
		werr, rerr = copyN(w, up.R, resp.contentLength)
	default:
		werr, rerr = copyUntilEOF(w, up.R)
	}
	if werr == nil {
		werr = w.Flush()
	}
	switch {
	case rerr != nil:
		return false, false, &upstreamError{err: rerr, headSent: true}
	case werr != nil:
		return false, false, werr
	}
	return !resp.close && !untilClose, keepDown, nil
}

// fail answers a request whose upstream failed, as writeProxyError does for net/http:
// 502 (504 on a timeout), or a gRPC UNAVAILABLE. An error on the client's side gets no
// answer. It reports whether the connection can serve another request.
func (p *h1Proxy) fail(d *h1Down, err error, bodyConsumed bool) bool {
	var ue *upstreamError
	if !errors.As(err, &ue) {
		p.log.Debug("client error", "listener", p.st.name, "err", err)
		return false
	}
	p.st.errors.Add(1)
	p.log.Debug("proxy error", "listener", p.st.name, "target", p.target, "err", err)
	keep := bodyConsumed && !d.req.close && !p.srv.Closing()
	w := d.W
	if d.req.grpc {
		w.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/grpc\r\nGrpc-Status: 14\r\n" +
			"Grpc-Message: upstream unavailable\r\nContent-Length: 0\r\n")
	} else {
		status := "502 Bad Gateway"
		if isTimeout(err) {
			status = "504 Gateway Timeout"
		}
		w.WriteString("HTTP/1.1 " + status + "\r\nContent-Type: text/plain; charset=utf-8\r\n" +
			"X-Content-Type-Options: nosniff\r\nContent-Length: " + strconv.Itoa(len(proxyErrorBody)) + "\r\n")
	}
	if !keep {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
	if !d.req.grpc && string(d.req.method) != "HEAD" {
		w.WriteString(proxyErrorBody)
	}
	return w.Flush() == nil && keep
}

// proxyErrorBody is what http.Error writes for writeProxyError's message.
const proxyErrorBody = "sidecar: upstream unavailable\n"

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.As(err, &ne) && ne.Timeout()
}

// shutdown stops serving: idle connections are closed at once, the others after their
// current request; when ctx is done first, every connection, downstream and upstream,
// is closed.
func (p *h1Proxy) shutdown(ctx context.Context) {
	if p.srv.Shutdown(ctx) != nil {
		p.stopDials()
		p.pool.CloseAll()
	}
	p.stopDials()
	p.pool.Close()
}

// Copying bodies. Each returns the error of the writer (werr) and of the reader (rerr)
// apart, so that the caller knows whose side failed. The writer is flushed before each
// read that would block, so that a streamed body moves on as it arrives while a body
// that arrived with its head leaves in the same write.

// fill makes src hold at least one byte, flushing dst first if the read would block.
func fill(dst *bufio.Writer, src *bufio.Reader) (werr, rerr error) {
	if src.Buffered() > 0 {
		return nil, nil
	}
	if dst.Buffered() > 0 {
		if err := dst.Flush(); err != nil {
			return err, nil
		}
	}
	_, err := src.Peek(1)
	return nil, err
}

func copyN(dst *bufio.Writer, src *bufio.Reader, n int64) (werr, rerr error) {
	for n > 0 {
		if werr, rerr = fill(dst, src); werr != nil || rerr != nil {
			if rerr == io.EOF {
				rerr = io.ErrUnexpectedEOF
			}
			return werr, rerr
		}
		b, _ := src.Peek(int(min(int64(src.Buffered()), n)))
		if _, err := dst.Write(b); err != nil {
			return err, nil
		}
		src.Discard(len(b))
		n -= int64(len(b))
	}
	return nil, nil
}

func copyUntilEOF(dst *bufio.Writer, src *bufio.Reader) (werr, rerr error) {
	for {
		if werr, rerr = fill(dst, src); werr != nil || rerr != nil {
			if rerr == io.EOF {
				rerr = nil
			}
			return werr, rerr
		}
		b, _ := src.Peek(src.Buffered())
		if _, err := dst.Write(b); err != nil {
			return err, nil
		}
		src.Discard(len(b))
	}
}

// copyChunked copies a chunked body as it is, chunk extensions and trailers included.
func copyChunked(dst *bufio.Writer, src *bufio.Reader) (werr, rerr error) {
	for {
		line, werr, rerr := copyLine(dst, src)
		if werr != nil || rerr != nil {
			return werr, rerr
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return nil, h1wire.ErrMalformed
		}
		if size == 0 {
			break
		}
		if werr, rerr = copyN(dst, src, size+2); werr != nil || rerr != nil { // data and CRLF
			return werr, rerr
		}
	}
	for { // trailer section, up to the blank line
		line, werr, rerr := copyLine(dst, src)
		if werr != nil || rerr != nil {
			return werr, rerr
		}
		if len(line) <= 2 {
			return nil, nil
		}
	}
}

// copyLine copies one line (up to LF) and returns it; it is valid until src is read.
func copyLine(dst *bufio.Writer, src *bufio.Reader) (line []byte, werr, rerr error) {
	for {
		b, _ := src.Peek(src.Buffered())
		if i := indexLF(b); i >= 0 {
			line = b[:i+1]
			if _, err := dst.Write(line); err != nil {
				return nil, err, nil
			}
			src.Discard(len(line))
			return line, nil, nil
		}
		if len(b) >= maxChunkLine {
			return nil, nil, h1wire.ErrMalformed
		}
		if dst.Buffered() > 0 {
			if err := dst.Flush(); err != nil {
				return nil, err, nil
			}
		}
		if _, err := src.Peek(len(b) + 1); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, nil, err
		}
	}
}

func indexLF(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}

// dialUpstream opens a connection to target, with raw-syscall I/O, and completes the
// TLS handshake when tlsConf is not nil.
func dialUpstream(ctx context.Context, d *net.Dialer, target string, tlsConf *tls.Config) (net.Conn, error) {
	conn, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return nil, err
	}
	conn = rawio.Wrap(conn)
	if tlsConf == nil {
		return conn, nil
	}
	tc := tls.Client(conn, tlsConf)
	_ = tc.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	_ = tc.SetDeadline(time.Time{})
	return tc, nil
}
