package app

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/service-mesh-performance/smp/internal/h1wire"
	"github.com/service-mesh-performance/smp/internal/rawio"
)

// The HTTP/1.1 fast path (see the package documentation, "HTTP/1.1"): the plain port's
// HTTP/1.1 requests are read, handled and answered by one goroutine per connection,
// and HTTP/1.1 upstreams are called over a pool of connections that the calling
// goroutine writes and reads itself. net/http's server costs a background reader and
// a context per request, its Transport a read loop and a write loop per connection
// with channel handoffs between them and the caller; at a few hundred requests per
// second on a CPU shared with the rest of the mesh, those wake-ups were most of the
// app's CPU. A connection whose request the fast path does not take (h2c, HTTP/1.0,
// Expect, a chunked request body, /metrics, anything unusual) is handed to the
// net/http server with the bytes already read, so every other case keeps net/http's
// behaviour.

// h1BufferSize is each connection's read and write buffer: a request head must fit in
// it to take the fast path.
const h1BufferSize = 8 << 10

// h1Server serves the plain HTTP port: it is the h1wire.Handler of its connections.
type h1Server struct {
	s        *service
	base     context.Context // requests run under it (Run cancels it to cut them off)
	ln       net.Listener
	fallback *h1wire.HandOff
	srv      *h1wire.Server
	pm       *protoMetrics

	// Reply pieces built once.
	okHead  []byte // status line and the fixed headers of a 200
	svcLine []byte // "X-Smp-Service: name\r\n"

	wg sync.WaitGroup // the connections' goroutines
}

// newH1Server serves ln once serve is called.
func newH1Server(s *service, base context.Context, ln net.Listener) *h1Server {
	svcLine := []byte(headerService + ": " + s.cfg.Name + "\r\n")
	okHead := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
		strconv.Itoa(s.cfg.ResponseSize) + "\r\n")
	fallback := h1wire.NewHandOff(ln.Addr())
	return &h1Server{s: s, base: base, ln: ln, fallback: fallback, pm: s.m.byProto[protoHTTP1],
		srv:    h1wire.NewServer(fallback, h1BufferSize, serverIdleTimeout),
		okHead: append(okHead, svcLine...), svcLine: svcLine}
}

// serve accepts on the listener until shutdown closes it, like http.Server.Serve.
func (h *h1Server) serve(ctx context.Context) error {
	return h1wire.Accept(ctx, h.ln, h.s.log, func(c net.Conn) {
		h.wg.Go(func() { h.srv.Serve(c, h) })
	})
}

// Handle serves one request of a connection, or leaves it to net/http.
func (h *h1Server) Handle(c *h1wire.Conn, head []byte) h1wire.Next {
	var req reqHead
	if !req.parse(head) || string(req.target) == "/metrics" {
		return h1wire.Fallback
	}
	if h.answer(c, &req) {
		return h1wire.KeepAlive
	}
	return h1wire.Close
}

