# shellcheck shell=bash
# Shared helpers for hack/ scripts. Sourced, not executed.
# The tool cache lives outside the repository so that a fresh clone on the same
# machine (CI) reuses what an earlier run built. Everything in it is keyed by version.
RSCHED_CACHE="${RSCHED_CACHE:-${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}/.cache/rsched}"
export RSCHED_CACHE

log() { printf '%s: %s\n' "${LOG_PREFIX:-hack}" "$*" >&2; }

# with_lock FILE: take an exclusive lock so concurrent callers (parallel go test
# packages, make demo next to make test) build a component once. Taking it again is a no-op:
# reopening fd 9 would release it for a moment.
with_lock() {
  [[ "${_RSCHED_LOCKED:-}" == "$1" ]] && return 0
  mkdir -p "$(dirname "$1")"
  exec 9>"$1"
  _RSCHED_LOCKED="$1"
  if ! flock -n 9; then
    log "another process is building into $(dirname "$1"); waiting for it"
    flock 9
  fi
}

# elapsed START: seconds since START (date +%s).
elapsed() { echo $(( $(date +%s) - $1 )); }

# debian_tool COMMAND PACKAGE [OVERRIDE]: print the path of COMMAND, installing Debian's PACKAGE
# when it is missing and we run as root. OVERRIDE is the value of the script's RSCHED_*_BIN
# variable: an executable there wins. Installs are serialised on one apt lock, because two
# apt-get runs at once fail on dpkg's own lock.
debian_tool() {
  local cmd="$1" pkg="$2" override="${3:-}"
  if [[ -n "$override" && -x "$override" ]]; then echo "$override"; return 0; fi
  if command -v "$cmd" >/dev/null; then command -v "$cmd"; return 0; fi
  if [[ "$(id -u)" != 0 ]]; then
    log "$cmd not found; install Debian's '$pkg' package or set the RSCHED_*_BIN variable this script names"
    return 1
  fi
  with_lock "$RSCHED_CACHE/apt.lock"
  if command -v "$cmd" >/dev/null; then command -v "$cmd"; return 0; fi
  log "installing Debian's $pkg (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >&2
  command -v "$cmd" || { log "$pkg installed but no $cmd binary found"; return 1; }
}

# restore_sysctls FILE: set again the "key = value" lines that `sysctl -a` saved in FILE, one
# argument per line (a value may hold a tab).
restore_sysctls() {
  local kv
  mapfile -t kv < <(sed 's/ = /=/' "$1")
  (( ${#kv[@]} == 0 )) || sysctl -q -w "${kv[@]}" >/dev/null
}

# go_tool NAME PACKAGE VERSION: print the path of the Go command PACKAGE@VERSION (its binary
# NAME), `go install`ed from the module proxy into the tool cache as NAME-VERSION on a miss, once
# (a lock keeps parallel callers from building it twice), with how long the build took.
go_tool() {
  local name="$1" pkg="$2" version="$3"
  local bin="$RSCHED_CACHE/tools/$name-$version"
  if [[ ! -x "$bin" ]]; then
    mkdir -p "$RSCHED_CACHE/tools"
    with_lock "$bin.lock"
    if [[ ! -x "$bin" ]]; then
      local start work
      start=$(date +%s)
      work="$(mktemp -d "$RSCHED_CACHE/tools/tmp.XXXXXX")"
      # shellcheck disable=SC2064 # expand now: $work is local to this function
      trap "rm -rf '$work'" EXIT
      log "building $pkg@$version"
      GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0 GOBIN="$work" go install -trimpath -ldflags '-s -w' "$pkg@$version"
      mv "$work/$name" "$bin"
      log "$name $version ready in $(elapsed "$start") s"
    fi
  fi
  echo "$bin"
}
