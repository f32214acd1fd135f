package engine

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
)

// Protocol selects the client used for every request.
type Protocol int

const (
	// HTTP1 is HTTP/1.1 over TCP, or over TLS for https:// targets.
	HTTP1 Protocol = iota
	// H2 is HTTP/2 over TLS, negotiated with ALPN (https:// targets).
	H2
	// H2C is HTTP/2 over cleartext TCP with prior knowledge (http:// targets).
	H2C
	// GRPC is gRPC unary calls; TLS when Config.TLS is set or the URL is https://.
	GRPC
	// TCP writes a message of the body's bytes on a TCP connection (TLS when
	// Config.TLS is set) and reads its echo back (tcp://host:port targets).
	TCP
)

func (p Protocol) String() string {
	switch p {
	case HTTP1:
		return "http1"
	case H2:
		return "h2"
	case H2C:
		return "h2c"
	case GRPC:
		return "grpc"
	case TCP:
		return "tcp"
	}
	return fmt.Sprintf("Protocol(%d)", int(p))
}

// Pattern is the arrival process of an open-loop run.
type Pattern int

const (
	// Constant sends evenly spaced requests at Rate.
	Constant Pattern = iota
	// Poisson sends at Rate on average with exponentially distributed gaps.
	Poisson
	// Uniform is Constant with each send moved by up to ±Jitter/2 of one gap.
	Uniform
	// Ramp grows the rate linearly from RampFrom to Rate over RampDuration,
	// then holds Rate.
	Ramp
	// Step runs each of Steps in turn; the last step's rate holds if
	// Duration is longer than the steps.
	Step
	// RealWorld is Poisson arrivals whose rate follows a seeded, smooth curve
	// (diurnal swing, bursts, slow wander; see RealWorldRate) with mean Rate.
	RealWorld
)

func (p Pattern) String() string {
	switch p {
	case Constant:
		return "constant"
	case Poisson:
		return "poisson"
	case Uniform:
		return "uniform"
	case Ramp:
		return "ramp"
	case Step:
		return "step"
	case RealWorld:
		return "realworld"
	}
	return fmt.Sprintf("Pattern(%d)", int(p))
}

// RateStep is one stage of a Step arrival.
type RateStep struct {
	Rate     float64       // requests per second (total), ≥ 0
	Duration time.Duration // > 0
}

// Arrival describes when open-loop requests are due.
type Arrival struct {
	Pattern      Pattern
	Jitter       float64       // Uniform: fraction of one gap, (0,1]; default 1
	RampFrom     float64       // Ramp: starting rate, default 0
	RampDuration time.Duration // Ramp: default Duration
	Steps        []RateStep    // Step: required
	RealWorld    RealWorldRate // RealWorld: the rate curve
	// Seed: Poisson, Uniform and RealWorld arrivals, and the request mix, body
	// sizes and churn; the same seed gives the same schedule. Default 1.
	Seed int64
	// Phase shifts every slot of the even processes (Constant, Uniform, Ramp, Step) by
	// this fraction of one slot in count space, in [-0.5, 0.5); Poisson ignores it.
	// Default 0. Load agent i of n, each at 1/n of the rate, uses (i+½)/n − ½: the union
	// of their slots is then exactly the schedule one generator would have run.
	Phase float64
}

// Request is one entry of a weighted request mix (HTTP/1.1).
type Request struct {
	Weight  float64  // relative; > 0
	Method  string   // default GET, or POST with a body
	Path    string   // request-target such as /api?x=1; default the Target's
	Headers []string // "Name: value" lines, sent after Config.Headers
	Body    []byte   // overrides PayloadSize
	// PayloadSize generates a body of this many bytes; with Config.SizeSpread it
	// is the median of a log-normal.
	PayloadSize int
}

// GRPCCall selects the unary method called when Protocol is GRPC.
type GRPCCall int

const (
	// HealthCheck calls grpc.health.v1.Health/Check with GRPCService.
	HealthCheck GRPCCall = iota
	// Echo calls smp.echo.v1.Echo/Echo (package grpcecho) with Body.
	Echo
)

