#!/usr/bin/env bash
# Prints the path of a Lua 5.4 interpreter, which runs the Argo CD health checks
# (internal/gitops/health/*.lua) in the tests, installing Debian's lua5.4 when it is missing and
# we run as root. (Argo CD runs them with gopher-lua, a Lua 5.1; the scripts use nothing that
# differs between the two.)
#
#   export RSCHED_LUA_BIN="$(hack/get-lua.sh)"
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_PREFIX=lua
# shellcheck source=hack/lib.sh
source "$HERE/lib.sh"

if [[ -n "${RSCHED_LUA_BIN:-}" && -x "$RSCHED_LUA_BIN" ]]; then echo "$RSCHED_LUA_BIN"; exit 0; fi
if command -v lua5.4 >/dev/null; then command -v lua5.4; exit 0; fi
if [[ "$(id -u)" != 0 ]]; then
  log "Lua 5.4 not found; install Debian's 'lua5.4' package or set RSCHED_LUA_BIN"
  exit 1
fi
with_lock "$RSCHED_CACHE/apt.lock"
if command -v lua5.4 >/dev/null; then command -v lua5.4; exit 0; fi
log "installing Debian's lua5.4 (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends lua5.4 >&2
command -v lua5.4 || { log "lua5.4 installed but no lua5.4 binary found"; exit 1; }
