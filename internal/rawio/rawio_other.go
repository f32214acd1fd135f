//go:build !linux

package rawio

import "net"

// Wrap is the identity outside Linux (see rawio_linux.go).
func Wrap(c net.Conn) net.Conn { return c }

// PeerClosed cannot tell outside Linux.
func PeerClosed(net.Conn) bool { return false }

// ReadNow cannot outside Linux: ok is false (see rawio_linux.go).
func ReadNow(net.Conn, []byte) (int, bool, error) { return 0, false, nil }

// Control cannot outside Linux: ok is false.
func Control(net.Conn, func(fd uintptr)) (bool, error) { return false, nil }