// TLS configures the client side of TLS and mTLS. The zero value verifies the
// server against the system roots.
type TLS struct {
	CAFile     string // PEM roots that replace the system pool
	CertFile   string // client certificate (mTLS), with KeyFile
	KeyFile    string
	ServerName string // SNI and verification name; default the URL's host
	Insecure   bool   // skip verification
	// Config, when set, is used as is (cloned) and the fields above are ignored.
	// Tests and callers holding certificates in memory use it.
	Config *tls.Config
}

// Config is everything one run needs. The zero value of every field means
// its documented default; Run applies them with withDefaults and checks the
// result with Validate.
type Config struct {
	Target   string   // required: http://, https://, tcp:// (or host:port for GRPC)
	Protocol Protocol // default HTTP1

	Method      string   // default GET, or POST when there is a body
	Headers     []string // "Name: value" lines, sent as given
	Body        []byte   // request body (TCP: the message); overrides PayloadSize
	PayloadSize int      // generate a body of this many bytes when Body is nil; TCP default 1KiB

	Rate    float64 // total requests/s; 0 = closed loop (no pacing)
	Arrival Arrival // ignored in closed loop

	// Requests, when set, replaces Method, Body and the Target's path per
	// request: each slot sends one of them, drawn by weight from the seed
	// (HTTP/1.1 only). PhaseResult.Mix counts what each sent.
	Requests []Request
	// SizeSpread is σ of the log-normal that generated bodies (PayloadSize)
	// take their size from, PayloadSize being its median; 0 = every body is
	// PayloadSize bytes. Sizes are drawn per slot from the seed.
	SizeSpread float64
	// Churn closes each HTTP/1.1 connection after a random number of requests
	// (geometric, mean Churn, from the seed) and opens a new one, as clients
	// come and go; 0 = connections live for the whole run.
	Churn float64

	Connections int // default 1
	Streams     int // concurrent requests per connection for H2, H2C and GRPC; default 1
	MaxInflight int // overflow bound on due-but-unsent slots; 0 = only the Timeout rule

	Duration time.Duration // measured phase; default 10s (Step: sum of steps)
	Warmup   time.Duration // phase before it with separate statistics; default 0
	Timeout  time.Duration // per request; default 10s

	KeepAlive *bool // default true; false = a new connection (and TLS handshake) per request
	TLS       *TLS  // nil: default verification for https:// and no TLS for http://

	GRPCCall    GRPCCall
	GRPCService string // HealthCheck: the service name asked about; default "" (the server)

	// Spin busy-waits this long before each deadline of an open-loop run
	// and, over HTTP/1.1 on TCP, polls this long for the response before
	// parking: it buys precision at light load for CPU. Default 0 =
	// automatic: up to 100µs at light rates, less as the rate grows so that
	// spinning costs at most 15% of one core, none above ~15k/s (spin.go);
	// negative = never spin.
	Spin        time.Duration
	MaxStartLag time.Duration // start-lag p99 above this means the rate was not held; default 1ms

	SeriesInterval time.Duration  // time-series and Progress period; default 1s
	Progress       func(Progress) // called once per interval from one goroutine; must not block long

	// StartAt, when set, is when the run's clock starts (the warm-up, or the measured
	// phase without one): connections are opened first, then Run waits for it, so load
	// agents on several machines start together whatever their connection set-up costs.
	// If the connections are ready up to startSlack (100ms) after StartAt, the schedule is still
	// anchored at StartAt (the first slots are then late, and their lag is recorded);
	// later than that, the clock starts when they are ready, as without StartAt, and
	// PhaseResult.Start says when. Zero: start as soon as the connections are open. Give
	// it a monotonic reading (time.Now().Add(d)) so a wall-clock step cannot move it.
	StartAt time.Time
}

