//go:build !linux

package rawio

import "net"

// Wrap is the identity outside Linux (see rawio_linux.go).
func Wrap(c net.Conn) net.Conn { return c }

// PeerClosed cannot tell outside Linux.
func PeerClosed(net.Conn) bool { return false }
