package sidecar

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/service-mesh-performance/smp/internal/proc"
)

// DefaultReadyTimeout is how long Launch waits for a sidecar to serve. haproxy and
// nginx are up in milliseconds and the builtin in tens; Envoy takes about a second.
const DefaultReadyTimeout = 15 * time.Second

// Options tune Launch. The zero value is ready to use.
type Options struct {
	// Binary overrides the kind's program (see Kind.Check).
	Binary string
	// Env is added to the sidecar's environment.
	Env []string
	// Tool skips Check when its Path is set (the caller checked every kind up front).
	Tool Tool
	// ReadyTimeout bounds the wait for the sidecar to serve. Default DefaultReadyTimeout.
	ReadyTimeout time.Duration
	// Grace is the time between SIGTERM and SIGKILL on stop. Default proc.DefaultGrace.
	Grace time.Duration
}

// Sidecar is a running sidecar process.
type Sidecar struct {
	Kind Kind
	// Spec is what was rendered, with defaults applied and free ports filled in.
	Spec Spec
	Tool Tool
	// Addrs are the bound addresses.
	Addrs Addrs
	// AdminURL, StatsURL, ReadyURL and MetricsURL are as in Plan.
	AdminURL, StatsURL, ReadyURL, MetricsURL string

	proc      *proc.Process
	statReads atomic.Int64
	client    *http.Client
}

// Launch starts one sidecar of kind k and returns once it serves: it checks the
// program (unless o.Tool is set), picks free ports for ":0" listen addresses (haproxy,
// nginx and envoy; the builtin binds them itself), renders the configuration into
// s.WorkDir, starts the process in its own process group bound to ctx, and waits until
// it serves: the builtin's ready line, the others' ready URL (once it answers, every
// listener is bound). On any error nothing is left running, and a sidecar that exited
// is a *proc.RunError with its command line and output. The sidecar runs until ctx is
// done or Stop is called.
func Launch(ctx context.Context, k Kind, s Spec, o Options) (*Sidecar, error) {
	t := o.Tool
	if t.Path == "" {
		var err error
		if t, err = k.Check(ctx, o.Binary); err != nil {
			return nil, err
		}
	}
	s = s.withDefaults()
	for attempt := 1; ; attempt++ {
		fixed := s
		if k != Builtin {
			var err error
			if fixed, err = pickPorts(s); err != nil {
				return nil, fmt.Errorf("%s sidecar %s: %w", k, s.Name, err)
			}
		}
		sc, err := launchOnce(ctx, k, fixed, t, o)
		if err != nil && attempt < maxPortAttempts && lostPickedPort(err, s, fixed) {
			continue
		}
		return sc, err
	}
}

// lostPickedPort reports whether err says that an address pickPorts chose was in use:
// someone took the port between the pick and the proxy's bind, so picking again helps.
// haproxy, nginx and Envoy all name the address in their bind error.
func lostPickedPort(err error, asked, fixed Spec) bool {
	msg := err.Error()
	if !strings.Contains(msg, "in use") {
		return false
	}
	a, f := asked.listenAddrs(), fixed.listenAddrs()
	for i := range a {
		if a[i] != f[i] && strings.Contains(msg, f[i]) {
			return true
		}
	}
	return false
}

// maxPortAttempts bounds Launch's retries when a picked port was taken meanwhile.
const maxPortAttempts = 3

