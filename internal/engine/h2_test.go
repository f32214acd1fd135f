package engine

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"golang.org/x/net/http2/hpack"
)

// h2FrameServer speaks just enough HTTP/2 (prior knowledge) to misbehave
// on purpose: per connection it reads the preface, sends settings, and
// hands every frame to a handler newConn made for that connection, from
// the connection's one goroutine, until the handler returns false.
func h2FrameServer(t *testing.T, settings []http2.Setting, newConn func() func(fr *http2.Framer, f http2.Frame) bool) *rawServer {
	return newRawServer(t, func(c net.Conn, _ <-chan struct{}) {
		preface := make([]byte, len(http2.ClientPreface))
		if _, err := io.ReadFull(c, preface); err != nil {
			return
		}
		fr := http2.NewFramer(c, c)
		if fr.WriteSettings(settings...) != nil {
			return
		}
		handle := newConn()
		for {
			f, err := fr.ReadFrame()
			if err != nil || !handle(fr, f) {
				return
			}
		}
	})
}

// rawH2Server acknowledges SETTINGS and calls onRequest for every request
// HEADERS with the connection's request count (from 1).
func rawH2Server(t *testing.T, settings []http2.Setting, onRequest func(fr *http2.Framer, id uint32, n int) bool) *rawServer {
	return h2FrameServer(t, settings, func() func(*http2.Framer, http2.Frame) bool {
		n := 0
		return func(fr *http2.Framer, f http2.Frame) bool {
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					fr.WriteSettingsAck()
				}
			case *http2.HeadersFrame:
				n++
				return onRequest(fr, f.StreamID, n)
			}
			return true
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
	if m.Requests < 5 || m.Succeeded != m.Requests || bad.Load() != 0 {
		t.Fatalf("requests %d ok %d errors %v, %d bodies arrived short", m.Requests, m.Succeeded, m.Errors, bad.Load())
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
	if m.Requests < 30 || m.Succeeded != m.Requests {
		t.Fatalf("requests %d ok %d errors %v", m.Requests, m.Succeeded, m.Errors)
	}
	if res.Reconnects < 8 || res.Connections < res.Reconnects {
		t.Errorf("connections %d reconnects %d for %d requests at 3 per connection", res.Connections, res.Reconnects, m.Requests)
	}
}

// TestH2StreamResetAndTimeout: the server resets every third stream, never
// answers every third, and answers the rest: resets are protocol errors,
// silence is a timeout charged at the deadline, and the run still ends on time.
func TestH2StreamResetAndTimeout(t *testing.T) {
	var served [3]atomic.Int64 // requests the server reset, answered and left unanswered
	srv := rawH2Server(t, []http2.Setting{{ID: http2.SettingMaxConcurrentStreams, Val: 100}}, func(fr *http2.Framer, id uint32, n int) bool {
		served[n%3].Add(1)
		switch n % 3 {
		case 0:
			return fr.WriteRSTStream(id, http2.ErrCodeInternal) == nil
		case 1:
			return answerOK(fr, id) == nil
		}
		return true // silence
	})
	const rate, dur, timeout = 100, time.Second, 100 * time.Millisecond
	start := time.Now()
	res := mustRun(t, Config{Target: srv.URL(), Protocol: H2C, Rate: rate, Connections: 1, Streams: 50,
		Duration: dur, Timeout: timeout})
	elapsed := time.Since(start)
	m := res.Measure
	reset, answered, silent := served[0].Load(), served[1].Load(), served[2].Load()
	protocol, timedOut := m.Errors[ClassProtocol], m.Errors[ClassTimeout]
	t.Logf("server: %d reset, %d answered, %d silent; client: %d requests, %d ok, errors %v", reset, answered, silent, m.Requests, m.Succeeded, m.Errors)
	// Every scheduled request is sent or, if a loaded machine made it later than the
	// timeout, skipped; each sent one ends as a success, a reset or a timeout.
	if m.Requests+m.Overflow != rate*int64(dur/time.Second) || m.Succeeded+protocol+timedOut != m.Requests {
		t.Fatalf("requests %d (+%d skipped), ok %d, errors %v: want %d, each ok, protocol or timeout", m.Requests, m.Overflow, m.Succeeded, m.Errors, rate)
	}
	// A reset ends its request at once as a protocol error and an answer as a success; a
	// silent stream times out. A loaded machine can let a reset or an answer be read only
	// after the request's deadline (a timeout then), never the other way round.
	if protocol == 0 || protocol > reset || m.Succeeded == 0 || m.Succeeded > answered || timedOut < silent {
		t.Errorf("client: %d ok, %d protocol, %d timeouts; server: %d answered, %d reset, %d silent", m.Succeeded, protocol, timedOut, answered, reset, silent)
	}
	// A timeout never fires before the deadline: timeouts are the slowest failures.
	if slowest := m.ErrorLatency.Max(); slowest < timeout {
		t.Errorf("slowest failure %v, want a timeout ≥ %v", slowest, timeout)
	}
	// Silent streams do not hold the run: it ends at its hard stop (dur + timeout), far
	// inside this bound even on a loaded machine.
	if elapsed > 10*time.Second {
		t.Errorf("run took %v", elapsed)
	}
}

// TestH2TimeoutFreesTheStream: each request has its own deadline, and its stream is free
// for the next request once it passes. With one stream in all, every request waits for
// the one before it, so a request sent after a silent one proves the silent one timed out
// on its own deadline, whatever the machine's speed: were timeouts enforced only at the
// run's end, the first silent stream would hold the only slot until then.
func TestH2TimeoutFreesTheStream(t *testing.T) {
	var seen atomic.Int64
	srv := rawH2Server(t, nil, func(fr *http2.Framer, id uint32, n int) bool {
		seen.Store(int64(n))
		if n%2 == 0 {
			return true // silence
		}
		return answerOK(fr, id) == nil
	})
	const timeout = 100 * time.Millisecond
	res := mustRun(t, Config{Target: srv.URL(), Protocol: H2C, Rate: 20, Connections: 1, Streams: 1,
		Duration: time.Second, Timeout: timeout})
	m := res.Measure
	if n := seen.Load(); n < 3 || m.Errors[ClassTimeout] < 2 || m.Succeeded < 2 {
		t.Errorf("the server saw %d requests; client: %d ok, errors %v: want requests after the silent ones, each timed out", n, m.Succeeded, m.Errors)
	}
	if slowest := m.ErrorLatency.Max(); slowest < timeout {
		t.Errorf("slowest failure %v, want a timeout ≥ %v", slowest, timeout)
	}
}

// hpackServer answers every request with 200 "ok" and hands check each
// request's header block, the fields a per-connection HPACK decoder made
// of it (or its error), and the connection's request count (from 1). After
// request shrinkAfter (0: never) it sends SETTINGS_HEADER_TABLE_SIZE 0 and,
// once the client acknowledges it, lowers its decoder's limit to 0.
func hpackServer(t *testing.T, settings []http2.Setting, shrinkAfter int,
	check func(block []byte, fields []hpack.HeaderField, err error, n int, shrunk bool)) *rawServer {
	table := uint32(hpackDefaultTable)
	for _, s := range settings {
		if s.ID == http2.SettingHeaderTableSize {
			table = s.Val
		}
	}
	return h2FrameServer(t, settings, func() func(*http2.Framer, http2.Frame) bool {
		dec := hpack.NewDecoder(table, nil) // keeps no entry larger than table
		n, sentShrink, shrunk := 0, false, false
		return func(fr *http2.Framer, f http2.Frame) bool {
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					fr.WriteSettingsAck()
				} else if sentShrink && !shrunk {
					shrunk = true
					dec.SetAllowedMaxDynamicTableSize(0)
				}
			case *http2.HeadersFrame:
				n++
				block := f.HeaderBlockFragment()
				fields, err := dec.DecodeFull(block)
				check(block, fields, err, n, shrunk)
				if answerOK(fr, f.StreamID) != nil {
					return false
				}
				if n == shrinkAfter {
					sentShrink = true
					return fr.WriteSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0}) == nil
				}
			}
			return true
		}
	})
}

