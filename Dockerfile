# The project's image: smp as a static binary on distroless, non-root. The kubernetes
# platform runs it as the builtin sample app (`smp app`) and as load agents
# (`smp agent`, workload.agents); the default tag is ghcr.io/service-mesh-performance/smp:<version>
# (environment.kubernetes.image overrides it).
#   docker build -t ghcr.io/service-mesh-performance/smp:0.3.0 \
#     --build-arg VERSION=v0.3.0 --build-arg COMMIT=$(git rev-parse --short HEAD) .
# The tag smp uses by default is the version without its "v" (DefaultImage in
# internal/platform/kube); a development build uses :latest.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
ARG COMMIT=""
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/service-mesh-performance/smp/internal/version.version=${VERSION} -X github.com/service-mesh-performance/smp/internal/version.commit=${COMMIT}" \
      -o /out/smp ./cmd/smp

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/smp /smp
USER nonroot:nonroot
ENTRYPOINT ["/smp"]
