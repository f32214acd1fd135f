package sidecar

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// NotReported marks a counter the proxy does not expose.
const NotReported = -1

// Counters are a sidecar's own traffic counters, summed over its data-path listeners
// (the admin listener excluded), in one shape for every kind. They exist so that a run
// can prove that requests really went through each sidecar, and so that results can
// show what each proxy says it did. A field is NotReported when the proxy has no such
// counter.
//
// Per kind:
//   - Requests: builtin and envoy count requests per listener (HTTP connection
//     manager); haproxy sums req_tot of its HTTP frontends; nginx's stub_status counts
//     every request, its own status page included (Sidecar.Counters subtracts the reads
//     it made; ReadCounters cannot).
//   - BytesIn/BytesOut: downstream bytes. builtin counts wire bytes (TLS records
//     included); haproxy bin/bout of its frontends (HTTP bytes, after TLS); envoy
//     downstream_cx_rx/tx_bytes_total; nginx NotReported.
//   - ActiveConnections: downstream connections open now (nginx: every connection but
//     the status request's own, stream and upstream-side ones included).
//   - Handshakes: builtin and envoy count downstream TLS handshakes completed per
//     listener; haproxy reports haproxy_process_ssl_connections_total, the TLS
//     connections the process opened in both directions, failed handshakes included
//     (so a client-side haproxy shows its upstream connections); nginx NotReported.
//   - Errors: requests or connections the proxy failed. builtin: 502/gRPC
//     UNAVAILABLE answered, failed handshakes and refused plaintext; haproxy: frontend
//     ereq plus backend econ and eresp; envoy: downstream_rq_5xx; nginx NotReported.
type Counters struct {
	Requests          int64 `json:"requests"`
	BytesIn           int64 `json:"bytes_in"`
	BytesOut          int64 `json:"bytes_out"`
	ActiveConnections int64 `json:"active_connections"`
	Handshakes        int64 `json:"handshakes"`
	Errors            int64 `json:"errors"`
}

// statsReader fetches a URL; *http.Client satisfies it.
type statsReader interface {
	Do(*http.Request) (*http.Response, error)
}

// ReadCounters reads the counters of a sidecar of kind k from its stats URL (Plan's
// or Sidecar's StatsURL). client may be nil (a client with a 5 s timeout is used).
func ReadCounters(ctx context.Context, client *http.Client, k Kind, statsURL string) (Counters, error) {
	im, err := k.impl()
	if err != nil {
		return Counters{}, err
	}
	var r statsReader = client
	if client == nil {
		r = &http.Client{Timeout: defaultStatsTimeout}
	}
	c, err := im.counters(ctx, r, statsURL)
	if err != nil {
		return Counters{}, fmt.Errorf("read %s sidecar counters: %w", k, err)
	}
	return c, nil
}

const (
	defaultStatsTimeout = 5 * time.Second
	maxStatsBytes       = 16 << 20 // Envoy's JSON stats of a sidecar are well under 1 MiB
)

// get fetches url and returns its body; a status other than 200 is an error.
func get(ctx context.Context, r statsReader, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxStatsBytes))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}
