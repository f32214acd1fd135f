package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/service-mesh-performance/smp/internal/engine"
)

// Limits of what an agent accepts.
const (
	// maxStartRequest bounds a start request: a request body (workload.body_file) and
	// the target's TLS files travel inside it.
	maxStartRequest = 64 << 20
	// maxStartAhead: a start time further ahead than this is refused; it can only come
	// from a broken clock estimate, and the agent would sit idle, holding connections.
	maxStartAhead = time.Minute
	// writeTimeout bounds one event write: a controller that stops reading for this
	// long is gone, and the run is stopped.
	writeTimeout = 10 * time.Second
	// defaultHeartbeat is how often an agent speaks when it has nothing else to say.
	defaultHeartbeat = time.Second
)

// ServerConfig configures an agent.
type ServerConfig struct {
	// Credentials are the agent's identity and the run CA (required).
	Credentials Credentials
	// Allow restricts the targets; nil allows any target its controller sends.
	Allow *AllowList
	// Logger receives refusals (with the peer's address and why) and runs; nil discards.
	Logger *slog.Logger
	// Version is reported to controllers.
	Version string
	// Heartbeat is how often the agent writes an event when nothing else happens;
	// default 1s.
	Heartbeat time.Duration
	// OnResult, when set, receives every run's engine result before it is encoded, with
	// the request that started it. For tests (checking the merge against the agents'
	// own histograms) and for embedding.
	OnResult func(StartRequest, *engine.Result)
}

// Server is a load agent: it serves PathClock, PathReach and PathRun over mutual TLS and runs at
// most one load at a time, for as long as its controller stays connected.
type Server struct {
	cfg    ServerConfig
	log    *slog.Logger
	busy   atomic.Bool
	active sync.WaitGroup // handlers running, so Serve returns only after the last

	mu  sync.Mutex
	srv *http.Server
}

// NewServer checks cfg and returns an agent ready to Serve.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Credentials.Role != RoleAgent {
		return nil, fmt.Errorf("agent: credentials are for %q, want %s", cfg.Credentials.Role, RoleAgent)
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = defaultHeartbeat
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log}
	conf, err := serverTLS(cfg.Credentials, log)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	s.srv = &http.Server{
		Handler:           s.handler(),
		TLSConfig:         conf,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		HTTP2:             &http.HTTP2Config{SendPingTimeout: pingAfter, PingTimeout: pingTimeout},
	}
	return s, nil
}

// Serve accepts controllers on ln until ctx ends, then stops: a run in progress is
// cancelled (its partial result is still sent if the controller is there to read it),
// and Serve returns once every handler has finished. It returns nil after ctx ended.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	srv := s.srv
	srv.BaseContext = func(net.Listener) context.Context { return ctx }
	s.mu.Unlock()
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	defer s.active.Wait()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil // Kill
		}
		return fmt.Errorf("agent: serve: %w", err)
	case <-ctx.Done():
	}
	// Request contexts derive from ctx, so runs are already stopping; give them time
	// to send their last event.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}

// Kill stops the agent at once, as a crash would: the listener and every connection
// are closed without a word. Serve then returns; runs see their request context end.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv.Close()
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathClock, s.clock)
	mux.HandleFunc("POST "+PathReach, s.reach)
	mux.HandleFunc("POST "+PathRun, s.run)
	return s.authenticate(mux)
}

// authenticate records the controller's identity and, when the agent has a token,
// requires it. The TLS handshake has already verified the certificate.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.active.Add(1)
		defer s.active.Done()
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			// Unreachable through Serve (the handshake refuses such peers); kept so
			// that the handler is safe wherever it is mounted.
			s.log.Warn("refused request", "peer", r.RemoteAddr, "path", r.URL.Path, "reason", "no client certificate")
			http.Error(w, "client certificate required", http.StatusUnauthorized)
			return
		}
		if s.cfg.Credentials.Token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || !s.cfg.Credentials.tokenOK(got) {
				s.log.Warn("refused request", "peer", r.RemoteAddr, "path", r.URL.Path, "reason", "missing or wrong token")
				http.Error(w, "missing or wrong token", http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) clock(w http.ResponseWriter, r *http.Request) {
	t2 := time.Now().UnixNano()
	var req ClockRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		http.Error(w, "bad clock request: "+err.Error(), http.StatusBadRequest)
		return
	}
	reply := ClockReply{T1: req.T1, T2: t2, Protocol: ProtocolVersion, Version: s.cfg.Version, Busy: s.busy.Load()}
	w.Header().Set("Content-Type", "application/json")
	reply.T3 = time.Now().UnixNano()
	_ = json.NewEncoder(w).Encode(reply)
}

