package h1wire

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// FuzzHead feeds the head parsers arbitrary bytes, as a request and as a response head.
// They must never panic, and what they accept must be what they say: the request line
// a token method, an origin-form target without control characters and HTTP/1.1; the
// status line a status from 100 to 599; every field a token name and a value without
// white space around it or control characters (but tabs) in it; and the
// pieces, put back together, must give the head again, so nothing is skipped or
// invented. The seed corpus (testdata/fuzz/FuzzHead) holds the heads of the clients
// and proxies the app and the sidecar meet (wrk, fortio, hey, curl, Go, Envoy, nginx,
// HAProxy) and the cases they leave to net/http.
func FuzzHead(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, head []byte) {
		if method, target, rest, ok := RequestLine(head); ok {
			if !IsToken(method) || string(method) == "CONNECT" || string(method) == "PRI" ||
				len(target) == 0 || target[0] != '/' || bytes.IndexByte(target, ' ') >= 0 || hasCTL(target) {
				t.Fatalf("RequestLine accepted method %q, target %q", method, target)
			}
			line := string(method) + " " + string(target) + " HTTP/1.1\r\n"
			if string(head) != line+string(rest) {
				t.Fatalf("RequestLine: %q + %q is not the head %q", line, rest, head)
			}
			checkFields(t, rest)
		}
		if st, http10, line, rest, ok := StatusLine(head); ok {
			if st < 100 || st > 599 || http10 != bytes.HasPrefix(head, []byte("HTTP/1.0 ")) ||
				!bytes.HasPrefix(head, []byte("HTTP/1.")) || bytes.IndexByte(line, '\n') >= 0 {
				t.Fatalf("StatusLine accepted %q: status %d, HTTP/1.0 %v", line, st, http10)
			}
			if string(head) != string(line)+"\r\n"+string(rest) {
				t.Fatalf("StatusLine: %q + %q is not the head %q", line, rest, head)
			}
			checkFields(t, rest)
		}
		// PeekHead finds the same end of the head as the parsers do.
		if raw, err := PeekHead(bufio.NewReaderSize(bytes.NewReader(head), 16)); err == nil {
			if !bytes.HasSuffix(raw, []byte("\r\n\r\n")) || !bytes.HasPrefix(head, raw) ||
				bytes.Contains(raw[:len(raw)-1], []byte("\r\n\r\n")) {
				t.Fatalf("PeekHead = %q from %q", raw, head)
			}
		}
	})
}

// checkFields reads a header section with Fields and checks each field and that the
// lines it returned, the blank line and the rest make up the section again.
func checkFields(t *testing.T, section []byte) {
	t.Helper()
	fs := Fields{Rest: section}
	var again strings.Builder
	for fs.Next() {
		if !IsToken(fs.Name) || !bytes.HasPrefix(fs.Line, append(fs.Name, ':')) ||
			!bytes.Contains(fs.Line, fs.Value) || hasCTL(fs.Line) ||
			len(fs.Value) > 0 && (isOWS(fs.Value[0]) || isOWS(fs.Value[len(fs.Value)-1])) {
			t.Fatalf("field %q: name %q, value %q", fs.Line, fs.Name, fs.Value)
		}
		again.Write(fs.Line)
		again.WriteString("\r\n")
	}
	if !fs.Ended() {
		if fs.Rest != nil {
			t.Fatalf("Fields stopped at a malformed line with %q left", fs.Rest)
		}
		return
	}
	again.WriteString("\r\n")
	again.Write(fs.Rest)
	if again.String() != string(section) {
		t.Fatalf("Fields: the section %q reads back as %q", section, again.String())
	}
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }
