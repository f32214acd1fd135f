package engine

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The engine parses what servers send back: HTTP/1.1 responses, HTTP/2 frames, HPACK
// header blocks and gRPC message framing. A server under test may be broken or hostile;
// whatever it sends, the engine must not panic, hang or count nonsense. Seed corpora are
// in testdata/fuzz/<target>; scripts/fuzz runs every target for a few seconds in CI.
//
//	go test ./internal/engine -run '^$' -fuzz '^FuzzH1Response$' -fuzztime 5m

// chunkConn is a net.Conn whose reads return data in pieces of at most chunk bytes,
// then io.EOF: the reader must not depend on where the network splits a response.
type chunkConn struct {
	net.Conn // nil: only Read is used
	data     []byte
	chunk    int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.chunk)], c.data)
	c.data = c.data[n:]
	return n, nil
}

// FuzzH1Response reads responses from arbitrary bytes, split at arbitrary points, as the
// HTTP/1.1 client does on a keep-alive connection: one after another until an error.
// Where net/http reads a first response whole (status and body), the engine must read
// it too, with the same status.
func FuzzH1Response(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8, head bool) {
		conn := &chunkConn{data: data, chunk: int(chunk%64) + 1}
		b := &h1Reader{conn: conn, buf: make([]byte, 32<<10)}
		first, firstErr := -1, error(nil)
		for i := 0; i <= len(data); i++ {
			status, closeAfter, err := b.response(head)
			if b.r < 0 || b.r > b.w || b.w > len(b.buf) {
				t.Fatalf("buffer indices r %d w %d of %d", b.r, b.w, len(b.buf))
			}
			if i == 0 {
				first, firstErr = status, err
			}
			if err != nil {
				break
			}
			if status < 100 || status > 599 {
				t.Fatalf("status %d accepted", status)
			}
			if closeAfter {
				break
			}
		}
		if n := b.take(); n > int64(len(data)) {
			t.Fatalf("counted %d bytes of %d", n, len(data))
		}
		if want, ok := netHTTPStatus(data, head); ok && (firstErr != nil || first != want) {
			t.Errorf("net/http reads status %d; the engine %d, %v\n%q", want, first, firstErr, data)
		}
	})
}

// netHTTPStatus is the status net/http reads from the first response of data, when it
// reads that response whole, in a case the engine reads alike: a framed body (length or
// chunked; net/http also takes a body that runs to the close, which the engine drains
// differently), no interim response (net/http returns 1xx to the caller), HTTP/1.x (the
// engine refuses other versions; net/http reads "HTTP/0.9" heads), a status RFC 9110
// allows (net/http takes any three digits, "700" too).
func netHTTPStatus(data []byte, head bool) (int, bool) {
	if !strictStatusLine.Match(data) {
		return 0, false // net/http also takes "HTTP/1.1  200" and "HTTP/0.9 200"; RFC 9112 §4 does not
	}
	req := &http.Request{Method: "GET"}
	if head {
		req.Method = "HEAD"
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, false
	}
	if resp.ProtoMajor != 1 || resp.StatusCode < 200 || resp.StatusCode > 599 || (resp.ContentLength < 0 && len(resp.TransferEncoding) == 0 && !head &&
		resp.StatusCode != 204 && resp.StatusCode != 304) {
		return 0, false
	}
	return resp.StatusCode, true
}

// FuzzHPACK decodes a sequence of header blocks (each prefixed by its length byte) with
// the engine's decoder and with x/net's: whenever x/net decodes a block, the engine must
// too, with the same :status and grpc-status, block after block (the dynamic tables
// must stay in step). After a block x/net refuses, the tables may differ: stop there.
func FuzzHPACK(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		ours := newHPACKDecoder()
		ref := hpack.NewDecoder(hpackDefaultTableSize, nil)
		for len(data) > 0 {
			n := int(data[0])
			data = data[1:]
			block := data[:min(n, len(data))]
			data = data[len(block):]
			status, grpcStatus := 0, -1
			ref.SetEmitFunc(func(f hpack.HeaderField) {
				switch f.Name {
				case ":status":
					status = atoiSmall([]byte(f.Value))
				case "grpc-status":
					if grpcStatus = atoiSmall([]byte(f.Value)); grpcStatus < 0 {
						grpcStatus = grpcUnknown
					}
				}
			})
			_, refErr := ref.Write(block)
			if refErr == nil {
				refErr = ref.Close()
			}
			err := ours.decode(block)
			if ours.size > ours.limit || ours.limit > ours.maxSize || ours.n > hpackMaxEntries {
				t.Fatalf("table size %d, limit %d, max %d, %d entries", ours.size, ours.limit, ours.maxSize, ours.n)
			}
			if refErr != nil {
				return
			}
			if err != nil {
				t.Fatalf("x/net decodes %x; the engine: %v", block, err)
			}
			if ours.status != status || ours.grpcStatus != grpcStatus {
				t.Fatalf("block %x: :status %d grpc-status %d, x/net %d and %d", block, ours.status, ours.grpcStatus, status, grpcStatus)
			}
		}
	})
}

