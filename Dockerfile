# syntax=docker/dockerfile:1
# Two images from one build, both static binaries on distroless, running as a non-root user:
#   docker build --target manager   -t ghcr.io/rsched/rsched:v0.1.0    --build-arg VERSION=v0.1.0 .
#   docker build --target scheduler -t ghcr.io/rsched/scheduler:v0.1.0 --build-arg VERSION=v0.1.0 .
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
RUN for b in manager scheduler; do \
      CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
      go build -trimpath -buildvcs=false \
        -ldflags "-s -w -X github.com/rsched/rsched/internal/version.Version=${VERSION}" \
        -o /out/$b ./cmd/$b || exit 1; \
    done

FROM gcr.io/distroless/static-debian12:nonroot AS scheduler
LABEL org.opencontainers.image.source="https://github.com/rsched/rsched" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.title="rsched scheduling API server"
COPY --from=build /out/scheduler /scheduler
# 65532 is distroless's "nonroot"; the operator pins the same UID so runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/scheduler"]

# The operator is the last stage, so a plain `docker build .` builds it.
FROM gcr.io/distroless/static-debian12:nonroot AS manager
LABEL org.opencontainers.image.source="https://github.com/rsched/rsched" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.title="rsched operator"
COPY --from=build /out/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]
