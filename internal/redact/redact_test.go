package redact

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var anyMarker = regexp.MustCompile(`redacted-[0-9a-f]{12}`)

// hide replaces every marker with "M" so that expectations do not depend on the salt.
func hide(s string) string { return anyMarker.ReplaceAllString(s, "M") }

func TestHeader(t *testing.T) {
	r := New([]byte("test salt"))
	for _, c := range []struct{ name, value, want string }{
		{"Authorization", "Bearer abc.def-ghi", "Bearer M"},
		{"authorization", "Basic dXNlcjpwYXNz", "Basic M"},
		{"Authorization", "opaque", "M"},
		{"Proxy-Authorization", "Basic Zm9vOmJhcg==", "Basic M"},
		{"Cookie", "theme=dark; session=s3cr3t-cookie", "theme=M; session=M"},
		{"Set-Cookie", "sid=abc123; Path=/; HttpOnly", "sid=M; Path=/; HttpOnly"},
		{"X-Api-Key", "k-123456", "M"},
		{"X-Auth-Token", "t", "M"},
		{"Private-Token", "glpat-xyz", "M"},
		{"x-amz-security-token", "IQoJb3JpZ2lu", "M"},
		{"apiKey", "v", "M"},
		{"X-Request-Id", "42", "42"},
		{"Content-Type", "application/json", "application/json"},
		{"Accept", "*/*", "*/*"},
		{"X-Forwarded-For", "http://u:pw@host/", "http://M@host/"},
		{"X-Debug", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig-nature", "M"},
		{"Authorization", "", ""},
	} {
		if got := hide(r.Header(c.name, c.value)); got != c.want {
			t.Errorf("Header(%q, %q) = %q, want %q", c.name, c.value, got, c.want)
		}
	}
}

func TestURL(t *testing.T) {
	r := New([]byte("test salt"))
	for _, c := range []struct{ in, want string }{
		{"http://alice:hunter2pw@127.0.0.1:8080/x?token=tok123&x=1", "http://M@127.0.0.1:8080/x?token=M&x=1"},
		{"https://TOKEN1234@github.com/org/repo", "https://M@github.com/org/repo"},
		{"http://h/?access_token=a&api_key=b&key=c&sig=d&X-Amz-Signature=e&page=2", "http://h/?access_token=M&api_key=M&key=M&sig=M&X-Amz-Signature=M&page=2"},
		{"http://h/cb#access_token=abc&state=1", "http://h/cb#access_token=M&state=1"},
		{"http://h:80/p?q=1", "http://h:80/p?q=1"},
		{"http://h/?token=", "http://h/?token="},
		{"grpc://h:9090", "grpc://h:9090"},
		{"not a url", "not a url"},
	} {
		if got := hide(r.URL(c.in)); got != c.want {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestString(t *testing.T) {
	r := New([]byte("test salt"))
	r.Add("from-the-environment", "short") // too short to register
	for _, c := range []struct{ in, want string }{
		{`Get "http://u:p4ssw0rd@h/?token=abc": dial tcp: refused`, `Get "http://M@h/?token=M": dial tcp: refused`},
		{"header Authorization: Bearer abcdefgh12345", "header Authorization: Bearer M"},
		{"cookie: a=b; c=d\nnext line", "cookie: a=M; c=M\nnext line"},
		{"sent with bearer 0123456789abcdef", "sent with bearer M"},
		{"the value from-the-environment leaked", "the value M leaked"},
		{"url-encoded from-the-environment%21", "url-encoded M%21"},
		{"short stays short", "short stays short"},
		{"Basic auth is off", "Basic auth is off"},
		{"token file /run/token: no such file", "token file /run/token: no such file"},
		{"jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2ln here", "jwt M here"},
		{"smp: trial 1/2: baseline (repetition 1 of 1)", "smp: trial 1/2: baseline (repetition 1 of 1)"},
	} {
		if got := hide(r.String(c.in)); got != c.want {
			t.Errorf("String(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// The password of a URL seen once is known afterwards, on its own.
	r.URL("http://bob:correct-horse@h/")
	if got := hide(r.String("login with correct-horse failed")); got != "login with M failed" {
		t.Errorf("a URL's password is not registered: %q", got)
	}
}

func TestMarkersAreStableAndIdempotent(t *testing.T) {
	a, b, other := New([]byte("salt one")), New([]byte("salt one")), New([]byte("salt two"))
	secret := "Bearer abcdefgh12345"
	ma, mb, mo := a.Header("Authorization", secret), b.Header("Authorization", secret), other.Header("Authorization", secret)
	if ma != mb {
		t.Errorf("same salt, same secret, different markers: %q, %q", ma, mb)
	}
	if ma == mo {
		t.Errorf("different salts give the same marker %q", ma)
	}
	if a.Header("Authorization", "Bearer another-token") == ma {
		t.Error("different secrets give the same marker")
	}
	for _, s := range []string{ma, a.URL("http://u:pw@h/?token=abc"), a.String("Cookie: a=b")} {
		if again := a.String(s); again != s {
			t.Errorf("redacting %q again gave %q", s, again)
		}
		if again := a.URL(s); again != s {
			t.Errorf("URL(%q) again gave %q", s, again)
		}
	}
	if got := a.Header("Cookie", a.Header("Cookie", "a=b")); got != a.Header("Cookie", "a=b") {
		t.Errorf("Header is not idempotent: %q", got)
	}
}

func TestWriter(t *testing.T) {
	r := New(nil)
	r.Add("planted-secret-value")
	var buf bytes.Buffer
	w := r.Writer(&buf)
	msg := "smp: trial failed: Get \"http://u:pw@h/\" with planted-secret-value\n"
	n, err := w.Write([]byte(msg))
	if err != nil || n != len(msg) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(msg))
	}
	if strings.Contains(buf.String(), "planted-secret-value") || strings.Contains(buf.String(), "u:pw") {
		t.Errorf("secret written: %q", buf.String())
	}
	if u, ok := w.(interface{ Unwrap() io.Writer }); !ok || u.Unwrap() != &buf {
		t.Error("Unwrap does not return the underlying writer")
	}
}

func TestWords(t *testing.T) {
	for in, want := range map[string]string{
		"X-Api-Key": "x api key", "accessToken": "access token", "APIKey": "api key",
		"X-Amz-Signature": "x amz signature", "client_secret": "client secret", "Keep-Alive": "keep alive",
	} {
		if got := strings.Join(words(in), " "); got != want {
			t.Errorf("words(%q) = %q, want %q", in, got, want)
		}
	}
	for _, name := range []string{"Keep-Alive", "Author", "Content-Length", "X-Request-Id", "page", "monkey"} {
		if SecretHeader(name) {
			t.Errorf("SecretHeader(%q) = true", name)
		}
	}
}

func TestSalt(t *testing.T) {
	t.Setenv(SaltEnv, "")
	dir := t.TempDir()
	var wg sync.WaitGroup
	salts := make([][]byte, 8)
	for i := range salts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Salt(dir)
			if err != nil {
				t.Error(err)
			}
			salts[i] = s
		}()
	}
	wg.Wait()
	for _, s := range salts[1:] {
		if !bytes.Equal(s, salts[0]) || len(s) < 32 {
			t.Fatalf("concurrent first calls disagree: %q vs %q", s, salts[0])
		}
	}
	path := filepath.Join(dir, filepath.FromSlash(SaltFile))
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", p, st.Mode().Perm(), err, want)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".redact-salt-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	t.Setenv(SaltEnv, "from the environment")
	if s, err := Salt(dir); err != nil || string(s) != "from the environment" {
		t.Errorf("Salt with %s set = %q, %v", SaltEnv, s, err)
	}
}
