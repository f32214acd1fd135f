// Package local is the platform that runs a trial on this machine: the sample app as one
// process per service and, for mesh arms, a sidecar process beside every service and one
// for the load generator, wired the way a sidecar mesh wires them:
//
//	load generator → client-proxy ─mTLS→ svc-1-proxy → svc-1 → svc-1-proxy ─mTLS→ svc-2-proxy → svc-2 …
//
// With keep-alive off (the handshake scenario) the load generator is the mesh's client
// itself and there is no client-proxy: see generatorIsClient.
//
// A run gets its own CA (package pki) and a working directory for certificates and
// proxy configurations, removed by Close. Every process is started in its own process
// group, pinned to the system-under-test CPUs, and stopped by Teardown; the smp process
// itself, which runs the load generator, is pinned to the load generator's CPUs.
//
// Imports: internal/platform, internal/app, internal/sidecar, internal/pki,
// internal/proc, internal/grpcecho, spec, result (components' roles). Never platform/kube.
package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/service-mesh-performance/smp/internal/app"
	"github.com/service-mesh-performance/smp/internal/pki"
	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/internal/platform/carry"
	"github.com/service-mesh-performance/smp/internal/proc"
	"github.com/service-mesh-performance/smp/internal/sidecar"
	"github.com/service-mesh-performance/smp/internal/tempdir"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

// Options configure the platform.
type Options struct {
	Plan  *spec.Plan
	RunID string
	// Self is the smp executable that serves `smp app` and `smp sidecar`. Default: this
	// process's executable.
	Self string
	// TempDir is where the run's working directory is created (0700), and where the
	// directories of runs that were killed are removed from. Default: os.TempDir().
	TempDir string
	// ReadyTimeout bounds the wait for one process to serve. Default 15s.
	ReadyTimeout time.Duration
}

// Platform deploys arms as local processes.
type Platform struct {
	opt      Options
	plan     *spec.Plan
	dir      string
	ca       *pki.CA
	caFile   string
	certs    map[string]pki.Files // by service name, plus "client" and the gateway
	tools    map[sidecar.Kind]sidecar.Tool
	loadCPUs string
	sutCPUs  string
	oldMask  *unix.CPUSet
	mu       sync.Mutex
	count    int
}

// New prepares a run: the working directory, the CA and the identities, and the CPU
// placement (the smp process is pinned to the load generator's CPUs here).
func New(opt Options) (*Platform, error) {
	if opt.Self == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("local platform: find the smp executable: %w", err)
		}
		opt.Self = exe
	}
	if opt.ReadyTimeout == 0 {
		opt.ReadyTimeout = 15 * time.Second
	}
	p := &Platform{opt: opt, plan: opt.Plan, certs: map[string]pki.Files{}, tools: map[sidecar.Kind]sidecar.Tool{}}
	// The folders of runs that were killed hold their CA and keys: remove them first.
	_, _ = tempdir.Sweep(opt.TempDir, "smp-")
	dir, err := tempdir.New(opt.TempDir, "smp-"+safeName(opt.RunID)+"-")
	if err != nil {
		return nil, fmt.Errorf("local platform: %w", err)
	}
	p.dir = dir
	if err := p.issueIdentities(); err != nil {
		p.Close()
		return nil, err
	}
	env := p.plan.Environment.CPUs
	p.loadCPUs, p.sutCPUs, err = splitCPUs(env.LoadGenerator, env.System)
	if err != nil {
		p.Close()
		return nil, p.plan.Errorf("environment.cpus", "list CPUs this machine has, or remove environment.cpus", "%v", err)
	}
	if p.loadCPUs != "" {
		var old unix.CPUSet
		if unix.SchedGetaffinity(0, &old) == nil {
			p.oldMask = &old
		}
		if err := pinTree(os.Getpid(), p.loadCPUs); err != nil {
			p.Close()
			return nil, fmt.Errorf("local platform: %w", err)
		}
	}
	return p, nil
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, s)
}

// shape is the plan's shape topology's services (internal/app), nil for chain and fanout.
func (p *Platform) shape() []app.ShapeService {
	svcs, _ := app.Shape(string(p.plan.Workload.App.Topology))
	return svcs
}

