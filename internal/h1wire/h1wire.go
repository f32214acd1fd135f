// Package h1wire holds what the fast HTTP/1.1 paths of the builtin app and sidecar share,
// so that each keeps only what it does with a request (the app answers it, the sidecar
// forwards it):
//
//   - head parsing straight from a bufio.Reader's buffer (PeekHead, RequestLine,
//     StatusLine, Fields), without net/http's allocations, since their CPU is what a run
//     measures. The parsers take only the common, unambiguous shape of HTTP/1.1 and say
//     "not mine" to anything else, which net/http then serves; FuzzHead holds them to
//     what they claim;
//   - the connection loop (Server: one goroutine per connection, idle deadlines,
//     graceful shutdown) that gives each request head to a Handler;
//   - the HandOff listener through which they pass the connections they do not serve
//     themselves to net/http;
//   - Pool, the keep-alive pool of upstream connections on which the caller writes a
//     request and reads its reply itself;
//   - Accept, the accept loop with net/http's back-off, which nothing ties to HTTP.
//
// Imports nothing of smp.
package h1wire

import (
	"bufio"
	"bytes"
	"errors"
)

// ErrHeadTooLarge: the head does not fit in the reader's buffer.
var ErrHeadTooLarge = errors.New("message head larger than the buffer")

// ErrMalformed: a head or a chunked body that does not parse.
var ErrMalformed = errors.New("malformed HTTP/1.1 message")

// PeekHead returns the next message head in br without consuming it, reading from
// the connection only when what is buffered does not hold a complete head yet.
func PeekHead(br *bufio.Reader) ([]byte, error) {
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
				return nil, ErrMalformed
			}
			from = max(0, n-3)
		}
		if n == br.Size() {
			return nil, ErrHeadTooLarge
		}
		if _, err := br.Peek(n + 1); err != nil {
			return nil, err
		}
	}
}

// RequestLine parses the request line at the start of head, in place. It accepts what
// the fast paths serve themselves: HTTP/1.1 with an origin-form target ("/…") and a
// token method other than CONNECT and PRI (the start of HTTP/2's preface), and no
// control character in the target (net/http answers 400 to one). ok is false for
// anything else, which they leave to net/http. rest is the header section that follows
// the line (read it with Fields).
func RequestLine(head []byte) (method, target, rest []byte, ok bool) {
	line, rest, ok := CutLine(head)
	if !ok {
		return nil, nil, nil, false
	}
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return nil, nil, nil, false
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 < 0 {
		return nil, nil, nil, false
	}
	method, target = line[:sp1], line[sp1+1:sp1+1+sp2]
	if string(line[sp1+2+sp2:]) != "HTTP/1.1" || len(target) == 0 || target[0] != '/' || hasCTL(target) ||
		string(method) == "CONNECT" || string(method) == "PRI" || !IsToken(method) {
		return nil, nil, nil, false
	}
	return method, target, rest, true
}

// StatusLine parses the status line at the start of head, in place: "HTTP/1.1" or
// "HTTP/1.0", a status from 100 to 599, and a reason phrase after a space, or none.
// line is the whole status line (without CRLF), rest the header section that follows.
func StatusLine(head []byte) (status int, http10 bool, line, rest []byte, ok bool) {
	line, rest, ok = CutLine(head)
	if !ok || len(line) < 12 || line[8] != ' ' || len(line) > 12 && line[12] != ' ' {
		return 0, false, nil, nil, false
	}
	switch string(line[:8]) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		http10 = true
	default:
		return 0, false, nil, nil, false
	}
	st := line[9:12]
	if st[0] < '1' || st[0] > '5' || st[1] < '0' || st[1] > '9' || st[2] < '0' || st[2] > '9' {
		return 0, false, nil, nil, false
	}
	return int(st[0]-'0')*100 + int(st[1]-'0')*10 + int(st[2]-'0'), http10, line, rest, true
}

// Fields reads the field lines of a head's header section in place, one per Next, the
// way bufio.Scanner reads lines:
//
//	fs := h1wire.Fields{Rest: rest}
//	for fs.Next() {
//		… fs.Name, fs.Value …
//	}
//	if !fs.Ended() {
//		… malformed …
//	}
type Fields struct {
	Rest []byte // what is left to read: the section as given, then what follows the current line

	Line  []byte // the current field line as it came, without CRLF
	Name  []byte // the current field's name: a token
	Value []byte // the current field's value, without the white space around it
	ended bool
}

// Next moves to the next field line. It returns false at the blank line that ends the
// section (Ended then reports true, and Rest is what follows it) and at a line that is
// not CRLF-terminated or not a token, a colon and a value, which also refuses obsolete
// line folding (a line that starts with a space). A value may not hold a control
// character other than a tab: net/http refuses one, and a bare CR passed on could end
// the line early for the next hop.
func (f *Fields) Next() bool {
	if f.ended {
		return false
	}
	line, rest, ok := CutLine(f.Rest)
	if !ok {
		f.Rest = nil
		return false
	}
	if len(line) == 0 {
		f.Rest, f.ended = rest, true
		return false
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !IsToken(line[:colon]) || hasCTL(line[colon+1:]) {
		f.Rest = nil
		return false
	}
	f.Line, f.Name, f.Value, f.Rest = line, line[:colon], TrimOWS(line[colon+1:]), rest
	return true
}

// Ended reports whether Next stopped at the blank line that ends the section, not at a
// malformed line.
func (f *Fields) Ended() bool { return f.ended }

// CutLine splits off the first CRLF-terminated line.
func CutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 1 || b[i-1] != '\r' {
		return nil, nil, false
	}
	return b[:i-1], b[i+1:], true
}

// ParseLength parses a Content-Length value: decimal digits only.
func ParseLength(v []byte) (int64, bool) {
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

// TrimOWS trims the optional white space (spaces and tabs) around a header value.
func TrimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// IsToken reports whether b is a non-empty RFC 9110 token.
func IsToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isTokenChar(c) {
			return false
		}
	}
	return true
}

// isTokenChar reports whether c is a tchar: visible ASCII but the delimiters
// "(),/:;<=>?@[\]{} and the double quote. It tests a bit in a 128-bit mask, since
// every field name of every request goes through it.
func isTokenChar(c byte) bool {
	const lo = 1<<'!' | 1<<'#' | 1<<'$' | 1<<'%' | 1<<'&' | 1<<'\'' | 1<<'*' | 1<<'+' |
		1<<'-' | 1<<'.' | (1<<10-1)<<'0' // bytes 0 to 63
	const hi = (1<<26-1)<<('A'-64) | 1<<('^'-64) | 1<<('_'-64) | 1<<('`'-64) |
		(1<<26-1)<<('a'-64) | 1<<('|'-64) | 1<<('~'-64) // bytes 64 to 127
	if c < 64 {
		return uint64(lo)&(1<<c) != 0
	}
	return c < 128 && uint64(hi)&(1<<(c-64)) != 0
}

// hasCTL reports whether b holds an ASCII control character other than a tab.
func hasCTL(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}

// ASCIIEqualFold compares b with the lower-case ASCII string s, ignoring case.
func ASCIIEqualFold(b []byte, s string) bool {
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

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
