//go:build linux

package rawio

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawIOConn does a TCP connection's reads and writes with raw system calls inside
// syscall.RawConn's callbacks, which still wait in the runtime's network poller when
// the socket is not ready (and still honour deadlines and Close).
//
// Why: the socket is non-blocking, so read and write never block, but an ordinary
// syscall.Syscall tells the scheduler that it might. On a machine where every proxy
// and application shares one CPU, a write on loopback (which runs the receiver's TCP
// stack too) is often preempted for more than sysmon's 20µs tick, so sysmon takes the
// P away and hands it to another thread (futex wake-ups, a spinning M), and every
// syscall entry wakes a sleeping sysmon, which then polls every 20µs for as long as
// the process is busy. Profiles at 500 rps showed sysmon and the scheduler at a third
// of the CPU; raw system calls leave the runtime nothing to do.
type rawIOConn struct {
	net.Conn
	rc syscall.RawConn

	rbuf   []byte
	rn     int
	rerrno syscall.Errno
	readFn func(fd uintptr) bool
	nowFn  func(fd uintptr) bool // ReadNow's: returns at EAGAIN too

	wbuf    []byte
	wn      int
	werrno  syscall.Errno
	writeFn func(fd uintptr) bool
}

// Wrap wraps a TCP connection; anything else is returned as it is.
func Wrap(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	r := &rawIOConn{Conn: c, rc: rc}
	r.readFn, r.nowFn, r.writeFn = r.doRead, r.doReadNow, r.doWrite
	return r
}

func (c *rawIOConn) doRead(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&c.rbuf[0])), uintptr(len(c.rbuf)))
		switch e {
		case syscall.EAGAIN:
			return false // wait in the poller, then again
		case syscall.EINTR:
			continue
		}
		c.rn, c.rerrno = int(n), e
		return true
	}
}

func (c *rawIOConn) doReadNow(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&c.rbuf[0])), uintptr(len(c.rbuf)))
		if e != syscall.EINTR {
			c.rn, c.rerrno = int(n), e
			return true
		}
	}
}

func (c *rawIOConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	c.rbuf, c.rn, c.rerrno = b, 0, 0
	err := c.rc.Read(c.readFn)
	c.rbuf = nil
	switch {
	case err != nil:
		return 0, err
	case c.rerrno != 0:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", c.rerrno)}
	case c.rn == 0:
		return 0, io.EOF
	}
	return c.rn, nil
}

func (c *rawIOConn) doWrite(fd uintptr) bool {
	for len(c.wbuf) > 0 {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&c.wbuf[0])), uintptr(len(c.wbuf)))
		switch e {
		case 0:
			c.wn += int(n)
			c.wbuf = c.wbuf[n:]
		case syscall.EAGAIN:
			return false
		case syscall.EINTR:
		default:
			c.werrno = e
			return true
		}
	}
	return true
}

func (c *rawIOConn) Write(b []byte) (int, error) {
	c.wbuf, c.wn, c.werrno = b, 0, 0
	err := c.rc.Write(c.writeFn)
	c.wbuf = nil
	switch {
	case err != nil:
		return c.wn, err
	case c.werrno != 0:
		return c.wn, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("write", c.werrno)}
	}
	return c.wn, nil
}

// Read is syscall.Read without entersyscall (see rawIOConn), for code that runs its own
// syscall.RawConn callbacks (the load engine's HTTP/1.1 client).
func Read(fd uintptr, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return int(n), e
	}
	return int(n), nil
}

// Write is syscall.Write without entersyscall, as Read.
func Write(fd uintptr, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return int(n), e
	}
	return int(n), nil
}

// CloseWrite lets net/http half-close connections it serves, as it does TCP ones.
func (c *rawIOConn) CloseWrite() error { return c.Conn.(*net.TCPConn).CloseWrite() }

// PeerClosed reports whether the peer of c has closed its side (or reset it), without
// consuming anything: a non-blocking MSG_PEEK of one byte.
func PeerClosed(c net.Conn) bool {
	var rc syscall.RawConn
	switch c := c.(type) {
	case *rawIOConn:
		rc = c.rc
	case syscall.Conn:
		rc, _ = c.SyscallConn()
	}
	if rc == nil {
		return false
	}
	closed := false
	_ = rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		closed = e == 0 && n == 0 || e == syscall.ECONNRESET
	})
	return closed
}

// ReadNow reads what has arrived on c without ever waiting: syscall.EAGAIN when
// nothing has, io.EOF at the end of the stream. It serves a caller that runs its own
// event loop over many connections (the load engine's HTTP/2 poller), for which
// parking one goroutine per connection in the runtime's poller is what it avoids.
// Only connections Wrap returned can; ok is false for any other.
func ReadNow(c net.Conn, b []byte) (n int, ok bool, err error) {
	r, isRaw := c.(*rawIOConn)
	if !isRaw {
		return 0, false, nil
	}
	r.rbuf, r.rn, r.rerrno = b, 0, 0
	err = r.rc.Read(r.nowFn)
	r.rbuf = nil
	n, errno := r.rn, r.rerrno
	switch {
	case err != nil:
		return 0, true, err
	case errno == syscall.EAGAIN:
		return 0, true, syscall.EAGAIN
	case errno != 0:
		return 0, true, &net.OpError{Op: "read", Net: "tcp", Source: r.LocalAddr(), Addr: r.RemoteAddr(), Err: os.NewSyscallError("read", errno)}
	case n == 0:
		return 0, true, io.EOF
	}
	return n, true, nil
}

// Control runs fn with c's descriptor, which stays open until fn returns (as
// syscall.RawConn's Control): for registering it in an epoll set. ok is false for a
// connection Wrap did not return.
func Control(c net.Conn, fn func(fd uintptr)) (ok bool, err error) {
	r, isRaw := c.(*rawIOConn)
	if !isRaw {
		return false, nil
	}
	return true, r.rc.Control(fn)
}
