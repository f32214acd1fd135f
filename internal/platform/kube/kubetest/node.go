package kubetest

// The machine's real one-node cluster (scripts/kube-node), shared by every test process.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// NodeName is the real node's name; NodeAddress its InternalIP (the host side of its
// pod bridge), where its kubelet listens.
const (
	NodeName    = "smp-node"
	NodeAddress = "10.88.0.1"
	// NodePKI holds the node's certificates: ca.crt, and admin.crt with admin.key
	// (system:masters), which the kubelet accepts as a client (a Prometheus scraping
	// it directly uses them).
	NodePKI = "/var/lib/smp-kube-node/pki"
	// nodeContainerd is the node's containerd socket.
	nodeContainerd = "/run/smp-kube-node/containerd.sock"
)

// Node is the real one-node cluster of scripts/kube-node: etcd, the control plane, a
// kubelet with containerd and runc, a CNI bridge, kube-proxy and CoreDNS. There is one
// per machine; test processes share it through leases (StartNode takes one, Release
// gives it back; the last one out stops a node that no plain `scripts/kube-node up`
// pinned).
type Node struct {
	// Kubeconfig is the admin kubeconfig (system:masters).
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
	// Image is smp's image built from this source tree and loaded into the node's
	// containerd (smp.local/smp:<hash>): what environment.kubernetes.image must name for
	// the pods to run the code under test.
	Image string

	script string
}

// NodeScript is scripts/kube-node of the repository this package is in, found from the
// working directory (go test runs in the package's folder).
func NodeScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "scripts", "kube-node")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("scripts/kube-node not found above the working directory")
		}
		dir = parent
	}
}

// NodeMissing lists what the real node needs and this machine lacks (root, the Debian
// packages, the Kubernetes binaries); CoreDNS and the images are built by the script.
func NodeMissing() []string {
	var out []string
	if os.Geteuid() != 0 {
		out = append(out, "root (containerd, cgroups and the pods' network need it)")
	}
	for _, b := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"} {
		if _, err := os.Stat(filepath.Join(Dir(), "bin", b)); err != nil {
			out = append(out, filepath.Join(Dir(), "bin", b)+" (scripts/k8s-binaries)")
		}
	}
	for _, p := range []struct{ bin, pkg string }{{"etcd", "etcd-server"}, {"containerd", "containerd"}, {"runc", "runc"},
		{"iptables", "iptables"}, {"conntrack", "conntrack"}, {"dig", "bind9-dnsutils"}, {"openssl", "openssl"}} {
		if _, err := exec.LookPath(p.bin); err != nil {
			out = append(out, p.bin+" (Debian package "+p.pkg+", scripts/install-deps)")
		}
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		out = append(out, "/usr/lib/cni/bridge (Debian package containernetworking-plugins, scripts/install-deps)")
	}
	if _, err := NodeScript(); err != nil {
		out = append(out, "scripts/kube-node")
	}
	return out
}

// StartNode brings the real node up if it is not (scripts/kube-node up, which builds
// CoreDNS and the images when missing: up to a few minutes the first time), takes a
// lease on it for this process, and loads smp's image built from this source tree. On
// error the lease is given back.
func StartNode(ctx context.Context) (n *Node, err error) {
	script, err := NodeScript()
	if err != nil {
		return nil, err
	}
	n = &Node{script: script}
	out, err := n.run(ctx, "up", "--lease", strconv.Itoa(os.Getpid()))
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			n.Release()
		}
	}()
	n.Kubeconfig = strings.TrimSpace(out)
	if n.Config, err = clientcmd.BuildConfigFromFlags("", n.Kubeconfig); err != nil {
		return nil, fmt.Errorf("the node's kubeconfig %s: %w", n.Kubeconfig, err)
	}
	n.Config.QPS, n.Config.Burst = 50, 100
	if n.Client, err = kubernetes.NewForConfig(n.Config); err != nil {
		return nil, err
	}
	img, err := n.run(ctx, "image")
	if err != nil {
		return nil, err
	}
	n.Image = strings.TrimSpace(img)
	return n, nil
}

// Release gives this process's lease back; the node stops when it was the last and
// nobody pinned it.
func (n *Node) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, _ = n.run(ctx, "release", strconv.Itoa(os.Getpid()))
}

func (n *Node) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, n.script, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", n.script, strings.Join(args, " "), err, tail(errOut.String(), 4000))
	}
	return out.String(), nil
}

// Containers lists the containers (sandboxes included) that the node's containerd holds
// for pods of namespaces whose name starts with prefix, as "namespace/pod/container"; a
// pod deleted from the API server keeps its containers until the kubelet has removed
// them.
func (n *Node) Containers(ctx context.Context, prefix string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ctr", "--address", nodeContainerd, "--namespace", "k8s.io", "containers", "ls", "-q").Output()
	if err != nil {
		return nil, fmt.Errorf("ctr containers ls: %w", err)
	}
	var found []string
	for _, id := range strings.Fields(string(out)) {
		info, err := exec.CommandContext(ctx, "ctr", "--address", nodeContainerd, "--namespace", "k8s.io", "containers", "info", id).Output()
		if err != nil {
			continue // removed meanwhile
		}
		var c struct {
			Labels map[string]string `json:"Labels"`
		}
		if err := json.Unmarshal(info, &c); err != nil {
			return nil, fmt.Errorf("ctr containers info %s: %w", id, err)
		}
		ns := c.Labels["io.kubernetes.pod.namespace"]
		if strings.HasPrefix(ns, prefix) {
			name := c.Labels["io.kubernetes.container.name"]
			if name == "" {
				name = "(sandbox)"
			}
			found = append(found, ns+"/"+c.Labels["io.kubernetes.pod.name"]+"/"+name)
		}
	}
	return found, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// shared is the node of this test binary: one lease, taken by the first test that needs
// it.
var shared struct {
	once sync.Once
	node *Node
	err  error
}

// TestNode returns the real node, with smp's image of this source tree loaded, started
// (or joined) once per test binary. Without what it needs the test skips naming the
// scripts that install it, or fails with SMP_INTEGRATION=1.
func TestNode(t testing.TB) *Node {
	t.Helper()
	if missing := NodeMissing(); len(missing) > 0 {
		msg := "the real node needs " + strings.Join(missing, ", ") + " (scripts/install-deps, scripts/k8s-binaries; scripts/kube-node up)"
		if Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		shared.node, shared.err = StartNode(ctx)
	})
	if shared.err != nil {
		t.Fatalf("the real node: %v", shared.err)
	}
	return shared.node
}

// ReleaseTestNode gives back the lease TestNode took, if it took one (TestMain, once the
// tests have run).
func ReleaseTestNode() {
	if shared.node != nil {
		shared.node.Release()
	}
}
