package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/platform"
	"github.com/service-mesh-performance/smp/internal/proc"
	"github.com/service-mesh-performance/smp/internal/sidecar"
	"github.com/service-mesh-performance/smp/internal/tempdir"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

var (
	buildOnce sync.Once
	smpBinary string
	buildErr  error
)

// smp builds the smp binary once per test run: the platform starts it as `smp app` and
// `smp sidecar`. The binary lives in a directory removed when the tests end.
func smp(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "smp-local-test-")
		if err != nil {
			buildErr = err
			return
		}
		smpBinary = filepath.Join(dir, "smp")
		out, err := exec.Command("go", "build", "-o", smpBinary, "../../../cmd/smp").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return smpBinary
}

func TestMain(m *testing.M) {
	code := m.Run()
	if smpBinary != "" {
		os.RemoveAll(filepath.Dir(smpBinary))
	}
	os.Exit(code)
}

// requireKind skips when a proxy is not installed, unless SMP_INTEGRATION=1 (CI), where
// a missing proxy is a failure.
func requireKind(t *testing.T, k sidecar.Kind, self string) {
	t.Helper()
	binary := ""
	if k == sidecar.Builtin {
		binary = self
	}
	if _, err := k.Check(context.Background(), binary); err != nil {
		var nf *proc.NotFoundError
		if errors.As(err, &nf) && os.Getenv("SMP_INTEGRATION") != "1" {
			t.Skipf("%s is not installed (%v); scripts/test installs it", k, err)
		}
		t.Fatal(err)
	}
}

func plan(t *testing.T, yaml string) *spec.Plan {
	t.Helper()
	p, err := spec.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

// TestDeployEveryArm deploys each local arm over each protocol, sends a request through
// it, and tears it down: every process is gone and no file is left.
func TestDeployEveryArm(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the local platform needs Linux")
	}
	self := smp(t)
	for _, mesh := range []string{"none", "builtin", "haproxy", "nginx"} {
		for _, protocol := range []string{"http/1.1", "h2c", "grpc"} {
			t.Run(mesh+"/"+strings.ReplaceAll(protocol, "/", ""), func(t *testing.T) {
				if k, ok := kindOf(spec.MeshType(mesh)); ok {
					requireKind(t, k, self)
				}
				topology := "chain"
				if protocol == "h2c" {
					topology = "fanout"
				}
				p := plan(t, fmt.Sprintf(`
name: deploy
arms: [{name: arm, mesh: %s}]
workload:
  protocol: %s
  app: {services: 3, topology: %s}
  duration: 1s
`, mesh, protocol, topology))
				tmp := t.TempDir()
				pf, d := checkAndDeploy(t, p, self, tmp)
				wantProxies := 0
				if mesh != "none" {
					wantProxies = 4 // one per service and the client's
				}
				var proxies, apps int
				for _, c := range d.Components {
					switch c.Role {
					case "proxy":
						proxies++
						if c.AdminURL == "" {
							t.Errorf("%s has no admin URL", c.Name)
						}
					case "app":
						apps++
					}
					if !alive(c.PID) {
						t.Errorf("%s (pid %d) is not running", c.Name, c.PID)
					}
				}
				if apps != 3 || proxies != wantProxies || d.Mesh.Proxies != wantProxies {
					t.Errorf("%d apps and %d proxies (mesh says %d), want 3 and %d", apps, proxies, d.Mesh.Proxies, wantProxies)
				}
				// The deployment answers the way the load generator will ask.
				hops, err := probe(context.Background(), d.Target, p.Workload)
				if err != nil || hops != 3 {
					t.Errorf("probe: %d hops, %v", hops, err)
				}
				if err := pf.Teardown(context.Background(), d); err != nil {
					t.Fatal(err)
				}
				for _, c := range d.Components {
					if alive(c.PID) {
						t.Errorf("%s (pid %d) is still running after teardown", c.Name, c.PID)
					}
				}
				if err := pf.Close(); err != nil {
					t.Fatal(err)
				}
				if left, _ := os.ReadDir(tmp); len(left) != 0 {
					t.Errorf("files left behind: %v", left)
				}
			})
		}
	}
}

