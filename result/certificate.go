package result

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/service-mesh-performance/smp/internal/input"
)

// CertificateKind is the kind field of a certificate file, so that it is never mistaken
// for a result or a plan.
const CertificateKind = "Certificate"

// Verdict is the outcome of one environment check, or of a whole certificate.
type Verdict string

// Verdicts, from best to worst; a certificate's verdict is its worst check's.
const (
	VerdictPass Verdict = "pass"
	// VerdictSkip: the check does not apply here or could not be read; it counts as pass.
	VerdictSkip Verdict = "skip"
	VerdictWarn Verdict = "warn"
	VerdictFail Verdict = "fail"
)

// Rank orders verdicts from best (0) to worst.
func (v Verdict) Rank() int {
	switch v {
	case VerdictWarn:
		return 2
	case VerdictFail:
		return 3
	case VerdictSkip:
		return 1
	}
	return 0
}

// Certificate says whether an environment was fit to produce comparable numbers when
// `smp certify` looked at it: the machine (or cluster), each check with its value and
// verdict, and a calibration of how much repeated identical runs vary. `smp run` embeds
// the newest one in its result, and `smp compare` warns when runs come from uncertified
// or different environments. docs/certify.md describes every check.
type Certificate struct {
	APIVersion string    `json:"api_version"`
	Kind       string    `json:"kind"`
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	// SMPVersion is the smp that issued it.
	SMPVersion string `json:"smp_version,omitempty"`
	// Platform certified: "local" (this machine) or "kubernetes".
	Platform string          `json:"platform"`
	Host     CertificateHost `json:"host"`
	// EnvironmentHash is a hash of what makes numbers comparable and does not change from
	// minute to minute: the host (CPU model, cores, memory, kernel) and the stable checks'
	// values (governor, turbo, SMT, clocksource, kernel limits, nodes). Two certificates
	// with equal hashes describe the same environment, tuned the same way.
	EnvironmentHash string `json:"environment_hash"`
	// Verdict is the worst verdict of the checks and the calibration.
	Verdict     Verdict      `json:"verdict"`
	Checks      []Check      `json:"checks"`
	Calibration *Calibration `json:"calibration,omitempty"`
}

// CertificateHost identifies the machine a certificate was issued on; result documents
// describe theirs in Environment, with the same fields.
type CertificateHost struct {
	Hostname    string `json:"hostname,omitempty"`
	OS          string `json:"os"`
	Arch        string `json:"arch"`
	Kernel      string `json:"kernel,omitempty"`
	CPUModel    string `json:"cpu_model,omitempty"`
	Cores       int    `json:"cores"`
	MemoryBytes int64  `json:"memory_bytes,omitempty"`
	// Nodes describe the cluster (kubernetes platform).
	Nodes []Node `json:"nodes,omitempty"`
}

// Check is one property of the environment.
type Check struct {
	// Name is a dotted identifier, e.g. "cpu.governor", "kernel.somaxconn".
	Name string `json:"name"`
	// Value is what was found, as text ("powersave", "0.4%", "4096").
	Value string `json:"value,omitempty"`
	// Want is what passes, e.g. "performance", "≤ 1%".
	Want    string  `json:"want,omitempty"`
	Verdict Verdict `json:"verdict"`
	// Reason explains the verdict and, unless it passed, what to do.
	Reason string `json:"reason"`
	// Stable is set for settings that only change when someone changes them (unlike
	// load or free memory); their values go into EnvironmentHash.
	Stable bool `json:"stable,omitempty"`
}

// Calibration is repeated short baseline runs, identical but for time: how much the
// environment alone moves p50, p99 and throughput. A mesh's overhead smaller than this
// spread cannot be told apart from noise here.
type Calibration struct {
	// What was measured: e.g. "smp's sample app, 1 service, no mesh, closed loop over 1
	// connection" and the load's settings.
	Description string  `json:"description"`
	Repetitions int     `json:"repetitions"`
	DurationMS  float64 `json:"duration_ms"`
	// Samples are the repetitions' figures, in order.
	Samples []CalibrationSample `json:"samples,omitempty"`
	// CV is the coefficient of variation (sample standard deviation / mean) of each
	// figure across the repetitions.
	CV CalibrationCV `json:"cv"`
	// Checks are the verdicts on the CVs (calibration.p50, calibration.p99,
	// calibration.throughput).
	Checks []Check `json:"checks"`
	// Error says why the calibration could not run (it then fails).
	Error string `json:"error,omitempty"`
}

// CalibrationSample is one repetition.
type CalibrationSample struct {
	P50MS         float64 `json:"p50_ms"`
	P99MS         float64 `json:"p99_ms"`
	ThroughputRPS float64 `json:"throughput_rps"`
}

// CalibrationCV are coefficients of variation, as fractions (0.02 = 2%).
type CalibrationCV struct {
	P50        float64 `json:"p50"`
	P99        float64 `json:"p99"`
	Throughput float64 `json:"throughput"`
}

// Save writes the certificate to path as indented JSON, atomically.
func (c *Certificate) Save(path string) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return fmt.Errorf("write certificate: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save certificate: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".smp-certificate-*.json")
	if err != nil {
		return fmt.Errorf("save certificate: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("save certificate: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save certificate: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save certificate: %w", err)
	}
	return nil
}

// maxCertificateBytes bounds a certificate: its calibration samples take a few KB.
const maxCertificateBytes = 4 << 20

// ReadCertificate decodes a certificate (at most 4 MiB) and checks its version and kind.
func ReadCertificate(r io.Reader) (*Certificate, error) {
	data, err := input.ReadAll(context.Background(), r, "certificate", maxCertificateBytes)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	var c Certificate
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("read certificate: not JSON: %w", err)
	}
	switch {
	case c.Kind != CertificateKind:
		return nil, fmt.Errorf("read certificate: kind is %q, not %q (certificates come from `smp certify`)", c.Kind, CertificateKind)
	case c.APIVersion != APIVersion:
		return nil, fmt.Errorf("read certificate: api_version %q is not %q; use an smp that reads it", c.APIVersion, APIVersion)
	}
	return &c, nil
}

// LoadCertificate reads a certificate file.
func LoadCertificate(path string) (*Certificate, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	defer f.Close()
	c, err := ReadCertificate(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
