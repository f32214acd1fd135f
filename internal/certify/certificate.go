package certify

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/service-mesh-performance/smp/internal/sysinfo"
	"github.com/service-mesh-performance/smp/result"
)

// MaxAge is how long a certificate stays current. Tuning (governor, limits) lasts until
// someone changes it, but load from other tenants, steal and free memory change by the
// hour: a day-old certificate says little about the machine now.
const MaxAge = 24 * time.Hour

// FilePrefix starts the names of certificate files, so that Find can tell them from
// results in the same folder.
const FilePrefix = "certificate-"

// HostOf describes this machine for a certificate.
func HostOf(h sysinfo.Host) result.CertificateHost {
	return result.CertificateHost{Hostname: h.Hostname, OS: h.OS, Arch: h.Arch, Kernel: h.Kernel,
		CPUModel: h.CPUModel, Cores: h.Cores, MemoryBytes: h.MemoryBytes}
}

// New assembles a certificate: its verdict is the worst of the checks and the
// calibration's checks (skip counts as pass), and its hash covers the host and the
// stable checks.
func New(platform string, host result.CertificateHost, checks []result.Check, cal *result.Calibration, smpVersion string, now time.Time) *result.Certificate {
	c := &result.Certificate{APIVersion: result.APIVersion, Kind: result.CertificateKind, CreatedAt: now.UTC().Round(time.Second),
		SMPVersion: smpVersion, Platform: platform, Host: host, Checks: checks, Calibration: cal}
	c.ID = FilePrefix + c.CreatedAt.Format("20060102T150405Z")
	c.Verdict = result.VerdictPass
	all := append([]result.Check(nil), checks...)
	if cal != nil {
		all = append(all, cal.Checks...)
	}
	for _, ch := range all {
		if ch.Verdict.Rank() > c.Verdict.Rank() && ch.Verdict != result.VerdictSkip {
			c.Verdict = ch.Verdict
		}
	}
	c.EnvironmentHash = Hash(c)
	return c
}

// Hash is the environment hash of a certificate (see result.Certificate.EnvironmentHash):
// platform, host shape (not its name) and the values of the stable checks, in name order.
func Hash(c *result.Certificate) string {
	h := sha256.New()
	for _, s := range fingerprint(c) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:32]
}

// fingerprint lists "key=value" lines of what the hash covers.
func fingerprint(c *result.Certificate) []string {
	h := c.Host
	out := []string{"platform=" + c.Platform, "os=" + h.OS, "arch=" + h.Arch, "kernel=" + h.Kernel, "cpu_model=" + h.CPUModel,
		"cores=" + strconv.Itoa(h.Cores), "memory_mib=" + strconv.FormatInt(h.MemoryBytes>>20, 10)}
	for _, n := range h.Nodes {
		out = append(out, fmt.Sprintf("node=%s/%d/%d/%s", n.InstanceType, n.Cores, n.MemoryBytes>>20, n.KernelVersion))
	}
	var st []string
	for _, ch := range c.Checks {
		if ch.Stable {
			st = append(st, ch.Name+"="+ch.Value)
		}
	}
	sort.Strings(st)
	return append(out, st...)
}

// Applies says why cert may not describe a run made in env at time at: another machine,
// a stale certificate, or a verdict short of pass. Nothing means it applies cleanly.
func Applies(cert *result.Certificate, env result.Environment, at time.Time) []string {
	if cert == nil {
		return nil
	}
	var out []string
	h := cert.Host
	var diff []string
	for _, d := range []struct{ what, cert, run string }{
		{"platform", cert.Platform, env.Platform}, {"CPU", h.CPUModel, env.CPUModel},
		{"cores", strconv.Itoa(h.Cores), strconv.Itoa(env.Cores)}, {"kernel", h.Kernel, env.Kernel},
		{"memory", strconv.FormatInt(h.MemoryBytes>>20, 10) + "MiB", strconv.FormatInt(env.MemoryBytes>>20, 10) + "MiB"},
	} {
		if d.cert != d.run && !(d.what == "platform" && env.Platform == "external" && d.cert == "local") {
			diff = append(diff, fmt.Sprintf("%s %s vs %s", d.what, d.cert, d.run))
		}
	}
	if len(diff) > 0 {
		out = append(out, fmt.Sprintf("certificate %s was issued for another environment (%s): run smp certify here", cert.ID, strings.Join(diff, "; ")))
	}
	if age := at.Sub(cert.CreatedAt); age > MaxAge {
		out = append(out, fmt.Sprintf("certificate %s is %s old (current for %s): run smp certify again", cert.ID, age.Round(time.Hour), MaxAge))
	}
	if cert.Verdict == result.VerdictFail || cert.Verdict == result.VerdictWarn {
		out = append(out, fmt.Sprintf("the environment was certified %q: %s", cert.Verdict, strings.Join(problems(cert), "; ")))
	}
	return out
}

// problems lists the checks that did not pass, as "name value (verdict)".
func problems(c *result.Certificate) []string {
	var out []string
	all := append([]result.Check(nil), c.Checks...)
	if c.Calibration != nil {
		all = append(all, c.Calibration.Checks...)
	}
	for _, ch := range all {
		if ch.Verdict == result.VerdictWarn || ch.Verdict == result.VerdictFail {
			out = append(out, fmt.Sprintf("%s %s (%s)", ch.Name, ch.Value, ch.Verdict))
		}
	}
	return out
}

