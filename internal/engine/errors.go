package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
)

// error class indexes into phaseStats.errs; names are in classNames.
const (
	classRefused = iota
	classReset
	classClosed
	classTimeout
	classTLS
	classProtocol
	classDNS
	classOverflow
	classHTTP
	classGRPC
	classOther
	numClasses
)

var classNames = [numClasses]string{ClassRefused, ClassReset, ClassClosed, ClassTimeout, ClassTLS,
	ClassProtocol, ClassDNS, ClassOverflow, ClassHTTP, ClassGRPC, ClassOther}

// protocolError is a response the client could not make sense of.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return "protocol error: " + e.msg }

// classified lets a client state the class of an error it built itself
// (gRPC statuses carry transport failures only as text).
type classified struct {
	class int
	err   error
}

func (e *classified) Error() string { return e.err.Error() }
func (e *classified) Unwrap() error { return e.err }

// classify maps an error to its class. Order matters: a TLS alert can wrap
// a reset, and a timeout is reported as one whatever the layer.
func classify(err error) int {
	var c *classified
	if errors.As(err, &c) {
		return c.class
	}
	var pe *protocolError
	var dnsErr *net.DNSError
	var recErr tls.RecordHeaderError
	var alert tls.AlertError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var ne net.Error
	switch {
	case errors.As(err, &pe):
		return classProtocol
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return classTimeout
	case errors.As(err, &ne) && ne.Timeout():
		return classTimeout
	case errors.As(err, &dnsErr):
		return classDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return classRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return classReset
	case errors.As(err, &recErr), errors.As(err, &alert), errors.As(err, &certErr),
		errors.As(err, &unknownAuth), errors.As(err, &hostErr), errors.As(err, &invalid):
		return classTLS
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return classClosed
	}
	return classifyText(err.Error())
}

// classifyText is the fallback for errors that arrive as text only (gRPC
// status messages, HTTP/2 transport errors).
func classifyText(msg string) int {
	switch {
	case strings.Contains(msg, "connection refused"):
		return classRefused
	case strings.Contains(msg, "connection reset"), strings.Contains(msg, "broken pipe"):
		return classReset
	case strings.Contains(msg, "tls:"), strings.Contains(msg, "x509:"), strings.Contains(msg, "certificate"):
		return classTLS
	case strings.Contains(msg, "timeout"), strings.Contains(msg, "deadline exceeded"):
		return classTimeout
	case strings.Contains(msg, "no such host"):
		return classDNS
	case strings.Contains(msg, "EOF"), strings.Contains(msg, "closed"):
		return classClosed
	case strings.Contains(msg, "http2:"), strings.Contains(msg, "protocol"), strings.Contains(msg, "malformed"):
		return classProtocol
	}
	return classOther
}
