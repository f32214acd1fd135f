package experiment

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// expectationWarnings compares the plan's environment.expect with the environment the
// run found, one warning per mismatch with the expected and the observed value. A
// mismatch does not stop the run (docs/plan.md: "a mismatch is reported in the result"):
// the figures are still measured, and the warning travels with them to every report and
// comparison. On Kubernetes cores and memory are per node, checked on every node the
// cluster lists, and nodes is their number; elsewhere cores and memory are this machine's.
func expectationWarnings(exp spec.Expectations, env result.Environment) []string {
	if exp == (spec.Expectations{}) {
		return nil
	}
	var out []string
	warn := func(field, format string, a ...any) {
		out = append(out, "environment.expect."+field+": "+fmt.Sprintf(format, a...))
	}
	if env.Platform != string(spec.PlatformKubernetes) {
		if exp.Cores > 0 && env.Cores < exp.Cores {
			warn("cores", "expected at least %d cores, observed %d on this machine (%s)", exp.Cores, env.Cores, env.Hostname)
		}
		if exp.Memory > 0 && env.MemoryBytes < exp.Memory.Bytes() {
			warn("memory", "expected at least %s, observed %s on this machine (%s)", exp.Memory, gib(env.MemoryBytes), env.Hostname)
		}
		if exp.Nodes > 1 {
			warn("nodes", "expected %d nodes, observed 1 (platform %s)", exp.Nodes, env.Platform)
		}
		if exp.KubernetesVersion != "" {
			warn("kubernetes_version", "expected %s, observed no cluster (platform %s)", exp.KubernetesVersion, env.Platform)
		}
		return out
	}
	k := env.Kubernetes
	if k == nil {
		return []string{"environment.expect: not compared, the cluster could not be described"}
	}
	if exp.Nodes > 0 && len(k.Nodes) != exp.Nodes {
		names := make([]string, 0, len(k.Nodes))
		for _, n := range k.Nodes {
			names = append(names, n.Name)
		}
		warn("nodes", "expected %d nodes, observed %d (%s)", exp.Nodes, len(k.Nodes), list(names))
	}
	var cores, mem []string
	for _, n := range k.Nodes {
		if exp.Cores > 0 && n.Cores < exp.Cores {
			cores = append(cores, fmt.Sprintf("%s %d", n.Name, n.Cores))
		}
		if exp.Memory > 0 && n.MemoryBytes < exp.Memory.Bytes() {
			mem = append(mem, fmt.Sprintf("%s %s", n.Name, gib(n.MemoryBytes)))
		}
	}
	if len(cores) > 0 {
		warn("cores", "expected at least %d cores per node, observed %s", exp.Cores, list(cores))
	}
	if len(mem) > 0 {
		warn("memory", "expected at least %s per node, observed %s", exp.Memory, list(mem))
	}
	if c := exp.KubernetesVersion; c != "" {
		ok, err := versionMatches(c, k.Version)
		switch {
		case err != nil:
			warn("kubernetes_version", "expected %s, observed %s, which cannot be compared: %v", c, k.Version, err)
		case !ok:
			warn("kubernetes_version", "expected %s, observed %s", c, k.Version)
		}
	}
	return out
}

// list joins at most ten items, and says how many more there are.
func list(items []string) string {
	if len(items) > 10 {
		return strings.Join(items[:10], ", ") + fmt.Sprintf(" and %d more", len(items)-10)
	}
	return strings.Join(items, ", ")
}

// gib writes a memory size in GiB with one decimal, as smp certify does: a machine's
// memory is never a round number of bytes (the kernel keeps some).
func gib(b int64) string { return strconv.FormatFloat(float64(b)/(1<<30), 'f', 1, 64) + "GiB" }

var (
	constraintRe = regexp.MustCompile(`^(>=|<=|>|<|=|~|\^)?\s*v?([0-9]+(?:\.[0-9]+){0,2})$`)
	observedRe   = regexp.MustCompile(`^v?([0-9]+(?:\.[0-9]+){0,2})`)
)

type version3 [3]int

// parseVersion reads "1", "1.31" or "1.31.2" and says how many parts were given.
func parseVersion(s string) (v version3, n int) {
	for i, p := range strings.Split(s, ".") {
		v[i], _ = strconv.Atoi(p) // the regular expressions let only digits through
		n = i + 1
	}
	return v, n
}

func (a version3) cmp(b version3) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// bump is the first version past every version that starts with v's first n parts:
// bump(1.31, 2) = 1.32.0.
func (a version3) bump(n int) version3 {
	var out version3
	copy(out[:n], a[:n])
	out[n-1]++
	return out
}

// versionMatches reports whether an observed version (a Kubernetes server's
// "v1.31.2-eks-7f9249a" or "v1.30.4+k3s1": the numbers count, the suffix does not) meets
// a constraint as spec's validation accepts it, read the way npm's semver reads partial
// versions: "1.31" and "=1.31" are any 1.31.x; ">=1.30" is 1.30.0 or later; ">1.30" is
// 1.31.0 or later; "<1.31" is before 1.31.0; "<=1.31" is 1.31.x or earlier; "~1.31.2" is
// 1.31.2 or a later 1.31; "^1.30" is 1.30.0 or a later 1.x.
func versionMatches(constraint, observed string) (bool, error) {
	m := constraintRe.FindStringSubmatch(strings.TrimSpace(constraint))
	if m == nil {
		return false, fmt.Errorf("%q is not a version constraint", constraint)
	}
	o := observedRe.FindStringSubmatch(strings.TrimSpace(observed))
	if o == nil {
		return false, fmt.Errorf("%q is not a version", observed)
	}
	op := m[1]
	c, n := parseVersion(m[2])
	v, _ := parseVersion(o[1])
	in := func(lo, hi version3) bool { return v.cmp(lo) >= 0 && v.cmp(hi) < 0 }
	switch op {
	case ">=":
		return v.cmp(c) >= 0, nil
	case ">":
		if n == 3 {
			return v.cmp(c) > 0, nil
		}
		return v.cmp(c.bump(n)) >= 0, nil
	case "<":
		return v.cmp(c) < 0, nil
	case "<=":
		if n == 3 {
			return v.cmp(c) <= 0, nil
		}
		return v.cmp(c.bump(n)) < 0, nil
	case "~":
		return in(c, c.bump(min(n, 2))), nil
	case "^":
		// The first part that is not zero may not change.
		k := 1
		for k < n && c[k-1] == 0 {
			k++
		}
		return in(c, c.bump(k)), nil
	}
	if n == 3 {
		return v.cmp(c) == 0, nil
	}
	return in(c, c.bump(n)), nil
}
