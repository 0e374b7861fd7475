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

debian_tool lua5.4 lua5.4 "${RSCHED_LUA_BIN:-}"