// Defaults, each with its reason.
const (
	defaultDuration = 10 * time.Second
	// defaultTimeout is wrk's 2s stretched: a mesh under test can stall for
	// seconds and the stall must show as latency, not as timeouts.
	defaultTimeout        = 10 * time.Second
	defaultSeriesInterval = time.Second
	// defaultMaxStartLag: a lag p99 of 1ms is already an order of magnitude
	// above a mesh's added p50, so beyond it the schedule was not honoured.
	defaultMaxStartLag = time.Millisecond
	// maxWorkers bounds memory: each worker owns up to 10 histograms of
	// ~190KB (1µs..1h at 3 digits), so 1024 workers reserve ~2GB of address
	// space, of which only the touched pages (a few per histogram, plus the
	// two interval histograms reset every interval) become resident.
	maxWorkers = 1024
	// defaultTCPMessage is the TCP echo's message when none is given: istio/tools'
	// payload, and the sample app's default response size.
	defaultTCPMessage = 1024
)

// withDefaults returns a copy of c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.Protocol == HTTP1 || c.Protocol == H2 || c.Protocol == H2C {
		if c.Method == "" {
			c.Method = "GET"
			if len(c.Body) > 0 || c.PayloadSize > 0 {
				c.Method = "POST"
			}
		}
	}
	if c.Protocol == TCP && c.Body == nil && c.PayloadSize == 0 {
		c.PayloadSize = defaultTCPMessage
	}
	if c.Body == nil && c.PayloadSize > 0 {
		c.Body = makePayload(c.PayloadSize)
	}
	if c.Connections == 0 {
		c.Connections = 1
	}
	if c.Streams == 0 || c.Protocol == HTTP1 || c.Protocol == TCP {
		c.Streams = 1
	}
	if c.Arrival.Pattern == Step && c.Duration == 0 {
		for _, s := range c.Arrival.Steps {
			c.Duration += s.Duration
		}
	}
	if c.Duration == 0 {
		c.Duration = defaultDuration
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if c.KeepAlive == nil {
		t := true
		c.KeepAlive = &t
	}
	if c.Arrival.Pattern == Uniform && c.Arrival.Jitter == 0 {
		c.Arrival.Jitter = 1
	}
	if c.Arrival.Pattern == Ramp && c.Arrival.RampDuration == 0 {
		c.Arrival.RampDuration = c.Duration
	}
	if c.Arrival.Pattern == RealWorld {
		c.Arrival.RealWorld = c.Arrival.RealWorld.withDefaults(c.Duration)
	}
	if len(c.Requests) > 0 {
		reqs := make([]Request, len(c.Requests))
		for i, r := range c.Requests {
			if r.Method == "" {
				r.Method = "GET"
				if len(r.Body) > 0 || r.PayloadSize > 0 {
					r.Method = "POST"
				}
			}
			reqs[i] = r
		}
		c.Requests = reqs
	}
	if c.Arrival.Seed == 0 {
		c.Arrival.Seed = 1
	}
	if c.MaxStartLag == 0 {
		c.MaxStartLag = defaultMaxStartLag
	}
	if c.SeriesInterval == 0 {
		c.SeriesInterval = defaultSeriesInterval
	}
	return c
}

// makePayload returns n bytes of printable filler: printable so a server
// logging bodies shows something readable, fixed so runs are reproducible.
func makePayload(n int) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[i%len(alphabet)]
	}
	return b
}

