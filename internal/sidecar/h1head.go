package sidecar

import (
	"bufio"
	"bytes"
	"errors"
)

// The HTTP/1.1 message heads of the fast path (see h1proxy.go), parsed in place: every
// slice points into the bufio.Reader's buffer and stays valid until the reader is
// advanced, so parsing copies and allocates nothing. The parser accepts the common,
// unambiguous shape of HTTP/1.1 (CRLF line endings, origin-form targets, a Host header,
// at most one Content-Length, Transfer-Encoding exactly "chunked") and reports
// anything else as "not mine", so that net/http, which knows every corner of the
// protocol, serves the connection instead.

// errHeadTooLarge: the head does not fit in the reader's buffer.
var errHeadTooLarge = errors.New("message head larger than the buffer")

// errMalformed: a head or a chunked body that does not parse.
var errMalformed = errors.New("malformed HTTP/1.1 message")

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

// peekHead returns the next message head in br without consuming it, reading from
// the connection only when what is buffered does not hold a complete head yet.
func peekHead(br *bufio.Reader) ([]byte, error) {
	from := 0
	for {
		n := br.Buffered()
		if n > 0 {
			buf, _ := br.Peek(n)
			if i := bytes.Index(buf[from:], []byte("\r\n\r\n")); i >= 0 {
				return buf[:from+i+4], nil
			}
			// A head that ends in bare LFs is left to net/http.
			if bytes.Contains(buf, []byte("\n\n")) {
				return nil, errMalformed
			}
			from = max(0, n-3)
		}
		if n == br.Size() {
			return nil, errHeadTooLarge
		}
		if _, err := br.Peek(n + 1); err != nil {
			return nil, err
		}
	}
}

// parseRequest parses a request head; false means the fast path does not take it.
func parseRequest(raw []byte, h *head) bool {
	h.reset(raw)
	line, rest, ok := cutLine(raw)
	if !ok {
		return false
	}
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return false
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 < 0 {
		return false
	}
	h.method, h.target = line[:sp1], line[sp1+1:sp1+1+sp2]
	version := line[sp1+2+sp2:]
	if string(version) != "HTTP/1.1" || len(h.target) == 0 || h.target[0] != '/' ||
		string(h.method) == "CONNECT" || string(h.method) == "PRI" || !isToken(h.method) {
		return false
	}
	if !h.parseFields(rest, true) {
		return false
	}
	return h.hasHost && !h.upgrade && !h.otherTE && !h.badLength && !(h.chunked && h.contentLength >= 0)
}

// parseResponse parses a response head from an upstream.
func parseResponse(raw []byte, h *head) bool {
	h.reset(raw)
	line, rest, ok := cutLine(raw)
	if !ok || len(line) < 12 || line[8] != ' ' {
		return false
	}
	switch string(line[:8]) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		h.http10 = true
	default:
		return false
	}
	st := line[9:12]
	if st[0] < '1' || st[0] > '5' || st[1] < '0' || st[1] > '9' || st[2] < '0' || st[2] > '9' ||
		(len(line) > 12 && line[12] != ' ') {
		return false
	}
	h.status = int(st[0]-'0')*100 + int(st[1]-'0')*10 + int(st[2]-'0')
	h.statusLine = line
	if !h.parseFields(rest, false) || h.badLength {
		return false
	}
	if h.http10 && !h.keepAlive {
		h.close = true
	}
	return true
}

// cutLine splits off the first CRLF-terminated line.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 1 || b[i-1] != '\r' {
		return nil, nil, false
	}
	return b[:i-1], b[i+1:], true
}

// parseFields reads the header lines up to the blank line, marks the hop-by-hop ones
// (RFC 9110 section 7.6.1, and what net/http/httputil.ReverseProxy removes) as
// dropped, and records what framing and connection management need.
func (h *head) parseFields(b []byte, request bool) bool {
	var connTokens [8][]byte
	nTokens := 0
	for {
		line, rest, ok := cutLine(b)
		if !ok {
			return false
		}
		b = rest
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return false // also catches obsolete line folding (a leading space)
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		drop := false
		switch len(name) {
		case 2:
			if asciiEqualFold(name, "te") {
				drop = !asciiEqualFold(value, "trailers")
			}
		case 4:
			if asciiEqualFold(name, "host") {
				h.hasHost = true
			}
		case 6:
			if asciiEqualFold(name, "expect") {
				h.expect = asciiEqualFold(value, "100-continue")
			}
		case 7:
			if asciiEqualFold(name, "upgrade") {
				h.upgrade, drop = true, true
			} else if asciiEqualFold(name, "trailer") {
				drop = request
			}
		case 10:
			if asciiEqualFold(name, "connection") {
				drop = true
				for tok := range bytes.SplitSeq(value, []byte(",")) {
					tok = trimOWS(tok)
					switch {
					case len(tok) == 0:
					case asciiEqualFold(tok, "close"):
						h.close = true
					case asciiEqualFold(tok, "keep-alive"):
						h.keepAlive = true
					case asciiEqualFold(tok, "upgrade"):
						h.upgrade = true
					case nTokens < len(connTokens):
						connTokens[nTokens] = tok
						nTokens++
					default:
						return false
					}
				}
			} else if asciiEqualFold(name, "keep-alive") {
				drop = true
			}
		case 12:
			if asciiEqualFold(name, "content-type") {
				h.grpc = len(value) >= 16 && asciiEqualFold(value[:16], "application/grpc")
			}
		case 14:
			if asciiEqualFold(name, "content-length") {
				n, ok := parseLength(value)
				if !ok || (h.contentLength >= 0 && h.contentLength != n) {
					h.badLength = true
				}
				h.contentLength = n
			}
		case 16:
			if asciiEqualFold(name, "proxy-connection") {
				drop = true
			}
		case 17:
			if asciiEqualFold(name, "transfer-encoding") {
				// Forwarded as it came: the body is passed on in the same coding.
				if asciiEqualFold(value, "chunked") && !h.chunked {
					h.chunked = true
				} else {
					h.otherTE = true
				}
			}
		case 18:
			drop = asciiEqualFold(name, "proxy-authenticate")
		case 19:
			drop = asciiEqualFold(name, "proxy-authorization")
		}
		h.lines = append(h.lines, hline{line: line, name: name, drop: drop})
	}
	for _, tok := range connTokens[:nTokens] {
		for i := range h.lines {
			if asciiEqualFoldBytes(h.lines[i].name, tok) {
				h.lines[i].drop = true
			}
		}
	}
	return true
}

// parseLength parses a Content-Length value: decimal digits only.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return -1, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return -1, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseChunkSize parses the size of a chunk-size line ("1a;ext=1\r\n").
func parseChunkSize(line []byte) (int64, bool) {
	line = bytes.TrimSuffix(line, []byte("\r\n"))
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = trimOWS(line)
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

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// isToken reports whether b is a non-empty RFC 9110 token.
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte(`"(),/:;<=>?@[\]{}`), c) >= 0 {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// asciiEqualFold compares b with the lower-case ASCII string s, ignoring case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
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
