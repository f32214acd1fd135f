package engine

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// h1BufSize is each connection's read buffer: large enough for any sane
// response header and for reading bodies in few syscalls.
const h1BufSize = 32 << 10

// h1Factory builds HTTP/1.1 callers. The request bytes are built once and
// shared read-only by every connection: one variant per request of the mix
// and body size (see mixer), or just one.
type h1Factory struct {
	r         *run
	tls       *tls.Config // nil for cleartext
	variants  []h1Variant
	keepAlive bool
	// phases: keep-alive is off, so every request dials, and its connect, TLS
	// and first-byte times are recorded (phaseStats.connect and co.).
	phases bool
	churn  float64       // Config.Churn
	slack  time.Duration // see link.deadline
	dialer net.Dialer
	nconn  atomic.Int64 // callers created, numbering them for churn
}

// h1Variant is one prepared request.
type h1Variant struct {
	req  []byte // the whole request, head and body
	head bool   // HEAD: responses carry no body
}

func newH1Factory(r *run) (*h1Factory, error) {
	c := r.cfg
	// Timeout/16 keeps the timeout within ~6% of the configured value; the
	// hard stop at the end of a run moves by at most that much too.
	f := &h1Factory{r: r, keepAlive: *c.KeepAlive, phases: !*c.KeepAlive, churn: c.Churn, slack: c.Timeout / 16}
	if r.ep.tls {
		conf, err := clientTLS(c.TLS, r.ep, []string{"http/1.1"})
		if err != nil {
			return nil, err
		}
		f.tls = conf
	}
	f.variants = buildH1Variants(c, r.ep)
	return f, nil
}

// buildH1Variants renders every request of the mix in every body size, in the
// order mixer.pick numbers them. Bodies are slices of one filler buffer.
func buildH1Variants(c Config, ep endpoint) []h1Variant {
	reqs := c.requests()
	k := sizesPerRequest(c)
	sizes := variantSizes(c)
	filler := makePayload(slices.Max(sizes))
	out := make([]h1Variant, 0, len(reqs)*k)
	for i, rq := range reqs {
		vc, vep := c, ep
		if len(c.Requests) > 0 {
			vc.Method = rq.Method
			vc.Headers = append(append([]string(nil), c.Headers...), rq.Headers...)
			if rq.Path != "" {
				vep.path = rq.Path
			}
		}
		for q := range k {
			vc.Body = rq.Body
			if vc.Body == nil {
				vc.Body = filler[:sizes[i*k+q]]
			}
			req, _ := buildH1Request(vc, vep)
			out = append(out, h1Variant{req: req, head: strings.EqualFold(vc.Method, "HEAD")})
		}
	}
	return out
}

// buildH1Request renders the request once; the hot path only writes it.
func buildH1Request(c Config, ep endpoint) ([]byte, int) {
	var b bytes.Buffer
	b.WriteString(c.Method + " " + ep.path + " HTTP/1.1\r\n")
	has := func(name string) bool {
		for _, h := range c.Headers {
			n, _, _ := strings.Cut(h, ":")
			if strings.EqualFold(strings.TrimSpace(n), name) {
				return true
			}
		}
		return false
	}
	if !has("Host") {
		b.WriteString("Host: " + ep.host + "\r\n")
	}
	if !has("User-Agent") {
		b.WriteString("User-Agent: smp\r\n")
	}
	if !*c.KeepAlive && !has("Connection") {
		b.WriteString("Connection: close\r\n")
	}
	for _, h := range c.Headers {
		b.WriteString(h + "\r\n")
	}
	if (len(c.Body) > 0 || c.Method == "POST" || c.Method == "PUT" || c.Method == "PATCH") && !has("Content-Length") {
		b.WriteString("Content-Length: " + strconv.Itoa(len(c.Body)) + "\r\n")
	}
	b.WriteString("\r\n")
	head := b.Len()
	b.Write(c.Body)
	return b.Bytes(), head
}

func (f *h1Factory) open(ctx context.Context, conns, _ int) ([]caller, error) {
	callers := make([]caller, conns)
	hs := make([]*h1Caller, conns)
	for i := range callers {
		hs[i] = &h1Caller{f: f, rd: h1Reader{buf: make([]byte, h1BufSize)}, id: int(f.nconn.Add(1) - 1)}
		callers[i] = hs[i]
	}
	if !f.keepAlive {
		return callers, nil
	}
	return callers, dialAll(ctx, f.r.cfg.Timeout, hs)
}

func (f *h1Factory) connections() int64 { return f.r.stats.connections.Load() }
func (f *h1Factory) reconnects() int64  { return f.r.stats.reconnects.Load() }
func (f *h1Factory) start()             {}
func (f *h1Factory) close()             {}

