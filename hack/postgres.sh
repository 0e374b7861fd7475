#!/usr/bin/env bash
# Prints the bin directory of a PostgreSQL server installation (initdb, pg_ctl, postgres),
# installing Debian's postgresql package when none is found and we run as root.
#
#   export RSCHED_PG_BINDIR="$(hack/postgres.sh)"
#
# Tests never use a server left running: internal/testenv starts a throw-away cluster with
# initdb in a temporary directory on a random port.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_PREFIX=postgres
# shellcheck source=hack/lib.sh
source "$HERE/lib.sh"

find_bindir() {
  local d
  if [[ -n "${RSCHED_PG_BINDIR:-}" && -x "$RSCHED_PG_BINDIR/initdb" ]]; then echo "$RSCHED_PG_BINDIR"; return 0; fi
  # Debian keeps server binaries out of PATH, one directory per major version; take the newest.
  # /usr/lib/postgresql/<major>/bin: field 5 is the major version.
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5,5nr); do
    [[ -x "$d/initdb" && -x "$d/postgres" && -x "$d/pg_ctl" ]] && { echo "$d"; return 0; }
  done
  return 1
}

if dir="$(find_bindir)"; then echo "$dir"; exit 0; fi
if [[ "$(id -u)" != 0 ]]; then
  log "no PostgreSQL server found under /usr/lib/postgresql; install Debian's 'postgresql' package or set RSCHED_PG_BINDIR"
  exit 1
fi
with_lock "$RSCHED_CACHE/apt.lock"
if dir="$(find_bindir)"; then echo "$dir"; exit 0; fi
log "installing Debian's postgresql server package (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# policy-rc.d keeps the package from starting a system-wide server we would never use. Container
# images often ship one already: leave theirs alone, and remove only the one we created.
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends postgresql >&2
find_bindir || { log "postgresql installed but no server binaries found"; exit 1; }
