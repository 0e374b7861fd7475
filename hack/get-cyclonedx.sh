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

go_tool cyclonedx-gomod github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod "${CYCLONEDX_GOMOD_VERSION:-v1.10.0}"