// TestH2IndexesRequestHeaders: the first request of a connection adds its
// fields to the server's dynamic table and every later one refers to them,
// so the server decodes a few index bytes instead of Huffman literals; the
// decoded fields are the same every time, and a credential stays a
// never-indexed literal. Without the indexed blocks every request's block
// is as long as the first and the length check fails.
func TestH2IndexesRequestHeaders(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var firstLen, maxLater, bad int
	var problems []string
	srv := hpackServer(t, nil, 0, func(block []byte, fields []hpack.HeaderField, err error, n int, _ bool) {
		mu.Lock()
		defer mu.Unlock()
		if msg := checkFields(fields, err); msg != "" {
			bad++
			problems = append(problems, msg)
		}
		if n == 1 {
			firstLen = len(block)
		} else {
			maxLater = max(maxLater, len(block))
		}
	})
	res := mustRun(t, Config{Target: srv.URL(), Protocol: H2C, Connections: 1, Streams: 4, Duration: 150 * time.Millisecond,
		Headers: []string{"X-Tenant: blue", "Authorization: Bearer secret"}})
	mu.Lock()
	defer mu.Unlock()
	if res.Measure.Succeeded < 10 || bad > 0 {
		t.Fatalf("%d ok, %d bad blocks: %v", res.Measure.Succeeded, bad, problems[:min(len(problems), 3)])
	}
	// Indexed: one byte per field, plus the authorization literal (~25 bytes).
	if maxLater*2 > firstLen {
		t.Errorf("later header blocks up to %d bytes against %d for the first: not indexed", maxLater, firstLen)
	}
}

