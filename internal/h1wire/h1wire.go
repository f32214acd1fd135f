// Package h1wire holds what the fast HTTP/1.1 paths of the builtin app and sidecar share:
// head parsing straight from a bufio.Reader's buffer, without net/http's allocations
// (their CPU is what a run measures), and the HandOff listener through which they pass
// the connections they do not serve themselves to net/http. Imports nothing of smp.
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
		if c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte(`"(),/:;<=>?@[\]{}`), c) >= 0 {
			return false
		}
	}
	return true
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