func (p *Platform) services() []string {
	if shape := p.shape(); shape != nil {
		out := make([]string, len(shape))
		for i, s := range shape {
			out[i] = s.Name
		}
		return out
	}
	n := p.plan.Workload.App.Services
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("svc-%d", i+1)
	}
	return out
}

func (p *Platform) issueIdentities() error {
	ca, err := pki.NewCA(p.opt.RunID)
	if err != nil {
		return fmt.Errorf("local platform: create the run's CA: %w", err)
	}
	p.ca = ca
	certDir := filepath.Join(p.dir, "certs")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		return fmt.Errorf("local platform: %w", err)
	}
	if p.caFile, err = ca.WriteFiles(certDir); err != nil {
		return err
	}
	for _, name := range append(p.services(), "client", gatewayName) {
		id, err := ca.Issue(name)
		if err != nil {
			return fmt.Errorf("local platform: issue identity %s: %w", name, err)
		}
		f, err := id.WriteFiles(certDir)
		if err != nil {
			return err
		}
		p.certs[name] = f
	}
	return nil
}

// Describe implements platform.Platform: the CPU sets of the load generator and of the
// system under test ("" when they share the machine's CPUs). The load generator is the
// run's own, in this process (platform.LoadNone).
func (p *Platform) Describe(context.Context) platform.Environment {
	return platform.Environment{LoadGeneratorCPUs: p.loadCPUs, SystemCPUs: p.sutCPUs}
}

// kindOf maps a local mesh type to its sidecar.
func kindOf(m spec.MeshType) (sidecar.Kind, bool) {
	switch m {
	case spec.MeshBuiltin:
		return sidecar.Builtin, true
	case spec.MeshHAProxy:
		return sidecar.HAProxy, true
	case spec.MeshNginx:
		return sidecar.Nginx, true
	case spec.MeshEnvoy:
		return sidecar.Envoy, true
	}
	return "", false
}

// Check makes sure every proxy the plan's arms need is installed and can carry the
// workload, before anything starts. Errors point at the arm in the plan file.
func (p *Platform) Check(ctx context.Context) error {
	var errs []error
	var noCert []string // arms whose strict or permissive sidecars the generator must dial with mTLS
	for i, a := range p.plan.Arms {
		k, ok := kindOf(a.Mesh)
		if !ok {
			continue
		}
		tool, err := p.tool(ctx, k)
		if err != nil {
			fix := "install it, or remove this arm"
			var nf *proc.NotFoundError
			if errors.As(err, &nf) && nf.Hint != "" {
				fix = nf.Hint + ", or remove this arm"
			}
			errs = append(errs, p.plan.Errorf(fmt.Sprintf("arms[%d].mesh", i), fix, "%s sidecars need %v", a.Mesh, err))
			continue
		}
		for _, proto := range p.sidecarProtocols() {
			if err := k.Supports(proto, sidecar.MTLSMode(a.MTLS), tool); err != nil {
				errs = append(errs, p.plan.Errorf(fmt.Sprintf("arms[%d].mesh", i), "choose another proxy, protocol or mtls mode", "%v", err))
				break
			}
		}
		if w := p.plan.Workload; generatorIsClient(w) && w.Entry.Via != spec.EntryGateway && a.MTLS != spec.MTLSOff && !presentsClientCert(w.LoadGenerator) {
			noCert = append(noCert, a.Name)
		}
	}
	errs = append(errs, p.checkGateway(ctx)...)
	if len(noCert) > 0 {
		w := p.plan.Workload
		errs = append(errs, p.plan.Errorf("workload.load_generator", "use load_generator: builtin or fortio, keep_alive: true, or mtls: off",
			"with keep_alive false the load generator is the mesh's client and must present a client certificate to the sidecars of %s; %s cannot",
			strings.Join(noCert, ", "), w.LoadGenerator))
	}
	if len(errs) > 0 {
		var planErrs spec.Errors
		for _, e := range errs {
			if pe, ok := e.(*spec.Error); ok {
				planErrs = append(planErrs, pe)
			}
		}
		return planErrs
	}
	return nil
}

