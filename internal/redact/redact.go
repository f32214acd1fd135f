package redact

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"
)

const (
	markerPrefix = "redacted-"
	markerDigits = 12
	// minKnown is the shortest registered value that String replaces wherever it appears:
	// a shorter one would match inside ordinary words. Shorter secrets are still replaced
	// where their place says what they are (a header value, a password in a URL).
	minKnown = 6
)

var marker = regexp.MustCompile(`^redacted-[0-9a-f]{12}$`)

// IsMarker reports whether s is a marker that replaced a secret.
func IsMarker(s string) bool { return marker.MatchString(s) }

// Redactor replaces secrets with markers. It is safe for concurrent use. The zero value
// is not usable; call New.
type Redactor struct {
	salt []byte

	mu       sync.RWMutex
	known    map[string]bool
	replacer *strings.Replacer // the known values, longest first; nil when there are none
}

// New returns a Redactor whose markers are keyed with salt. An empty salt is replaced by
// a random one: markers then compare only within this Redactor's lifetime.
func New(salt []byte) *Redactor {
	if len(salt) == 0 {
		salt = make([]byte, 32)
		_, _ = rand.Read(salt) // crypto/rand.Read never fails on supported platforms
	}
	return &Redactor{salt: slices.Clone(salt), known: map[string]bool{}}
}

// Mark returns the marker of secret without registering it: "redacted-" and the first 12
// hex digits of HMAC-SHA256(salt, secret). A marker is returned as it is.
func (r *Redactor) Mark(secret string) string {
	if IsMarker(secret) {
		return secret
	}
	m := hmac.New(sha256.New, r.salt)
	m.Write([]byte(secret))
	return markerPrefix + hex.EncodeToString(m.Sum(nil))[:markerDigits]
}

// Secret registers s (see Add) and returns its marker. The empty string stays empty:
// there is nothing to hide, and an empty header value is worth seeing.
func (r *Redactor) Secret(s string) string {
	if s == "" || IsMarker(s) {
		return s
	}
	r.Add(s)
	return r.Mark(s)
}

// Add registers secrets that String replaces wherever they appear, also in their URL
// encodings. Values shorter than 6 bytes are not registered (they would match inside
// ordinary words).
func (r *Redactor) Add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	added := false
	for _, s := range secrets {
		for _, v := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
			if len(v) >= minKnown && !IsMarker(v) && !r.known[v] {
				r.known[v] = true
				added = true
			}
		}
	}
	if !added {
		return
	}
	vals := make([]string, 0, len(r.known))
	for v := range r.known {
		vals = append(vals, v)
	}
	// strings.Replacer tries its pairs in argument order at each position: longest first,
	// so that a secret containing another is replaced whole.
	slices.SortFunc(vals, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	pairs := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		pairs = append(pairs, v, r.Mark(v))
	}
	r.replacer = strings.NewReplacer(pairs...)
}

// Header returns the value of header name as it may be written: a secret header's value
// replaced by its marker (the scheme of an Authorization value kept: "Bearer
// redacted-…"; the names of cookies kept: "session=redacted-…"), any other value with
// what String finds in it replaced.
func (r *Redactor) Header(name, value string) string {
	switch {
	case strings.EqualFold(name, "Cookie"):
		return r.cookies(value)
	case strings.EqualFold(name, "Set-Cookie"):
		first, attrs, _ := strings.Cut(value, ";")
		out := r.cookies(first)
		if attrs != "" {
			out += ";" + attrs
		}
		return out
	case SecretHeader(name):
		if scheme, cred, ok := authScheme(value); ok {
			return scheme + " " + r.Secret(cred)
		}
		return r.Secret(value)
	}
	return r.String(value)
}

// authScheme splits "Bearer abc" into its scheme and credentials.
func authScheme(v string) (scheme, cred string, ok bool) {
	scheme, cred, ok = strings.Cut(strings.TrimSpace(v), " ")
	if !ok || scheme == "" || strings.TrimSpace(cred) == "" {
		return "", "", false
	}
	for _, c := range scheme {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return "", "", false
		}
	}
	return scheme, strings.TrimSpace(cred), true
}

// cookies replaces the value of each name=value pair of a Cookie header.
func (r *Redactor) cookies(v string) string {
	parts := strings.Split(v, ";")
	for i, p := range parts {
		lead := p[:len(p)-len(strings.TrimLeft(p, " "))]
		name, val, ok := strings.Cut(strings.TrimLeft(p, " "), "=")
		switch {
		case ok:
			parts[i] = lead + name + "=" + r.Secret(val)
		case strings.TrimSpace(p) != "":
			parts[i] = lead + r.Secret(strings.TrimLeft(p, " "))
		}
	}
	return strings.Join(parts, ";")
}

// URL returns raw with its userinfo and the values of secret query and fragment
// parameters replaced by markers; the password is also registered. Anything else about
// the URL is kept as written. Text that does not parse as a URL goes through String.
func (r *Redactor) URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return r.replaceKnown(raw)
	}
	changed := false
	if u.User != nil {
		if p, ok := u.User.Password(); ok {
			r.Add(p)
		}
		if info := u.User.String(); !IsMarker(info) {
			u.User = url.User(r.Secret(info))
			changed = true
		}
	}
	if q, ok := r.params(u.RawQuery); ok {
		u.RawQuery, changed = q, true
	}
	if strings.Contains(u.Fragment, "=") {
		if f, ok := r.params(u.EscapedFragment()); ok {
			if dec, err := url.PathUnescape(f); err == nil {
				u.Fragment, u.RawFragment = dec, f
				changed = true
			}
		}
	}
	if !changed {
		return r.replaceKnown(raw)
	}
	return r.replaceKnown(u.String())
}

