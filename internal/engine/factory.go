package engine

import "context"

// factory builds the callers for one run: one per connection × stream.
type factory interface {
	// open creates conns × streams callers (stream-major within a
	// connection) and opens the connections. A connection that cannot be
	// opened is not an error here: its first request fails and is counted.
	open(ctx context.Context, conns, streams int) ([]caller, error)
	// start is called once the run's clock has started, before any request.
	start()
	connections() int64
	reconnects() int64
	close()
}

func newFactory(r *run) (factory, error) {
	switch r.cfg.Protocol {
	case H2, H2C, GRPC:
		return newH2Factory(r)
	case TCP:
		return newTCPFactory(r)
	}
	return newH1Factory(r)
}