// sidecarProtocols are the protocols the arm's sidecars carry: the workload's, and for a
// shape every protocol its services are called over.
func (p *Platform) sidecarProtocols() []sidecar.Protocol {
	out := []sidecar.Protocol{carry.Sidecar(p.plan.Workload.Protocol)}
	for _, s := range p.shape() {
		if proto := carry.SidecarOf(s.UpstreamProtocol); !slices.Contains(out, proto) {
			out = append(out, proto)
		}
	}
	return out
}

// generatorIsClient says whether, on a mesh arm, the load generator takes the client
// sidecar's place and opens its connections to svc-1's inbound sidecar itself, with
// mTLS as the run's "client" identity (or in plaintext with mtls: off). That is the case
// for HTTP/1.1 with keep-alive off, the workload that measures the cost of opening a
// connection: a client sidecar, like every sidecar proxying HTTP, keeps a pool of
// upstream connections, so the generator's connection per request would end at the
// client sidecar in plaintext and the mTLS handshake would happen a few times per trial,
// out of sight. Keep-alive off is HTTP/1.1 only (the plan validator rejects it for h2c,
// h2 and gRPC, which multiplex requests over one connection).
func generatorIsClient(w spec.Workload) bool {
	return w.KeepAlive != nil && !*w.KeepAlive && w.Protocol == spec.ProtocolHTTP1
}

// presentsClientCert says whether a load generator can present a client certificate
// from the Target's TLS files, which a strict inbound sidecar requires.
func presentsClientCert(g spec.Generator) bool {
	switch g {
	case spec.GeneratorWrk, spec.GeneratorWrk2, spec.GeneratorNighthawk:
		return false
	}
	return true
}

// generatorIsClientWarning is the trial warning of a mesh arm where generatorIsClient.
const generatorIsClientWarning = "keep_alive off: the load generator stands in for the client sidecar and dials svc-1's sidecar itself " +
	"(with mTLS unless mtls is off), since a client sidecar would pool its connections and hide the handshake; " +
	"no client-side proxy is in the proxy figures (docs/local.md)"

// gatewayName is the local gateway's process and identity.
const gatewayName = "gateway"

// gatewayKind is the proxy that runs an arm's gateway (entry via gateway): the plan's
// entry.proxy, else the arm's own proxy, else (the baseline) the proxy the plan's mesh
// arms share (spec's validation makes sure there is one), builtin without any.
func (p *Platform) gatewayKind(arm spec.Arm) (sidecar.Kind, bool) {
	e := p.plan.Workload.Entry
	if e.Via != spec.EntryGateway {
		return "", false
	}
	if e.Proxy != "" {
		return kindOf(e.Proxy)
	}
	if k, ok := kindOf(arm.Mesh); ok {
		return k, true
	}
	for _, a := range p.plan.Arms {
		if k, ok := kindOf(a.Mesh); ok {
			return k, true
		}
	}
	return sidecar.Builtin, true
}

// tool finds the program of a sidecar kind once per run (the builtin is this smp).
func (p *Platform) tool(ctx context.Context, k sidecar.Kind) (sidecar.Tool, error) {
	if t, ok := p.tools[k]; ok {
		return t, nil
	}
	binary := ""
	if k == sidecar.Builtin {
		binary = p.opt.Self
	}
	t, err := k.Check(ctx, binary)
	if err != nil {
		return sidecar.Tool{}, err
	}
	p.tools[k] = t
	return t, nil
}

// checkGateway makes sure the proxy of every arm's gateway is installed and can carry
// the workload (the baseline's gateway is a proxy no mesh arm may have checked).
func (p *Platform) checkGateway(ctx context.Context) []error {
	var errs []error
	for _, a := range p.plan.Arms {
		k, ok := p.gatewayKind(a)
		if !ok {
			return nil
		}
		tool, err := p.tool(ctx, k)
		if err != nil {
			errs = append(errs, p.plan.Errorf("workload.entry", "install it, or set entry.proxy to a proxy that is installed",
				"the gateway of arm %s needs %v", a.Name, err))
			continue
		}
		mtls := sidecar.Off
		if _, meshed := kindOf(a.Mesh); meshed {
			mtls = sidecar.MTLSMode(a.MTLS)
		}
		if err := k.Supports(carry.Sidecar(p.plan.Workload.Protocol), mtls, tool); err != nil {
			errs = append(errs, p.plan.Errorf("workload.entry", "choose another proxy or protocol", "the gateway of arm %s: %v", a.Name, err))
		}
	}
	return errs
}

