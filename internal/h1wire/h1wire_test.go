package h1wire

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestPeekHead finds a head that arrives in pieces, leaves it unconsumed, and refuses
// heads that are too large or end in bare LFs.
func TestPeekHead(t *testing.T) {
	pr, pw := io.Pipe()
	br := bufio.NewReaderSize(pr, 64)
	head := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	go func() {
		for _, part := range []string{head[:10], head[10:26], head[26:], "body"} {
			pw.Write([]byte(part))
		}
		pw.Close()
	}()
	got, err := PeekHead(br)
	if err != nil || string(got) != head {
		t.Fatalf("PeekHead = %q, %v", got, err)
	}
	if br.Buffered() < len(head) {
		t.Errorf("the head was consumed: %d bytes buffered", br.Buffered())
	}

	big := bufio.NewReaderSize(strings.NewReader("GET / HTTP/1.1\r\nX: "+strings.Repeat("a", 100)+"\r\n\r\n"), 32)
	if _, err := PeekHead(big); !errors.Is(err, ErrHeadTooLarge) {
		t.Errorf("large head: %v, want ErrHeadTooLarge", err)
	}
	lf := bufio.NewReader(strings.NewReader("GET / HTTP/1.1\nHost: x\n\n"))
	if _, err := PeekHead(lf); !errors.Is(err, ErrMalformed) {
		t.Errorf("bare LFs: %v, want ErrMalformed", err)
	}
}

func TestFieldHelpers(t *testing.T) {
	for v, want := range map[string]int64{"0": 0, "1234": 1234, "": -1, "12a": -1, "-1": -1, "1234567890123456789": -1} {
		if n, ok := ParseLength([]byte(v)); n != want || ok != (want >= 0) {
			t.Errorf("ParseLength(%q) = %d, %v", v, n, ok)
		}
	}
	for v, want := range map[string]bool{"GET": true, "x-forwarded-for": true, "": false, "a b": false, "a:b": false, "é": false} {
		if IsToken([]byte(v)) != want {
			t.Errorf("IsToken(%q) != %v", v, want)
		}
	}
	if got := string(TrimOWS([]byte(" \t v a \t"))); got != "v a" {
		t.Errorf("TrimOWS = %q", got)
	}
	if !ASCIIEqualFold([]byte("Content-LENGTH"), "content-length") || ASCIIEqualFold([]byte("content-lengt"), "content-length") {
		t.Error("ASCIIEqualFold")
	}
	line, rest, ok := CutLine([]byte("a\r\nb"))
	if !ok || string(line) != "a" || string(rest) != "b" {
		t.Errorf("CutLine = %q %q %v", line, rest, ok)
	}
	if _, _, ok := CutLine([]byte("a\nb")); ok {
		t.Error("CutLine accepted a bare LF")
	}
}

// TestRequestLine takes the request lines the fast paths serve and refuses the rest,
// which net/http serves instead.
func TestRequestLine(t *testing.T) {
	m, tg, rest, ok := RequestLine([]byte("GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n"))
	if !ok || string(m) != "GET" || string(tg) != "/a?b=1" || string(rest) != "Host: x\r\n\r\n" {
		t.Fatalf("RequestLine = %q %q %q %v", m, tg, rest, ok)
	}
	for _, line := range []string{
		"GET / HTTP/1.0",            // another version
		"GET http://x/ HTTP/1.1",    // absolute form
		"OPTIONS * HTTP/1.1",        // asterisk form
		"CONNECT x:443 HTTP/1.1",    // authority form
		"PRI * HTTP/2.0",            // the h2 preface
		"PRI / HTTP/1.1",            // PRI is never served here
		"G(T / HTTP/1.1",            // not a token
		" GET / HTTP/1.1",           // no method
		"GET  HTTP/1.1",             // no target
		"GET / HTTP/1.1 ",           // trailing space
		"GET /",                     // no version
		"GET / HTTP/1.1\nHost: x\n", // bare LF
		"GET /a\rb HTTP/1.1",        // a control character in the target
		"GET /a\x00 HTTP/1.1",
		"GET /\x7f HTTP/1.1",
	} {
		if _, _, _, ok := RequestLine([]byte(line + "\r\n\r\n")); ok {
			t.Errorf("RequestLine(%q) accepted", line)
		}
	}
}

