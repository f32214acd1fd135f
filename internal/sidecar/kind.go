package sidecar

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/service-mesh-performance/smp/internal/proc"
)

// Kind is a sidecar implementation.
type Kind string

// Kinds.
const (
	// Builtin is smp's own sidecar, run as `smp sidecar --config FILE`.
	Builtin Kind = "builtin"
	// HAProxy is haproxy (Debian package haproxy).
	HAProxy Kind = "haproxy"
	// Nginx is nginx (Debian package nginx-light, plus libnginx-mod-stream for
	// permissive mTLS).
	Nginx Kind = "nginx"
	// Envoy is envoy, used when an envoy binary is on PATH.
	Envoy Kind = "envoy"
)

// Kinds returns every kind, in a stable order.
func Kinds() []Kind { return []Kind{Builtin, HAProxy, Nginx, Envoy} }

// ParseKind returns the kind named s.
func ParseKind(s string) (Kind, error) {
	k := Kind(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(Kinds(), k) {
		return k, nil
	}
	return "", fmt.Errorf("unknown sidecar kind %q: want one of %v", s, Kinds())
}

// Tool is a proxy binary found on this machine.
type Tool struct {
	Kind Kind `json:"kind"`
	// Path is the program; for Builtin, the smp binary.
	Path string `json:"path"`
	// Version is what the program says it is ("2.6.12-1+deb12u4", "1.22.1", …).
	Version string `json:"version"`
	// VersionOutput is the raw output of the version command, for the result document.
	VersionOutput string `json:"version_output,omitempty"`
	// Features lists optional capabilities found, e.g. "stream" (nginx's TCP proxy
	// module, needed for permissive mTLS) or "prometheus-exporter" (haproxy).
	Features []string `json:"features,omitempty"`

	// nginxStreamModule is the load_module path of nginx's stream module ("" when it is
	// compiled in or missing; Features says which).
	nginxStreamModule string
	// nginxUser is the user directive nginx needs: the current user when running as
	// root, "" otherwise.
	nginxUser string
}

func (t Tool) has(feature string) bool { return slices.Contains(t.Features, feature) }

// Plan is a rendered sidecar: the files to write into Spec.WorkDir, the command that
// runs it, and where it reports. Render builds it without touching the disk.
type Plan struct {
	Kind Kind
	// Spec is the spec rendered, with defaults applied.
	Spec Spec
	// Files are written into Spec.WorkDir before the command starts.
	Files []File
	// Cmd runs the proxy in the foreground.
	Cmd proc.Cmd
	// AdminURL is the base URL of the admin listener, e.g. http://127.0.0.1:15000.
	AdminURL string
	// StatsURL serves the counters that ReadCounters understands for this kind.
	StatsURL string
	// ReadyURL answers 200 once the proxy serves ("" when only the ports tell).
	ReadyURL string
	// MetricsURL serves Prometheus text ("" when the proxy has none: nginx).
	MetricsURL string
}

// File is one file of a Plan. Data is its content, or, when Concat is set, the
// concatenation of those files (read when the plan is written, e.g. haproxy's
// certificate-and-key bundle).
type File struct {
	Name   string // relative to Spec.WorkDir
	Data   []byte
	Concat []string
	Mode   os.FileMode
}

// implementation is what each kind provides.
type implementation struct {
	binary      string
	installHint string
	versionArgs []string
	// parseVersion extracts the version and features from the version command's
	// combined output.
	parseVersion func(out string, t *Tool)
	// supports says whether the kind can carry a protocol in an mTLS mode with this
	// tool (nil: yes).
	supports func(p Protocol, m MTLSMode, t Tool) error
	render   func(s Spec, t Tool) (*Plan, error)
	// counters reads the stats URL of a Plan.
	counters func(ctx context.Context, r statsReader, statsURL string) (Counters, error)
}

func (k Kind) impl() (implementation, error) {
	switch k {
	case Builtin:
		return builtinImpl(), nil
	case HAProxy:
		return haproxyImpl(), nil
	case Nginx:
		return nginxImpl(), nil
	case Envoy:
		return envoyImpl(), nil
	}
	return implementation{}, fmt.Errorf("unknown sidecar kind %q: want one of %v", string(k), Kinds())
}

// Check finds the kind's program and asks its version: "is this kind available here?".
// binary overrides the program ("" looks up the kind's usual name on PATH; for Builtin,
// "" means the running smp binary). A missing program is a *proc.NotFoundError with the
// command that installs it.
func (k Kind) Check(ctx context.Context, binary string) (Tool, error) {
	im, err := k.impl()
	if err != nil {
		return Tool{}, err
	}
	t := Tool{Kind: k}
	if k == Builtin {
		return checkBuiltin(binary)
	}
	name := im.binary
	if binary != "" {
		name = binary
	}
	path, err := proc.LookPath(name, im.installHint)
	if err != nil {
		return Tool{}, fmt.Errorf("%s sidecar: %w", k, err)
	}
	t.Path = path
	p, err := proc.Start(ctx, proc.Cmd{Name: name + " version", Path: path, Args: im.versionArgs})
	if err != nil {
		return Tool{}, fmt.Errorf("%s sidecar: %w", k, err)
	}
	if err := p.Wait(); err != nil {
		return Tool{}, fmt.Errorf("%s sidecar: version: %w", k, err)
	}
	t.VersionOutput = strings.TrimSpace(p.Output())
	im.parseVersion(t.VersionOutput, &t)
	if t.Version == "" {
		return Tool{}, fmt.Errorf("%s sidecar: cannot read a version from `%s %s`: %q", k, path, strings.Join(im.versionArgs, " "), t.VersionOutput)
	}
	return t, nil
}

// Supports reports whether the kind, as found in t, can carry protocol p in mTLS mode
// m through the configurations smp generates; the error says why not.
func (k Kind) Supports(p Protocol, m MTLSMode, t Tool) error {
	im, err := k.impl()
	if err != nil {
		return err
	}
	if im.supports == nil {
		return nil
	}
	if err := im.supports(p, m, t); err != nil {
		return fmt.Errorf("%s sidecar: %w", k, err)
	}
	return nil
}

// Render turns s into the kind's configuration files and command, for the tool t
// found by Check. It validates s (defaults applied) and checks Supports; listen ports
// must be fixed (non-zero) for every kind but Builtin: Launch picks free ones.
func (k Kind) Render(s Spec, t Tool) (*Plan, error) {
	im, err := k.impl()
	if err != nil {
		return nil, err
	}
	s = s.withDefaults()
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s sidecar %s: %w", k, s.Name, err)
	}
	if s.WorkDir == "" {
		return nil, fmt.Errorf("%s sidecar %s: work_dir is empty", k, s.Name)
	}
	for _, p := range s.Protocols() {
		if err := k.Supports(p, s.MTLS, t); err != nil {
			return nil, err
		}
	}
	if k != Builtin {
		for _, a := range s.listenAddrs() {
			if strings.HasSuffix(a, ":0") {
				return nil, fmt.Errorf("%s sidecar %s: listen address %s: %s needs fixed ports (Launch picks free ones)", k, s.Name, a, k)
			}
		}
	}
	p, err := im.render(s, t)
	if err != nil {
		return nil, fmt.Errorf("%s sidecar %s: %w", k, s.Name, err)
	}
	p.Kind, p.Spec = k, s
	return p, nil
}

// listenAddrs are every address s listens on, admin included.
func (s Spec) listenAddrs() []string {
	var a []string
	if s.Inbound != nil {
		a = append(a, s.Inbound.Listen)
	}
	for _, o := range s.Outbounds {
		a = append(a, o.Listen)
	}
	return append(a, s.AdminListen)
}

// confWriter builds a line-oriented configuration file (haproxy's, nginx's).
type confWriter struct{ b strings.Builder }

// line writes one line, formatted as fmt.Sprintf does.
func (w *confWriter) line(format string, args ...any) { fmt.Fprintf(&w.b, format+"\n", args...) }

func (w *confWriter) String() string { return w.b.String() }