// answer serves one request the way service.ServeHTTP does and reports whether the
// connection can serve another.
func (h *h1Server) answer(c *h1wire.Conn, req *reqHead) bool {
	s := h.s
	// What is needed of the head is copied out before the body is read over it.
	healthz, head := string(req.target) == "/healthz", string(req.method) == "HEAD"
	in := inbound{path: "/"}
	if !healthz {
		if len(req.target) > 1 {
			in.path = string(req.target)
		}
		in.trace = req.trace()
	}
	// Body: read to the end and discarded (only Content-Length bodies get here).
	c.R.Discard(len(req.raw))
	if req.contentLength > 0 {
		if _, err := c.R.Discard(int(req.contentLength)); err != nil {
			return false
		}
	}
	req.head = head
	keep := !req.close && !h.srv.Closing()
	w := c.W
	if healthz {
		w.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n")
		return h.finish(w, req, keep, "ok\n")
	}
	if !s.enter() {
		w.WriteString("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n")
		return h.finish(w, req, false, s.cfg.Name+": shutting down\n")
	}
	defer s.handlers.Done()
	start := time.Now()
	pm := h.pm
	s.m.inFlight.Inc()
	ctx := h.base
	hops, failure := s.work(ctx, in)
	code, counter := http.StatusOK, pm.ok
	switch {
	case ctx.Err() != nil:
		code, counter, failure = http.StatusServiceUnavailable, pm.gone, s.cfg.Name+": request abandoned"
	case rawio.PeerClosed(c.Net):
		// The caller went away while the request was served (noticed here, not
		// while it happened: see the package documentation).
		counter = pm.gone
		keep = false
	case failure != "":
		code, counter = http.StatusBadGateway, pm.bad
	}
	counter.Inc()
	pm.duration.Observe(time.Since(start).Seconds())
	s.m.inFlight.Dec()
	if counter == pm.gone && code == http.StatusOK {
		return false
	}
	if code != http.StatusOK {
		w.WriteString("HTTP/1.1 ")
		w.WriteString(strconv.Itoa(code))
		w.WriteByte(' ')
		w.WriteString(http.StatusText(code))
		w.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\n")
		w.Write(h.svcLine)
		writeHops(w, hops)
		return h.finish(w, req, keep && code != http.StatusServiceUnavailable, failure+"\n")
	}
	w.Write(h.okHead)
	writeHops(w, hops)
	writeDate(w)
	if !keep {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
	if !req.head {
		w.Write(s.body)
	}
	return w.Flush() == nil && keep
}

// finish ends a reply whose status line and headers are written, with a short text
// body.
func (h *h1Server) finish(w *bufio.Writer, req *reqHead, keep bool, body string) bool {
	w.WriteString("Content-Length: ")
	w.WriteString(strconv.Itoa(len(body)))
	w.WriteString("\r\n")
	writeDate(w)
	if !keep {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
	if !req.head {
		w.WriteString(body)
	}
	return w.Flush() == nil && keep
}

func writeHops(w *bufio.Writer, hops int) {
	w.WriteString(headerHops + ": ")
	var b [20]byte
	w.Write(strconv.AppendInt(b[:0], int64(hops), 10))
	w.WriteString("\r\n")
}

func writeDate(w *bufio.Writer) {
	var b [64]byte
	d := append(b[:0], "Date: "...)
	d = time.Now().UTC().AppendFormat(d, http.TimeFormat)
	w.Write(append(d, '\r', '\n'))
}

// shutdown stops serving: idle connections are closed at once, the others after their
// current request. When ctx is done first, every connection is closed and cut (Run's
// base cancel) called. It returns once every connection goroutine has.
func (h *h1Server) shutdown(ctx context.Context, cut context.CancelFunc) {
	h.ln.Close()
	h.fallback.Close()
	if h.srv.Shutdown(ctx) != nil {
		cut()
	}
	h.wg.Wait()
}

// reqHead is a request head parsed in place (its slices point into the reader).
type reqHead struct {
	raw            []byte
	method, target []byte
	contentLength  int64
	close          bool
	head           bool                  // a HEAD request (set once the head's bytes are gone)
	traceLines     [numPropagated][]byte // values, by index in propagated()
}

// parse accepts HTTP/1.1 requests with an origin-form target, a Host header, and no
// body or a Content-Length one; anything else is for net/http.
func (r *reqHead) parse(raw []byte) bool {
	*r = reqHead{raw: raw}
	method, target, rest, ok := h1wire.RequestLine(raw)
	if !ok {
		return false
	}
	r.method, r.target = method, target
	host := false
	names := propagated()
	fs := h1wire.Fields{Rest: rest}
	for fs.Next() {
		name, value := fs.Name, fs.Value
		switch {
		case h1wire.ASCIIEqualFold(name, "host"):
			host = true
		case h1wire.ASCIIEqualFold(name, "content-length"):
			n, ok := h1wire.ParseLength(value)
			if !ok || r.contentLength > 0 && r.contentLength != n || n > h1MaxDiscard {
				return false
			}
			r.contentLength = n
		case h1wire.ASCIIEqualFold(name, "transfer-encoding"), h1wire.ASCIIEqualFold(name, "expect"), h1wire.ASCIIEqualFold(name, "upgrade"):
			return false
		case h1wire.ASCIIEqualFold(name, "connection"):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				tok = h1wire.TrimOWS(tok)
				if h1wire.ASCIIEqualFold(tok, "close") {
					r.close = true
				} else if h1wire.ASCIIEqualFold(tok, "upgrade") {
					return false
				}
			}
		default:
			for i, n := range names {
				if r.traceLines[i] == nil && h1wire.ASCIIEqualFold(name, n) {
					r.traceLines[i] = value
					break
				}
			}
		}
	}
	return fs.Ended() && host
}

// h1MaxDiscard bounds the request bodies the fast path discards itself; larger ones
// go to net/http.
const h1MaxDiscard = 1 << 20

// trace is httpTrace for a parsed head: the propagated headers present, with values.
func (r *reqHead) trace() []string {
	var trace []string
	for i, name := range propagated() {
		if v := r.traceLines[i]; len(v) > 0 {
			trace = append(trace, name, string(v))
		}
	}
	return trace
}

// h1Caller calls one HTTP/1.1 upstream over its own keep-alive pool.
type h1Caller struct {
	pool   *h1wire.Pool
	reqTop []byte // " HTTP/1.1\r\nHost: addr\r\nUser-Agent: …\r\n"
}

// clientIdleTimeout is how long a pooled upstream connection may stay idle, as
// net/http's Transport is configured for h2c.
const clientIdleTimeout = 90 * time.Second

// serverIdleTimeout is the HTTP server's IdleTimeout.
const serverIdleTimeout = 5 * time.Minute

func newH1Caller(addr string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *h1Caller {
	dialAddr := func(ctx context.Context) (net.Conn, error) { return dial(ctx, "tcp", addr) }
	return &h1Caller{pool: h1wire.NewPool(dialAddr, h1BufferSize, clientIdleTimeout, maxIdlePerHost),
		reqTop: []byte(" HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: Go-http-client/1.1\r\n")}
}

func (h *h1Caller) call(ctx context.Context, in inbound) callResult {
	for attempt := 0; ; attempt++ {
		c, reused, err := h.pool.Get(ctx)
		if err != nil {
			return callResult{outcome: outcomeError, err: err}
		}
		r, answered := h.exchange(ctx, c, in)
		// A pooled connection the upstream closed while it was idle fails before any
		// answer: the GET is sent once more on a new connection, as net/http does.
		if r.err != nil && !answered && reused && attempt == 0 && ctx.Err() == nil {
			continue
		}
		return r
	}
}

// exchange sends one GET on c and reads the reply; c goes back to the pool or is
// closed. answered reports whether any byte of a reply arrived.
func (h *h1Caller) exchange(ctx context.Context, c *h1wire.ClientConn, in inbound) (r callResult, answered bool) {
	// ctx (its deadline or its cancellation) interrupts the exchange by poisoning the
	// connection's deadline; such a connection is not reused.
	stop := context.AfterFunc(ctx, func() { _ = c.Net.SetDeadline(time.Unix(1, 0)) })
	reuse := false
	defer func() {
		if stop() && reuse {
			h.pool.Put(c)
		} else {
			h.pool.Discard(c)
		}
	}()
	w := c.W
	w.WriteString("GET ")
	w.WriteString(in.path)
	w.Write(h.reqTop)
	for i := 0; i+1 < len(in.trace); i += 2 {
		w.WriteString(in.trace[i])
		w.WriteString(": ")
		w.WriteString(in.trace[i+1])
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	if err := w.Flush(); err != nil {
		return callResult{outcome: outcomeError, err: err}, false
	}
	raw, err := h1wire.PeekHead(c.R)
	if err != nil {
		return callResult{outcome: outcomeError, err: fmt.Errorf("read response: %w", err)}, c.R.Buffered() > 0
	}
	var resp respHead
	if !resp.parse(raw) {
		return callResult{outcome: outcomeError, err: h1wire.ErrMalformed}, true
	}
	c.R.Discard(len(raw))
	r = callResult{hops: parseHops(string(resp.hops)), outcome: outcomeOK}
	noBody := resp.status == http.StatusNoContent || resp.status == http.StatusNotModified
	var msg []byte
	if resp.status/100 != 2 {
		msg = make([]byte, 0, 128)
	}
	switch {
	case noBody:
	case resp.chunked:
		msg, err = discardChunked(c.R, msg)
	case resp.contentLength >= 0:
		msg, err = discardN(c.R, resp.contentLength, msg)
	default:
		msg, err = discardN(c.R, -1, msg)
		resp.close = true
	}
	if err != nil {
		return callResult{hops: r.hops, outcome: outcomeError, err: fmt.Errorf("read body: %w", err)}, true
	}
	reuse = !resp.close
	if resp.status/100 != 2 {
		r.outcome = outcomeStatus
		r.err = fmt.Errorf("answered %d: %s", resp.status, oneLine(msg))
	}
	return r, true
}

// close closes the idle connections; those in use are closed when their call ends.
func (h *h1Caller) close() { h.pool.Close() }

// respHead is what a caller needs of a response head.
type respHead struct {
	status        int
	contentLength int64
	chunked       bool
	close         bool
	hops          []byte
}

func (r *respHead) parse(raw []byte) bool {
	*r = respHead{contentLength: -1}
	st, http10, _, rest, ok := h1wire.StatusLine(raw)
	if !ok || st < 200 { // 1xx: the caller sends no Expect and no Upgrade
		return false
	}
	r.status, r.close = st, http10
	keepAlive := false
	fs := h1wire.Fields{Rest: rest}
	for fs.Next() {
		name, value := fs.Name, fs.Value
		switch {
		case h1wire.ASCIIEqualFold(name, "content-length"):
			n, ok := h1wire.ParseLength(value)
			if !ok {
				return false
			}
			r.contentLength = n
		case h1wire.ASCIIEqualFold(name, "transfer-encoding"):
			if !h1wire.ASCIIEqualFold(value, "chunked") {
				return false
			}
			r.chunked = true
		case h1wire.ASCIIEqualFold(name, "connection"):
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				tok = h1wire.TrimOWS(tok)
				if h1wire.ASCIIEqualFold(tok, "close") {
					r.close = true
				} else if h1wire.ASCIIEqualFold(tok, "keep-alive") {
					keepAlive = true
				}
			}
		case h1wire.ASCIIEqualFold(name, "x-smp-hops"):
			r.hops = value
		}
	}
	if keepAlive && http10 {
		r.close = false
	}
	return fs.Ended()
}

// discardN reads n bytes (n < 0: to EOF), keeping up to maxMessage of them in msg
// when msg is not nil.
func discardN(br *bufio.Reader, n int64, msg []byte) ([]byte, error) {
	for n != 0 {
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				if n < 0 && err == io.EOF {
					return msg, nil
				}
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return msg, err
			}
		}
		k := br.Buffered()
		if n >= 0 && int64(k) > n {
			k = int(n)
		}
		if msg != nil && len(msg) < maxMessage {
			b, _ := br.Peek(min(k, maxMessage-len(msg)))
			msg = append(msg, b...)
		}
		br.Discard(k)
		if n > 0 {
			n -= int64(k)
		}
	}
	return msg, nil
}

// discardChunked reads a chunked body to its end, trailers included.
func discardChunked(br *bufio.Reader, msg []byte) ([]byte, error) {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return msg, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(h1wire.TrimOWS(line)), 16, 64)
		if err != nil || size < 0 {
			return msg, h1wire.ErrMalformed
		}
		if size == 0 {
			break
		}
		if msg, err = discardN(br, size, msg); err != nil {
			return msg, err
		}
		if _, err := discardN(br, 2, nil); err != nil {
			return msg, err
		}
	}
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return msg, err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return msg, nil
		}
	}
}
