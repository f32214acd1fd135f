package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustCA(t *testing.T, runID string) *CA {
	t.Helper()
	ca, err := NewCA(runID)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustIssue(t *testing.T, ca *CA, svc string) *Identity {
	t.Helper()
	id, err := ca.Issue(svc)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestIssueVerifiesAgainstItsCA(t *testing.T) {
	ca := mustCA(t, "r1")
	id := mustIssue(t, ca, "svc-1")
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := id.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("verify for usage %v: %v", usage, err)
		}
	}
	for _, name := range []string{"svc-1", "localhost", "127.0.0.1"} {
		if _, err := id.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: name}); err != nil {
			t.Errorf("verify for host %s: %v", name, err)
		}
	}
	if !id.Cert.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("IP SANs = %v", id.Cert.IPAddresses)
	}
	if got, want := id.Cert.NotAfter.Sub(time.Now()), Validity; got > want || got < want-time.Minute {
		t.Errorf("leaf valid for %v more, want about %v", got, want)
	}
}

func TestAnotherCAIsRejected(t *testing.T) {
	ca, other := mustCA(t, "r1"), mustCA(t, "r1")
	id := mustIssue(t, other, "svc-1")
	if _, err := id.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool()}); err == nil {
		t.Fatal("a certificate from another CA (same run id) verified")
	}
	if err := VerifyPeer([][]byte{id.Cert.Raw}, ca.Pool(), x509.ExtKeyUsageClientAuth, ""); err == nil {
		t.Fatal("VerifyPeer accepted a certificate from another CA")
	}
}

func TestSPIFFEID(t *testing.T) {
	ca := mustCA(t, "run-42")
	id := mustIssue(t, ca, "reviews")
	want := "spiffe://smp.local/run/run-42/sa/reviews"
	if id.ID != want || ID("run-42", "reviews") != want {
		t.Errorf("ID = %q, want %q", id.ID, want)
	}
	got, err := SPIFFEID(id.Cert)
	if err != nil || got != want {
		t.Errorf("SPIFFEID = %q, %v; want %q", got, err, want)
	}
	if ServiceOf(got) != "reviews" {
		t.Errorf("ServiceOf(%q) = %q", got, ServiceOf(got))
	}
	if _, err := SPIFFEID(&x509.Certificate{}); err == nil {
		t.Error("SPIFFEID of a certificate without URI SAN: no error")
	}
}

func TestVerifyPeerChecksTheID(t *testing.T) {
	ca := mustCA(t, "r1")
	id := mustIssue(t, ca, "svc-2")
	raw := [][]byte{id.Cert.Raw}
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{"any id from the CA", "", true},
		{"the right id", ID("r1", "svc-2"), true},
		{"another service", ID("r1", "svc-3"), false},
		{"another run", ID("r2", "svc-2"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyPeer(raw, ca.Pool(), x509.ExtKeyUsageServerAuth, tc.want)
			if (err == nil) != tc.ok {
				t.Errorf("VerifyPeer(want %q) = %v, want ok=%v", tc.want, err, tc.ok)
			}
		})
	}
}

func TestBadNames(t *testing.T) {
	if _, err := NewCA("a/b"); err == nil {
		t.Error("NewCA accepted a run id with '/'")
	}
	if _, err := NewCA(""); err == nil {
		t.Error("NewCA accepted an empty run id")
	}
	ca := mustCA(t, "r")
	if _, err := ca.Issue("svc 1"); err == nil {
		t.Error("Issue accepted a service name with a space")
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	ca := mustCA(t, "r1")
	id := mustIssue(t, ca, "svc-1")
	caPath, err := ca.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := id.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if caPath != filepath.Join(dir, "ca.pem") || f.Cert != filepath.Join(dir, "svc-1.pem") || f.Key != filepath.Join(dir, "svc-1-key.pem") {
		t.Errorf("paths = %s, %+v", caPath, f)
	}
	st, err := os.Stat(f.Key)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode = %v, want 0600", st.Mode().Perm())
	}
	// The files load the way a proxy loads them.
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		t.Fatal(err)
	}
	if pair.Leaf == nil || pair.Leaf.Subject.CommonName != "svc-1" {
		t.Errorf("loaded leaf = %+v", pair.Leaf)
	}
	b, err := os.ReadFile(caPath)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("ca.pem is not a PEM certificate: %q", b)
	}
	key, _ := os.ReadFile(f.Key)
	if !strings.Contains(string(key), "PRIVATE KEY") {
		t.Errorf("key file: %q", key)
	}
}

// TestMutualTLSHandshake proves the identities work for what they are for: a TLS
// server requiring client certificates from the CA accepts an identity from it and
// refuses one from another CA.
func TestMutualTLSHandshake(t *testing.T) {
	ca, other := mustCA(t, "r1"), mustCA(t, "r1")
	server := mustIssue(t, ca, "svc-2")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{server.TLS},
		ClientCAs:    ca.Pool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_, _ = c.Write([]byte("ok"))
			c.Close()
		}
	}()
	dial := func(id *Identity) error {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
			Certificates: []tls.Certificate{id.TLS},
			RootCAs:      ca.Pool(),
			ServerName:   "svc-2",
		})
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 2)
		_, err = c.Read(buf) // TLS 1.3: the server's verdict on our certificate arrives here
		return err
	}
	if err := dial(mustIssue(t, ca, "svc-1")); err != nil {
		t.Errorf("client from the run CA refused: %v", err)
	}
	if err := dial(mustIssue(t, other, "svc-1")); err == nil {
		t.Error("client from another CA accepted")
	}
}
