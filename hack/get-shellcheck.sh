#!/usr/bin/env bash
# Prints the path of shellcheck, which `make shellcheck` (part of `make test`) runs over every
# script in hack/, installing Debian's shellcheck when it is missing and we run as root.
#
#   export RSCHED_SHELLCHECK_BIN="$(hack/get-shellcheck.sh)"
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_PREFIX=shellcheck
# shellcheck source=hack/lib.sh
source "$HERE/lib.sh"

debian_tool shellcheck shellcheck "${RSCHED_SHELLCHECK_BIN:-}"
