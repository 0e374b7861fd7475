#!/usr/bin/env bash
# Prints the path of cosign (sigstore's signing tool), building it
# from the Go module proxy into the tool cache on a cache miss (about 18 minutes on the busy 2-core
# machine, once). make release signs the images, SBOM attestations, chart and SHA256SUMS with it.
#
#   export RSCHED_COSIGN_BIN="$(hack/get-cosign.sh)"
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_PREFIX=get-cosign
# shellcheck source=hack/lib.sh
source "$HERE/lib.sh"

version="${COSIGN_VERSION:-v2.6.5}"
bin="$RSCHED_CACHE/tools/cosign-$version"
if [[ ! -x "$bin" ]]; then
  mkdir -p "$RSCHED_CACHE/tools"
  with_lock "$bin.lock"
  if [[ ! -x "$bin" ]]; then
    start=$(date +%s)
    work="$(mktemp -d "$RSCHED_CACHE/tools/tmp.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    log "building github.com/sigstore/cosign/v2/cmd/cosign@$version"
    GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0 GOBIN="$work" \
      go install -trimpath -ldflags '-s -w' "github.com/sigstore/cosign/v2/cmd/cosign@$version"
    mv "$work/cosign" "$bin"
    log "cosign $version ready in $(elapsed "$start") s"
  fi
fi
echo "$bin"
