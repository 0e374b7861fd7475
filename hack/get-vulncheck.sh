#!/usr/bin/env bash
# Prints the path of a directory holding govulncheck (`govulncheck`) and an offline copy of the Go
# vulnerability database (`db/`, the format `govulncheck -db file://DIR` reads), building both from
# the Go module proxy on a cache miss (about a minute on 2 cores, once). `make vulncheck` (part of
# `make test`) runs hack/vulncheck with them.
#
#   export RSCHED_VULNCHECK_DIR="$(hack/get-vulncheck.sh)"
#
# The database is golang.org/x/vulndb at a pinned pseudo-version: its data/osv holds one OSV file
# per report, which the module's own cmd/indexdb turns into the index govulncheck reads. Pinned so
# that a run is reproducible; `make vulncheck` warns once the pin is more than 45 days old, and
# `make vulncheck-update` (hack/vulncheck -update-pin) rewrites the default below to
# golang.org/x/vulndb@master as the module proxy resolves it: commit it when `make vulncheck`
# passes (or the allow-list says why not). VULNDB_VERSION=... tries another one without editing.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_PREFIX=get-vulncheck
# shellcheck source=hack/lib.sh
source "$HERE/lib.sh"

govulncheck_version="${GOVULNCHECK_VERSION:-v1.10.0}"
# The reports as of 2026-11-05 (the pseudo-version's time; make vulncheck-update moves it on).
vulndb_version="${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}"
cache="$RSCHED_CACHE/vulncheck/govulncheck-${govulncheck_version}_vulndb-${vulndb_version}"
if [[ ! -x "$cache/govulncheck" || ! -s "$cache/db/index/db.json" ]]; then
  mkdir -p "$cache"
  with_lock "$cache/.lock"
  if [[ ! -x "$cache/govulncheck" || ! -s "$cache/db/index/db.json" ]]; then
    start=$(date +%s)
    work="$(mktemp -d "${TMPDIR:-/tmp}/rsched-vulncheck.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0
    log "building golang.org/x/vuln/cmd/govulncheck@${govulncheck_version}"
    GOBIN="$work/bin" go install "golang.org/x/vuln/cmd/govulncheck@${govulncheck_version}"
    log "building golang.org/x/vulndb/cmd/indexdb@${vulndb_version}"
    GOBIN="$work/bin" go install "golang.org/x/vulndb/cmd/indexdb@${vulndb_version}"
    log "fetching golang.org/x/vulndb@${vulndb_version} (the reports, ~70 MB) from the Go module proxy"
    src="$(go mod download -json "golang.org/x/vulndb@${vulndb_version}" | awk -F'"' '$2=="Dir"{print $4}')"
    [[ -d "$src/data/osv" ]] || { log "no data/osv in golang.org/x/vulndb@${vulndb_version} ($src)"; exit 1; }
    log "indexing $(find "$src/data/osv" -name '*.json' | wc -l) reports"
    "$work/bin/indexdb" -vulns "$src/data/osv" -out "$work/db" >&2
    [[ -s "$work/db/index/db.json" ]] || { log "indexdb wrote no index/db.json"; exit 1; }
    rm -rf "$cache/db"
    mv "$work/db" "$cache/db"
    install -m 0755 "$work/bin/govulncheck" "$cache/govulncheck"
    log "govulncheck ${govulncheck_version} and the database of ${vulndb_version} ready in $(elapsed "$start") s"
  fi
fi
# indexdb leaves the index's "modified" at the zero time; the pseudo-version's timestamp is the
# commit of the reports, which govulncheck then reports as db_last_modified (hack/vulncheck prints
# the database's age). Cheap and idempotent, so a cache filled before this line gets it too.
if grep -q '"modified":"0001-01-01T00:00:00Z"' "$cache/db/index/db.json"; then
  ts="$(sed -E 's/^v0\.0\.0-([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})-.*/\1-\2-\3T\4:\5:\6Z/' <<<"$vulndb_version")"
  [[ "$ts" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T ]] || { log "cannot read a date from $vulndb_version"; exit 1; }
  printf '{"modified":"%s"}' "$ts" > "$cache/db/index/db.json.tmp" && mv "$cache/db/index/db.json.tmp" "$cache/db/index/db.json"
fi
echo "$cache"