// run carries out one StartRequest and streams its events.
func (s *Server) run(w http.ResponseWriter, r *http.Request) {
	peer := r.RemoteAddr
	body := http.MaxBytesReader(w, r.Body, maxStartRequest)
	req, cfg, ok := s.admit(w, body, peer)
	if !ok {
		return
	}
	if !s.busy.CompareAndSwap(false, true) {
		http.Error(w, "agent busy with another run", http.StatusConflict)
		return
	}
	var freed sync.Once
	free := func() { freed.Do(func() { s.busy.Store(false) }) }
	defer free()
	startAt := cfg.StartAt
	s.log.Info("run accepted", "peer", peer, "run", req.RunID, "index", req.Index, "agents", req.Agents,
		"target", cfg.Target, "rate", cfg.Rate, "connections", cfg.Connections, "start_in", time.Until(startAt).Round(time.Millisecond))

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// The controller keeps the request body open for the whole run; its end means
	// "stop now" (Ctrl-C on the controller): the load ends and the result so far is sent.
	go func() {
		_, _ = io.Copy(io.Discard, body)
		cancel()
	}()
	progress := make(chan engine.Progress, 64)
	cfg.Progress = func(p engine.Progress) {
		select {
		case progress <- p:
		default: // a slow controller misses a progress line, never a result
		}
	}
	done := make(chan runOutcome, 1)
	go func() {
		res, err := engine.Run(ctx, cfg)
		done <- runOutcome{res, err}
	}()

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	ev := &eventStream{rc: http.NewResponseController(w), enc: json.NewEncoder(w), cancel: cancel}
	ev.send(Event{Type: EventAccepted})
	o := s.follow(ev, progress, done)
	// The engine has stopped: free the agent before the last event, so that a
	// controller moving on to its next trial never finds it busy.
	free()
	s.finish(ev, req, o, startAt, peer)
}

// admit decodes and checks a start request: the protocol, the load, the allow-list and
// the start time, which it sets as cfg.StartAt. A request it refuses has been answered
// with the reason.
func (s *Server) admit(w http.ResponseWriter, body io.Reader, peer string) (StartRequest, engine.Config, bool) {
	var req StartRequest
	if err := json.NewDecoder(body).Decode(&req); err != nil {
		http.Error(w, "bad start request: "+err.Error(), http.StatusBadRequest)
		return req, engine.Config{}, false
	}
	if req.Protocol != ProtocolVersion {
		http.Error(w, fmt.Sprintf("protocol %d: this agent speaks %d", req.Protocol, ProtocolVersion), http.StatusBadRequest)
		return req, engine.Config{}, false
	}
	cfg, ok := s.admitLoad(w, req.Load, peer, "run")
	if !ok {
		return req, cfg, false
	}
	// The start as a time with a monotonic reading (a wall-clock step cannot move it),
	// from one reading of the clock: derived from two, it was late by whatever ran
	// between them (2.6 ms once on a loaded machine, and the agent's phases with it).
	now := time.Now()
	ahead := req.StartAt.Sub(now)
	if ahead > maxStartAhead {
		http.Error(w, fmt.Sprintf("start time %v ahead: at most %v", ahead.Round(time.Millisecond), maxStartAhead), http.StatusBadRequest)
		return req, cfg, false
	}
	cfg.StartAt = now.Add(ahead)
	return req, cfg, true
}

// admitLoad turns a load into the engine's configuration and checks its target against
// the allow-list; a load it refuses (for what: "run", "reach check") has been answered
// with the reason, and the refusal logged with the peer's address.
func (s *Server) admitLoad(w http.ResponseWriter, l Load, peer, what string) (engine.Config, bool) {
	cfg, err := l.engineConfig()
	if err != nil {
		http.Error(w, "bad load: "+err.Error(), http.StatusBadRequest)
		return cfg, false
	}
	if err := s.cfg.Allow.Check(cfg.Target); err != nil {
		s.log.Warn("refused "+what, "peer", peer, "target", cfg.Target, "reason", err.Error())
		http.Error(w, err.Error(), http.StatusForbidden)
		return cfg, false
	}
	return cfg, true
}

// runOutcome is what the engine returned.
type runOutcome struct {
	res *engine.Result
	err error
}

// eventStream writes a run's events to the controller, one JSON line each, flushed; once
// a write fails (the controller is gone) it stops the load and writes nothing more.
type eventStream struct {
	rc     *http.ResponseController
	enc    *json.Encoder
	cancel context.CancelFunc
	broken bool
}

func (ev *eventStream) send(e Event) {
	if ev.broken {
		return
	}
	e.Time = time.Now().UTC()
	_ = ev.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	err := ev.enc.Encode(e)
	if err == nil {
		err = ev.rc.Flush()
	}
	if err != nil {
		ev.broken = true
		ev.cancel() // the controller is gone: stop the load
	}
}

// follow passes the engine's progress on, with a heartbeat whenever there is none, until
// the engine stops.
func (s *Server) follow(ev *eventStream, progress <-chan engine.Progress, done <-chan runOutcome) runOutcome {
	beat := time.NewTicker(s.cfg.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case p := <-progress:
			ev.send(Event{Type: EventProgress, Progress: progressOf(p)})
			beat.Reset(s.cfg.Heartbeat)
		case <-beat.C:
			ev.send(Event{Type: EventHeartbeat})
		case o := <-done:
			return o
		}
	}
}

// finish sends the run's last event: its result, or why there is none.
func (s *Server) finish(ev *eventStream, req StartRequest, o runOutcome, startAt time.Time, peer string) {
	if o.err != nil {
		s.log.Warn("run failed", "peer", peer, "run", req.RunID, "error", o.err.Error())
		ev.send(Event{Type: EventError, Error: o.err.Error()})
		return
	}
	if s.cfg.OnResult != nil {
		s.cfg.OnResult(req, o.res)
	}
	rep, err := reportOf(o.res, startAt)
	if err != nil {
		ev.send(Event{Type: EventError, Error: err.Error()})
		return
	}
	ev.send(Event{Type: EventResult, Result: rep})
	s.log.Info("run finished", "peer", peer, "run", req.RunID, "requests", o.res.Measure.Requests,
		"cancelled", o.res.Cancelled, "delivered", !ev.broken)
}
