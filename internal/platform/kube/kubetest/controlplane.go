package kubetest

// The control plane's processes and PKI.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// controlPlane is a running test cluster.
type controlPlane struct {
	dir                       string
	kubeconfig                string
	caPEM                     []byte
	servingPEM, servingKeyPEM []byte
	adminPEM, adminKeyPEM     []byte
	procs                     []*proc
	logs                      map[string]*lockedBuffer
	started                   time.Duration
}

// proc is one component's process; done is closed when it has exited.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 4<<20 { // keep the last 2-4 MiB
		rest := bytes.Clone(b.buf.Bytes()[b.buf.Len()-2<<20:])
		b.buf.Reset()
		b.buf.Write(rest)
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// pki writes the test CA, the serving certificate (API server, kwok's kubelet server,
// the injector webhook), the admin client certificate (system:masters) and the service
// account key.
func (cp *controlPlane) pki() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smp-test-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	cp.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	issue := func(serial int64, cn string, orgs []string, server bool) (certPEM, keyPEM []byte, err error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		tpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn, Organization: orgs},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
		if server {
			tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
			tpl.DNSNames = []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"}
		} else {
			tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}
		der, err := x509.CreateCertificate(rand.Reader, tpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			return nil, nil, err
		}
		kd, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return nil, nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), nil
	}
	serving, servingKey, err := issue(2, "127.0.0.1", nil, true)
	if err != nil {
		return err
	}
	cp.servingPEM, cp.servingKeyPEM = serving, servingKey
	admin, adminKey, err := issue(3, "smp-test-admin", []string{"system:masters"}, false)
	if err != nil {
		return err
	}
	cp.adminPEM, cp.adminKeyPEM = admin, adminKey
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	saPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)})
	for name, data := range map[string][]byte{"ca.crt": cp.caPEM, "serving.crt": serving, "serving.key": servingKey,
		"admin.crt": admin, "admin.key": adminKey, "sa.key": saPEM} {
		if err := os.WriteFile(filepath.Join(cp.dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (cp *controlPlane) start(name, bin string, args ...string) error {
	cmd := exec.Command(bin, args...)
	cmd.Dir = cp.dir
	buf := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	pr := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { pr.err = cmd.Wait(); close(pr.done) }()
	cp.logs[name] = buf
	cp.procs = append(cp.procs, pr)
	return nil
}

// exited names a component that has stopped (they all run until stop), or is nil.
func (cp *controlPlane) exited() error {
	for _, pr := range cp.procs {
		select {
		case <-pr.done:
			return fmt.Errorf("%s exited: %v", pr.name, pr.err)
		default:
		}
	}
	return nil
}

// waitFor is waitFor that gives up as soon as a component has exited.
func (cp *controlPlane) waitFor(ctx context.Context, what string, ok func() bool) error {
	var dead error
	err := waitFor(ctx, what, func() bool {
		if dead = cp.exited(); dead != nil {
			return true
		}
		return ok()
	})
	if dead != nil {
		return fmt.Errorf("waiting for %s: %w", what, dead)
	}
	return err
}

// logTail is the end of every component's log, for a failure message.
func (cp *controlPlane) logTail() string {
	var b strings.Builder
	for name, l := range cp.logs {
		fmt.Fprintf(&b, "--- %s\n%s\n", name, l.tail(3000))
	}
	return b.String()
}

// dirPattern names the folders of runs (os.MkdirTemp's pattern).
const dirPattern = "smp-kube-test-"

// sweep removes the folders that runs whose test binary was killed (go test's -timeout,
// a signal) could not remove: those whose pid file names a process that is gone. Their
// components died with the binary (Pdeathsig).
func sweep() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPattern+"*"))
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, "pid"))
		if err != nil {
			continue // not ours, or still being made
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(d)
		}
	}
}

