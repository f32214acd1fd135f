package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"
)

// Protocol is what a service speaks to its upstreams, and so which of the
// upstreams' listeners their addresses point at.
type Protocol string

const (
	// HTTP1 is HTTP/1.1 over TCP, to the upstream's HTTPAddr.
	HTTP1 Protocol = "http1"
	// H2C is HTTP/2 over cleartext TCP with prior knowledge, to HTTPAddr.
	H2C Protocol = "h2c"
	// GRPC is a unary smp.echo.v1.Echo/Echo call, to GRPCAddr.
	GRPC Protocol = "grpc"
	// TCP is a byte stream relayed to the upstream's TCPAddr (see TCPAddr).
	TCP Protocol = "tcp"
)

// Upstream is one service this one calls for every request.
type Upstream struct {
	// Name appears in errors and metric labels. Default: Addr.
	Name string `json:"name,omitempty"`
	// Addr is host:port, the upstream itself or the sidecar standing in
	// front of it.
	Addr string `json:"addr"`
}

// Config is one service. The zero value of every optional field means its
// default; Run applies the defaults and then Validate.
type Config struct {
	// Name is the service's name ("svc-1"), sent in x-smp-service. Required.
	Name string `json:"name"`
	// HTTPAddr is where HTTP/1.1 and h2c (prior knowledge) are served on one
	// port, together with /healthz and /metrics. Required; "127.0.0.1:0"
	// picks a free port.
	HTTPAddr string `json:"http_addr"`
	// GRPCAddr is where smp.echo.v1.Echo and grpc.health.v1 are served.
	// Default: no gRPC listener.
	GRPCAddr string `json:"grpc_addr,omitempty"`
	// TLSAddr is where HTTPS is served, negotiating h2 or http/1.1 with
	// ALPN, using CertFile and KeyFile (PEM). Default: no TLS listener.
	TLSAddr  string `json:"tls_addr,omitempty"`
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
	// TCPAddr is where a TCP echo is served: with no upstream every byte is written
	// back; with UpstreamProtocol tcp and one upstream every connection is relayed to
	// the upstream's TCP address, both ways, so that a message crosses the chain and
	// its end echoes it. Default: no TCP listener.
	TCPAddr string `json:"tcp_addr,omitempty"`

	// Upstreams are all called, in parallel, for every request. Default:
	// none (the end of a chain, or a fan-out leaf).
	Upstreams []Upstream `json:"upstreams,omitempty"`
	// Sequential calls the upstreams one after the other, in their order, instead of
	// all at once (bookinfo's productpage calls details, then reviews). Each call is
	// made whatever the previous one answered. Default: in parallel.
	Sequential bool `json:"sequential,omitempty"`
	// UpstreamProtocol is how upstreams are called. Default: http1.
	UpstreamProtocol Protocol `json:"upstream_protocol,omitempty"`
	// UpstreamTimeout bounds each upstream call. Default: 5s, half the load
	// engine's default request timeout, so that a stalled hop is answered
	// with a 502 that names it before the client gives up.
	UpstreamTimeout time.Duration `json:"upstream_timeout,omitempty"`

	// ResponseSize is the number of body bytes of every successful reply
	// (gRPC: the BytesValue's length), at most MaxResponseSize. Default: 0.
	// The body is built once; replies share it.
	ResponseSize int `json:"response_size,omitempty"`
	// CPUTime is the CPU each request burns before anything else (see the
	// package documentation for how it is measured). Default: 0.
	CPUTime time.Duration `json:"cpu_time,omitempty"`
	// Delay is how long each request then waits, as if for I/O. Default: 0.
	Delay time.Duration `json:"delay,omitempty"`

	// Logger receives start, stop and upstream-failure events. Default:
	// discard. Not part of the JSON form.
	Logger *slog.Logger `json:"-"`
}

// Limits checked by Validate.
const (
	// MaxResponseSize keeps a typo ("1GiB") from making every service hold
	// a body it cannot afford; 64 MiB is far beyond what a mesh benchmark
	// sends per response.
	MaxResponseSize = 64 << 20
	// maxUpstreams bounds the fan-out; one request starts one goroutine per
	// upstream.
	maxUpstreams = 256
)

const defaultUpstreamTimeout = 5 * time.Second

