#!/usr/bin/env bash
# Prints the path of a `kwok` binary (sigs.k8s.io/kwok: fake nodes whose pods "run"), building it
# through the Go module proxy on a cache miss (~2 min on 2 cores, once). Tests use it with
# kube-controller-manager and kube-scheduler so that Deployments become Available on envtest.
#
#   export RSCHED_KWOK_BIN="$(hack/get-kwok.sh)"     (its stages are in stages.yaml beside it)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_PREFIX=get-kwok
# shellcheck source=hack/lib.sh
source "$HERE/lib.sh"

version="${KWOK_VERSION:-v0.8.0}"
cache="$RSCHED_CACHE/kwok/$version"
bin="$cache/kwok"
if [[ ! -x "$bin" ]]; then
  mkdir -p "$cache"
  with_lock "$cache/.lock"
  if [[ ! -x "$bin" ]]; then
    start=$(date +%s)
    log "building kwok ${version} from the Go module proxy into $cache (~2 min on 2 cores, once)"
    GOBIN="$cache.tmp.$$" GOFLAGS=-mod=mod go install -trimpath -ldflags='-s -w' "sigs.k8s.io/kwok/cmd/kwok@${version}" >&2
    mv "$cache.tmp.$$/kwok" "$bin"; rmdir "$cache.tmp.$$"
    log "built kwok ${version} in $(elapsed "$start")s"
  fi
fi
# kwok acts only through "stages"; use the project's own fast ones (nodes become Ready and keep a
# heartbeat, pods become Running and Ready at once), taken from the same module version.
stages="$cache/stages.yaml"
if [[ ! -s "$stages" ]]; then
  src="$(GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kwok@${version}" | awk -F'"' '$2=="Dir"{print $4}')"
  { for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      echo "---"; cat "$src/kustomize/stage/$f"
    done; } > "$stages.tmp.$$"
  mv "$stages.tmp.$$" "$stages"
fi
echo "$bin"