// TestMTLSIsReal checks that a sidecar's inbound port refuses a plaintext client: with
// strict mTLS, only a peer holding a certificate from the run's CA gets through.
func TestMTLSIsReal(t *testing.T) {
	self := smp(t)
	requireKind(t, sidecar.Builtin, self)
	p := plan(t, "name: mtls\narms: [{name: arm, mesh: builtin, mtls: strict}]\nworkload: {app: {services: 1}, duration: 1s}\n")
	pf, err := New(Options{Plan: p, RunID: "test", Self: self, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	d, err := pf.Deploy(context.Background(), p.Arms[0])
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Teardown(context.Background(), d)
	st := d.Private.(*deployment)
	var inbound string
	for _, sc := range st.sidecars {
		if sc.Spec.Inbound != nil {
			inbound = sc.Addrs.Inbound
		}
	}
	if inbound == "" {
		t.Fatal("no inbound listener")
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + inbound + "/")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("a plaintext request to the strict inbound port %s got 200", inbound)
		}
	}
	// Through the client sidecar (which holds a certificate) it works.
	if hops, err := probe(context.Background(), d.Target, p.Workload); err != nil || hops != 1 {
		t.Errorf("through the mesh: %d hops, %v", hops, err)
	}
}

// TestCheckNamesTheArm: a proxy that is not installed is an error before anything
// starts, pointing at the arm in the plan.
func TestCheckNamesTheArm(t *testing.T) {
	self := smp(t)
	p := plan(t, "name: check\narms: [baseline, {name: e, mesh: envoy}]\nworkload: {duration: 1s}\n")
	pf, err := New(Options{Plan: p, RunID: "test", Self: self, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	if _, err := exec.LookPath("envoy"); err == nil {
		t.Skip("envoy is installed here")
	}
	err = pf.Check(context.Background())
	var errs spec.Errors
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("Check = %v, want one plan error", err)
	}
	if e := errs[0]; e.Path != "arms[1].mesh" || e.Line != 2 || !strings.Contains(e.Message, "envoy") || e.Fix == "" {
		t.Errorf("error %+v does not point at arms[1].mesh with a fix", e)
	}
}

func TestCPUSplit(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []int
	}{{"0", []int{0}}, {"1-3", []int{1, 2, 3}}, {"0,2-3", []int{0, 2, 3}}} {
		got, err := cpuList(c.in)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("cpuList(%q) = %v, %v", c.in, got, err)
		}
		if f := formatCPUs(got); f != c.in {
			t.Errorf("formatCPUs(%v) = %q, want %q", got, f, c.in)
		}
	}
	for _, bad := range []string{"x", "3-1", "1-"} {
		if _, err := cpuList(bad); err == nil {
			t.Errorf("cpuList(%q) accepted", bad)
		}
	}
	lg, sys, err := splitCPUs("", "")
	if err != nil {
		t.Fatal(err)
	}
	if runtime.NumCPU() >= 2 && (lg == "" || sys == "") {
		t.Errorf("with %d CPUs the split is %q / %q", runtime.NumCPU(), lg, sys)
	}
	if lg != "" {
		a, _ := cpuList(lg)
		b, _ := cpuList(sys)
		for _, x := range a {
			for _, y := range b {
				if x == y {
					t.Errorf("CPU %d is in both sets %q and %q", x, lg, sys)
				}
			}
		}
	}
}