// h1Caller is one HTTP/1.1 connection, used by one worker.
type h1Caller struct {
	f  *h1Factory
	rd h1Reader

	link
	// raw is conn's descriptor when it is plain TCP; see exchangeRaw.
	raw   syscall.RawConn
	rawFn func(fd uintptr) bool // c.rawStep, bound once
	x     h1RawState
	// id numbers the caller within the run; life counts its connections and
	// left the requests its connection may still carry (churn).
	id, life int
	left     int64
	// tWrote is when the current request was written, when f.phases is set.
	tWrote time.Duration
}

func (c *h1Caller) dial(ctx context.Context) error {
	f := c.f
	conn, err := c.link.dial(ctx, f.r, &f.dialer, f.tls)
	if err != nil {
		return err
	}
	if f.churn > 0 {
		c.left = churnLife(uint64(f.r.cfg.Arrival.Seed), f.churn, c.id, c.life)
		c.life++
	}
	c.rd.conn = conn
	c.raw = nil
	if tc, ok := conn.(*net.TCPConn); ok && rawExchange {
		if rc, err := tc.SyscallConn(); err == nil {
			c.raw = rc
			if c.rawFn == nil {
				c.rawFn = c.rawStep
			}
		}
	}
	return nil
}

func (c *h1Caller) dropConn() {
	c.drop()
	c.rd.conn = nil
}

func (c *h1Caller) close() { c.dropConn() }

func (c *h1Caller) do(ctx context.Context, ps *phaseStats, deadline time.Duration, variant int) (int, error) {
	f := c.f
	v := &f.variants[variant]
	dl := f.r.base.Add(deadline)
	for attempt := 0; ; attempt++ {
		if c.conn == nil {
			dctx, cancel := context.WithDeadline(ctx, dl)
			err := c.dial(dctx)
			cancel()
			if f.phases {
				c.recordDial(ps)
			}
			if err != nil {
				return 0, err
			}
		}
		reused := c.used
		if err := c.keepDeadline(dl, f.slack); err != nil {
			c.rd.conn = nil
			return 0, err
		}
		c.rd.reset()
		var n int
		var err error
		if c.raw != nil {
			n, err = c.exchangeRaw(v.req)
		} else {
			n, err = c.conn.Write(v.req)
			if f.phases {
				c.tWrote = f.r.since()
			}
		}
		ps.bytesSent += int64(n)
		status, closeAfter := 0, false
		if err == nil && f.phases {
			c.firstByte(ps)
		}
		if err == nil {
			status, closeAfter, err = c.rd.response(v.head)
		}
		ps.bytesRecv += c.rd.take()
		if err != nil {
			got := c.rd.got
			c.dropConn()
			if c.retryOnNew(ctx, f.r, reused, got, attempt, err) {
				continue
			}
			return 0, err
		}
		c.used = true
		if f.churn > 0 {
			c.left--
			closeAfter = closeAfter || c.left <= 0
		}
		if closeAfter || !f.keepAlive {
			c.dropConn()
		}
		return status, nil
	}
}

// firstByte waits for the first byte of the response (unless the raw
// exchange already read it) and records the time from the end of the write
// to it (keep-alive off). The bytes stay in the buffer for response; a read
// error is left for response to report, classified as usual.
func (c *h1Caller) firstByte(ps *phaseStats) {
	if !c.rd.got && c.rd.pre == nil {
		if err := c.rd.fill(); err != nil {
			c.rd.pre = err
			return
		}
	}
	if c.rd.got {
		ps.firstByte.Record(c.f.r.since() - c.tWrote)
	}
}

func isDeadConn(err error) bool {
	switch classify(err) {
	case classClosed, classReset:
		return true
	}
	return false
}

// h1Reader parses responses from a fixed buffer without allocating.
type h1Reader struct {
	conn net.Conn
	buf  []byte
	r, w int
	n    int64 // bytes read since take
	got  bool  // some byte of the current response arrived
	pre  error // returned by the next fill: a preloaded read's error or EOF
}

func (b *h1Reader) reset() { b.r, b.w, b.got, b.pre = 0, 0, false, nil }

// preload accounts for a read made on the reader's behalf into buf[w:]
// (see exchangeRaw): n bytes, or the end of the stream (n = 0), or err.
func (b *h1Reader) preload(n int, err error) {
	switch {
	case n > 0:
		b.w += n
		b.n += int64(n)
		b.got = true
	case err != nil:
		b.pre = os.NewSyscallError("read", err)
	default:
		b.pre = io.EOF
	}
}

func (b *h1Reader) take() int64 { n := b.n; b.n = 0; return n }

var errHeaderTooLarge = &protocolError{"response header larger than 32KiB"}

