# syntax=docker/dockerfile:1
# Two images from one build, both static binaries on an empty base (scratch), running as a
# non-root user:
#   docker build --target manager   -t ghcr.io/rsched/rsched:v0.1.0    --build-arg VERSION=v0.1.0 .
#   docker build --target scheduler -t ghcr.io/rsched/scheduler:v0.1.0 --build-arg VERSION=v0.1.0 .
# The same files as make images and make release (hack/imagefs): the binary, /etc/passwd and
# /etc/group for user 65532, an empty /tmp, and no CA bundle: the binaries embed their fallback
# roots (golang.org/x/crypto/x509roots/fallback, pinned in go.mod, listed in the SBOM).
#
# The builder is pinned to the exact Go release of go.mod's toolchain line (go1.26.11; update the
# two together), by tag only: a digest pin needs registry access to resolve, which the development
# machine does not have. A release pipeline with registry access pins it by digest
# (golang:1.26.11@sha256:...; docs/release.md). The runtime stages have no base to pin.
FROM golang:1.26.11 AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
# The toolchain of the image, never a download of another one.
ENV GOTOOLCHAIN=local
WORKDIR /src
# Dependencies first, so a source change does not re-download modules.
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
RUN for b in manager scheduler; do \
      CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
      go build -trimpath -buildvcs=false \
        -ldflags "-s -w -X github.com/rsched/rsched/internal/version.Version=${VERSION}" \
        -o /out/$b ./cmd/$b || exit 1; \
    done
# What the empty runtime base lacks: the non-root user by name, and a writable /tmp.
RUN mkdir -p /rootfs/etc /rootfs/tmp && chmod 1777 /rootfs/tmp && \
    printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > /rootfs/etc/passwd && \
    printf 'root:x:0:\nnonroot:x:65532:\n' > /rootfs/etc/group

FROM scratch AS scheduler
LABEL org.opencontainers.image.source="https://github.com/rsched/rsched" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.title="rsched scheduling API server"
COPY --from=build /rootfs/ /
COPY --from=build /out/scheduler /scheduler
# 65532 is "nonroot" (as in distroless); the operator pins the same UID so runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/scheduler"]

# The operator is the last stage, so a plain `docker build .` builds it.
FROM scratch AS manager
LABEL org.opencontainers.image.source="https://github.com/rsched/rsched" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.title="rsched operator"
COPY --from=build /rootfs/ /
COPY --from=build /out/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]
