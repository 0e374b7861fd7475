# syntax=docker/dockerfile:1
# The rsched operator image: a static manager binary on distroless, running as a non-root user.
#   docker build -t ghcr.io/rsched/rsched:v0.1.0 --build-arg VERSION=v0.1.0 .
FROM golang:1.26 AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
WORKDIR /src
# Dependencies first, so a source change does not re-download modules.
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/rsched/rsched/internal/version.Version=${VERSION}" \
      -o /out/manager ./cmd/manager

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.source="https://github.com/rsched/rsched" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.title="rsched operator"
COPY --from=build /out/manager /manager
# 65532 is distroless's "nonroot"; the manifests pin the same UID so runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["/manager"]
