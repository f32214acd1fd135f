package collect

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxBody bounds what one endpoint read may return: a kubelet's /metrics/cadvisor on a
// busy node is tens of MB, Istio's /stats/prometheus a few; more is a wrong URL.
const maxBody = 128 << 20

// httpSource reads HTTP endpoints with an optional bearer token.
type httpSource struct {
	client    *http.Client
	tokenFile string
}

func newHTTPSource(client *http.Client, tokenFile string) httpSource {
	if client == nil {
		client = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}}
	}
	return httpSource{client: client, tokenFile: tokenFile}
}

// get returns the body of a 200 response. Errors carry the URL, the status and the first
// line of the body.
func (h httpSource) get(ctx context.Context, u string, accept string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if h.tokenFile != "" {
		tok, err := os.ReadFile(h.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("GET %s: bearer token: %w", u, err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read body: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
		if len(line) > 200 {
			line = line[:200] + "…"
		}
		return nil, fmt.Errorf("GET %s: %s: %s", u, resp.Status, line)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("GET %s: body larger than %d MiB", u, maxBody>>20)
	}
	return body, nil
}

// textAccept asks for the Prometheus text format (version 0.0.4), which every endpoint
// serves and expfmt's text parser reads.
const textAccept = "text/plain;version=0.0.4;q=1,*/*;q=0.1"

// withPort replaces the port of rawURL's host when port is positive.
func withPort(rawURL string, port int) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("parse URL %q: %w", rawURL, err)
	}
	if port > 0 {
		u.Host = net.JoinHostPort(u.Hostname(), strconv.Itoa(port))
	}
	return u.String(), nil
}

// fetchEach reads every target with one, up to 8 at a time.
func fetchEach(ctx context.Context, targets []Target, one func(context.Context, Target) (point, error)) ([]point, []error) {
	points := make([]point, len(targets))
	errs := make([]error, len(targets))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			points[i], errs[i] = one(ctx, t)
		}()
	}
	wg.Wait()
	return points, errs
}

// midpoint is the time halfway between t0 and now, the best estimate of when a counter
// read over an HTTP request was taken.
func midpoint(t0 time.Time) time.Time { return t0.Add(time.Since(t0) / 2) }