// deployment is the platform's state of one deployed arm.
type deployment struct {
	dir      string
	apps     []*proc.Process
	sidecars []*sidecar.Sidecar
	stopOnce sync.Once
	stopErr  error
}

// Deploy starts the app and, for mesh arms, the sidecars, then checks that a request
// goes through every hop and every proxy.
func (p *Platform) Deploy(ctx context.Context, arm spec.Arm) (d *platform.Deployment, err error) {
	p.mu.Lock()
	p.count++
	n := p.count
	p.mu.Unlock()
	st := &deployment{dir: filepath.Join(p.dir, fmt.Sprintf("%02d-%s", n, arm.Name))}
	if err := os.Mkdir(st.dir, 0o755); err != nil {
		return nil, fmt.Errorf("deploy %s: %w", arm.Name, err)
	}
	d = &platform.Deployment{Arm: arm, Private: st}
	// The error returns below set d to nil: tear down what was started through its own
	// handle.
	started := d
	defer func() {
		if err != nil {
			_ = p.Teardown(context.WithoutCancel(ctx), started)
			err = fmt.Errorf("deploy %s: %w", arm.Name, err)
		}
	}()
	wr, err := p.wire(arm)
	if err != nil {
		return nil, err
	}
	if err := p.startServices(ctx, st, d, wr); err != nil {
		return nil, err
	}
	if err := p.startClient(ctx, st, d, wr); err != nil {
		return nil, err
	}
	if wr.meshed {
		tool := p.tools[wr.kind]
		proxies := 0 // not the gateway
		for _, c := range d.Components {
			if c.Role == result.RoleProxy {
				proxies++
			}
		}
		d.Mesh = platform.MeshObserved{Version: tool.Version, ProxyVersion: tool.Version,
			ProxyConcurrency: arm.ProxyConcurrency, Proxies: proxies}
		d.Tools = append(d.Tools, platform.Tool{Name: string(wr.kind), Version: tool.Version, Path: tool.Path})
	}
	if err := p.verify(ctx, d, st, len(wr.services)); err != nil {
		return nil, err
	}
	return d, nil
}

// wiring is how an arm's processes reach each other: every address, chosen before
// anything starts, since the wiring is circular (a sidecar listens for its service and
// sends to the next service's sidecar).
type wiring struct {
	arm  spec.Arm
	kind sidecar.Kind
	// meshed: a sidecar beside every service. direct: the load generator is the mesh's
	// client itself, with no client-proxy (generatorIsClient). gateway: the load enters
	// through a gateway instead of a client-proxy (entry via gateway).
	meshed, direct, gateway bool
	services                []string
	// shape is the plan's shape topology (nil for chain and fanout): per service, what
	// it is called over, what it calls and how, and its reply's size.
	shape []app.ShapeService
	// upstreams are, per service, the services it calls (by index).
	upstreams [][]int
	addrs     []serviceAddrs
	// clientOut and clientAdmin are the client-proxy's (or the gateway's) listener and
	// admin address.
	clientOut, clientAdmin string
}

// serviceAddrs are one service's addresses and those of its sidecar.
type serviceAddrs struct {
	http, grpc, tls, tcp string // the app's listeners (grpc with protocol grpc, tls for svc-1 with h2, tcp with tcp)
	in, admin            string // its sidecar's inbound listener and admin
	out                  []string
}

// upstreamsOf is who calls whom: a chain (svc-1 → svc-2 → …) or a fan-out (svc-1 calls
// every other service).
func upstreamsOf(topology spec.Topology, n int) [][]int {
	upstreams := make([][]int, n)
	for i := range n {
		switch {
		case topology == spec.TopologyFanout && i == 0:
			for j := 1; j < n; j++ {
				upstreams[0] = append(upstreams[0], j)
			}
		case topology != spec.TopologyFanout && i+1 < n:
			upstreams[i] = []int{i + 1}
		}
	}
	return upstreams
}

