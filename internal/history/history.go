package history

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/service-mesh-performance/smp/result"
)

// Entry is one result document of the folder, summarised for a listing.
type Entry struct {
	Path      string
	ID        string
	Name      string
	Status    result.Status
	StartTime time.Time
	Labels    map[string]string
	// Arms are the document's arms in order, with their pooled latency p99.
	Arms []Arm
	// SLOResults and SLOFailed count the analysis' SLO results and the failed ones.
	SLOResults, SLOFailed int
	// Imported names the format of a result smp read from another tool ("fortio",
	// "smp"); empty for smp's own.
	Imported string
}

// Arm is one arm of a listed run.
type Arm struct {
	Name string
	// P99MS is the p99 of the arm's trials pooled; NaN when nothing was measured.
	P99MS float64
}

// Filter selects runs. Zero fields select everything.
type Filter struct {
	// Name matches the run's name, as a shell pattern ("quick*").
	Name string
	// Arm is an arm the run must have.
	Arm string
	// Labels must all be on the run, with these values.
	Labels map[string]string
	// Since drops runs that started before it.
	Since time.Time
}

func (f Filter) match(d *result.Document) (bool, error) {
	if f.Name != "" {
		ok, err := path.Match(f.Name, d.Name)
		if err != nil {
			return false, fmt.Errorf("name pattern %q: %w", f.Name, err)
		}
		if !ok {
			return false, nil
		}
	}
	if f.Arm != "" {
		found := false
		for _, a := range d.Arms() {
			found = found || a == f.Arm
		}
		if !found {
			return false, nil
		}
	}
	for k, v := range f.Labels {
		if got, ok := d.Labels[k]; !ok || got != v {
			return false, nil
		}
	}
	return f.Since.IsZero() || !d.StartTime.Before(f.Since), nil
}

// candidates are the folder's files that may hold results: *.json, not hidden (smp
// writes a result to a hidden temporary file first), sorted by name.
func candidates(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("results folder: %w", err)
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") || !strings.EqualFold(filepath.Ext(n), ".json") {
			continue
		}
		out = append(out, filepath.Join(dir, n))
	}
	return out, nil
}

// List reads the result documents of dir (not its subfolders) and returns those that
// match f, oldest first (ties by id). Files that are not result documents (a plan, an
// export, a truncated file) are skipped, each named in skipped with the reason. An error
// is returned for a folder that cannot be read and an invalid name pattern.
func List(dir string, f Filter) (entries []Entry, skipped []string, err error) {
	files, err := candidates(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range files {
		doc, err := result.Load(p)
		if err != nil {
			skipped = append(skipped, err.Error())
			continue
		}
		ok, err := f.match(doc)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			entries = append(entries, summarise(p, doc))
		}
	}
	sort.SliceStable(entries, func(i, j int) bool {
		if !entries[i].StartTime.Equal(entries[j].StartTime) {
			return entries[i].StartTime.Before(entries[j].StartTime)
		}
		return entries[i].ID < entries[j].ID
	})
	return entries, skipped, nil
}

func summarise(p string, d *result.Document) Entry {
	e := Entry{Path: p, ID: d.ID, Name: d.Name, Status: d.Status, StartTime: d.StartTime, Labels: d.Labels}
	if d.Imported != nil {
		e.Imported = d.Imported.Format
	}
	for _, arm := range d.Arms() {
		a := Arm{Name: arm, P99MS: math.NaN()}
		var dists []result.Distribution
		for _, t := range d.TrialsOf(arm) {
			dists = append(dists, t.Latency)
		}
		if len(dists) > 0 {
			if pooled, err := result.Pool(dists, []float64{99}, nil); err == nil && pooled.Count > 0 {
				a.P99MS = pooled.Percentiles[0].ValueMS
			}
		}
		e.Arms = append(e.Arms, a)
	}
	if d.Analysis != nil {
		e.SLOResults = len(d.Analysis.SLO)
		for _, s := range d.Analysis.SLO {
			if !s.Pass {
				e.SLOFailed++
			}
		}
	}
	return e
}

// ErrNotFound is returned by Find when no result matches.
var ErrNotFound = errors.New("no result matches")

// Find returns the path of the result in dir whose id is id, or starts with it. File
// names are tried first (smp run names a result <id>.json), then the ids inside the
// documents, so a renamed file is still found. An id that several results start with is
// an error naming them; one that none does wraps ErrNotFound.
func Find(dir, id string) (string, error) {
	if id == "" {
		return "", errors.New("find result: no id given")
	}
	files, err := candidates(dir)
	if err != nil {
		return "", err
	}
	// pick matches id among ids: found is false when nothing matched.
	pick := func(ids, paths []string) (p string, found bool, err error) {
		var hits []int
		for i, x := range ids {
			if x == id {
				return paths[i], true, nil
			}
			if strings.HasPrefix(x, id) {
				hits = append(hits, i)
			}
		}
		switch len(hits) {
		case 0:
			return "", false, nil
		case 1:
			return paths[hits[0]], true, nil
		}
		var names []string
		for _, i := range hits {
			names = append(names, ids[i])
		}
		return "", true, fmt.Errorf("%q matches %d results in %s: %s; give more of the id", id, len(hits), dir, strings.Join(names, ", "))
	}
	var names []string
	for _, p := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(p), filepath.Ext(p)))
	}
	if p, ok, err := pick(names, files); ok {
		return p, err
	}
	var ids, paths []string
	for _, p := range files {
		if d, err := result.Load(p); err == nil {
			ids, paths = append(ids, d.ID), append(paths, p)
		}
	}
	if p, ok, err := pick(ids, paths); ok {
		return p, err
	}
	return "", fmt.Errorf("%w %q in %s (smp results list shows them)", ErrNotFound, id, dir)
}

// ParseSince reads a --since value relative to now: a duration ("24h", "90m", "7d" for
// days) counts back from now; a date ("2026-11-01", midnight UTC) or an RFC 3339 time
// ("2026-11-01T08:00:00Z") is taken as it is.
func ParseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if m := regexp.MustCompile(`^(\d+(?:\.\d+)?)d$`).FindStringSubmatch(s); m != nil {
		days, _ := strconv.ParseFloat(m[1], 64)
		return now.Add(-time.Duration(days * 24 * float64(time.Hour))), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("since %q: a duration back from now cannot be negative", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{"2006-01-02", time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("since %q: write a duration (24h, 7d) or a date (2026-11-01, 2026-11-01T08:00:00Z)", s)
}

// WriteTable writes entries as a table: id, start time (UTC), name, arms, status with
// SLO verdicts ("imported fortio" for another tool's result), and each arm's p99.
func WriteTable(w io.Writer, entries []Entry) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME (UTC)\tNAME\tARMS\tSTATUS\tP99")
	for _, e := range entries {
		var arms, p99 []string
		for _, a := range e.Arms {
			arms = append(arms, a.Name)
			v := "—"
			if !math.IsNaN(a.P99MS) {
				v = formatMS(a.P99MS) + " ms"
			}
			p99 = append(p99, a.Name+" "+v)
		}
		status := string(e.Status)
		if e.Imported != "" {
			status = "imported " + e.Imported
		}
		switch {
		case e.SLOFailed > 0:
			status += fmt.Sprintf(", %d SLO failed", e.SLOFailed)
		case e.SLOResults > 0:
			status += ", SLO ok"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.StartTime.UTC().Format("2006-01-02 15:04"), e.Name,
			strings.Join(arms, ","), status, strings.Join(p99, ", "))
	}
	return tw.Flush()
}

// formatMS writes a latency with three significant digits, as the reports do.
func formatMS(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a >= 0.1:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}
