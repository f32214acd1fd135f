package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/service-mesh-performance/smp/internal/engine"
)

// Local is a set of agents running in this process on loopback, each a real HTTPS
// server with its own listener, behind the same mutual TLS as remote agents. It is
// what `workload.agents: N` means on the local platform (the protocol end to end on
// one machine; it adds no capacity) and what tests use.
type Local struct {
	// Addresses of the agents, in index order.
	Addresses []string
	// Controller are the credentials a Controller needs to drive them.
	Controller Credentials
	servers    []*Server
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	errs       []error
}

// LocalOptions configure StartLocal.
type LocalOptions struct {
	Logger *slog.Logger
	// Allow is every agent's allow-list; nil allows any target.
	Allow *AllowList
	// Token makes the agents require a shared token.
	Token bool
	// Credentials are the agents' (RoleAgent); default: a new run CA's, whose
	// controller side is then Local.Controller.
	Credentials *Credentials
	// OnResult is passed to every agent (see ServerConfig.OnResult); index is the
	// agent's position in Addresses.
	OnResult func(index int, req StartRequest, res *engine.Result)
}

// StartLocal starts n agents on 127.0.0.1, with a fresh run CA unless opt names their
// credentials. They run until Close or until ctx ends.
func StartLocal(ctx context.Context, n int, opt LocalOptions) (*Local, error) {
	l := &Local{errs: make([]error, n)}
	var agentCreds Credentials
	if opt.Credentials != nil {
		agentCreds = *opt.Credentials
	} else {
		b, err := NewBundle("", opt.Token)
		if err != nil {
			return nil, err
		}
		if agentCreds, err = b.AgentCredentials(); err != nil {
			return nil, err
		}
		if l.Controller, err = b.ControllerCredentials(); err != nil {
			return nil, err
		}
	}
	ctx, l.cancel = context.WithCancel(ctx)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("start local agent: %w", err)
		}
		cfg := ServerConfig{Credentials: agentCreds, Allow: opt.Allow, Logger: opt.Logger}
		if opt.OnResult != nil {
			cfg.OnResult = func(req StartRequest, res *engine.Result) { opt.OnResult(i, req, res) }
		}
		s, err := NewServer(cfg)
		if err != nil {
			ln.Close()
			l.Close()
			return nil, err
		}
		l.servers = append(l.servers, s)
		l.Addresses = append(l.Addresses, ln.Addr().String())
		l.wg.Go(func() { l.errs[i] = s.Serve(ctx, ln) })
	}
	return l, nil
}

// Kill stops agent i at once, as if its process had died.
func (l *Local) Kill(i int) { l.servers[i].Kill() }

// Close stops every agent and waits for them.
func (l *Local) Close() error {
	l.cancel()
	l.wg.Wait()
	return errors.Join(l.errs...)
}