// wire chooses every address of an arm.
func (p *Platform) wire(arm spec.Arm) (wiring, error) {
	w := p.plan.Workload
	kind, meshed := kindOf(arm.Mesh)
	gateway := w.Entry.Via == spec.EntryGateway
	wr := wiring{arm: arm, kind: kind, meshed: meshed, direct: meshed && generatorIsClient(w) && !gateway, gateway: gateway,
		services: p.services(), shape: p.shape()}
	wr.upstreams = upstreamsOf(w.App.Topology, len(wr.services))
	for i, s := range wr.shape {
		wr.upstreams[i] = s.Upstreams
	}
	wr.addrs = make([]serviceAddrs, len(wr.services))
	pt := newPorts()
	var err error
	next := func(dst *string) {
		if err == nil {
			*dst, err = pt.next()
		}
	}
	for i := range wr.services {
		a := &wr.addrs[i]
		next(&a.http)
		if w.Protocol == spec.ProtocolGRPC || wr.shape != nil && wr.shape[i].Serves == app.GRPC {
			next(&a.grpc)
		}
		if w.Protocol == spec.ProtocolTCP {
			next(&a.tcp)
		}
		if i == 0 && w.Protocol == spec.ProtocolH2 {
			next(&a.tls)
		}
		if meshed {
			next(&a.in)
			next(&a.admin)
			a.out = make([]string, len(wr.upstreams[i]))
			for k := range a.out {
				next(&a.out[k])
			}
		}
	}
	if gateway || meshed && !wr.direct {
		next(&wr.clientOut)
		next(&wr.clientAdmin)
	}
	return wr, err
}

// calledAt is where service i's app serves its callers: the workload's protocol, or in
// a shape the protocol the service is called over.
func (wr wiring) calledAt(i int, protocol spec.Protocol) string {
	if wr.shape != nil && wr.shape[i].Serves == app.GRPC {
		return wr.addrs[i].grpc
	}
	return wr.appAddr(i, protocol)
}

// appAddr is where service i's app serves the workload's protocol.
func (wr wiring) appAddr(i int, protocol spec.Protocol) string {
	switch protocol {
	case spec.ProtocolGRPC:
		return wr.addrs[i].grpc
	case spec.ProtocolTCP:
		return wr.addrs[i].tcp
	}
	return wr.addrs[i].http
}

// startServices starts every service and, on a mesh arm, its sidecar, from the end of
// the chain so that every upstream is up before its callers.
func (p *Platform) startServices(ctx context.Context, st *deployment, d *platform.Deployment, wr wiring) error {
	w := p.plan.Workload
	for i := len(wr.services) - 1; i >= 0; i-- {
		name, a := wr.services[i], wr.addrs[i]
		cfg := app.Config{
			Name: name, HTTPAddr: a.http, GRPCAddr: a.grpc, TLSAddr: a.tls, TCPAddr: a.tcp,
			UpstreamProtocol: carry.App(w.Protocol), ResponseSize: int(w.App.ResponseBytes()),
			CPUTime: w.App.CPUTime.D(), Delay: w.App.Delay.D(),
		}
		if a.tls != "" {
			cfg.CertFile, cfg.KeyFile = p.certs[name].Cert, p.certs[name].Key
		}
		if wr.shape != nil {
			s := wr.shape[i]
			cfg.UpstreamProtocol, cfg.Sequential, cfg.ResponseSize = s.UpstreamProtocol, s.Sequential, s.ResponseSize
		}
		for k, j := range wr.upstreams[i] {
			up := app.Upstream{Name: wr.services[j], Addr: wr.calledAt(j, w.Protocol)}
			if wr.meshed {
				up.Addr = a.out[k]
			}
			cfg.Upstreams = append(cfg.Upstreams, up)
		}
		proc, err := p.startApp(ctx, st, cfg)
		if err != nil {
			return err
		}
		d.Components = append(d.Components, platform.Component{Name: name, Role: result.RoleApp,
			Service: name, PID: proc.PID(), MetricsURL: "http://" + a.http + "/metrics"})
		if !wr.meshed {
			continue
		}
		spec := p.sidecarSpec(wr.arm, name+"-proxy", name)
		spec.Inbound, spec.AdminListen = &sidecar.Inbound{Listen: a.in, App: wr.calledAt(i, w.Protocol)}, a.admin
		for k, j := range wr.upstreams[i] {
			spec.Outbounds = append(spec.Outbounds, sidecar.Outbound{Listen: a.out[k], Upstream: wr.addrs[j].in,
				UpstreamID: pki.ID(p.opt.RunID, wr.services[j])})
		}
		if wr.shape != nil {
			// A shape's service may be called over one protocol and call over another
			// (emojivoto's web: HTTP/1.1 in, gRPC out): each listener carries its own.
			spec.Inbound.Protocol = carry.SidecarOf(wr.shape[i].Serves)
			for k := range spec.Outbounds {
				spec.Outbounds[k].Protocol = carry.SidecarOf(wr.shape[i].UpstreamProtocol)
			}
		}
		sc, err := p.startSidecar(ctx, st, wr.kind, spec)
		if err != nil {
			return err
		}
		d.Components = append(d.Components, platform.Component{Name: spec.Name, Role: result.RoleProxy,
			Service: name, PID: sc.PID(), AdminURL: sc.StatsURL, MetricsURL: sc.MetricsURL})
	}
	return nil
}