func TestStatusLine(t *testing.T) {
	for raw, want := range map[string]int{
		"HTTP/1.1 200 OK\r\n\r\n":          200,
		"HTTP/1.1 204\r\n\r\n":             204,
		"HTTP/1.0 503 Unavailable\r\n\r\n": 503,
		"HTTP/1.1 100 Continue\r\n\r\n":    100,
		"HTTP/1.1 600 X\r\n\r\n":           -1,
		"HTTP/1.1 20x OK\r\n\r\n":          -1,
		"HTTP/1.1 2000 OK\r\n\r\n":         -1,
		"HTTP/2.0 200 OK\r\n\r\n":          -1,
		"HTTP/1.1  200 OK\r\n\r\n":         -1,
		"HTTP/1.1 200 OK\n\n":              -1,
	} {
		st, http10, line, rest, ok := StatusLine([]byte(raw))
		if ok != (want > 0) || ok && (st != want || string(line)+"\r\n"+string(rest) != raw || http10 != (raw[7] == '0')) {
			t.Errorf("StatusLine(%q) = %d %v %q %q %v", raw, st, http10, line, rest, ok)
		}
	}
}

// TestFields reads field lines with their values trimmed, stops at the blank line
// with the rest after it, and stops without Ended at a malformed line.
func TestFields(t *testing.T) {
	fs := Fields{Rest: []byte("Host: x\r\nX-A:\t a\tb \t\r\nEmpty:\r\nUTF-8: \xc3\xa9\r\n\r\nbody")}
	var got []string
	for fs.Next() {
		got = append(got, string(fs.Name)+"="+string(fs.Value)+"|"+string(fs.Line))
	}
	want := []string{"Host=x|Host: x", "X-A=a\tb|X-A:\t a\tb \t", "Empty=|Empty:", "UTF-8=\xc3\xa9|UTF-8: \xc3\xa9"}
	if !fs.Ended() || string(fs.Rest) != "body" || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Fields: %q, ended %v, rest %q", got, fs.Ended(), fs.Rest)
	}
	if fs.Next() || string(fs.Rest) != "body" {
		t.Errorf("Next after the end moved on: rest %q", fs.Rest)
	}
	for _, bad := range []string{
		"Host: x\r\n",                     // no blank line
		"Host: x\r\n folded\r\n\r\n",      // obsolete line folding
		"Host x\r\n\r\n",                  // no colon
		": x\r\n\r\n",                     // no name
		"Ho st: x\r\n\r\n",                // not a token
		"Host: x\nX: y\r\n\r\n",           // bare LF
		"Host: x\r\nBad\"Name: y\r\n\r\n", // a delimiter in the name
		"X: a\rInjected: 1\r\n\r\n",       // a bare CR in a value
		"X: a\x00b\r\n\r\n",               // NUL
		"X: \x7f\r\n\r\n",                 // DEL
	} {
		fs := Fields{Rest: []byte(bad)}
		for fs.Next() {
		}
		if fs.Ended() {
			t.Errorf("Fields(%q) ended as if well formed", bad)
		}
		if fs.Next() {
			t.Errorf("Fields(%q): Next after a malformed line went on", bad)
		}
	}
}

// TestTokenChars: the mask holds exactly the visible ASCII characters that are not
// RFC 9110 delimiters.
func TestTokenChars(t *testing.T) {
	for c := range 256 {
		want := c > ' ' && c < 0x7f && !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, rune(c))
		if isTokenChar(byte(c)) != want {
			t.Errorf("isTokenChar(%q) = %v", rune(c), !want)
		}
	}
}
