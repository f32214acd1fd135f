package h1wire

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"
)

// Accept accepts connections on ln and gives each to handle, which must not block (it
// starts the connection's goroutine), until ln is closed or ctx is done; it then returns
// nil. A temporary failure (EMFILE and friends) is logged and retried after a back-off
// that doubles from 5ms to 1s, as net/http's Server does; any other failure is returned
// as it is. Nothing in it is HTTP's: a TCP server of the app or the sidecar can use it
// as it is.
func Accept(ctx context.Context, ln net.Listener, log *slog.Logger, handle func(net.Conn)) error {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				log.Warn("accept", "err", err, "retry_in", delay)
				select {
				case <-time.After(delay):
					continue
				case <-ctx.Done():
					return nil
				}
			}
			return err
		}
		delay = 0
		handle(c)
	}
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}