// startControlPlane starts the cluster; forward maps pod ports to the local ports kwok
// forwards them to, in every pod.
func startControlPlane(forward map[int]int) (cp *controlPlane, err error) {
	t0 := time.Now()
	sweep()
	dir, err := os.MkdirTemp("", dirPattern)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	cp = &controlPlane{dir: dir, logs: map[string]*lockedBuffer{}}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, cp.logTail())
			cp.stop()
		}
	}()
	if err := cp.pki(); err != nil {
		return cp, fmt.Errorf("test PKI: %w", err)
	}
	ports := make([]int, 6)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return cp, err
		}
	}
	etcdClient, etcdPeer, apiPort, kcmPort, schedPort, kwokPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
	p := func(f string) string { return filepath.Join(dir, f) }
	bin := func(b string) string { return filepath.Join(Dir(), "bin", b) }
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	if err := cp.start("etcd", "etcd", "--data-dir", p("etcd"), "--name", "default",
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "default="+peerURL, "--quota-backend-bytes", "1073741824"); err != nil {
		return cp, err
	}
	if err := cp.start("kube-apiserver", bin("kube-apiserver"),
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", strconv.Itoa(apiPort),
		"--tls-cert-file", p("serving.crt"), "--tls-private-key-file", p("serving.key"),
		"--client-ca-file", p("ca.crt"),
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", p("sa.key"), "--service-account-signing-key-file", p("sa.key"),
		"--service-cluster-ip-range", "10.96.0.0/16",
		"--authorization-mode", "RBAC",
		"--kubelet-client-certificate", p("admin.crt"), "--kubelet-client-key", p("admin.key"),
		"--kubelet-preferred-address-types", "InternalIP",
		"--enable-priority-and-fairness=false",
		// The API server refuses a loopback advertise address with the default (lease)
		// endpoint reconciler; nothing here needs the kubernetes Service's endpoints.
		"--endpoint-reconciler-type", "none",
		// Debian's etcd (3.4.23) cannot answer progress requests, so the API server cannot
		// serve watch-list streams; with WatchList on it still turns a legacy watch from
		// resourceVersion 0 (kwok's) into one, refuses it, and kwok sees pods only when its
		// informers relist after a growing back-off: pods would take a minute to start and
		// to go. Off, watches are plain watches.
		"--feature-gates", "WatchList=false",
	); err != nil {
		return cp, err
	}
	cp.kubeconfig = p("kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:%d
    certificate-authority-data: %s
users:
- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: smp-test
  context: {cluster: test, user: admin}
current-context: smp-test
`, apiPort, b64(cp.caPEM), b64(cp.adminPEM), b64(cp.adminKeyPEM))
	if err := os.WriteFile(cp.kubeconfig, []byte(kc), 0o600); err != nil {
		return cp, err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", cp.kubeconfig)
	if err != nil {
		return cp, err
	}
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return cp, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := cp.waitFor(ctx, "the API server's /readyz", func() bool {
		body, err := core.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok"
	}); err != nil {
		return cp, err
	}
	if err := cp.start("kube-controller-manager", bin("kube-controller-manager"),
		"--kubeconfig", cp.kubeconfig, "--authentication-kubeconfig", cp.kubeconfig, "--authorization-kubeconfig", cp.kubeconfig,
		"--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(kcmPort),
		"--service-account-private-key-file", p("sa.key"), "--root-ca-file", p("ca.crt"),
		"--use-service-account-credentials=false", "--controllers", "*"); err != nil {
		return cp, err
	}
	if err := cp.start("kube-scheduler", bin("kube-scheduler"),
		"--kubeconfig", cp.kubeconfig, "--authentication-kubeconfig", cp.kubeconfig, "--authorization-kubeconfig", cp.kubeconfig,
		"--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(schedPort)); err != nil {
		return cp, err
	}
	// kwok: the fast node and pod stages, node heartbeats, and (forward) port-forwards of
	// every pod's ports to servers of the test process.
	stage := filepath.Join(Dir(), "stage")
	kwokArgs := []string{"--kubeconfig", cp.kubeconfig, "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector", "kwok.x-k8s.io/node=fake",
		"--node-ip", "127.0.0.1", "--node-port", strconv.Itoa(kwokPort), "--server-address", fmt.Sprintf("127.0.0.1:%d", kwokPort),
		"--tls-cert-file", p("serving.crt"), "--tls-private-key-file", p("serving.key"),
		"--cidr", "10.244.0.1/16"}
	if len(forward) > 0 {
		fwd := "apiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterPortForward\nmetadata:\n  name: smp-load\nspec:\n  forwards:\n"
		for _, podPort := range slices.Sorted(maps.Keys(forward)) {
			fwd += fmt.Sprintf("  - ports: [%d]\n    target:\n      port: %d\n      address: 127.0.0.1\n", podPort, forward[podPort])
		}
		if err := os.WriteFile(p("kwok-forward.yaml"), []byte(fwd), 0o600); err != nil {
			return cp, err
		}
		kwokArgs = append(kwokArgs, "--config", p("kwok-forward.yaml"))
	}
	for _, f := range []string{"node/fast/node-initialize.yaml", "node/heartbeat/node-heartbeat.yaml",
		"pod/fast/pod-ready.yaml", "pod/fast/pod-complete.yaml", "pod/fast/pod-delete.yaml"} {
		kwokArgs = append(kwokArgs, "--config", filepath.Join(stage, f))
	}
	if err := cp.start("kwok", bin("kwok"), kwokArgs...); err != nil {
		return cp, err
	}
	// The service account controller makes "default" in every namespace; pods wait for it.
	if err := cp.waitFor(ctx, "the default service account", func() bool {
		_, err := core.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	}); err != nil {
		return cp, err
	}
	cp.started = time.Since(t0)
	return cp, nil
}

func waitFor(ctx context.Context, what string, ok func() bool) error {
	for !ok() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s", what)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// stop ends every process (kwok first, etcd last) and removes the folder.
func (cp *controlPlane) stop() {
	for _, pr := range slices.Backward(cp.procs) {
		_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-pr.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
			<-pr.done
		}
	}
	if cp.dir != "" {
		_ = os.RemoveAll(cp.dir)
	}
}
