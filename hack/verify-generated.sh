#!/usr/bin/env bash
# Fails when `make generate manifests` would change a file. It regenerates into a copy of the
# tree, so it never touches the working copy, and works on uncommitted changes too.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONTROLLER_GEN="${CONTROLLER_GEN:?set CONTROLLER_GEN to the controller-gen binary (make verify-generated does)}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
# Copy what generation reads and writes, nothing else (no bin/, no .git).
tar -C "$ROOT" -cf - go.mod go.sum api controllers internal config charts hack Makefile | tar -C "$work" -xf -
( cd "$work" && make -s generate manifests CONTROLLER_GEN="$CONTROLLER_GEN" >/dev/null )
status=0
for d in api config charts; do
  if ! diff -ruN "$ROOT/$d" "$work/$d" >"$work/diff.txt"; then
    echo "generated files in $d/ are out of date; run 'make generate manifests' and commit:" >&2
    head -60 "$work/diff.txt" >&2
    status=1
  fi
done
[[ $status == 0 ]] && echo "generated files are up to date"
exit $status
