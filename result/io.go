package result

import (
	"bytes"
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
		return fmt.Errorf("write result %s: %w", d.ID, err)
	}
	return nil
}

// Save writes the document to path atomically (a temporary file renamed into place), so
// that an interrupted run never leaves a truncated result behind.
func (d *Document) Save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("save result: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".smp-result-*.json")
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

// Read decodes a result document and checks its version and kind. Another tool's result
// (an SMP PerformanceTestResult, JSON or YAML; fortio's result JSON, alone, in an array or
// in a Meshery result) is read as a document marked Imported, with what it lacks.
func Read(r io.Reader) (*Document, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
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
	case jsonErr != nil:
		return nil, fmt.Errorf("read result: not a JSON result document, an SMP PerformanceTestResult or a fortio result: %w", jsonErr)
	case head.Kind != Kind:
		return nil, fmt.Errorf("read result: kind is %q, not %q, and this is no SMP PerformanceTestResult or fortio result either "+
			"(is this a plan? results come from `smp run`)", head.Kind, Kind)
	case head.APIVersion != APIVersion:
		return nil, fmt.Errorf("read result: api_version %q is not %q; use an smp that reads it", head.APIVersion, APIVersion)
	}
	var d Document
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("read result %s: %w", head.APIVersion, err)
	}
	return &d, nil
}

// Load reads a result document from a file ("-" is standard input).
func Load(path string) (*Document, error) {
	if path == "-" {
		return Read(os.Stdin)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	defer f.Close()
	d, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
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