// withDefaults returns a copy of c with the defaults filled in.
func (c Config) withDefaults() Config {
	if c.UpstreamProtocol == "" {
		c.UpstreamProtocol = HTTP1
	}
	if c.UpstreamTimeout == 0 {
		c.UpstreamTimeout = defaultUpstreamTimeout
	}
	if len(c.Upstreams) > 0 {
		ups := make([]Upstream, len(c.Upstreams))
		copy(ups, c.Upstreams)
		for i := range ups {
			if ups[i].Name == "" {
				ups[i].Name = ups[i].Addr
			}
		}
		c.Upstreams = ups
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem with c, joined, each naming its JSON field.
// It accepts the zero values that withDefaults fills in, so callers may
// validate a Config as they wrote it.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if c.Name == "" {
		bad("name: required")
	}
	if c.HTTPAddr == "" {
		bad("http_addr: required")
	} else if err := checkHostPort(c.HTTPAddr); err != nil {
		bad("http_addr %q: %w", c.HTTPAddr, err)
	}
	if c.GRPCAddr != "" {
		if err := checkHostPort(c.GRPCAddr); err != nil {
			bad("grpc_addr %q: %w", c.GRPCAddr, err)
		}
	}
	if c.TLSAddr != "" {
		if err := checkHostPort(c.TLSAddr); err != nil {
			bad("tls_addr %q: %w", c.TLSAddr, err)
		}
		if c.CertFile == "" || c.KeyFile == "" {
			bad("tls_addr: needs cert_file and key_file")
		}
	} else if c.CertFile != "" || c.KeyFile != "" {
		bad("cert_file, key_file: only used with tls_addr")
	}
	switch c.UpstreamProtocol {
	case "", HTTP1, H2C, GRPC:
	case TCP:
		if c.TCPAddr == "" && len(c.Upstreams) > 0 {
			bad("upstream_protocol tcp: needs tcp_addr, the listener whose connections are relayed")
		}
		if len(c.Upstreams) > 1 {
			bad("upstream_protocol tcp: one upstream (a byte stream is relayed, not fanned out), got %d", len(c.Upstreams))
		}
	default:
		bad("upstream_protocol %q: want http1, h2c, grpc or tcp", c.UpstreamProtocol)
	}
	if c.TCPAddr != "" {
		if err := checkHostPort(c.TCPAddr); err != nil {
			bad("tcp_addr %q: %w", c.TCPAddr, err)
		}
		if len(c.Upstreams) > 0 && c.UpstreamProtocol != TCP {
			bad("tcp_addr: its connections are relayed to the upstream, so upstream_protocol must be tcp")
		}
	}
	if len(c.Upstreams) > maxUpstreams {
		bad("upstreams: %d, at most %d", len(c.Upstreams), maxUpstreams)
	}
	names := map[string]int{}
	for i, u := range c.Upstreams {
		if u.Addr == "" {
			bad("upstreams[%d].addr: required", i)
		} else if err := checkHostPort(u.Addr); err != nil {
			bad("upstreams[%d].addr %q: %w", i, u.Addr, err)
		} else if _, port, _ := net.SplitHostPort(u.Addr); port == "0" {
			bad("upstreams[%d].addr %q: port 0 is not an address to call", i, u.Addr)
		}
		name := u.Name
		if name == "" {
			name = u.Addr
		}
		if j, dup := names[name]; dup {
			bad("upstreams[%d].name %q: already used by upstreams[%d]", i, name, j)
		}
		names[name] = i
	}
	if c.UpstreamTimeout < 0 {
		bad("upstream_timeout %v: must be ≥ 0", c.UpstreamTimeout)
	}
	if c.ResponseSize < 0 || c.ResponseSize > MaxResponseSize {
		bad("response_size %d: must be between 0 and %d", c.ResponseSize, MaxResponseSize)
	}
	if c.CPUTime < 0 {
		bad("cpu_time %v: must be ≥ 0", c.CPUTime)
	}
	if c.Delay < 0 {
		bad("delay %v: must be ≥ 0", c.Delay)
	}
	return errors.Join(errs...)
}

func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return errors.New("port must be a number from 0 to 65535")
	}
	return nil
}

// configJSON is Config's JSON form: durations are Go duration strings
// ("20ms", "1.5s").
type configJSON struct {
	Name             string     `json:"name"`
	HTTPAddr         string     `json:"http_addr"`
	GRPCAddr         string     `json:"grpc_addr,omitempty"`
	TLSAddr          string     `json:"tls_addr,omitempty"`
	CertFile         string     `json:"cert_file,omitempty"`
	KeyFile          string     `json:"key_file,omitempty"`
	TCPAddr          string     `json:"tcp_addr,omitempty"`
	Upstreams        []Upstream `json:"upstreams,omitempty"`
	Sequential       bool       `json:"sequential,omitempty"`
	UpstreamProtocol Protocol   `json:"upstream_protocol,omitempty"`
	UpstreamTimeout  duration   `json:"upstream_timeout,omitempty"`
	ResponseSize     int        `json:"response_size,omitempty"`
	CPUTime          duration   `json:"cpu_time,omitempty"`
	Delay            duration   `json:"delay,omitempty"`
}

// MarshalJSON writes c with snake_case names and durations as strings, the
// form `smp app --config` reads. Logger is left out.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(configJSON{
		Name: c.Name, HTTPAddr: c.HTTPAddr, GRPCAddr: c.GRPCAddr, TLSAddr: c.TLSAddr,
		CertFile: c.CertFile, KeyFile: c.KeyFile, TCPAddr: c.TCPAddr, Upstreams: c.Upstreams,
		Sequential: c.Sequential, UpstreamProtocol: c.UpstreamProtocol, UpstreamTimeout: duration(c.UpstreamTimeout),
		ResponseSize: c.ResponseSize, CPUTime: duration(c.CPUTime), Delay: duration(c.Delay),
	})
}

// UnmarshalJSON reads what MarshalJSON writes. It is strict: an unknown
// field or a duration that is not a Go duration string is an error. The
// result is not validated, and c.Logger is kept.
func (c *Config) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j configJSON
	if err := dec.Decode(&j); err != nil {
		return err
	}
	*c = Config{
		Name: j.Name, HTTPAddr: j.HTTPAddr, GRPCAddr: j.GRPCAddr, TLSAddr: j.TLSAddr,
		CertFile: j.CertFile, KeyFile: j.KeyFile, TCPAddr: j.TCPAddr, Upstreams: j.Upstreams,
		Sequential: j.Sequential, UpstreamProtocol: j.UpstreamProtocol, UpstreamTimeout: time.Duration(j.UpstreamTimeout),
		ResponseSize: j.ResponseSize, CPUTime: time.Duration(j.CPUTime), Delay: time.Duration(j.Delay),
		Logger: c.Logger,
	}
	return nil
}

// duration is a time.Duration written as a Go duration string.
type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"20ms\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}