// FuzzGRPCFraming counts the message bytes of a gRPC response body (5-byte prefix: flag,
// big-endian length) delivered in DATA frames split at arbitrary points: the count must
// not depend on the splits, and is what a plain reading of the framing gives.
func FuzzGRPCFraming(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte, split1, split2 uint16) {
		want := int64(0)
		for p := body; len(p) > 0; {
			if len(p) < 5 {
				break
			}
			n := int64(uint32(p[1])<<24 | uint32(p[2])<<16 | uint32(p[3])<<8 | uint32(p[4]))
			p = p[5:]
			k := min(n, int64(len(p)))
			want += k
			p = p[k:]
		}
		s := &h2Stream{gNeed: 5}
		a := min(int(split1), len(body))
		b := min(a+int(split2), len(body))
		for _, part := range [][]byte{body[:a], body[a:b], body[b:]} {
			s.countGRPC(part)
		}
		if s.bytes != want {
			t.Fatalf("counted %d message bytes, want %d (splits %d, %d of %d)", s.bytes, want, a, b, len(body))
		}
	})
}

// FuzzH2Frames runs the HTTP/2 client (h2c, or gRPC over h2c) against a loopback server
// that answers every connection with the fuzzer's bytes: data[:split] after the client's
// preface (the client waits for the server's SETTINGS there), the rest once the client's
// first HEADERS frame has arrived. The frame reader, stream table, flow control,
// SETTINGS, PING, GOAWAY, RST_STREAM, CONTINUATION and gRPC trailers all see them. The
// run must end in time, without a panic, with counts that add up.
func FuzzH2Frames(f *testing.F) {
	srv := newReplayServer(f)
	f.Fuzz(func(t *testing.T, data []byte, split uint16, grpc bool) {
		at := min(int(split), len(data))
		srv.reply.Store(&[2][]byte{data[:at], data[at:]})
		c := Config{Target: "h2c://" + srv.addr + "/", Protocol: H2C, Connections: 1, Streams: 2,
			Rate: 200, Duration: 20 * time.Millisecond, Timeout: 20 * time.Millisecond, Spin: -1}
		if grpc {
			c.Target, c.Protocol = srv.addr, GRPC
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := Run(ctx, c)
		if ctx.Err() != nil {
			t.Fatalf("the run did not end in 10s (%v)", err)
		}
		if err != nil {
			return // e.g. no connection could be opened: reported, not counted
		}
		m := res.Measure
		if m.Succeeded+m.Failed != m.Requests || m.Succeeded < 0 || m.Failed < 0 || m.BytesReceived < 0 {
			t.Fatalf("requests %d, succeeded %d, failed %d, bytes %d", m.Requests, m.Succeeded, m.Failed, m.BytesReceived)
		}
		var byClass int64
		for _, n := range m.Errors {
			byClass += n
		}
		if byClass != m.Failed+m.Overflow {
			t.Fatalf("errors by class %v add up to %d, not failed %d + overflow %d", m.Errors, byClass, m.Failed, m.Overflow)
		}
	})
}

var strictStatusLine = regexp.MustCompile(`^HTTP/1\.[01] [0-9]{3}[ \r\n]`)

// replayServer accepts connections on loopback and answers each with the current reply:
// its first part after the client's preface, its second after the client's first
// HEADERS frame.
type replayServer struct {
	addr  string
	reply atomic.Pointer[[2][]byte]
}

func newReplayServer(tb testing.TB) *replayServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &replayServer{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	tb.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(c) })
		}
	})
	return s
}

func (s *replayServer) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	reply := s.reply.Load()
	preface := make([]byte, len(h2Preface))
	if reply == nil || !readFull(c, preface) || !write(c, reply[0]) {
		return
	}
	fr := http2.NewFramer(nil, c)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		if _, ok := f.(*http2.HeadersFrame); ok {
			break
		}
	}
	if !write(c, reply[1]) {
		return
	}
	// Drain until the client closes (or the deadline), so that its writes never block.
	_, _ = io.Copy(io.Discard, c)
}

func readFull(c net.Conn, p []byte) bool { _, err := io.ReadFull(c, p); return err == nil }
func write(c net.Conn, p []byte) bool    { _, err := c.Write(p); return err == nil }
