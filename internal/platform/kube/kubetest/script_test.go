package kubetest

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// inSandbox runs the bash script body in namespaces of its own (mount, network, PID,
// with a /proc of its own) where empty tmpfs mounts hide every folder scripts/kube-node
// works in (/run, /var/lib, /var/log, the cgroup hierarchies): there the script's down
// and release run for real without reaching the machine's node, which other tests may
// be using, its processes, files, bridge or iptables rules. The body calls the script as
// `kn ARGS` (which prints rc=<exit status>) and reports paths with `exists PATH…`
// (exists PATH or gone PATH); it is given on standard input, so that no process's
// command line names the node's folders (down's leftovers would list it). It returns the
// lines printed and the script's standard error.
func inSandbox(t *testing.T, body string) (lines []string, stderr string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if Required() {
			t.Fatal("scripts/kube-node needs root")
		}
		t.Skip("scripts/kube-node needs root")
	}
	for _, bin := range []string{"unshare", "flock", "jq"} {
		if _, err := exec.LookPath(bin); err != nil {
			if Required() {
				t.Fatalf("%s not found (scripts/install-deps)", bin)
			}
			t.Skipf("%s not found (scripts/install-deps)", bin)
		}
	}
	script, err := NodeScript()
	if err != nil {
		t.Fatal(err)
	}
	// The namespace's mounts are private copies of the machine's: unmounting the real
	// node's (which down would list as its leftovers) does not reach the machine.
	prelude := `set -u
mount --make-rprivate / || exit 99
awk '$5 ~ "^/(var/lib|run)/smp-kube-node" {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
for d in /run /var/lib /var/log /sys/fs/cgroup; do mount -t tmpfs kube-node-test "$d" || exit 99; done
kn() { "$KN" "$@"; echo "rc=$?"; }
exists() { local p; for p; do if [ -e "$p" ]; then echo "exists $p"; else echo "gone $p"; fi; done; }
`
	cmd := exec.Command("unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc", "bash", "-s")
	cmd.Stdin = strings.NewReader(prelude + body)
	cmd.Env = append(os.Environ(), "KN="+script)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("the sandbox: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	return strings.Split(strings.TrimSpace(out.String()), "\n"), errOut.String()
}

// TestKubeNodeDownRefusesLeases: `scripts/kube-node down` refuses while a live process
// holds a lease (a test using the node would lose it mid-run): it names the holder, not
// a dead one's stale lease, says how to force it, exits non-zero and changes nothing;
// `down --force` stops the node anyway; `release` still stops it once the last holder
// is gone, and not before.
func TestKubeNodeDownRefusesLeases(t *testing.T) {
	const node = `mkdir -p /run/smp-kube-node/leases /var/lib/smp-kube-node
touch /var/lib/smp-kube-node/state /run/smp-kube-node/leases/$$ /run/smp-kube-node/leases/3999999
`
	for _, c := range []struct {
		name, body string
		want       []string
		stderr     []string
	}{
		{"down refused", node + "kn down\nexists /run/smp-kube-node/leases/1 /var/lib/smp-kube-node/state\n",
			[]string{"rc=1", "exists /run/smp-kube-node/leases/1", "exists /var/lib/smp-kube-node/state"},
			[]string{"refused", "PIDs: 1)", "down --force"}},
		{"down --force", node + "kn down --force\nexists /run/smp-kube-node /var/lib/smp-kube-node\n",
			[]string{"rc=0", "gone /run/smp-kube-node", "gone /var/lib/smp-kube-node"},
			[]string{"nothing of the node is left"}},
		{"release by the last holder", node + "kn release $$\nexists /run/smp-kube-node /var/lib/smp-kube-node\n",
			[]string{"rc=0", "gone /run/smp-kube-node", "gone /var/lib/smp-kube-node"},
			[]string{"last user gone"}},
		{"release while another holds a lease", node + "sleep 600 & touch /run/smp-kube-node/leases/$!\nkn release $$\nexists /var/lib/smp-kube-node/state\n",
			[]string{"rc=0", "exists /var/lib/smp-kube-node/state"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			lines, stderr := inSandbox(t, c.body)
			if !slices.Equal(lines, c.want) {
				t.Errorf("printed %q, want %q\nstderr:\n%s", lines, c.want, stderr)
			}
			for _, s := range c.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
			if strings.Contains(stderr, "3999999") {
				t.Errorf("stderr names the dead holder 3999999:\n%s", stderr)
			}
		})
	}
}

