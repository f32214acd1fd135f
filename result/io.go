package result

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/service-mesh-performance/smp/internal/input"
	"github.com/service-mesh-performance/smp/spec"
)

// New returns an empty document for a run that starts now.
func New(id, name string, start time.Time) *Document {
	return &Document{APIVersion: APIVersion, Kind: Kind, ID: id, Name: name, Status: StatusComplete,
		StartTime: start.UTC(), Trials: []Trial{}}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// NewID returns a run identifier that sorts by time and names the plan:
// "20261126-014452-quickstart-3f9a". The random suffix keeps two runs started in the
// same second apart.
func NewID(name string, t time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	slug := strings.Trim(unsafeName.ReplaceAllString(name, "-"), "-")
	if slug == "" {
		slug = "run"
	}
	if len(slug) > 40 {
		slug = slug[:40]
	}
	return fmt.Sprintf("%s-%s-%s", t.UTC().Format("20060102-150405"), slug, hex.EncodeToString(b[:]))
}

// Write writes the document as indented JSON.
func (d *Document) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return fmt.Errorf("write result %s: %w", d.ID, d.encodeError(err))
	}
	return nil
}

// Save writes the document to path atomically (a temporary file renamed into place), so
// that an interrupted run never leaves a truncated result behind. The file is created
// 0600, and a folder it creates 0700: results carry details of the system measured, and
// stay private until their owner shares them.
func (d *Document) Save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save result: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".smp-result-*.json") // mode 0600
	if err != nil {
		return fmt.Errorf("save result: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := d.Write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save result: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save result: %w", err)
	}
	return nil
}

// DefaultMaxBytes is the largest result document Read accepts unless told otherwise:
// far above what a run writes (a 24-hour trial with a point per second is about 15 MB),
// far below what would exhaust memory.
const DefaultMaxBytes = 256 << 20

// ReadOptions say how Read reads.
type ReadOptions struct {
	// Name is the input in messages: a file name, or "standard input". Default: "input".
	Name string
	// MaxBytes is the largest document accepted. Default: DefaultMaxBytes.
	MaxBytes int64
	// Redactor, when set, replaces the secrets a document still holds (one written
	// before smp redacted results, or by another tool) before it is returned.
	Redactor Redactor
}

// Read is ReadContext without a context, with the default options.
func Read(r io.Reader) (*Document, error) {
	return ReadContext(context.Background(), r, ReadOptions{})
}

// ReadContext decodes a result document, bounded by opt.MaxBytes and cancelled with ctx,
// and checks it (Check): a document that fails the check is refused with the path of
// each bad field. Another tool's result (an SMP PerformanceTestResult, JSON or YAML;
// fortio's result JSON, alone, in an array or in a Meshery result) is read as a
// document marked Imported, with what it lacks, and checked alike. A test plan is
// refused with a message saying so.
func ReadContext(ctx context.Context, r io.Reader, opt ReadOptions) (*Document, error) {
	if opt.Name == "" {
		opt.Name = "input"
	}
	if opt.MaxBytes == 0 {
		opt.MaxBytes = DefaultMaxBytes
	}
	data, err := input.ReadAll(ctx, r, opt.Name, opt.MaxBytes)
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	d, err := decode(data, opt.Name)
	if err != nil {
		return nil, err
	}
	if err := d.Check(); err != nil {
		return nil, fmt.Errorf("read result: %s is not a sound result document:\n%w", opt.Name, err)
	}
	if opt.Redactor != nil {
		if d, err = d.Redacted(opt.Redactor); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func decode(data []byte, name string) (*Document, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("read result: %s is empty; results come from `smp run` or `smp load -o`", name)
	}
	var head struct {
		APIVersion string `json:"api_version"`
		Kind       string `json:"kind"`
	}
	jsonErr := json.Unmarshal(data, &head)
	if jsonErr != nil || head.Kind != Kind {
		if doc, ok, err := readImported(data); ok {
			return doc, err
		}
	}
	switch {
	case (jsonErr != nil || head.Kind == "") && spec.IsPlan(data):
		return nil, fmt.Errorf("read result: %s is a test plan, not a result; run it with `smp run %s`, then report the result it writes", name, name)
	case jsonErr != nil:
		return nil, fmt.Errorf("read result: %s is not a JSON result document, an SMP PerformanceTestResult or a fortio result: %w", name, jsonErr)
	case head.Kind != Kind:
		return nil, fmt.Errorf("read result: %s has kind %q, not %q, and is no SMP PerformanceTestResult or fortio result either; "+
			"results come from `smp run` or `smp load -o`", name, head.Kind, Kind)
	case head.APIVersion != APIVersion:
		return nil, fmt.Errorf("read result: %s has api_version %q, not %q; use an smp that reads it", name, head.APIVersion, APIVersion)
	}
	var d Document
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("read result: %s: %w", name, err)
	}
	return &d, nil
}

// Load is LoadContext without a context, with the default options.
func Load(path string) (*Document, error) {
	return LoadContext(context.Background(), path, ReadOptions{})
}

// LoadContext reads a result document from a file ("-" is standard input) with
// ReadContext; opt.Name defaults to the path.
func LoadContext(ctx context.Context, path string, opt ReadOptions) (*Document, error) {
	if path == "-" {
		if opt.Name == "" {
			opt.Name = "standard input"
		}
		return ReadContext(ctx, os.Stdin, opt)
	}
	if opt.Name == "" {
		opt.Name = path
	}
	f, err := input.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("read result: %s is a folder; give a result file (smp results list shows them)", path)
	}
	return ReadContext(ctx, f, opt)
}

// Arms lists the arm names of the document's trials in the order they first appear.
func (d *Document) Arms() []string {
	var out []string
	seen := map[string]bool{}
	if d.Plan != nil {
		for _, a := range d.Plan.Arms {
			if !seen[a.Name] {
				out = append(out, a.Name)
				seen[a.Name] = true
			}
		}
	}
	for _, t := range d.Trials {
		if !seen[t.Arm] {
			out = append(out, t.Arm)
			seen[t.Arm] = true
		}
	}
	return out
}

// TrialsOf returns the trials of an arm that measured something (not failed).
func (d *Document) TrialsOf(arm string) []Trial {
	var out []Trial
	for _, t := range d.Trials {
		if t.Arm == arm && t.Status != StatusFailed && t.Latency.Histogram.Data != "" {
			out = append(out, t)
		}
	}
	return out
}
