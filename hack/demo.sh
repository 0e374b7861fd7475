#!/usr/bin/env bash
# make demo / make demo-down.
#   hack/demo.sh up    find or build the components, then run hack/demo in the foreground
#   hack/demo.sh down  stop a running demo (from another terminal)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
LOG_PREFIX=demo
# shellcheck source=hack/lib.sh
source "$HERE/lib.sh"
PIDFILE="$ROOT/bin/demo/demo.pid"

case "${1:-up}" in
  up)
    if [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      log "a demo is already running (pid $(cat "$PIDFILE")); stop it with 'make demo-down'"
      exit 1
    fi
    log "finding the components (the first run builds them: ~30 min on 2 cores, cached afterwards)"
    # shellcheck source=hack/test-env.sh
    source "$HERE/test-env.sh"
    cd "$ROOT"
    go build -o bin/demo-runner ./hack/demo
    exec bin/demo-runner
    ;;
  down)
    if [[ ! -f "$PIDFILE" ]]; then log "no demo is running"; exit 0; fi
    pid="$(cat "$PIDFILE")"
    # A stale pidfile may name a PID since reused by an unrelated process: signal only our runner.
    if [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" != "$ROOT/bin/demo-runner" ]]; then
      log "no demo is running (stale pidfile for pid $pid)"; rm -f "$PIDFILE"; exit 0
    fi
    if kill -TERM "$pid" 2>/dev/null; then
      # On a real cluster the demo's own teardown (pods, cluster, Vault, PostgreSQL) takes ~30 s.
      for _ in $(seq 1 450); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      if kill -0 "$pid" 2>/dev/null; then log "demo (pid $pid) did not stop in 90s; killing it"; kill -KILL "$pid"; fi
      log "demo stopped"
    else
      log "demo (pid $pid) was not running"
    fi
    rm -f "$PIDFILE"
    # A demo killed before its teardown leaves the real cluster it started: take it down too.
    if [[ -f "$ROOT/bin/demo/real-cluster" ]]; then
      "$HERE/local-cluster.sh" down
      rm -f "$ROOT/bin/demo/real-cluster"
    fi
    ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