// Validate reports every problem with c (after defaults), joined.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if c.Target == "" {
		bad("target: required")
	} else if _, err := c.endpoint(); err != nil {
		bad("target %q: %w", c.Target, err)
	}
	if c.Protocol < HTTP1 || c.Protocol > TCP {
		bad("protocol: unknown value %d", int(c.Protocol))
	}
	if c.Protocol == TCP {
		errs = append(errs, c.validateTCP()...)
	}
	if c.Protocol != GRPC && strings.ContainsAny(c.Method, " \r\n") {
		bad("method %q: must be one token", c.Method)
	}
	for _, h := range c.Headers {
		name, _, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(h, "\r\n") {
			bad("header %q: want \"Name: value\" on one line", h)
		}
	}
	if c.PayloadSize < 0 {
		bad("payload size %d: must be ≥ 0", c.PayloadSize)
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		bad("rate %v: must be a finite number ≥ 0 (0 = closed loop)", c.Rate)
	}
	if c.Rate == 0 && c.Arrival.Pattern == Step {
		total := 0.0
		for _, s := range c.Arrival.Steps {
			total += s.Rate
		}
		if total == 0 {
			bad("arrival step: needs at least one step with a rate > 0")
		}
	}
	if c.Rate > 0 || c.Arrival.Pattern == Step {
		errs = append(errs, c.Arrival.validate()...)
	}
	errs = append(errs, c.validateMix()...)
	if c.Connections < 1 {
		bad("connections %d: must be ≥ 1", c.Connections)
	}
	if c.Streams < 1 {
		bad("streams %d: must be ≥ 1", c.Streams)
	}
	if c.Connections*c.Streams > maxWorkers {
		bad("connections × streams = %d: at most %d concurrent requests", c.Connections*c.Streams, maxWorkers)
	}
	if c.MaxInflight < 0 {
		bad("max inflight %d: must be ≥ 0", c.MaxInflight)
	}
	if c.Duration <= 0 {
		bad("duration %v: must be > 0", c.Duration)
	}
	if c.Warmup < 0 {
		bad("warmup %v: must be ≥ 0", c.Warmup)
	}
	if c.Timeout <= 0 {
		bad("timeout %v: must be > 0", c.Timeout)
	}
	if c.Spin > 10*time.Millisecond {
		bad("spin %v: must be at most 10ms (0 = automatic, negative = never)", c.Spin)
	}
	if c.SeriesInterval < 10*time.Millisecond {
		bad("series interval %v: must be ≥ 10ms", c.SeriesInterval)
	}
	if c.GRPCCall < HealthCheck || c.GRPCCall > Echo {
		bad("grpc call: unknown value %d", int(c.GRPCCall))
	}
	if c.KeepAlive != nil && !*c.KeepAlive && c.Protocol != HTTP1 && c.Protocol != TCP {
		bad("keep-alive off: only for HTTP/1.1 and TCP (HTTP/2 and gRPC multiplex one connection)")
	}
	if c.TLS != nil && c.TLS.Config == nil && (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls: client certificate and key must be given together")
	}
	return errors.Join(errs...)
}

func (a Arrival) validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !(a.Phase >= -0.5 && a.Phase < 0.5) {
		bad("arrival phase %v: must be in [-0.5, 0.5)", a.Phase)
	}
	switch a.Pattern {
	case Constant, Poisson:
	case RealWorld:
		errs = append(errs, a.RealWorld.validate()...)
	case Uniform:
		if a.Jitter <= 0 || a.Jitter > 1 {
			bad("arrival jitter %v: must be in (0, 1]", a.Jitter)
		}
	case Ramp:
		if a.RampFrom < 0 {
			bad("arrival ramp from %v: must be ≥ 0", a.RampFrom)
		}
		if a.RampDuration <= 0 {
			bad("arrival ramp duration %v: must be > 0", a.RampDuration)
		}
	case Step:
		if len(a.Steps) == 0 {
			bad("arrival step: needs at least one step")
		}
		for i, s := range a.Steps {
			if s.Rate < 0 || s.Duration <= 0 {
				bad("arrival step %d: rate must be ≥ 0 and duration > 0 (got %v for %v)", i, s.Rate, s.Duration)
			}
		}
	default:
		bad("arrival pattern: unknown value %d", int(a.Pattern))
	}
	return errs
}

// endpoint is the parsed target.
type endpoint struct {
	tls      bool
	hostPort string // for dialing
	host     string // Host header / :authority
	path     string // request-target, with query
	server   string // TLS server name
}

