#!/usr/bin/env bash
# Prints the path of cyclonedx-gomod (the CycloneDX SBOM generator for Go binaries), building it
# from the Go module proxy into the tool cache on a cache miss (about 2 minutes on the busy 2-core
# machine, once). make release writes an SBOM per image with it (`cyclonedx-gomod bin`).
#
#   export RSCHED_CYCLONEDX_BIN="$(hack/get-cyclonedx.sh)"
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_PREFIX=get-cyclonedx
# shellcheck source=hack/lib.sh
source "$HERE/lib.sh"

version="${CYCLONEDX_GOMOD_VERSION:-v1.10.0}"
bin="$RSCHED_CACHE/tools/cyclonedx-gomod-$version"
if [[ ! -x "$bin" ]]; then
  mkdir -p "$RSCHED_CACHE/tools"
  with_lock "$bin.lock"
  if [[ ! -x "$bin" ]]; then
    start=$(date +%s)
    work="$(mktemp -d "$RSCHED_CACHE/tools/tmp.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    log "building github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$version"
    GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0 GOBIN="$work" \
      go install -trimpath -ldflags '-s -w' "github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$version"
    mv "$work/cyclonedx-gomod" "$bin"
    log "cyclonedx-gomod $version ready in $(elapsed "$start") s"
  fi
fi
echo "$bin"
