# The grlscaler image: grlctl, statically linked, on distroless (CA
# certificates, a nonroot user, no shell). `grlctl worker` is its default
# command; every other grlctl command runs the same way
# (docker run --rm grlscaler:dev submit ...). It carries no Temporal CLI:
# the server, its CLI and the UI come from Temporal's own images.
#
# Build:  docker build -t grlscaler:dev .
#
# Base images are pinned by version tag and by index digest (multi-arch),
# so a rebuild gets the same toolchain and runtime. The digests are the ones
# several independent projects pin for these tags; they were not checked
# against the registries from here (the first docker build does).

FROM golang:1.26.8-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d AS build
WORKDIR /src
# CGO off: a static binary for a base image without libc. GOEXPERIMENT=simd:
# the model's AVX2/FMA matrix kernels (model/kernel); other architectures
# fall back to pure Go.
ENV CGO_ENABLED=0 GOEXPERIMENT=simd GOFLAGS=-mod=readonly
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# The build context keeps .git (see .dockerignore) so that the binary records
# the commit it was built from (vcs.revision), which every experiment's
# manifest reports as its code version. A context without a usable
# repository (a tarball, a git worktree whose .git points outside) builds
# without it.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    vcs=auto; git rev-parse --git-dir >/dev/null 2>&1 || vcs=false; \
    go build -trimpath -buildvcs="$vcs" -ldflags="-s -w" -o /out/grlctl ./cmd/grlctl

FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /out/grlctl /usr/local/bin/grlctl
# distroless's nonroot user, numerically, so that Kubernetes' runAsNonRoot
# can verify it.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/grlctl"]
CMD ["worker"]