func (c Config) endpoint() (endpoint, error) {
	raw := c.Target
	if (c.Protocol == GRPC || c.Protocol == TCP) && !strings.Contains(raw, "://") {
		raw = strings.ToLower(c.Protocol.String()) + "://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return endpoint{}, err
	}
	var e endpoint
	switch u.Scheme {
	case "http", "h2c", "grpc":
	case "https", "grpcs":
		e.tls = true
	case "tcp":
		if c.Protocol != TCP {
			return endpoint{}, fmt.Errorf("scheme tcp is for protocol tcp, not %s", c.Protocol)
		}
		if u.Port() == "" {
			return endpoint{}, errors.New("tcp:// needs a port, e.g. tcp://127.0.0.1:8078")
		}
	default:
		return endpoint{}, fmt.Errorf("scheme %q: want http, https, h2c, grpc or tcp", u.Scheme)
	}
	if c.Protocol == TCP && u.Scheme != "tcp" {
		return endpoint{}, fmt.Errorf("protocol tcp needs a tcp://host:port target, not %s://", u.Scheme)
	}
	if c.TLS != nil {
		e.tls = true
	}
	if u.Host == "" {
		return endpoint{}, errors.New("no host")
	}
	if c.Protocol == H2 && !e.tls {
		return endpoint{}, errors.New("h2 needs TLS (https://); use h2c for cleartext")
	}
	if c.Protocol == H2C && e.tls {
		return endpoint{}, errors.New("h2c is cleartext; use h2 for https://")
	}
	e.host = u.Host
	e.server = u.Hostname()
	e.hostPort = u.Host
	if u.Port() == "" {
		if e.tls {
			e.hostPort += ":443"
		} else {
			e.hostPort += ":80"
		}
	}
	e.path = u.RequestURI()
	return e, nil
}

// validateTCP checks what an echo message can carry: bytes, nothing of HTTP.
func (c Config) validateTCP() []error {
	var errs []error
	if len(c.Body) == 0 && c.PayloadSize <= 0 {
		errs = append(errs, errors.New("tcp: the message is empty; set a payload size > 0 or a body"))
	}
	if len(c.Headers) > 0 || c.Method != "" {
		errs = append(errs, errors.New("tcp: a TCP echo has no method or headers"))
	}
	if len(c.Requests) > 0 || c.Churn > 0 || c.SizeSpread > 0 {
		errs = append(errs, errors.New("tcp: request mix, churn and size spread are for HTTP/1.1 only"))
	}
	return errs
}

// validateMix checks Requests, SizeSpread and Churn.
func (c Config) validateMix() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(c.Requests) > 0 && c.Protocol != HTTP1 {
		bad("requests: a request mix is for HTTP/1.1 only")
	}
	for i, r := range c.Requests {
		if !(r.Weight > 0) || math.IsInf(r.Weight, 0) {
			bad("request %d: weight %v must be > 0", i, r.Weight)
		}
		if strings.ContainsAny(r.Method, " \r\n") {
			bad("request %d: method %q must be one token", i, r.Method)
		}
		if r.Path != "" && (!strings.HasPrefix(r.Path, "/") || strings.ContainsAny(r.Path, " \r\n")) {
			bad("request %d: path %q must start with / and hold no spaces", i, r.Path)
		}
		if r.PayloadSize < 0 {
			bad("request %d: payload size %d must be ≥ 0", i, r.PayloadSize)
		}
		for _, h := range r.Headers {
			name, _, ok := strings.Cut(h, ":")
			if !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(h, "\r\n") {
				bad("request %d: header %q: want \"Name: value\" on one line", i, h)
			}
		}
	}
	if c.SizeSpread < 0 || c.SizeSpread > 3 || math.IsNaN(c.SizeSpread) {
		bad("size spread %v: must be between 0 and 3", c.SizeSpread)
	}
	if c.Churn < 0 || math.IsNaN(c.Churn) || math.IsInf(c.Churn, 0) {
		bad("churn %v: must be a finite number ≥ 0", c.Churn)
	}
	if c.Churn > 0 && c.Protocol != HTTP1 {
		bad("churn: for HTTP/1.1 only (HTTP/2 and gRPC multiplex one connection)")
	}
	return errs
}

// openLoop reports whether c (with defaults) paces requests by a schedule.
func (c Config) openLoop() bool { return c.Rate > 0 || c.Arrival.Pattern == Step }
