package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ClockSample is one ping of the clock exchange, NTP-style: the controller sends at t1
// (its clock), the agent receives at t2 and replies at t3 (its clock), the controller
// receives at t4. With symmetric one-way delays the agent's clock is ahead of the
// controller's by ((t2−t1) + (t3−t4)) / 2, and the network round trip is
// (t4−t1) − (t3−t2); asymmetry can move the estimate by at most half the round trip.
type ClockSample struct {
	Offset time.Duration // agent − controller
	RTT    time.Duration
}

// sampleOf computes a sample from the four instants. rtt is t4−t1 measured on the
// controller's monotonic clock, so a wall-clock step during the ping cannot distort it.
func sampleOf(t1, t2, t3, t4 int64, elapsed time.Duration) ClockSample {
	return ClockSample{
		Offset: time.Duration(((t2 - t1) + (t3 - t4)) / 2),
		RTT:    max(0, elapsed-time.Duration(t3-t2)),
	}
}

// BestSample returns the sample with the smallest round trip: queueing delays only add
// to a round trip, so the fastest exchange is the one whose delays were closest to
// symmetric, and its offset is the most trustworthy (NTP's clock filter does the same).
func BestSample(samples []ClockSample) ClockSample {
	best := samples[0]
	for _, s := range samples[1:] {
		if s.RTT < best.RTT {
			best = s
		}
	}
	return best
}

// estimateClock pings url's clock endpoint n times (after one ping that pays for the
// connection's handshakes and is discarded) and returns the best sample and the
// agent's last reply.
func estimateClock(ctx context.Context, client *http.Client, url, token string, n int) (ClockSample, ClockReply, error) {
	var samples []ClockSample
	var last ClockReply
	for i := range n + 1 {
		start := time.Now()
		body, _ := json.Marshal(ClockRequest{T1: start.UnixNano()})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+PathClock, bytes.NewReader(body))
		if err != nil {
			return ClockSample{}, last, err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return ClockSample{}, last, err
		}
		var reply ClockReply
		err = json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&reply)
		resp.Body.Close()
		elapsed := time.Since(start)
		t4 := start.Add(elapsed).UnixNano()
		if resp.StatusCode != http.StatusOK {
			return ClockSample{}, last, fmt.Errorf("clock: %s", resp.Status)
		}
		if err != nil {
			return ClockSample{}, last, fmt.Errorf("clock: %w", err)
		}
		last = reply
		if i == 0 {
			continue
		}
		samples = append(samples, sampleOf(reply.T1, reply.T2, reply.T3, t4, elapsed))
	}
	return BestSample(samples), last, nil
}
