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

go_tool cosign github.com/sigstore/cosign/v2/cmd/cosign "${COSIGN_VERSION:-v2.6.5}"
