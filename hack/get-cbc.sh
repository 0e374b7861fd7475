#!/usr/bin/env bash
# Prints the path of CBC (COIN-OR branch and cut), the exact MILP solver the scheduling tests
# compare the native solver with on small programs, installing Debian's coinor-cbc when it is
# missing and we run as root.
#
#   export RSCHED_CBC_BIN="$(hack/get-cbc.sh)"
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_PREFIX=cbc
# shellcheck source=hack/lib.sh
source "$HERE/lib.sh"

debian_tool cbc coinor-cbc "${RSCHED_CBC_BIN:-}"
