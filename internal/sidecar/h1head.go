package sidecar

import (
	"bytes"

	"github.com/service-mesh-performance/smp/internal/h1wire"
)

// The HTTP/1.1 message heads of the fast path (see h1proxy.go), parsed in place: every
// slice points into the bufio.Reader's buffer and stays valid until the reader is
// advanced, so parsing copies and allocates nothing. The parser accepts the common,
// unambiguous shape of HTTP/1.1 (CRLF line endings, origin-form targets, a Host header,
// at most one Content-Length, Transfer-Encoding exactly "chunked", no control character
// but tabs in targets and values: h1wire's parsers) and reports
// anything else as "not mine", so that net/http, which knows every corner of the
// protocol, serves the connection instead.

// hline is one header line ("Name: value", without CRLF) and whether it is forwarded.
type hline struct {
	line []byte
	name []byte
	drop bool
}

// head is a parsed request or response head.
type head struct {
	raw []byte // the whole head, blank line included
	// Request: method and target; response: status and the status line.
	method, target []byte
	status         int
	statusLine     []byte
	http10         bool

	lines         []hline
	contentLength int64 // -1: none
	chunked       bool
	close         bool // Connection: close (or HTTP/1.0 without keep-alive)
	keepAlive     bool // Connection: keep-alive
	upgrade       bool // Upgrade or Connection: upgrade
	expect        bool // Expect: 100-continue
	grpc          bool // Content-Type: application/grpc…
	hasHost       bool
	otherTE       bool // a Transfer-Encoding other than exactly "chunked"
	badLength     bool // several different or unparsable Content-Length values
}

func (h *head) reset(raw []byte) {
	lines := h.lines[:0]
	*h = head{raw: raw, lines: lines, contentLength: -1}
}

// parseRequest parses a request head; false means the fast path does not take it.
func parseRequest(raw []byte, h *head) bool {
	h.reset(raw)
	method, target, rest, ok := h1wire.RequestLine(raw)
	if !ok {
		return false
	}
	h.method, h.target = method, target
	if !h.parseFields(rest, true) {
		return false
	}
	return h.hasHost && !h.upgrade && !h.otherTE && !h.badLength && !(h.chunked && h.contentLength >= 0)
}

// parseResponse parses a response head from an upstream.
func parseResponse(raw []byte, h *head) bool {
	h.reset(raw)
	status, http10, line, rest, ok := h1wire.StatusLine(raw)
	if !ok {
		return false
	}
	h.status, h.http10, h.statusLine = status, http10, line
	if !h.parseFields(rest, false) || h.badLength {
		return false
	}
	if h.http10 && !h.keepAlive {
		h.close = true
	}
	return true
}

// parseFields reads the header lines up to the blank line, marks the hop-by-hop ones
// (RFC 9110 section 7.6.1, and what net/http/httputil.ReverseProxy removes) as
// dropped, and records what framing and connection management need.
func (h *head) parseFields(b []byte, request bool) bool {
	var named connNamed
	fs := h1wire.Fields{Rest: b}
	for fs.Next() {
		drop, ok := h.field(fs.Name, fs.Value, request, &named)
		if !ok {
			return false
		}
		h.lines = append(h.lines, hline{line: fs.Line, name: fs.Name, drop: drop})
	}
	if !fs.Ended() {
		return false // also obsolete line folding (a leading space)
	}
	for _, tok := range named.tokens[:named.n] {
		for i := range h.lines {
			if asciiEqualFoldBytes(h.lines[i].name, tok) {
				h.lines[i].drop = true
			}
		}
	}
	return true
}

// connNamed holds the header names that Connection lists as hop-by-hop (beyond close,
// keep-alive and upgrade): the fast path takes up to eight.
type connNamed struct {
	tokens [8][]byte
	n      int
}

// field records what one header field means for framing and connection management
// and tells whether it is hop-by-hop (drop). ok is false for a head the fast path
// leaves to net/http.
func (h *head) field(name, value []byte, request bool, named *connNamed) (drop, ok bool) {
	switch len(name) { // the length first: most fields are none of these
	case 2:
		if h1wire.ASCIIEqualFold(name, "te") {
			drop = !h1wire.ASCIIEqualFold(value, "trailers")
		}
	case 4:
		if h1wire.ASCIIEqualFold(name, "host") {
			h.hasHost = true
		}
	case 6:
		if h1wire.ASCIIEqualFold(name, "expect") {
			h.expect = h1wire.ASCIIEqualFold(value, "100-continue")
		}
	case 7:
		if h1wire.ASCIIEqualFold(name, "upgrade") {
			h.upgrade, drop = true, true
		} else if h1wire.ASCIIEqualFold(name, "trailer") {
			drop = request
		}
	case 10:
		if h1wire.ASCIIEqualFold(name, "connection") {
			return true, h.connection(value, named)
		}
		drop = h1wire.ASCIIEqualFold(name, "keep-alive")
	case 12:
		if h1wire.ASCIIEqualFold(name, "content-type") {
			h.grpc = len(value) >= 16 && h1wire.ASCIIEqualFold(value[:16], "application/grpc")
		}
	case 14:
		if h1wire.ASCIIEqualFold(name, "content-length") {
			n, ok := h1wire.ParseLength(value)
			if !ok || (h.contentLength >= 0 && h.contentLength != n) {
				h.badLength = true
			}
			h.contentLength = n
		}
	case 16:
		drop = h1wire.ASCIIEqualFold(name, "proxy-connection")
	case 17:
		if h1wire.ASCIIEqualFold(name, "transfer-encoding") {
			// Forwarded as it came: the body is passed on in the same coding.
			if h1wire.ASCIIEqualFold(value, "chunked") && !h.chunked {
				h.chunked = true
			} else {
				h.otherTE = true
			}
		}
	case 18:
		drop = h1wire.ASCIIEqualFold(name, "proxy-authenticate")
	case 19:
		drop = h1wire.ASCIIEqualFold(name, "proxy-authorization")
	}
	return drop, true
}

// connection reads a Connection header's options; false when it names more headers
// than named holds.
func (h *head) connection(value []byte, named *connNamed) bool {
	for tok := range bytes.SplitSeq(value, []byte(",")) {
		tok = h1wire.TrimOWS(tok)
		switch {
		case len(tok) == 0:
		case h1wire.ASCIIEqualFold(tok, "close"):
			h.close = true
		case h1wire.ASCIIEqualFold(tok, "keep-alive"):
			h.keepAlive = true
		case h1wire.ASCIIEqualFold(tok, "upgrade"):
			h.upgrade = true
		case named.n < len(named.tokens):
			named.tokens[named.n] = tok
			named.n++
		default:
			return false
		}
	}
	return true
}

// parseChunkSize parses the size of a chunk-size line ("1a;ext=1\r\n").
func parseChunkSize(line []byte) (int64, bool) {
	line = bytes.TrimSuffix(line, []byte("\r\n"))
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = h1wire.TrimOWS(line)
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range line {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int64(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func asciiEqualFoldBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}
