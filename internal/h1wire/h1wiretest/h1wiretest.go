// Package h1wiretest is a raw HTTP/1.1 client for the tests of the fast paths (the
// app's, the sidecar's and h1wire's own), as net/http/httptest is for net/http's: it
// writes requests byte for byte as a test gives them, so that the test controls framing
// exactly, and reads replies with net/http's parser. Imported by test files only;
// imports nothing of smp.
package h1wiretest

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// Client is one client connection.
type Client struct {
	Conn net.Conn
	R    *bufio.Reader // what the server sent, for tests that read it themselves
}

// Dial connects to addr. The connection is closed when the test ends, and reads and
// writes on it fail after 10 seconds, so that a server that never answers fails the
// test instead of hanging it.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &Client{Conn: c, R: bufio.NewReader(c)}
}

// Send writes raw as it is.
func (c *Client) Send(t testing.TB, raw string) {
	t.Helper()
	if _, err := io.WriteString(c.Conn, raw); err != nil {
		t.Fatal(err)
	}
}

// Read reads the reply to a request with the given method (which tells whether it has
// a body), body included.
func (c *Client) Read(t testing.TB, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(c.R, &http.Request{Method: method})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// RoundTrip sends raw, a request with the given method, and reads its reply.
func (c *Client) RoundTrip(t testing.TB, raw, method string) (*http.Response, string) {
	t.Helper()
	c.Send(t, raw)
	return c.Read(t, method)
}