// TestKeepAliveOffGeneratorIsClient: with keep-alive off a mesh arm has no client-proxy;
// the load generator dials svc-1's sidecar itself, with the client identity over mTLS
// (strict and permissive) or in plaintext (off), and the trial says so. A TLS client
// without the client certificate is refused by a strict sidecar, so the identity really
// takes part in the handshake.
func TestKeepAliveOffGeneratorIsClient(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the local platform needs Linux")
	}
	self := smp(t)
	for _, mesh := range []string{"builtin", "haproxy", "nginx"} {
		for _, mtls := range []string{"strict", "permissive", "off"} {
			t.Run(mesh+"/"+mtls, func(t *testing.T) {
				k, _ := kindOf(spec.MeshType(mesh))
				requireKind(t, k, self)
				p := plan(t, fmt.Sprintf(`
name: handshake
arms: [{name: arm, mesh: %s, mtls: %s}]
workload: {keep_alive: false, app: {services: 2}, duration: 1s}
`, mesh, mtls))
				// Not t.TempDir(): nginx's unix sockets need a short path.
				tmp, err := os.MkdirTemp("", "smp-ka-")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(tmp) })
				pf, d := checkAndDeploy(t, p, self, tmp)
				defer pf.Teardown(context.Background(), d)
				var inbound string
				for _, sc := range d.Private.(*deployment).sidecars {
					if sc.Spec.Name == "svc-1-proxy" {
						inbound = sc.Addrs.Inbound
					}
				}
				for _, c := range d.Components {
					if c.Name == "client-proxy" {
						t.Errorf("a client-proxy was started with keep-alive off")
					}
				}
				if d.Mesh.Proxies != 2 {
					t.Errorf("mesh says %d proxies, want 2 (one per service)", d.Mesh.Proxies)
				}
				if len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "client sidecar") {
					t.Errorf("warnings %q do not say the generator replaces the client sidecar", d.Warnings)
				}
				scheme := "https://"
				if mtls == "off" {
					scheme = "http://"
				}
				if len(d.Target.URLs) != 1 || d.Target.URLs[0] != scheme+inbound+"/" {
					t.Errorf("target %v, want %s%s/ (svc-1's sidecar)", d.Target.URLs, scheme, inbound)
				}
				switch tls := d.Target.TLS; {
				case mtls == "off" && tls != nil:
					t.Errorf("mtls off, but the target has TLS %+v", tls)
				case mtls != "off" && (tls == nil || tls.CertFile == "" || tls.KeyFile == "" || tls.CAFile == "" || tls.ServerName != "svc-1"):
					t.Errorf("target TLS %+v: want the client identity, the run's CA and server name svc-1", tls)
				}
				// The generator's way in works (Deploy checked it too)…
				if hops, err := probe(context.Background(), d.Target, p.Workload); err != nil || hops != 2 {
					t.Errorf("probe: %d hops, %v", hops, err)
				}
				if mtls != "strict" {
					return
				}
				// …and without the client certificate a strict sidecar refuses it.
				anon := d.Target
				anon.TLS = &platform.TLSFiles{CAFile: d.Target.TLS.CAFile, ServerName: d.Target.TLS.ServerName}
				if hops, err := probe(context.Background(), anon, p.Workload); err == nil {
					t.Errorf("a TLS client without a certificate got through the strict sidecar (%d hops)", hops)
				}
			})
		}
	}
}

