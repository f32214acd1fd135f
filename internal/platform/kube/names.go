package kube

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
)

// Labels and annotations smp puts on everything it creates (style habit 14: everything
// labelled, teardown by label).
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "smp"
	LabelRun       = "smp.dev/run"
	LabelArm       = "smp.dev/arm"
	LabelRole      = "smp.dev/role"
	AnnotationRun  = "smp.dev/run-id"
	// FieldManager is the server-side-apply field manager of every object smp writes.
	FieldManager = "smp"
	// LoadTaint is the taint key of a dedicated load node (value "load", effect
	// NoSchedule); load pods tolerate it, nothing else smp deploys does.
	LoadTaint = "smp.dev/role"
	// Roles.
	RoleApp  = "app"
	RoleLoad = "load"
)

// RunKey is the short form of a run id used in namespace names and the smp.dev/run label:
// 10 hex digits of its SHA-256. A string that already is a run key is returned as it is,
// so `smp cleanup --run` accepts either form.
func RunKey(runID string) string {
	if runKeyRE.MatchString(runID) {
		return runID
	}
	sum := sha256.Sum256([]byte(runID))
	return hex.EncodeToString(sum[:])[:10]
}

var runKeyRE = regexp.MustCompile(`^[0-9a-f]{10}$`)

// maxNamespace is the longest namespace name (a DNS label).
const maxNamespace = 63

// loadSuffix ends the name of an arm's load-generator namespace.
const loadSuffix = "-load"

// Namespaces returns the application and load-generator namespaces of an arm:
// <prefix>-<run key>-<arm> and the same with -load. An arm name too long to fit 63
// characters is cut and given a hash of itself, so that names stay distinct.
func Namespaces(prefix, runKey, arm string) (app, load string) {
	base := prefix + "-" + runKey + "-"
	room := maxNamespace - len(base) - len(loadSuffix)
	a := dnsSafe(arm)
	if len(a) > room {
		sum := sha256.Sum256([]byte(arm))
		keep := max(room-7, 1)
		a = strings.TrimRight(a[:keep], "-") + "-" + hex.EncodeToString(sum[:])[:6]
	}
	app = base + a
	return app, app + loadSuffix
}

// dnsSafe lower-cases s and replaces what a DNS label cannot hold with '-'.
func dnsSafe(s string) string {
	s = strings.ToLower(s)
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, s)
	s = strings.Trim(s, "-")
	if s == "" {
		s = "arm"
	}
	return s
}

// runLabels are the labels of everything a run creates.
func runLabels(runKey string) map[string]string {
	return map[string]string{LabelManagedBy: ManagedBy, LabelRun: runKey}
}

// merge returns a new map with the entries of every m, later ones winning.
func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
