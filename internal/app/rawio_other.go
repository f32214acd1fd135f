//go:build !linux

package app

import "net"

// rawIO is the identity outside Linux (see rawio_linux.go).
func rawIO(c net.Conn) net.Conn { return c }

// peerClosed cannot tell outside Linux.
func peerClosed(net.Conn) bool { return false }
