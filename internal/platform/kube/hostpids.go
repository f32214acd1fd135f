package kube

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/service-mesh-performance/smp/internal/platform"
)

// hostPIDs finds which containers of pods run on this machine (a node of the cluster is
// this host, as with scripts/kube-node) and the host PID of each one's first process,
// found by the container's id in /proc/<pid>/cgroup (the runtime puts every container in
// a cgroup named after its id). The procfs collector then measures them exactly, beside
// what cAdvisor says. Containers elsewhere are simply not in the map.
func hostPIDs(procRoot string, pods []corev1.Pod) map[string]int {
	ids := map[string]string{} // container id → "<namespace>/<pod>/<container>"
	for _, pod := range pods {
		for _, st := range pod.Status.ContainerStatuses {
			if _, id, ok := strings.Cut(st.ContainerID, "://"); ok && len(id) >= 12 {
				ids[id] = pod.Namespace + "/" + pod.Name + "/" + st.Name
			}
		}
	}
	out := map[string]int{}
	if len(ids) == 0 {
		return out
	}
	procs, _ := filepath.Glob(filepath.Join(procRoot, "[0-9]*"))
	for _, dir := range procs {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, "cgroup"))
		if err != nil {
			continue
		}
		for id, key := range ids {
			if !strings.Contains(string(data), id) {
				continue
			}
			// The container's first process has the lowest PID of its cgroup.
			if cur, ok := out[key]; !ok || pid < cur {
				out[key] = pid
			}
			break
		}
	}
	return out
}

// attachHostPIDs sets the PID of every component whose container runs on this machine.
// A cluster that cannot be asked leaves the components as they are: the PIDs only add a
// second, exact source of resource figures.
func (p *Platform) attachHostPIDs(ctx context.Context, namespaces []string, comps []platform.Component) {
	var pods []corev1.Pod
	for _, ns := range namespaces {
		list, err := p.c.core.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelRun + "=" + p.runKey})
		if err != nil {
			return
		}
		pods = append(pods, list.Items...)
	}
	pids := hostPIDs("/proc", pods)
	for i, c := range comps {
		if pid, ok := pids[c.Namespace+"/"+c.Pod+"/"+c.Container]; ok {
			comps[i].PID = pid
		}
	}
}
