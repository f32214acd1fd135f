package agent

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"time"

	"github.com/service-mesh-performance/smp/internal/pki"
)

// Connection health: each side pings an HTTP/2 connection that has been silent for
// pingAfter and closes it when the ping is not answered within pingTimeout, so a
// partitioned agent stops its load (its request context ends) and a controller learns
// of it within seconds, not after TCP's retransmission timeout (minutes).
const (
	pingAfter   = 2 * time.Second
	pingTimeout = 3 * time.Second
)

// serverTLS is the agent's TLS configuration: TLS 1.3, its certificate, and a client
// certificate required from the controller of the same run (checked by SPIFFE id, so
// another agent's certificate from the same CA is refused too). Every refused
// handshake is logged with the peer's address and the reason.
func serverTLS(c Credentials, log *slog.Logger) (*tls.Config, error) {
	want, err := c.peerID()
	if err != nil {
		return nil, err
	}
	base := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{c.Cert},
		// Requested, not required, so that a peer without a certificate reaches
		// VerifyConnection and is logged with its address and a reason.
		ClientAuth: tls.RequestClientCert,
		NextProtos: []string{"h2", "http/1.1"},
	}
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		conf := base.Clone()
		conf.GetConfigForClient = nil
		peer := "unknown"
		if hello.Conn != nil {
			peer = hello.Conn.RemoteAddr().String()
		}
		conf.VerifyConnection = func(cs tls.ConnectionState) error {
			err := verifyPeer(cs, c.CA, x509.ExtKeyUsageClientAuth, want)
			if err != nil {
				log.Warn("refused connection", "peer", peer, "reason", err.Error())
			}
			return err
		}
		return conf, nil
	}
	return base, nil
}

// clientTLS is the controller's TLS configuration towards agents: its certificate, and
// the agent's checked against the run CA and the agent role. Host names are not
// checked (agents are reached by pod IP, Service name or port-forward alike); the
// SPIFFE id is what identifies them.
func clientTLS(c Credentials) (*tls.Config, error) {
	want, err := c.peerID()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{c.Cert},
		InsecureSkipVerify: true, //nolint:gosec // replaced by VerifyConnection: chain to the run CA and SPIFFE id
		NextProtos:         []string{"h2", "http/1.1"},
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyPeer(cs, c.CA, x509.ExtKeyUsageServerAuth, want)
		},
	}, nil
}

func verifyPeer(cs tls.ConnectionState, roots *x509.CertPool, usage x509.ExtKeyUsage, want string) error {
	raw := make([][]byte, len(cs.PeerCertificates))
	for i, c := range cs.PeerCertificates {
		raw[i] = c.Raw
	}
	return pki.VerifyPeer(raw, roots, usage, want)
}
