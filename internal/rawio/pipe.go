package rawio

import "net"

// PipeBuffer is what one direction of a relayed connection reads at a time.
const PipeBuffer = 32 << 10

// Pipe copies src to dst until src ends or a write to dst fails, calling counted (when
// not nil) with the size of every chunk read before the chunk is written on: the relay
// of a TCP stream, one direction of it, as the app's TCP echo and the builtin sidecar's
// L4 mode run it. It allocates one buffer.
func Pipe(dst, src net.Conn, counted func(n int)) {
	buf := make([]byte, PipeBuffer)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if counted != nil {
				counted(n)
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// CloseWrite half-closes c when it can (TCP, TLS, a Wrap'ed connection), so that the peer
// sees the end of the stream while the other direction still flows.
func CloseWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}