// checkFields says what is wrong with one decoded request, or "".
func checkFields(fields []hpack.HeaderField, err error) string {
	if err != nil {
		return err.Error()
	}
	want := map[string]string{":method": "GET", ":scheme": "http", ":path": "/", "user-agent": "smp",
		"x-tenant": "blue", "authorization": "Bearer secret"}
	got := map[string]string{}
	for _, f := range fields {
		got[f.Name] = f.Value
		if f.Name == "authorization" && !f.Sensitive {
			return "authorization was not a never-indexed literal"
		}
	}
	for k, v := range want {
		if got[k] != v {
			return fmt.Sprintf("%s = %q, want %q (%v)", k, got[k], v, fields)
		}
	}
	if got[":authority"] == "" {
		return "no :authority"
	}
	return ""
}

// TestH2HonoursHeaderTableSize: a server that allows no dynamic table,
// from the start or from the fourth request on, still decodes every
// request; after it lowers the limit, the next block starts with a dynamic
// table size update (RFC 7541 §4.2). Sending indexed references to a table
// the server does not keep fails the decode ("invalid indexed
// representation").
func TestH2HonoursHeaderTableSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		settings    []http2.Setting
		shrinkAfter int
	}{
		{"zero from the start", []http2.Setting{{ID: http2.SettingHeaderTableSize, Val: 0}}, 0},
		{"shrunk after 3 requests", nil, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var problems []string
			afterShrink := 0
			srv := hpackServer(t, tc.settings, tc.shrinkAfter, func(block []byte, fields []hpack.HeaderField, err error, n int, shrunk bool) {
				mu.Lock()
				defer mu.Unlock()
				if msg := checkFields(fields, err); msg != "" {
					problems = append(problems, fmt.Sprintf("request %d: %s", n, msg))
				}
				if shrunk {
					if afterShrink == 0 && (len(block) == 0 || block[0] != 0x20) {
						problems = append(problems, fmt.Sprintf("request %d: first block after the shrink starts with %#x, not a size update", n, block[:1]))
					}
					afterShrink++
				}
			})
			res := mustRun(t, Config{Target: srv.URL(), Protocol: H2C, Connections: 1, Streams: 1, Duration: 150 * time.Millisecond,
				Headers: []string{"X-Tenant: blue", "Authorization: Bearer secret"}})
			mu.Lock()
			defer mu.Unlock()
			if len(problems) > 0 {
				t.Fatalf("%d problems, first: %v", len(problems), problems[:min(len(problems), 3)])
			}
			if res.Measure.Succeeded < 10 || tc.shrinkAfter > 0 && afterShrink < 5 {
				t.Fatalf("%d ok, %d after the shrink", res.Measure.Succeeded, afterShrink)
			}
		})
	}
}
