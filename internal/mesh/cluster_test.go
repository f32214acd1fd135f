package mesh

import (
	"testing"

	"github.com/service-mesh-performance/smp/spec"
)

func TestImageVersion(t *testing.T) {
	for _, c := range []struct{ image, want string }{
		{"docker.io/istio/pilot:1.24.2", "1.24.2"},
		{"quay.io/cilium/cilium:v1.16.3@sha256:62d2a09b", "1.16.3"},
		{"cr.l5d.io/linkerd/controller:stable-2.14.10", "stable-2.14.10"},
		{"localhost:5000/kuma-cp", ""},
		{"registry:5000/x/y:v2", "2"},
		{"busybox", ""},
		{"img:vnext", "vnext"},
	} {
		if got := ImageVersion(c.image); got != c.want {
			t.Errorf("ImageVersion(%q) = %q, want %q", c.image, got, c.want)
		}
	}
}

// TestClusterOf: every Kubernetes mesh can be detected (a CRD and a version component),
// and the strict-mTLS kinds it applies are among its CRDs.
func TestClusterOf(t *testing.T) {
	for _, p := range KubernetesProfiles() {
		c := ClusterOf(p)
		if p.Mesh == spec.MeshNone || p.Mesh == spec.MeshBuiltin {
			// Nothing to detect: no mesh, or smp's own sidecar.
			if len(c.CRDs)+len(c.Components) != 0 {
				t.Errorf("%s has detection data %+v", p.Name(), c)
			}
			continue
		}
		versions := 0
		for _, comp := range c.Components {
			if comp.Version {
				versions++
			}
		}
		if len(c.CRDs) == 0 || versions != 1 {
			t.Errorf("%s: CRDs %v, %d version components; want ≥1 and 1", p.Name(), c.CRDs, versions)
		}
	}
}
