package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TrustDomain is the SPIFFE trust domain of every identity smp issues.
const TrustDomain = "smp.local"

// Validity is how long the CA and its certificates are valid. A run lasts minutes to
// hours; a day is enough and keeps a leaked key from mattering. Certificates start
// clockSkew in the past so that a peer whose clock is slightly behind accepts them.
const (
	Validity  = 24 * time.Hour
	clockSkew = 5 * time.Minute
)

// File names written by WriteFiles.
const CAFile = "ca.pem"

// CA is one run's certificate authority.
type CA struct {
	// RunID is the run the CA belongs to; it is part of every identity it issues.
	RunID string
	// Cert is the self-signed CA certificate; CertPEM is its PEM encoding.
	Cert    *x509.Certificate
	CertPEM []byte
	key     *ecdsa.PrivateKey
}

// Identity is one service's certificate and key.
type Identity struct {
	// Service is the name the identity was issued for.
	Service string
	// ID is its SPIFFE id (the URI SAN).
	ID string
	// Cert is the leaf certificate; CertPEM and KeyPEM are the PEM files' contents.
	Cert    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte
	// TLS is the certificate ready for a tls.Config.
	TLS tls.Certificate
}

// NewCA creates a CA for runID. runID must be a valid path segment: letters, digits,
// '.', '-' and '_' only, as it appears in every SPIFFE id.
func NewCA(runID string) (*CA, error) {
	if err := checkSegment("run id", runID); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create CA for run %s: %w", runID, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"smp"}, CommonName: "smp run " + runID + " CA"},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		URIs:                  []*url.URL{{Scheme: "spiffe", Host: TrustDomain}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA for run %s: %w", runID, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("create CA for run %s: %w", runID, err)
	}
	return &CA{RunID: runID, Cert: cert, CertPEM: encodePEM("CERTIFICATE", der), key: key}, nil
}

// ID returns the SPIFFE id smp gives service in run runID.
func ID(runID, service string) string {
	return "spiffe://" + TrustDomain + "/run/" + runID + "/sa/" + service
}

// Pool returns a pool holding only the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue creates the identity of service: a P-256 key and a certificate for both
// server and client authentication, with the SANs described in the package comment.
// service must be a valid path segment and DNS label-ish name (letters, digits, '.',
// '-', '_').
func (ca *CA) Issue(service string) (*Identity, error) {
	if err := checkSegment("service name", service); err != nil {
		return nil, err
	}
	id := ID(ca.RunID, service)
	uri, err := url.Parse(id)
	if err != nil {
		return nil, fmt.Errorf("issue identity for %s: %w", service, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("issue identity for %s: %w", service, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	notAfter := now.Add(Validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"smp"}, CommonName: service},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{uri},
		DNSNames:     []string{service, "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("issue identity for %s: %w", service, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("issue identity for %s: %w", service, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("issue identity for %s: %w", service, err)
	}
	return &Identity{
		Service: service,
		ID:      id,
		Cert:    cert,
		CertPEM: encodePEM("CERTIFICATE", der),
		KeyPEM:  encodePEM("PRIVATE KEY", keyDER),
		TLS:     tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert},
	}, nil
}

// WriteFiles writes the CA certificate to dir/ca.pem and returns its path. dir must
// exist.
func (ca *CA) WriteFiles(dir string) (string, error) {
	path := filepath.Join(dir, CAFile)
	if err := os.WriteFile(path, ca.CertPEM, 0o644); err != nil {
		return "", fmt.Errorf("write CA certificate: %w", err)
	}
	return path, nil
}

// Files are where an identity was written.
type Files struct {
	Cert, Key string
}

// WriteFiles writes dir/<service>.pem (certificate) and dir/<service>-key.pem (key,
// mode 0600). dir must exist.
func (id *Identity) WriteFiles(dir string) (Files, error) {
	f := Files{
		Cert: filepath.Join(dir, id.Service+".pem"),
		Key:  filepath.Join(dir, id.Service+"-key.pem"),
	}
	if err := os.WriteFile(f.Cert, id.CertPEM, 0o644); err != nil {
		return Files{}, fmt.Errorf("write certificate of %s: %w", id.Service, err)
	}
	if err := os.WriteFile(f.Key, id.KeyPEM, 0o600); err != nil {
		return Files{}, fmt.Errorf("write key of %s: %w", id.Service, err)
	}
	return f, nil
}

// SPIFFEID returns the spiffe:// URI SAN of cert. A certificate with none, or with more
// than one (which SPIFFE forbids), is an error.
func SPIFFEID(cert *x509.Certificate) (string, error) {
	var found []string
	for _, u := range cert.URIs {
		if u.Scheme == "spiffe" {
			found = append(found, u.String())
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", errors.New("certificate has no spiffe:// URI SAN")
	default:
		return "", fmt.Errorf("certificate has %d spiffe:// URI SANs, want one", len(found))
	}
}

// VerifyPeer checks a peer's certificate chain against roots for the given usage and,
// when wantID is not empty, that its SPIFFE id is wantID. It is what a TLS client or
// server that authenticates by SPIFFE id (not host name) runs in VerifyPeerCertificate.
func VerifyPeer(rawCerts [][]byte, roots *x509.CertPool, usage x509.ExtKeyUsage, wantID string) error {
	if len(rawCerts) == 0 {
		return errors.New("peer sent no certificate")
	}
	certs := make([]*x509.Certificate, len(rawCerts))
	for i, raw := range rawCerts {
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return fmt.Errorf("peer certificate: %w", err)
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return fmt.Errorf("peer certificate: %w", err)
	}
	if wantID == "" {
		return nil
	}
	got, err := SPIFFEID(certs[0])
	if err != nil {
		return fmt.Errorf("peer certificate: %w", err)
	}
	if got != wantID {
		return fmt.Errorf("peer identity is %s, want %s", got, wantID)
	}
	return nil
}

// ServiceOf returns the service name at the end of a SPIFFE id issued by smp
// (".../sa/<service>"), or "" if id has no such suffix.
func ServiceOf(id string) string {
	i := strings.LastIndex(id, "/sa/")
	if i < 0 {
		return ""
	}
	return id[i+len("/sa/"):]
}

func checkSegment(what, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty", what)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return fmt.Errorf("%s %q: only letters, digits, '.', '-' and '_' are allowed", what, s)
		}
	}
	return nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	return serial, nil
}

func encodePEM(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