// sidecarSpec is the part of a sidecar's spec every sidecar of the arm shares, with the
// identity of the service it stands beside ("client" for the client-proxy).
func (p *Platform) sidecarSpec(arm spec.Arm, name, identity string) sidecar.Spec {
	return sidecar.Spec{
		Name:        name,
		Protocol:    carry.Sidecar(p.plan.Workload.Protocol),
		MTLS:        sidecar.MTLSMode(arm.MTLS),
		CertFile:    p.certs[identity].Cert,
		KeyFile:     p.certs[identity].Key,
		CAFile:      p.caFile,
		Concurrency: arm.ProxyConcurrency,
	}
}

// startClient sets where the load goes: svc-1's app (baseline), the client-proxy in
// front of svc-1's sidecar (mesh), svc-1's sidecar itself when the load generator is
// the mesh's client (direct), or a gateway in front of either (entry via gateway).
func (p *Platform) startClient(ctx context.Context, st *deployment, d *platform.Deployment, wr wiring) error {
	w := p.plan.Workload
	first := wr.addrs[0]
	switch {
	case wr.gateway:
		return p.startGateway(ctx, st, d, wr)
	case wr.direct:
		d.Target = platform.Target{Protocol: w.Protocol, URLs: []string{"http://" + first.in + w.Path}}
		if wr.arm.MTLS != spec.MTLSOff {
			// svc-1's certificate names it as a DNS SAN (package pki), so the generator's
			// ordinary verification against the run's CA authenticates it.
			d.Target.URLs = []string{"https://" + first.in + w.Path}
			d.Target.TLS = &platform.TLSFiles{CAFile: p.caFile, CertFile: p.certs["client"].Cert,
				KeyFile: p.certs["client"].Key, ServerName: wr.services[0]}
		}
		d.Warnings = append(d.Warnings, generatorIsClientWarning)
	case wr.meshed:
		spec := p.sidecarSpec(wr.arm, "client-proxy", "client")
		spec.AdminListen = wr.clientAdmin
		spec.Outbounds = []sidecar.Outbound{{Listen: wr.clientOut, Upstream: first.in, UpstreamID: pki.ID(p.opt.RunID, wr.services[0])}}
		sc, err := p.startSidecar(ctx, st, wr.kind, spec)
		if err != nil {
			return err
		}
		d.Components = append(d.Components, platform.Component{Name: spec.Name, Role: result.RoleProxy,
			PID: sc.PID(), AdminURL: sc.StatsURL, MetricsURL: sc.MetricsURL})
		d.Target = target(w, wr.clientOut, first.tls, p.caFile)
	default:
		d.Target = target(w, wr.appAddr(0, w.Protocol), first.tls, p.caFile)
	}
	return nil
}

