package agent

import (
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/service-mesh-performance/smp/internal/pki"
)

// The two roles of the protocol. They are the service names of the SPIFFE ids the run
// CA issues (spiffe://smp.local/run/<run>/sa/<role>), and so the base names of the
// credential files.
const (
	RoleAgent      = "smp-agent"
	RoleController = "smp-controller"
)

// File names in a credentials folder (what `smp agent certs` writes and what a
// Kubernetes Secret for agents holds).
const (
	CAFile    = pki.CAFile // ca.pem: the run CA's certificate, trusted by both sides
	TokenFile = "token"    // optional shared token, one line
)

// CertFile and KeyFile are the file names of a role's certificate and key.
func CertFile(role string) string { return role + ".pem" }

// KeyFile is the file name of a role's private key.
func KeyFile(role string) string { return role + "-key.pem" }

// Credentials are one side's identity: its certificate and key, the CA that issued both
// sides' certificates, and the optional shared token.
type Credentials struct {
	// Role is RoleAgent or RoleController: what the certificate says this side is.
	Role string
	// ID is the SPIFFE id of the certificate.
	ID   string
	Cert tls.Certificate
	CA   *x509.CertPool
	// Token, when not empty, is sent by a controller and required by an agent
	// (Authorization: Bearer), on top of mutual TLS.
	Token string
}

// peerID is the SPIFFE id the other side must present: the same run, the other role.
func (c Credentials) peerID() (string, error) {
	i := strings.LastIndex(c.ID, "/sa/")
	if i < 0 {
		return "", fmt.Errorf("identity %q is not one smp issued", c.ID)
	}
	peer := RoleController
	if c.Role == RoleController {
		peer = RoleAgent
	}
	return c.ID[:i] + "/sa/" + peer, nil
}

// tokenOK compares a presented token with c's in constant time.
func (c Credentials) tokenOK(got string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(c.Token)) == 1
}

// ParseCredentials builds credentials from PEM contents (as read from files or from a
// Kubernetes Secret's data). The certificate's SPIFFE id must name role.
func ParseCredentials(role string, caPEM, certPEM, keyPEM []byte, token string) (Credentials, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return Credentials{}, errors.New("CA certificate: no PEM certificate found")
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return Credentials{}, fmt.Errorf("%s certificate and key: %w", role, err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return Credentials{}, fmt.Errorf("%s certificate: %w", role, err)
	}
	cert.Leaf = leaf
	id, err := pki.SPIFFEID(leaf)
	if err != nil {
		return Credentials{}, fmt.Errorf("%s certificate: %w", role, err)
	}
	if got := pki.ServiceOf(id); got != role {
		return Credentials{}, fmt.Errorf("certificate is for %q (%s), not %s", got, id, role)
	}
	// The certificate must chain to the CA it will be checked against: a mismatch here
	// would otherwise surface as a handshake failure on the other machine.
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return Credentials{}, fmt.Errorf("%s certificate was not issued by the CA in %s: %w", role, CAFile, err)
	}
	return Credentials{Role: role, ID: id, Cert: cert, CA: pool, Token: strings.TrimSpace(token)}, nil
}

// LoadCredentials reads role's credentials from dir: ca.pem, <role>.pem,
// <role>-key.pem and, if present, token.
func LoadCredentials(dir, role string) (Credentials, error) {
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read %s credentials: %w", role, err)
		}
		return b, nil
	}
	ca, err := read(CAFile)
	if err != nil {
		return Credentials{}, err
	}
	cert, err := read(CertFile(role))
	if err != nil {
		return Credentials{}, err
	}
	key, err := read(KeyFile(role))
	if err != nil {
		return Credentials{}, err
	}
	token, err := os.ReadFile(filepath.Join(dir, TokenFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Credentials{}, fmt.Errorf("read %s credentials: %w", role, err)
	}
	return ParseCredentials(role, ca, cert, key, string(token))
}

// LoadFiles reads credentials from explicit files; tokenFile may be empty.
func LoadFiles(role, caFile, certFile, keyFile, tokenFile string) (Credentials, error) {
	var b [3][]byte
	for i, f := range []string{caFile, certFile, keyFile} {
		var err error
		if b[i], err = os.ReadFile(f); err != nil {
			return Credentials{}, fmt.Errorf("read %s credentials: %w", role, err)
		}
	}
	var token []byte
	if tokenFile != "" {
		var err error
		if token, err = os.ReadFile(tokenFile); err != nil {
			return Credentials{}, fmt.Errorf("read token: %w", err)
		}
		if len(strings.TrimSpace(string(token))) == 0 {
			return Credentials{}, fmt.Errorf("token file %s is empty", tokenFile)
		}
	}
	return ParseCredentials(role, b[0], b[1], b[2], string(token))
}

