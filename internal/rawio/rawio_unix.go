//go:build unix && !linux

package rawio

import "syscall"

// Read is syscall.Read outside Linux (see rawio_linux.go).
func Read(fd uintptr, p []byte) (int, error) { return syscall.Read(int(fd), p) }

// Write is syscall.Write outside Linux.
func Write(fd uintptr, p []byte) (int, error) { return syscall.Write(int(fd), p) }
