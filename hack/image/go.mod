// Module hack/image builds container images without a daemon (go-containerregistry)
// for scripts/kube-node: smp's image and the pause image. It is separate so that
// go-containerregistry never enters smp's own go.mod (style habit 18).
module github.com/service-mesh-performance/smp/hack/image

go 1.26.0

require github.com/google/go-containerregistry v0.22.1

require (
	github.com/klauspost/compress v1.19.2 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)
