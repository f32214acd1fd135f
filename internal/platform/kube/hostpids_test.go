package kube

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestHostPIDs: a container whose id is in a process's cgroup runs on this machine, and
// its first process (the lowest PID of that cgroup) stands for it; a container of
// another machine, or not started, has none.
func TestHostPIDs(t *testing.T) {
	root := t.TempDir()
	const here, there = "4f1c0d9ea1b2c3d4e5f60718293a4b5c6d7e8f9011223344556677889900aabb", "0123456789abcdef0123456789abcdef"
	for pid, cg := range map[string]string{
		"12":  "4:cpu:/smp-kube-node/kubepods/besteffort/pod1/" + here + "\n",
		"40":  "4:cpu:/smp-kube-node/kubepods/besteffort/pod1/" + here + "\n", // a child of 12
		"7":   "4:cpu:/user.slice\n",
		"abc": "not a process",
	} {
		if err := os.MkdirAll(filepath.Join(root, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, pid, "cgroup"), []byte(cg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pods := []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "svc-1-abc"},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
			{Name: "app", ContainerID: "containerd://" + here},
			{Name: "smp-proxy", ContainerID: "containerd://" + there},
			{Name: "waiting"},
		}}}}
	got := hostPIDs(root, pods)
	if len(got) != 1 || got["ns/svc-1-abc/app"] != 12 {
		t.Errorf("hostPIDs = %v, want only ns/svc-1-abc/app at 12", got)
	}
}