// params replaces the values of secret parameters in an encoded query; ok is false when
// nothing changed.
func (r *Redactor) params(raw string) (string, bool) {
	if raw == "" {
		return raw, false
	}
	parts := strings.Split(raw, "&")
	changed := false
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok || v == "" {
			continue
		}
		name, err := url.QueryUnescape(k)
		if err != nil {
			name = k
		}
		if !SecretParam(name) {
			continue
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			val = v
		}
		if m := r.Secret(val); m != v {
			parts[i] = k + "=" + m
			changed = true
		}
	}
	return strings.Join(parts, "&"), changed
}

func (r *Redactor) replaceKnown(s string) string {
	r.mu.RLock()
	rep := r.replacer
	r.mu.RUnlock()
	if rep == nil {
		return s
	}
	return rep.Replace(s)
}

var (
	urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]{0,15}://[^\s"'<>\x60]+`)
	// headerLine finds "Authorization: …" and the like in free text (a header dumped in
	// an error or a log); the value runs to the end of the line or a quote.
	headerLine = regexp.MustCompile(`(?i)\b(proxy-authorization|authorization|set-cookie|cookie|x-api-key|api-key|x-auth-token|x-access-token)(\s*:\s*)([^\r\n"]+)`)
	credential = regexp.MustCompile(`\b(Bearer|bearer|BEARER|Basic|basic|BASIC)(\s+)([A-Za-z0-9._~+/=-]{8,})`)
	jwt        = regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
)

// String returns s with the secrets it holds replaced: registered values, the userinfo
// and secret parameters of URLs, "Authorization: …"-style header lines, Bearer and Basic
// credentials, and JSON Web Tokens.
func (r *Redactor) String(s string) string {
	if s == "" {
		return s
	}
	s = r.replaceKnown(s)
	if strings.Contains(s, "://") {
		s = urlInText.ReplaceAllStringFunc(s, r.URL)
	}
	s = headerLine.ReplaceAllStringFunc(s, func(m string) string {
		g := headerLine.FindStringSubmatch(m)
		return g[1] + g[2] + r.Header(g[1], g[3])
	})
	s = credential.ReplaceAllStringFunc(s, func(m string) string {
		g := credential.FindStringSubmatch(m)
		return g[1] + g[2] + r.Secret(g[3])
	})
	return jwt.ReplaceAllStringFunc(s, r.Secret)
}

// Writer returns a writer that redacts each Write with String before passing it on to
// w. Each Write is redacted on its own: a secret split across two writes is not found,
// which is why the CLI writes whole messages. Unwrap returns w (to tell a terminal).
func (r *Redactor) Writer(w io.Writer) io.Writer {
	return &writer{r: r, w: w}
}

type writer struct {
	r *Redactor
	w io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	s := string(p)
	if red := w.r.String(s); red != s {
		_, err := io.WriteString(w.w, red)
		return len(p), err
	}
	if _, err := w.w.Write(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Unwrap returns the writer redacted output goes to.
func (w *writer) Unwrap() io.Writer { return w.w }

// secretWords are the words of a header or parameter name that make its value a secret.
var secretWords = map[string]bool{
	"auth": true, "authorization": true, "authentication": true, "bearer": true,
	"token": true, "secret": true, "secrets": true, "password": true, "passwd": true, "passphrase": true,
	"pass": true, "pwd": true, "pw": true, "key": true, "apikey": true, "credential": true, "credentials": true,
	"cookie": true, "session": true, "sessionid": true, "sessid": true, "sid": true,
	"signature": true, "sig": true, "jwt": true, "otp": true, "csrf": true, "xsrf": true, "private": true,
}

// secretSuffixes catch names written as one word: accesstoken, clientsecret, xapikey.
var secretSuffixes = []string{"token", "secret", "password", "passwd", "apikey", "sessionid"}

// SecretHeader reports whether the value of the header name is a secret: Authorization,
// Proxy-Authorization, Cookie, Set-Cookie, or a name with a word such as token, key,
// secret, password, auth, session, signature or credential (X-Api-Key, X-Auth-Token,
// Private-Token).
func SecretHeader(name string) bool {
	for _, w := range words(name) {
		if secretWords[w] {
			return true
		}
		for _, s := range secretSuffixes {
			if strings.HasSuffix(w, s) {
				return true
			}
		}
	}
	return false
}

// SecretParam reports whether the value of the URL query parameter name is a secret, by
// the rules of SecretHeader: token, access_token, api_key, key, sig, X-Amz-Signature,
// X-Amz-Credential, password.
func SecretParam(name string) bool { return SecretHeader(name) }

// words splits a name into lower-case words at punctuation and at camelCase boundaries:
// "X-Api-Key" → x api key, "accessToken" → access token, "APIKey" → api key.
func words(name string) []string {
	var out []string
	rs := []rune(name)
	start := -1
	flush := func(end int) {
		if start >= 0 && end > start {
			out = append(out, strings.ToLower(string(rs[start:end])))
		}
		start = -1
	}
	for i, c := range rs {
		if !unicode.IsLetter(c) && !unicode.IsDigit(c) {
			flush(i)
			continue
		}
		if start >= 0 && unicode.IsUpper(c) {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				flush(i)
			}
		}
		if start < 0 {
			start = i
		}
	}
	flush(len(rs))
	return out
}
