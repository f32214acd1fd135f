//go:build !linux

package sidecar

import "net"

// rawIO is the identity outside Linux (see rawio_linux.go).
func rawIO(c net.Conn) net.Conn { return c }
