package spec

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/service-mesh-performance/smp/internal/input"
)

// References let a plan take secrets from the environment or a file, so that no plan
// needs to contain one:
//
//	headers:
//	  Authorization: "Bearer ${env:API_TOKEN}"
//	  X-Api-Key: "${file:secrets/api-key}"
//	endpoint_urls: ["https://${env:USER}:${env:PASSWORD}@api.example.com/"]
//
// ${env:NAME} is the value of the environment variable NAME, which must be set and not
// empty. ${file:PATH} is the content of the file at PATH (relative to the plan's folder),
// without its trailing line break; at most 64 KiB. $${ writes a literal ${. References
// are resolved when the plan loads, in the values of workload.headers, workload.cookies,
// workload.mix[].headers, workload.endpoint_urls, arms[].endpoint_urls and
// metrics.collectors[].url. The values they resolve to are secrets: Secrets lists them,
// and smp redacts them from everything it writes or prints.

// maxSecretFile bounds a ${file:…} reference: a token or a password, not a body.
const maxSecretFile = 64 << 10

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Secrets returns the values that references in the plan resolved to.
func (p *Plan) Secrets() []string { return append([]string(nil), p.secrets...) }

// resolveReferences replaces the references in the fields that may hold them; baseDir
// is the plan's folder. Problems come back as Errors at the field.
func (p *Plan) resolveReferences(baseDir string) Errors {
	r := &referenceResolver{p: p, baseDir: baseDir}
	w := &p.Workload
	r.mapValues("workload.headers", w.Headers)
	r.mapValues("workload.cookies", w.Cookies)
	for i := range w.Mix {
		r.mapValues(fmt.Sprintf("workload.mix[%d].headers", i), w.Mix[i].Headers)
	}
	r.list("workload.endpoint_urls", w.EndpointURLs)
	for i := range p.Arms {
		r.list(fmt.Sprintf("arms[%d].endpoint_urls", i), p.Arms[i].EndpointURLs)
	}
	for i := range p.Metrics.Collectors {
		c := &p.Metrics.Collectors[i]
		c.URL = r.value(fmt.Sprintf("metrics.collectors[%d].url", i), c.URL)
	}
	return r.errs
}

type referenceResolver struct {
	p       *Plan
	baseDir string
	errs    Errors
}

func (r *referenceResolver) mapValues(path string, m map[string]string) {
	for _, k := range sortedKeys(m) {
		m[k] = r.value(path+"."+k, m[k])
	}
}

func (r *referenceResolver) list(path string, l []string) {
	for i := range l {
		l[i] = r.value(fmt.Sprintf("%s[%d]", path, i), l[i])
	}
}

const referenceFix = "write ${env:NAME} or ${file:PATH} (and $${ for a literal ${)"

// value resolves the references in s, the value at path.
func (r *referenceResolver) value(path, s string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1] + "${") // $${ is a literal ${
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			r.fail(path, referenceFix, "a reference ${ is not closed with }")
			return b.String()
		}
		ref := s[i+2 : i+end]
		s = s[i+end+1:]
		v, ok := r.resolve(path, ref)
		if !ok {
			return ""
		}
		r.p.secrets = append(r.p.secrets, v)
		b.WriteString(v)
	}
}

func (r *referenceResolver) resolve(path, ref string) (string, bool) {
	kind, arg, _ := strings.Cut(ref, ":")
	switch kind {
	case "env":
		if !envName.MatchString(arg) {
			r.fail(path, "name an environment variable, e.g. ${env:API_TOKEN}", "%q is not an environment variable name", arg)
			return "", false
		}
		v, set := os.LookupEnv(arg)
		switch {
		case !set:
			r.fail(path, fmt.Sprintf("export %s before running smp", arg), "environment variable %s is not set", arg)
			return "", false
		case v == "":
			r.fail(path, fmt.Sprintf("give %s a value before running smp", arg), "environment variable %s is empty", arg)
			return "", false
		}
		return v, true
	case "file":
		if arg == "" {
			r.fail(path, "name a file, e.g. ${file:secrets/token}", "${file:} names no file")
			return "", false
		}
		file := resolvePath(r.baseDir, arg)
		data, err := input.ReadFile(context.Background(), file, maxSecretFile)
		var tooLarge *input.TooLargeError
		switch {
		case errors.Is(err, fs.ErrNotExist):
			r.fail(path, "create the file, or correct the path (relative to the plan's folder)", "file %s does not exist", file)
			return "", false
		case errors.As(err, &tooLarge):
			r.fail(path, "reference a file that holds only the secret", "%s is larger than %s", file, input.FormatSize(maxSecretFile))
			return "", false
		case err != nil:
			r.fail(path, "make the file readable", "%v", err)
			return "", false
		}
		v := strings.TrimRight(string(data), "\r\n")
		if v == "" {
			r.fail(path, "write the secret into "+file, "file %s is empty", file)
			return "", false
		}
		return v, true
	}
	r.fail(path, referenceFix, "unknown reference ${%s}", ref)
	return "", false
}

func (r *referenceResolver) fail(path, fix, format string, args ...any) {
	r.errs = append(r.errs, r.p.Errorf(path, fix, format, args...))
}

// resolvePath returns where a path written in a plan points: "~/" is the home folder, and
// a relative path is relative to baseDir (the plan's folder; "" for the working folder).
func resolvePath(baseDir, path string) string {
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	if filepath.IsAbs(path) || baseDir == "" {
		return path
	}
	return filepath.Join(baseDir, path)
}
