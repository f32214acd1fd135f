package engine

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"golang.org/x/net/http2/hpack"
)

// rawH2Server speaks just enough HTTP/2 (prior knowledge) to misbehave on
// purpose: answer calls onRequest for every request HEADERS with the
// connection's request count (from 1), from the connection's one goroutine.
func rawH2Server(t *testing.T, settings []http2.Setting, onRequest func(fr *http2.Framer, id uint32, n int) bool) *rawServer {
	return newRawServer(t, func(c net.Conn, done <-chan struct{}) {
		preface := make([]byte, len(http2.ClientPreface))
		if _, err := io.ReadFull(c, preface); err != nil {
			return
		}
		fr := http2.NewFramer(c, c)
		if fr.WriteSettings(settings...) != nil {
			return
		}
		n := 0
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					fr.WriteSettingsAck()
				}
			case *http2.HeadersFrame:
				n++
				if !onRequest(fr, f.StreamID, n) {
					return
				}
			}
		}
	})
}

var status200 = encodeStaticBlock([]hpack.HeaderField{{Name: ":status", Value: "200"}})

func answerOK(fr *http2.Framer, id uint32) error {
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: status200, EndHeaders: true}); err != nil {
		return err
	}
	return fr.WriteData(id, true, []byte("ok"))
}

// TestH2FlowControlLargeBodies sends bodies four times the default 64KiB
// window (so the client must wait for the server's WINDOW_UPDATEs) and reads
// 1MiB responses (so it must grant window back).
func TestH2FlowControlLargeBodies(t *testing.T) {
	t.Parallel()
	const reqSize, respSize = 256 << 10, 1 << 20
	resp := bytes.Repeat([]byte("r"), respSize)
	var bad atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n, _ := io.Copy(io.Discard, r.Body); n != reqSize {
			bad.Add(1)
		}
		w.Write(resp)
	})
	s := httptest.NewServer(h2c.NewHandler(h, &http2.Server{}))
	defer s.Close()
	res := mustRun(t, Config{Target: s.URL, Protocol: H2C, PayloadSize: reqSize, Connections: 2, Streams: 3,
		Duration: 250 * time.Millisecond})
	m := res.Measure
	if m.Requests < 5 || m.OK != m.Requests || bad.Load() != 0 {
		t.Fatalf("requests %d ok %d errors %v, %d bodies arrived short", m.Requests, m.OK, m.Errors, bad.Load())
	}
	if m.BytesSent != reqSize*m.Requests || m.BytesReceived != respSize*m.Requests {
		t.Errorf("sent %d received %d for %d requests", m.BytesSent, m.BytesReceived, m.Requests)
	}
}

// TestH2GoAwayReconnects: the server answers three requests per connection,
// then sends GOAWAY naming the last one it processed and closes. Requests
// it did not process are retried on a new connection, so none fails.
func TestH2GoAwayReconnects(t *testing.T) {
	t.Parallel()
	srv := rawH2Server(t, nil, func(fr *http2.Framer, id uint32, n int) bool {
		if n <= 3 {
			return answerOK(fr, id) == nil
		}
		fr.WriteGoAway(id-2, http2.ErrCodeNo, nil) // the request before this one was the last processed
		return false
	})
	res := mustRun(t, Config{Target: srv.URL(), Protocol: H2C, Rate: 200, Connections: 1, Streams: 2, Duration: 200 * time.Millisecond})
	m := res.Measure
	if m.Requests < 30 || m.OK != m.Requests {
		t.Fatalf("requests %d ok %d errors %v", m.Requests, m.OK, m.Errors)
	}
	if res.Reconnects < 8 || res.Connections < res.Reconnects {
		t.Errorf("connections %d reconnects %d for %d requests at 3 per connection", res.Connections, res.Reconnects, m.Requests)
	}
}

// TestH2StreamResetAndTimeout: the server resets every third stream, never
// answers every third, and answers the rest: resets are protocol errors,
// silence is a timeout charged at the deadline, and the run still ends on time.
func TestH2StreamResetAndTimeout(t *testing.T) {
	srv := rawH2Server(t, []http2.Setting{{ID: http2.SettingMaxConcurrentStreams, Val: 100}}, func(fr *http2.Framer, id uint32, n int) bool {
		switch n % 3 {
		case 0:
			return fr.WriteRSTStream(id, http2.ErrCodeInternal) == nil
		case 1:
			return answerOK(fr, id) == nil
		}
		return true // silence
	})
	const timeout = 100 * time.Millisecond
	start := time.Now()
	res := mustRun(t, Config{Target: srv.URL(), Protocol: H2C, Rate: 300, Connections: 1, Streams: 50,
		Duration: 250 * time.Millisecond, Timeout: timeout})
	elapsed := time.Since(start)
	m := res.Measure
	third := m.Requests / 3
	if m.Requests < 60 || absDiff(m.OK, third) > 2 || absDiff(m.Errors[ClassProtocol], third) > 2 || absDiff(m.Errors[ClassTimeout], third) > 2 {
		t.Fatalf("requests %d ok %d errors %v: want a third each of ok, protocol and timeout", m.Requests, m.OK, m.Errors)
	}
	if lo, hi := m.ErrorLatency.Max(), timeout+timeout/8+20*time.Millisecond; lo < timeout || lo > hi {
		t.Errorf("slowest failure %v, want a timeout between %v and %v", lo, timeout, hi)
	}
	if elapsed > 250*time.Millisecond+2*timeout+500*time.Millisecond {
		t.Errorf("run took %v", elapsed)
	}
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}