// Compatible lists reasons to doubt a comparison of a and b (e.g. by smp compare): a run
// without a certificate, a certificate that failed, two certificates of different
// environments (with what differs), and calibrations noisy enough to hide differences.
// nil means both runs come from the same certified environment.
func Compatible(a, b *result.Document) []string {
	var out []string
	name := func(d *result.Document) string {
		if d.ID != "" {
			return d.ID
		}
		return d.Name
	}
	for _, d := range []*result.Document{a, b} {
		switch c := d.Certificate; {
		case d.Imported != nil:
			// Another tool's result: its environment is unknown, which the import says.
		case c == nil:
			out = append(out, fmt.Sprintf("%s comes from an uncertified environment (run smp certify before smp run)", name(d)))
		case c.Verdict == result.VerdictFail:
			out = append(out, fmt.Sprintf("%s comes from an environment that failed certification: %s", name(d), strings.Join(problems(c), "; ")))
		}
	}
	ca, cb := a.Certificate, b.Certificate
	if ca == nil || cb == nil {
		return out
	}
	if ca.EnvironmentHash != cb.EnvironmentHash {
		fa, fb := fingerprint(ca), fingerprint(cb)
		out = append(out, fmt.Sprintf("%s and %s come from different environments: %s", name(a), name(b), strings.Join(differences(fa, fb), "; ")))
	}
	for _, pair := range []struct {
		d *result.Document
		c *result.Certificate
	}{{a, ca}, {b, cb}} {
		if cal := pair.c.Calibration; cal != nil && cal.Error == "" {
			for _, ch := range cal.Checks {
				if ch.Verdict == result.VerdictWarn || ch.Verdict == result.VerdictFail {
					out = append(out, fmt.Sprintf("%s: identical runs varied by %s (%s): differences below ~2× that are noise", name(pair.d), ch.Value, ch.Name))
				}
			}
		}
	}
	return out
}

// differences compares two fingerprints key by key.
func differences(a, b []string) []string {
	split := func(lines []string) map[string]string {
		m := map[string]string{}
		for _, l := range lines {
			k, v, _ := strings.Cut(l, "=")
			if prev, ok := m[k]; ok {
				v = prev + "," + v
			}
			m[k] = v
		}
		return m
	}
	ma, mb := split(a), split(b)
	keys := map[string]bool{}
	for k := range ma {
		keys[k] = true
	}
	for k := range mb {
		keys[k] = true
	}
	var names []string
	for k := range keys {
		if ma[k] != mb[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var out []string
	for _, k := range names {
		out = append(out, fmt.Sprintf("%s %q vs %q", k, ma[k], mb[k]))
	}
	return out
}

// Find returns the newest certificate (by created_at) among dir's certificate-*.json
// files, with its path. No folder or no certificate is not an error: nil, "". A file
// that does not read as a certificate is an error, since the user would expect it used.
func Find(dir string) (*result.Certificate, string, error) {
	files, err := filepath.Glob(filepath.Join(dir, FilePrefix+"*.json"))
	if err != nil {
		return nil, "", fmt.Errorf("find certificates in %s: %w", dir, err)
	}
	var best *result.Certificate
	path := ""
	for _, f := range files {
		c, err := result.LoadCertificate(f)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, "", err
		}
		if best == nil || c.CreatedAt.After(best.CreatedAt) {
			best, path = c, f
		}
	}
	return best, path, nil
}

// DefaultPath is where smp certify writes a certificate without -o.
func DefaultPath(dir string, c *result.Certificate) string {
	return filepath.Join(dir, c.ID+".json")
}

// WriteText prints a certificate as a table: one line per check with its verdict, value
// and reason, the calibration, and the overall verdict.
func WriteText(w io.Writer, c *result.Certificate) error {
	var b strings.Builder
	fmt.Fprintf(&b, "smp certify: %s platform, %s (%s, %d CPUs, %s, kernel %s)\n", c.Platform, orDash(c.Host.Hostname),
		orDash(c.Host.CPUModel), c.Host.Cores, bytesText(c.Host.MemoryBytes), orDash(c.Host.Kernel))
	rows := append([]result.Check(nil), c.Checks...)
	if c.Calibration != nil {
		rows = append(rows, c.Calibration.Checks...)
	}
	width := 0
	for _, r := range rows {
		width = max(width, len(r.Name))
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-4s  %-*s  %-28s %s\n", r.Verdict, width, r.Name, clip(r.Value, 28), r.Reason)
	}
	if cal := c.Calibration; cal != nil && cal.Error == "" {
		fmt.Fprintf(&b, "calibration: %d × %s, %s\n", cal.Repetitions, time.Duration(cal.DurationMS*float64(time.Millisecond)), cal.Description)
		for i, s := range cal.Samples {
			fmt.Fprintf(&b, "  run %d: p50 %.3fms  p99 %.3fms  %.0f req/s\n", i+1, s.P50MS, s.P99MS, s.ThroughputRPS)
		}
		fmt.Fprintf(&b, "  CV: p50 %s  p99 %s  throughput %s\n", pct(cal.CV.P50), pct(cal.CV.P99), pct(cal.CV.Throughput))
	}
	fmt.Fprintf(&b, "verdict: %s  (environment %s)\n", strings.ToUpper(string(c.Verdict)), c.EnvironmentHash)
	_, err := io.WriteString(w, b.String())
	return err
}

func clip(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