func launchOnce(ctx context.Context, k Kind, s Spec, t Tool, o Options) (*Sidecar, error) {
	plan, err := k.Render(s, t)
	if err != nil {
		return nil, err
	}
	if err := plan.Write(); err != nil {
		return nil, fmt.Errorf("%s sidecar %s: %w", k, s.Name, err)
	}
	cmd := plan.Cmd
	cmd.Env = append(cmd.Env, o.Env...)
	cmd.Grace = o.Grace
	var rl *readyLineWriter
	if k == Builtin {
		rl = newReadyLineWriter()
		cmd.Stdout = rl
	}
	p, err := proc.Start(ctx, cmd)
	if err != nil {
		return nil, fmt.Errorf("%s sidecar %s: %w", k, s.Name, err)
	}
	sc := &Sidecar{
		Kind: k, Spec: plan.Spec, Tool: t,
		AdminURL: plan.AdminURL, StatsURL: plan.StatsURL, ReadyURL: plan.ReadyURL, MetricsURL: plan.MetricsURL,
		proc:   p,
		client: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	timeout := o.ReadyTimeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if rl != nil {
		err = sc.waitReadyLine(rctx, rl)
	} else {
		err = sc.waitServing(rctx)
	}
	if err == nil {
		return sc, nil
	}
	select {
	case <-p.Done():
		if werr := p.Wait(); werr != nil {
			// It failed on its own: the error carries the command line and output.
			return nil, fmt.Errorf("%s sidecar %s did not become ready: %w", k, s.Name, werr)
		}
	default:
	}
	stopErr := p.Stop(context.Background())
	return nil, errors.Join(fmt.Errorf("%s sidecar %s did not become ready: %w\n  command: %s\n  output: %s",
		k, s.Name, err, p.Command(), lastOutput(p.Output())), stopErr)
}

func lastOutput(s string) string {
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

// PID is the sidecar's process id (its process group leader).
func (s *Sidecar) PID() int { return s.proc.PID() }

// Process is the sidecar's process handle.
func (s *Sidecar) Process() *proc.Process { return s.proc }

// Done is closed when the sidecar process has exited.
func (s *Sidecar) Done() <-chan struct{} { return s.proc.Done() }

// Stop ends the sidecar (SIGTERM, then SIGKILL after the grace period or when ctx is
// done) and waits for it. Safe to call more than once.
func (s *Sidecar) Stop(ctx context.Context) error {
	err := s.proc.Stop(ctx)
	s.client.CloseIdleConnections()
	return err
}

// Counters reads the sidecar's counters now. For nginx, whose request counter also
// counts reads of its status page, the reads made through this Sidecar are subtracted.
func (s *Sidecar) Counters(ctx context.Context) (Counters, error) {
	c, err := ReadCounters(ctx, s.client, s.Kind, s.StatsURL)
	if err != nil {
		return c, err
	}
	reads := s.statReads.Add(1)
	if s.Kind == Nginx {
		c.Requests -= reads
	}
	return c, nil
}

func (sc *Sidecar) waitReadyLine(ctx context.Context, rl *readyLineWriter) error {
	select {
	case line := <-rl.line:
		var r ReadyLine
		if err := json.Unmarshal(line, &r); err != nil || !r.Ready {
			return fmt.Errorf("bad ready line %q", line)
		}
		sc.Addrs = Addrs{Inbound: r.Inbound, Outbounds: r.Outbounds, Admin: r.Admin}
		sc.Spec = sc.Spec.withBound(sc.Addrs)
		sc.AdminURL = "http://" + r.Admin
		sc.StatsURL, sc.ReadyURL, sc.MetricsURL = sc.AdminURL+"/stats", sc.AdminURL+"/ready", sc.AdminURL+"/metrics"
		return nil
	case <-sc.proc.Done():
		return errors.New("exited before it was ready")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitServing polls the ready URL (or, without one, the stats URL) until it answers
// 200. haproxy and nginx bind every listener before they serve any, and Envoy's /ready
// says LIVE only once its listeners are up, so the data ports are not probed: a probe
// would show up in the proxies' request and error counters.
func (sc *Sidecar) waitServing(ctx context.Context) error {
	url := sc.ReadyURL
	if url == "" {
		url = sc.StatsURL
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = sc.probe(ctx, url); last == nil {
			sc.Addrs = sc.Spec.addrs()
			return nil
		}
		select {
		case <-sc.proc.Done():
			return errors.New("exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("%w (last probe: %v)", ctx.Err(), last)
		case <-tick.C:
		}
	}
}

func (sc *Sidecar) probe(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := sc.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if sc.Kind == Nginx {
		sc.statReads.Add(1) // the probe hit nginx's request counter
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// Write writes the plan's files into its Spec.WorkDir.
func (p *Plan) Write() error {
	for _, f := range p.Files {
		data := f.Data
		if len(f.Concat) > 0 {
			var b bytes.Buffer
			for _, src := range f.Concat {
				part, err := os.ReadFile(src)
				if err != nil {
					return fmt.Errorf("write %s: %w", f.Name, err)
				}
				b.Write(part)
				if len(part) > 0 && part[len(part)-1] != '\n' {
					b.WriteByte('\n')
				}
			}
			data = b.Bytes()
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		path := filepath.Join(p.Spec.WorkDir, f.Name)
		if err := os.WriteFile(path, data, mode); err != nil {
			return fmt.Errorf("write %s: %w", f.Name, err)
		}
	}
	return nil
}

// pickPorts replaces port 0 in every listen address with a free port. There is a
// window between closing the probe socket and the proxy binding it; on loopback, with
// the kernel handing out ephemeral ports in sequence, another taker is unlikely.
func pickPorts(s Spec) (Spec, error) {
	s = s.withDefaults() // a copy: Inbound and Outbounds are shared otherwise
	fix := func(addr string) (string, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil || port != "0" {
			return addr, nil // Validate reports malformed addresses
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return "", fmt.Errorf("pick a free port on %s: %w", host, err)
		}
		defer ln.Close()
		return net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)), nil
	}
	var err error
	if s.Inbound != nil {
		if s.Inbound.Listen, err = fix(s.Inbound.Listen); err != nil {
			return s, err
		}
	}
	for i := range s.Outbounds {
		if s.Outbounds[i].Listen, err = fix(s.Outbounds[i].Listen); err != nil {
			return s, err
		}
	}
	if s.AdminListen, err = fix(s.AdminListen); err != nil {
		return s, err
	}
	return s, nil
}

func (s Spec) addrs() Addrs {
	a := Addrs{Outbounds: []string{}, Admin: s.AdminListen}
	if s.Inbound != nil {
		a.Inbound = s.Inbound.Listen
	}
	for _, o := range s.Outbounds {
		a.Outbounds = append(a.Outbounds, o.Listen)
	}
	return a
}

// withBound returns a copy of s with the listen addresses a sidecar reported.
func (s Spec) withBound(a Addrs) Spec {
	s = s.withDefaults()
	if s.Inbound != nil && a.Inbound != "" {
		s.Inbound.Listen = a.Inbound
	}
	for i := range s.Outbounds {
		if i < len(a.Outbounds) {
			s.Outbounds[i].Listen = a.Outbounds[i]
		}
	}
	s.AdminListen = a.Admin
	return s
}

// readyLineWriter catches the first line a builtin sidecar prints.
type readyLineWriter struct {
	mu   sync.Mutex
	buf  []byte
	sent bool
	line chan []byte
}

func newReadyLineWriter() *readyLineWriter { return &readyLineWriter{line: make(chan []byte, 1)} }

func (w *readyLineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sent {
		return len(b), nil
	}
	w.buf = append(w.buf, b...)
	if i := bytes.IndexByte(w.buf, '\n'); i >= 0 {
		w.sent = true
		w.line <- bytes.Clone(w.buf[:i])
		w.buf = nil
	} else if len(w.buf) > 64<<10 {
		w.sent = true
		w.line <- w.buf
	}
	return len(b), nil
}
