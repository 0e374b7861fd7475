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

if [[ -n "${RSCHED_CBC_BIN:-}" && -x "$RSCHED_CBC_BIN" ]]; then echo "$RSCHED_CBC_BIN"; exit 0; fi
if command -v cbc >/dev/null; then command -v cbc; exit 0; fi
if [[ "$(id -u)" != 0 ]]; then
  log "CBC not found; install Debian's 'coinor-cbc' package or set RSCHED_CBC_BIN"
  exit 1
fi
with_lock "$RSCHED_CACHE/apt.lock"
if command -v cbc >/dev/null; then command -v cbc; exit 0; fi
log "installing Debian's coinor-cbc (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends coinor-cbc >&2
command -v cbc || { log "coinor-cbc installed but no cbc binary found"; exit 1; }
