package sidecar

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"time"

	"github.com/service-mesh-performance/smp/internal/rawio"
)

// The builtin sidecar's L4 mode (Protocol TCP): every connection a frontend accepts
// (after classify's mTLS handshake on an inbound listener) is relayed to the frontend's
// target on a connection of its own, over mTLS towards an upstream sidecar, in plaintext
// towards the local application, and bytes flow both ways until both sides are done, the
// first to end half-closing the other, as a TCP proxy does. There is no pooling: a TCP
// stream belongs to one client. RequestsTotal counts the connections relayed.

// tcpProxy relays one frontend's connections.
type tcpProxy struct {
	st     *listenerStats
	target string
	upTLS  *tls.Config // nil: plaintext towards the target
	dialer net.Dialer

	conns rawio.ConnSet // both sides of every relay, closed by shutdown
	wg    sync.WaitGroup
}

func newTCPProxy(st *listenerStats, target string, upTLS *tls.Config) *tcpProxy {
	return &tcpProxy{st: st, target: target, upTLS: upTLS, dialer: net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}}
}

// relay carries c to the target until both directions are done, then closes both. A
// target that cannot be reached closes c (the client sees the connection end) and
// counts an error.
func (p *tcpProxy) relay(c net.Conn) {
	defer c.Close()
	p.st.requests.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout+handshakeTimeout)
	up, err := p.dial(ctx)
	cancel()
	if err != nil {
		p.st.errors.Add(1)
		return
	}
	if !p.conns.Add(up) {
		up.Close()
		return
	}
	p.conns.Add(c)
	p.wg.Add(1)
	defer p.wg.Done()
	defer p.conns.Remove(c)
	defer p.conns.Remove(up)
	defer up.Close()
	rawio.Relay(c, up, nil, nil)
}

func (p *tcpProxy) dial(ctx context.Context) (net.Conn, error) {
	raw, err := p.dialer.DialContext(ctx, "tcp", p.target)
	if err != nil {
		return nil, err
	}
	if p.upTLS == nil {
		return rawio.Wrap(raw), nil
	}
	tc := tls.Client(rawio.Wrap(raw), p.upTLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return tc, nil
}

// shutdown closes both sides of every relay, which ends them: a TCP stream has no
// request to let finish, and a stopping sidecar is the end of a trial.
func (p *tcpProxy) shutdown() {
	p.conns.CloseAll()
	p.wg.Wait()
}
