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