// startGateway starts the arm's gateway (entry via gateway), of the same kind on every
// arm: to svc-1's sidecar with the mesh's mTLS on a mesh arm, to svc-1 itself in
// plaintext on the baseline; the load goes to it.
func (p *Platform) startGateway(ctx context.Context, st *deployment, d *platform.Deployment, wr wiring) error {
	w := p.plan.Workload
	first := wr.addrs[0]
	gs := sidecar.Spec{Name: gatewayName, Protocol: carry.Sidecar(w.Protocol), MTLS: sidecar.Off,
		Concurrency: wr.arm.ProxyConcurrency, AdminListen: wr.clientAdmin,
		Outbounds: []sidecar.Outbound{{Listen: wr.clientOut, Upstream: wr.appAddr(0, w.Protocol)}}}
	if wr.meshed {
		gs.MTLS = sidecar.MTLSMode(wr.arm.MTLS)
		gs.Outbounds[0].Upstream, gs.Outbounds[0].UpstreamID = first.in, pki.ID(p.opt.RunID, wr.services[0])
	}
	if gs.MTLS != sidecar.Off {
		gs.CertFile, gs.KeyFile, gs.CAFile = p.certs[gatewayName].Cert, p.certs[gatewayName].Key, p.caFile
	}
	gk, _ := p.gatewayKind(wr.arm)
	sc, err := p.startSidecar(ctx, st, gk, gs)
	if err != nil {
		return err
	}
	d.Components = append(d.Components, platform.Component{Name: gs.Name, Role: result.RoleGateway,
		PID: sc.PID(), AdminURL: sc.StatsURL, MetricsURL: sc.MetricsURL})
	d.Target = target(w, wr.clientOut, first.tls, p.caFile)
	if !wr.meshed {
		tool := p.tools[gk]
		d.Tools = append(d.Tools, platform.Tool{Name: string(gk), Version: tool.Version, Path: tool.Path})
	}
	return nil
}

func target(w spec.Workload, entry, tlsEntry, caFile string) platform.Target {
	t := platform.Target{Protocol: w.Protocol}
	switch w.Protocol {
	case spec.ProtocolGRPC:
		t.URLs = []string{"grpc://" + entry}
	case spec.ProtocolTCP:
		t.URLs = []string{"tcp://" + entry}
	case spec.ProtocolH2:
		t.URLs = []string{"https://" + tlsEntry + w.Path}
		t.TLS = &platform.TLSFiles{CAFile: caFile, ServerName: "svc-1"}
	default:
		t.URLs = []string{"http://" + entry + w.Path}
	}
	return t
}

// startApp starts `smp app` and waits for its ready line.
func (p *Platform) startApp(ctx context.Context, st *deployment, cfg app.Config) (*proc.Process, error) {
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", cfg.Name, err)
	}
	file := filepath.Join(st.dir, cfg.Name+".json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		return nil, fmt.Errorf("service %s: %w", cfg.Name, err)
	}
	ready := make(chan app.ReadyLine, 1)
	cmd := proc.Cmd{Name: cfg.Name, Path: p.opt.Self, Args: []string{"app", "--config", file},
		Stdout: &readyWriter{ch: ready}, Grace: 3 * time.Second}
	pr, err := proc.Start(ctx, cmd)
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", cfg.Name, err)
	}
	st.apps = append(st.apps, pr)
	timer := time.NewTimer(p.opt.ReadyTimeout)
	defer timer.Stop()
	select {
	case <-ready:
	case <-pr.Done():
		return nil, fmt.Errorf("service %s exited before it was ready: %w", cfg.Name, pr.Wait())
	case <-timer.C:
		return nil, fmt.Errorf("service %s was not ready within %s\n  command: %s\n  output: %s", cfg.Name, p.opt.ReadyTimeout, pr.Command(), pr.Output())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := pinTree(pr.PID(), p.sutCPUs); err != nil {
		return nil, err
	}
	return pr, nil
}

// readyWriter passes the first complete line of a child's stdout to ch.
type readyWriter struct {
	ch   chan app.ReadyLine
	buf  bytes.Buffer
	done bool
}