// TestKubeNodeDownRemovesOnlyNetns: down removes the network namespaces the node's
// sandboxes had, read from containerd's container specs (netns.list) and the CNI cache's
// sandbox fields, and nothing else those name: not a path outside /var/run/netns/ (a
// non-pause container's namespace is /proc/<pid>/ns/net of another process), nor one
// that climbs out of it.
func TestKubeNodeDownRemovesOnlyNetns(t *testing.T) {
	lines, stderr := inSandbox(t, `mkdir -p /run/smp-kube-node /var/lib/smp-kube-node /run/netns /var/lib/cni/results /var/lib/keep
touch /run/netns/cni-1 /run/netns/cni-2 /run/keep-1 /var/lib/keep/2 /run/keep-3
printf '%s\n' /var/run/netns/cni-1 /var/lib/keep/2 /var/run/netns/../keep-3 /proc/1/ns/net >/run/smp-kube-node/netns.list
echo '{"result":{"interfaces":[{"name":"eth0","sandbox":"/run/keep-1"},{"name":"eth1","sandbox":"/run/netns/cni-2"}]}}' >/var/lib/cni/results/smp-kube-node-abc-eth0
kn down
exists /run/netns/cni-1 /run/netns/cni-2 /var/lib/cni/results/smp-kube-node-abc-eth0 /run/keep-1 /var/lib/keep/2 /run/keep-3
`)
	want := []string{"rc=0", "gone /run/netns/cni-1", "gone /run/netns/cni-2", "gone /var/lib/cni/results/smp-kube-node-abc-eth0",
		"exists /run/keep-1", "exists /var/lib/keep/2", "exists /run/keep-3"}
	if !slices.Equal(lines, want) {
		t.Errorf("printed %q, want %q\nstderr:\n%s", lines, want, stderr)
	}
}

// TestKubeNodePutWritesOnlyChanges: the script's put, which writes the components'
// configuration files on every `up`, leaves a file alone when its content is the same
// (kube-proxy exits at any write to its configuration, so a second test process taking
// a lease killed it) and otherwise renames a complete copy over it, mode 0644, recording
// it in CHANGED (up then restarts kube-proxy itself); no temporary file is left.
func TestKubeNodePutWritesOnlyChanges(t *testing.T) {
	script, err := NodeScript()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	put := regexp.MustCompile(`(?ms)^CHANGED=\(\)\nput\(\) \{\n.*?^\}\n`).Find(src)
	if put == nil {
		t.Fatal("no put() in scripts/kube-node")
	}
	dir := t.TempDir()
	cmd := exec.Command("bash", "-c", string(put)+`set -eu
f=$1/kube-proxy.yaml
show() { echo "$(stat -c '%i %y %a' "$f") $(cat "$f") changed=${#CHANGED[@]}"; }
put "$f" <<<'mode: iptables'; show
put "$f" <<<'mode: iptables'; show
put "$f" <<<'mode: nftables'; show
ls "$1" | wc -l`, "put-test", dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 4 {
		t.Fatalf("printed %q", lines)
	}
	field := func(l string, i int) string { return strings.Fields(l)[i] }
	// stat: inode, date, time, zone, mode; then the content and the count of changes.
	first, same, changed := lines[0], lines[1], lines[2]
	if !strings.HasSuffix(first, " 644 mode: iptables changed=1") {
		t.Errorf("first put: %s; want the file, mode 644, one change", first)
	}
	if same != first { // the same inode, modification time, mode, content and changes
		t.Errorf("the same content again changed the file: %s, before %s", same, first)
	}
	if field(changed, 0) == field(first, 0) || !strings.HasSuffix(changed, " 644 mode: nftables changed=2") {
		t.Errorf("new content: %s; want a new file (renamed over the old), mode 644, a second change", changed)
	}
	if lines[3] != "1" {
		t.Errorf("%s files in the folder, want the one: a temporary copy was left", lines[3])
	}
}