// TestCheckClientCertGenerator: with keep-alive off on an mTLS arm the load generator
// must present the client certificate; one that cannot is a plan error before anything
// starts.
func TestCheckClientCertGenerator(t *testing.T) {
	self := smp(t)
	p := plan(t, `name: check
arms: [baseline, {name: m, mesh: builtin, mtls: strict}, {name: p, mesh: builtin, mtls: off}]
workload: {keep_alive: false, load_generator: wrk2, duration: 1s}
`)
	pf, err := New(Options{Plan: p, RunID: "test", Self: self, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	err = pf.Check(context.Background())
	var errs spec.Errors
	if !errors.As(err, &errs) || len(errs) != 1 {
		t.Fatalf("Check = %v, want one plan error", err)
	}
	if e := errs[0]; e.Path != "workload.load_generator" || !strings.Contains(e.Message, "sidecars of m;") || e.Fix == "" {
		t.Errorf("error %+v does not point at workload.load_generator, name arm m only and give a fix", e)
	}
}

// TestDeployFailureCleansUp: a deployment that fails half-way (here: the first service is
// not ready in time) stops what it started and removes its files.
func TestDeployFailureCleansUp(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the local platform needs Linux")
	}
	self := smp(t)
	p := plan(t, "name: fail\narms: [{name: arm, mesh: builtin}]\nworkload: {app: {services: 2}, duration: 1s}\n")
	pf, err := New(Options{Plan: p, RunID: "test", Self: self, TempDir: t.TempDir(), ReadyTimeout: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	d, err := pf.Deploy(context.Background(), p.Arms[0])
	if err == nil || d != nil {
		t.Fatalf("Deploy = %v, %v; want an error", d, err)
	}
	left, _ := os.ReadDir(pf.dir)
	left = slices.DeleteFunc(left, func(e os.DirEntry) bool { return e.Name() == tempdir.OwnerFile })
	if len(left) != 1 || left[0].Name() != "certs" {
		t.Errorf("left in the run's directory: %v", left)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), pf.dir) {
			t.Errorf("still running: %s", strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}

// checkAndDeploy makes a platform for p in tmp, checks it and deploys its first arm;
// the platform is closed when the test ends.
func checkAndDeploy(t *testing.T, p *spec.Plan, self, tmp string) (*Platform, *platform.Deployment) {
	t.Helper()
	pf, err := New(Options{Plan: p, RunID: "test", Self: self, TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pf.Close() })
	if err := pf.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	d, err := pf.Deploy(context.Background(), p.Arms[0])
	if err != nil {
		t.Fatal(err)
	}
	return pf, d
}

// TestKilledRunsFolderIsRemoved kills `smp run` with SIGKILL once its working folder
// holds the run's CA key: the folder outlives it (nothing can clean up after SIGKILL),
// and the next run's New removes it because its owner is gone.
func TestKilledRunsFolderIsRemoved(t *testing.T) {
	self := smp(t)
	tmp := t.TempDir()
	planFile := filepath.Join(tmp, "plan.yaml")
	if err := os.WriteFile(planFile, []byte("name: killed\narms: [baseline]\nworkload: {rate: 50, duration: 1m, warmup: 0s}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "run", planFile, "-q", "--results", filepath.Join(tmp, "results"))
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() }()
	var key string
	deadline := time.Now().Add(time.Minute)
	for key == "" && time.Now().Before(deadline) {
		keys, _ := filepath.Glob(filepath.Join(tmp, "smp-*", "certs", "*-key.pem"))
		if len(keys) > 0 {
			key = keys[0]
		} else {
			time.Sleep(20 * time.Millisecond) // polling for a file the child writes
		}
	}
	if key == "" {
		t.Fatal("smp run made no working folder with keys in a minute")
	}
	dir := filepath.Dir(filepath.Dir(key))
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("working folder mode %v, %v; want 0700", st.Mode().Perm(), err)
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Wait()
	if _, err := os.Stat(key); err != nil {
		t.Fatalf("the key is gone after SIGKILL (%v): this test shows nothing", err)
	}
	pf, err := New(Options{Plan: plan(t, "name: next\n"), RunID: "next", Self: self, TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the killed run's folder %s is still there (%v)", dir, err)
	}
}

// TestGatewayEntry deploys entry via gateway for each gateway proxy: the baseline gets the
// gateway alone in front of svc-1, a mesh arm of the same proxy gets it in front of svc-1's
// sidecar, with strict mTLS and no client-proxy. The load's target is the gateway, and the
// deployment is only returned once a request went through it (verify reads its counters).
func TestGatewayEntry(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the local platform needs Linux")
	}
	self := smp(t)
	for _, mesh := range []string{"builtin", "haproxy", "nginx"} {
		for _, arm := range []string{"none", mesh} {
			t.Run(mesh+"/"+arm, func(t *testing.T) {
				k, _ := kindOf(spec.MeshType(mesh))
				requireKind(t, k, self)
				p := plan(t, fmt.Sprintf(`
name: gateway
arms: [{name: arm, mesh: %s}]
workload:
  entry: {via: gateway, proxy: %s}
  app: {services: 3}
  duration: 1s
`, arm, mesh))
				pf, d := checkAndDeploy(t, p, self, t.TempDir())
				defer pf.Teardown(context.Background(), d)
				roles := map[result.Role]int{}
				var svc1 string
				for _, c := range d.Components {
					roles[c.Role]++
					if c.Name == "svc-1" {
						svc1 = strings.TrimSuffix(strings.TrimPrefix(c.MetricsURL, "http://"), "/metrics")
					}
				}
				wantProxies := 0
				if arm != "none" {
					wantProxies = 3 // one per service; the gateway replaces the client-proxy
				}
				if roles["gateway"] != 1 || roles["proxy"] != wantProxies || roles["app"] != 3 || d.Mesh.Proxies != wantProxies {
					t.Errorf("components by role %v (mesh says %d proxies), want 1 gateway, %d proxies, 3 apps", roles, d.Mesh.Proxies, wantProxies)
				}
				if len(d.Target.URLs) != 1 || strings.Contains(d.Target.URLs[0], svc1) {
					t.Errorf("target %v: the load must go to the gateway, not to svc-1 (%s)", d.Target.URLs, svc1)
				}
				if hops, err := probe(context.Background(), d.Target, p.Workload); err != nil || hops != 3 {
					t.Errorf("probe through the gateway: %d hops, %v", hops, err)
				}
			})
		}
	}
}

// TestDeployTCP deploys protocol tcp on every local arm, strict mTLS between sidecars:
// Deploy returns only once a message went through every proxy and service (verifyTCP),
// and the load generator's target is a tcp:// URL that echoes.
func TestDeployTCP(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the local platform needs Linux")
	}
	self := smp(t)
	for _, mesh := range []string{"none", "builtin", "haproxy", "nginx"} {
		t.Run(mesh, func(t *testing.T) {
			if k, ok := kindOf(spec.MeshType(mesh)); ok {
				requireKind(t, k, self)
			}
			p := plan(t, fmt.Sprintf(`
name: tcp
arms: [{name: arm, mesh: %s}]
workload:
  protocol: tcp
  app: {services: 3}
  duration: 1s
`, mesh))
			pf, d := checkAndDeploy(t, p, self, t.TempDir())
			defer pf.Teardown(context.Background(), d)
			if len(d.Target.URLs) != 1 || !strings.HasPrefix(d.Target.URLs[0], "tcp://") {
				t.Fatalf("target %v, want one tcp:// URL", d.Target.URLs)
			}
			st := d.Private.(*deployment)
			if err := pf.verifyTCP(context.Background(), d, st); err != nil {
				t.Errorf("a second message through the deployment: %v", err)
			}
			want := map[string]int{"none": 0}[mesh]
			if mesh != "none" {
				want = 4
			}
			if d.Mesh.Proxies != want {
				t.Errorf("%d proxies, want %d", d.Mesh.Proxies, want)
			}
		})
	}
}

// TestVerifyTCPCatchesABypass: a deployment whose target skips a service (the load
// reaching svc-2 directly) fails verification, naming the service the probe missed.
func TestVerifyTCPCatchesABypass(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the local platform needs Linux")
	}
	self := smp(t)
	p := plan(t, `
name: tcp
arms: [baseline]
workload:
  protocol: tcp
  app: {services: 2}
  duration: 1s
`)
	pf, d := checkAndDeploy(t, p, self, t.TempDir())
	defer pf.Teardown(context.Background(), d)
	st := d.Private.(*deployment)
	bypass := *d
	for _, c := range d.Components {
		if c.Name == "svc-2" {
			// svc-2's TCP port is the one after its HTTP port in the order Deploy picks
			// them; read it from its config instead of guessing.
			data, err := os.ReadFile(filepath.Join(st.dir, "svc-2.json"))
			if err != nil {
				t.Fatal(err)
			}
			var cfg struct {
				TCPAddr string `json:"tcp_addr"`
			}
			if err := json.Unmarshal(data, &cfg); err != nil {
				t.Fatal(err)
			}
			bypass.Target = platform.Target{Protocol: spec.ProtocolTCP, URLs: []string{"tcp://" + cfg.TCPAddr}}
		}
	}
	err := pf.verifyTCP(context.Background(), &bypass, st)
	if err == nil || !strings.Contains(err.Error(), "did not cross svc-1") {
		t.Errorf("verify of a target that skips svc-1: %v, want an error naming svc-1", err)
	}
}

// TestNewRemovesFoldersOfKilledRuns: a run killed with SIGKILL leaves its folder, with
// the run's CA key, in the temporary folder; the next run removes it and makes its own
// folder private. The folder of a run that is still going stays.
func TestNewRemovesFoldersOfKilledRuns(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the local platform needs Linux")
	}
	tmp := t.TempDir()
	leave := func(name string, owner *exec.Cmd) string {
		dir := filepath.Join(tmp, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for file, text := range map[string]string{tempdir.OwnerFile: fmt.Sprint(owner.Process.Pid), "ca-key.pem": "key"} {
			if err := os.WriteFile(filepath.Join(dir, file), []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	killed, running := exec.Command("sleep", "60"), exec.Command("sleep", "60")
	for _, c := range []*exec.Cmd{killed, running} {
		if err := c.Start(); err != nil {
			t.Skipf("cannot run sleep: %v", err)
		}
	}
	t.Cleanup(func() { _ = running.Process.Kill(); _ = running.Wait() })
	killedDir, runningDir := leave("smp-killed-1", killed), leave("smp-running-1", running)
	_ = killed.Process.Signal(syscall.SIGKILL)
	_ = killed.Wait()

	p := plan(t, "name: next\narms: [{name: arm, mesh: builtin}]\nworkload: {duration: 1s}\n")
	pf, err := New(Options{Plan: p, RunID: "next", Self: "/bin/true", TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	if _, err := os.Stat(killedDir); !os.IsNotExist(err) {
		t.Errorf("the folder of the killed run is still there (%v)", err)
	}
	if _, err := os.Stat(runningDir); err != nil {
		t.Errorf("the folder of a running run was removed: %v", err)
	}
	if st, err := os.Stat(pf.dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("the run's folder %s: %v, %v; want mode 0700", pf.dir, st.Mode().Perm(), err)
	}
}