func (w *readyWriter) Write(b []byte) (int, error) {
	if w.done {
		return len(b), nil
	}
	w.buf.Write(b)
	if line, _, ok := bytes.Cut(w.buf.Bytes(), []byte("\n")); ok {
		w.done = true
		var rl app.ReadyLine
		if json.Unmarshal(line, &rl) == nil && rl.Ready {
			w.ch <- rl
		}
	}
	return len(b), nil
}

func (p *Platform) startSidecar(ctx context.Context, st *deployment, kind sidecar.Kind, s sidecar.Spec) (*sidecar.Sidecar, error) {
	s.WorkDir = filepath.Join(st.dir, s.Name)
	if err := os.Mkdir(s.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("sidecar %s: %w", s.Name, err)
	}
	opt := sidecar.Options{Tool: p.tools[kind], ReadyTimeout: p.opt.ReadyTimeout}
	if kind == sidecar.Builtin {
		opt.Binary = p.opt.Self
	}
	sc, err := sidecar.Launch(ctx, kind, s, opt)
	if err != nil {
		return nil, err
	}
	st.sidecars = append(st.sidecars, sc)
	if err := pinTree(sc.PID(), p.sutCPUs); err != nil {
		return nil, err
	}
	return sc, nil
}

// verify sends one request through the deployment and checks that it crossed every
// service and, on mesh arms, that every proxy's own counters moved: a proxy that is
// bypassed would otherwise make a mesh look free.
func (p *Platform) verify(ctx context.Context, d *platform.Deployment, st *deployment, services int) error {
	if d.Target.Protocol == spec.ProtocolTCP {
		return p.verifyTCP(ctx, d, st)
	}
	// Chain or fan-out, a request that reached every service reports as many hops.
	hops, err := probe(ctx, d.Target, p.plan.Workload)
	if err != nil {
		return fmt.Errorf("a request through the deployment failed: %w", err)
	}
	if hops != services {
		return fmt.Errorf("a request crossed %d services, want %d", hops, services)
	}
	for _, sc := range st.sidecars {
		c, err := sc.Counters(ctx)
		if err != nil {
			return fmt.Errorf("read the counters of %s: %w", sc.Spec.Name, err)
		}
		if c.Requests == 0 {
			return fmt.Errorf("traffic did not go through %s (its request counter did not move)", sc.Spec.Name)
		}
	}
	return nil
}

// Teardown stops every process of the deployment and removes its files.
func (p *Platform) Teardown(ctx context.Context, d *platform.Deployment) error {
	st, ok := d.Private.(*deployment)
	if !ok || st == nil {
		return nil
	}
	st.stopOnce.Do(func() {
		var errs []error
		for _, sc := range slices.Backward(st.sidecars) {
			if err := sc.Stop(ctx); err != nil && !isExitAfterSignal(err) {
				errs = append(errs, fmt.Errorf("stop %s: %w", sc.Spec.Name, err))
			}
		}
		for _, a := range st.apps {
			if err := a.Stop(ctx); err != nil && !isExitAfterSignal(err) {
				errs = append(errs, fmt.Errorf("stop %s: %w", a.Name(), err))
			}
		}
		if err := os.RemoveAll(st.dir); err != nil {
			errs = append(errs, err)
		}
		st.stopErr = errors.Join(errs...)
	})
	return st.stopErr
}

// isExitAfterSignal tells a process that ended because we stopped it from one that failed.
func isExitAfterSignal(err error) bool {
	var re *proc.RunError
	if errors.As(err, &re) {
		msg := re.Err.Error()
		return strings.Contains(msg, "signal: terminated") || strings.Contains(msg, "signal: killed")
	}
	return false
}

// Close removes the run's working directory and gives the smp process its CPUs back.
func (p *Platform) Close() error {
	if p.oldMask != nil {
		_ = unix.SchedSetaffinity(0, p.oldMask)
		cpus := []int{}
		for c := 0; c < 1024; c++ {
			if p.oldMask.IsSet(c) {
				cpus = append(cpus, c)
			}
		}
		_ = pinTree(os.Getpid(), formatCPUs(cpus))
	}
	if p.dir != "" {
		return os.RemoveAll(p.dir)
	}
	return nil
}