// fill reads more bytes into the buffer, compacting it when full.
func (b *h1Reader) fill() error {
	if err := b.pre; err != nil {
		b.pre = nil
		return err
	}
	if b.r == b.w {
		b.r, b.w = 0, 0
	}
	if b.w == len(b.buf) {
		if b.r == 0 {
			return errHeaderTooLarge
		}
		b.w = copy(b.buf, b.buf[b.r:b.w])
		b.r = 0
	}
	n, err := b.conn.Read(b.buf[b.w:])
	b.w += n
	b.n += int64(n)
	if n > 0 {
		b.got = true
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// line returns the next line without its CRLF; it aliases the buffer and is
// valid until the next fill.
func (b *h1Reader) line() ([]byte, error) {
	for {
		if i := bytes.IndexByte(b.buf[b.r:b.w], '\n'); i >= 0 {
			l := b.buf[b.r : b.r+i]
			b.r += i + 1
			if len(l) > 0 && l[len(l)-1] == '\r' {
				l = l[:len(l)-1]
			}
			return l, nil
		}
		if err := b.fill(); err != nil {
			if errors.Is(err, io.EOF) && b.got {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// discard skips n body bytes.
func (b *h1Reader) discard(n int64) error {
	for n > 0 {
		if b.r == b.w {
			if err := b.fill(); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		k := min(n, int64(b.w-b.r))
		b.r += int(k)
		n -= k
	}
	return nil
}

// response reads one whole response. It returns the status, whether the
// connection must be closed afterwards, and the first error.
func (b *h1Reader) response(head bool) (status int, closeAfter bool, err error) {
	for {
		l, err := b.line()
		if err != nil {
			return 0, false, err
		}
		// "HTTP/1.1 200 OK": version, space, three digits.
		if len(l) < 12 || !bytes.HasPrefix(l, []byte("HTTP/1.")) || l[8] != ' ' {
			return 0, false, &protocolError{"bad status line"}
		}
		status = 0
		for _, ch := range l[9:12] {
			if ch < '0' || ch > '9' {
				return 0, false, &protocolError{"bad status code"}
			}
			status = status*10 + int(ch-'0')
		}
		if status < 100 || status > 599 {
			return 0, false, &protocolError{"status out of range"}
		}
		closeAfter = l[7] == '0' // HTTP/1.0 closes unless it says keep-alive
		length, chunked := int64(-1), false
		for {
			h, err := b.line()
			if err != nil {
				return 0, false, err
			}
			if len(h) == 0 {
				break
			}
			colon := bytes.IndexByte(h, ':')
			if colon <= 0 {
				return 0, false, &protocolError{"bad header line"}
			}
			name, value := h[:colon], bytes.TrimSpace(h[colon+1:])
			switch {
			case equalFold(name, "content-length"):
				length = 0
				if len(value) == 0 || len(value) > 18 {
					return 0, false, &protocolError{"bad Content-Length"}
				}
				for _, ch := range value {
					if ch < '0' || ch > '9' {
						return 0, false, &protocolError{"bad Content-Length"}
					}
					length = length*10 + int64(ch-'0')
				}
			case equalFold(name, "transfer-encoding"):
				chunked = len(value) >= 7 && equalFold(value[len(value)-7:], "chunked")
			case equalFold(name, "connection"):
				if equalFold(value, "close") {
					closeAfter = true
				} else if equalFold(value, "keep-alive") {
					closeAfter = false
				}
			}
		}
		if status >= 100 && status < 200 && status != 101 {
			continue // interim response (100 Continue, 103 Early Hints): the real one follows
		}
		switch {
		case head || status == 204 || status == 304 || status == 101:
			return status, closeAfter || status == 101, nil
		case chunked:
			return status, closeAfter, b.chunked()
		case length >= 0:
			return status, closeAfter, b.discard(length)
		default:
			// No length: the body ends when the server closes.
			for {
				b.r = b.w
				if err := b.fill(); err != nil {
					if errors.Is(err, io.EOF) {
						return status, true, nil
					}
					return 0, false, err
				}
			}
		}
	}
}

// chunked skips a chunked body and its trailers.
func (b *h1Reader) chunked() error {
	for {
		l, err := b.line()
		if err != nil {
			return err
		}
		var size int64
		digits := 0
		for _, ch := range l {
			var d byte
			switch {
			case ch >= '0' && ch <= '9':
				d = ch - '0'
			case ch >= 'a' && ch <= 'f':
				d = ch - 'a' + 10
			case ch >= 'A' && ch <= 'F':
				d = ch - 'A' + 10
			case ch == ';' || ch == ' ' || ch == '\t':
				goto done
			default:
				return &protocolError{"bad chunk size"}
			}
			if digits++; digits > 15 {
				return &protocolError{"chunk too large"}
			}
			size = size<<4 | int64(d)
		}
	done:
		if digits == 0 {
			return &protocolError{"bad chunk size"}
		}
		if size == 0 {
			for { // trailers end with an empty line
				t, err := b.line()
				if err != nil {
					return err
				}
				if len(t) == 0 {
					return nil
				}
			}
		}
		if err := b.discard(size); err != nil {
			return err
		}
		crlf, err := b.line()
		if err != nil {
			return err
		}
		if len(crlf) != 0 {
			return &protocolError{"chunk not followed by CRLF"}
		}
	}
}

// equalFold compares ASCII case-insensitively with a lower-case literal.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		ch := b[i]
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		if ch != lower[i] {
			return false
		}
	}
	return true
}