// Validity is how long the certificates of a Bundle are valid: those of the run CA that
// issues them (pki.Validity).
const Validity = pki.Validity

// Bundle is everything one set of agents and their controller need: a fresh CA and
// one identity per role. The CA's key is never written anywhere: to add agents, make a
// new bundle. Certificates expire after pki.Validity (a day).
type Bundle struct {
	RunID      string
	CA         *pki.CA
	Agent      *pki.Identity
	Controller *pki.Identity
	// Token is empty unless NewBundle was asked for one.
	Token string
}

// NewBundle creates a CA for runID (letters, digits, '.', '-', '_'; "" picks a random
// one) and issues the agent and controller identities. withToken adds a random token.
func NewBundle(runID string, withToken bool) (*Bundle, error) {
	if runID == "" {
		runID = "agents-" + randomHex(6)
	}
	ca, err := pki.NewCA(runID)
	if err != nil {
		return nil, fmt.Errorf("agent credentials: %w", err)
	}
	b := &Bundle{RunID: runID, CA: ca}
	if b.Agent, err = ca.Issue(RoleAgent); err != nil {
		return nil, fmt.Errorf("agent credentials: %w", err)
	}
	if b.Controller, err = ca.Issue(RoleController); err != nil {
		return nil, fmt.Errorf("agent credentials: %w", err)
	}
	if withToken {
		b.Token = randomHex(32)
	}
	return b, nil
}

func randomHex(n int) string {
	buf := make([]byte, n)
	_, _ = rand.Read(buf) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(buf)
}

// AgentFiles are the files an agent needs, by name: what a Kubernetes Secret for the
// agents holds (mount it and pass --certs with the mount folder; see AgentArgs). The
// controller's key is not among them.
func (b *Bundle) AgentFiles() map[string][]byte {
	m := map[string][]byte{
		CAFile:              b.CA.CertPEM,
		CertFile(RoleAgent): b.Agent.CertPEM,
		KeyFile(RoleAgent):  b.Agent.KeyPEM,
	}
	if b.Token != "" {
		m[TokenFile] = []byte(b.Token + "\n")
	}
	return m
}

// ControllerFiles are the files the controller needs, by name.
func (b *Bundle) ControllerFiles() map[string][]byte {
	m := map[string][]byte{
		CAFile:                   b.CA.CertPEM,
		CertFile(RoleController): b.Controller.CertPEM,
		KeyFile(RoleController):  b.Controller.KeyPEM,
	}
	if b.Token != "" {
		m[TokenFile] = []byte(b.Token + "\n")
	}
	return m
}

// WriteFiles writes both roles' files into dir (created if missing, mode 0700); keys
// and the token are mode 0600.
func (b *Bundle) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write agent credentials: %w", err)
	}
	all := b.AgentFiles()
	for k, v := range b.ControllerFiles() {
		all[k] = v
	}
	for name, data := range all {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, "-key.pem") || name == TokenFile {
			mode = 0o600
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, mode); err != nil {
			return fmt.Errorf("write agent credentials: %w", err)
		}
	}
	return nil
}

// AgentCredentials are the agent side of the bundle.
func (b *Bundle) AgentCredentials() (Credentials, error) {
	return ParseCredentials(RoleAgent, b.CA.CertPEM, b.Agent.CertPEM, b.Agent.KeyPEM, b.Token)
}

// ControllerCredentials are the controller side of the bundle.
func (b *Bundle) ControllerCredentials() (Credentials, error) {
	return ParseCredentials(RoleController, b.CA.CertPEM, b.Controller.CertPEM, b.Controller.KeyPEM, b.Token)
}

// DefaultPort is the port agents listen on unless told otherwise.
const DefaultPort = 7070

// AgentArgs is the command line (after the smp binary) of an agent listening on port
// whose credentials are mounted at dir: what a platform puts in a container's args.
func AgentArgs(port int, dir string) []string {
	return []string{"agent", "--listen", fmt.Sprintf(":%d", port), "--certs", dir}
}

// URL is how a controller addresses an agent: host:port or a full https:// URL are
// accepted and returned as https://host:port. Agents are verified by their SPIFFE id,
// not their host name, so a pod IP, a Service name or a port-forward on localhost all
// work.
func URL(addr string) string {
	addr = strings.TrimSuffix(addr, "/")
	if strings.HasPrefix(addr, "https://") {
		return addr
	}
	return "https://" + addr
}
