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
