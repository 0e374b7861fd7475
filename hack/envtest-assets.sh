#!/usr/bin/env bash
# Prints a directory usable as KUBEBUILDER_ASSETS (etcd, kube-apiserver, kubectl).
#
#   export KUBEBUILDER_ASSETS="$(hack/envtest-assets.sh)"
#
# Order: 1) the cache  2) setup-envtest download (needs the internet)  3) a source build
# through the Go module proxy (~15 min and ~4 GB of Go caches once, on 2 cores).
# The cache follows setup-envtest's store layout ($RSCHED_CACHE/envtest/k8s/<ver>-<os>-<arch>/),
# so `setup-envtest use -i <ver> --bin-dir $RSCHED_CACHE/envtest -p path` finds it too.
# ENVTEST_EXTRA_BINS="kube-controller-manager kube-scheduler" builds those into a sibling
# directory (<ver>-<os>-<arch>-extra) so asking for them never rebuilds the base three.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_PREFIX=envtest-assets
# shellcheck source=hack/lib.sh
source "$HERE/lib.sh"

K8S_VERSION="${ENVTEST_K8S_VERSION:-1.37.2}"          # no leading "v"
ETCD_VERSION="${ENVTEST_ETCD_VERSION:-3.7.3}"
SETUP_ENVTEST_VERSION="${SETUP_ENVTEST_VERSION:-v0.25.1}"
EXTRA_BINS="${ENVTEST_EXTRA_BINS:-}"
BIN_DIR="${ENVTEST_BIN_DIR:-$RSCHED_CACHE/envtest}"
GOOS="$(go env GOOS)"; GOARCH="$(go env GOARCH)"
DEST="$BIN_DIR/k8s/${K8S_VERSION}-${GOOS}-${GOARCH}"
EXTRA_DEST="$DEST-extra"

# Scratch directories of a build in progress go away however the script ends.
SCRATCH=()
cleanup() { local d; for d in "${SCRATCH[@]}"; do rm -rf "$d"; done; }
trap cleanup EXIT

complete() { # complete DIR BIN...
  local d="$1" b; shift
  for b in "$@"; do [[ -x "$d/$b" ]] || return 1; done
}

# build_k8s OUTDIR CMD...: kube-apiserver, kubectl, ... from k8s.io/kubernetes. The module's
# go.mod replaces its staging modules with ./staging/src paths that its zip does not contain,
# so we build from a throw-away wrapper module that maps each to its published v0.x.y.
build_k8s() {
  local out="$1"; shift
  local work; work="$(mktemp -d)"; SCRATCH+=("$work")
  local sv="v0.${K8S_VERSION#1.}" kgomod c t
  log "downloading k8s.io/kubernetes@v${K8S_VERSION} module metadata"
  kgomod="$(go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  (
    cd "$work"
    {
      echo "module k8sbuild"; echo
      grep -m1 '^go ' "$kgomod"; grep '^godebug ' "$kgomod" || true; echo
      echo "require k8s.io/kubernetes v${K8S_VERSION}"; echo
      echo "replace ("
      awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {print $1}' "$kgomod" | sort -u |
        while read -r m; do printf '\t%s => %s %s\n' "$m" "$m" "$sv"; done
      echo ")"
    } > go.mod
    {
      echo "//go:build tools"; echo; echo "package k8sbuild"; echo; echo "import ("
      for c in "$@"; do echo "	_ \"k8s.io/kubernetes/cmd/$c\""; done
      echo ")"
    } > tools.go
    log "resolving dependencies (go mod tidy)"
    go mod tidy >&2
    local maj="${K8S_VERSION%%.*}" min="${K8S_VERSION#*.}" ldf=""
    min="${min%%.*}"
    for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
      ldf+=" -X $p.gitVersion=v${K8S_VERSION} -X $p.gitMajor=$maj -X $p.gitMinor=$min -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
    done
    log "compiling Kubernetes v${K8S_VERSION}: the first binary takes ~8-15 min on 2 cores, the others reuse it"
    for c in "$@"; do
      t=$(date +%s)
      log "building $c v${K8S_VERSION}"
      CGO_ENABLED=0 go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "all=$ldf -s -w" -o "$out/$c" "k8s.io/kubernetes/cmd/$c"
      log "built $c in $(elapsed "$t")s"
    done
  )
  rm -rf "$work"
}

# build_etcd OUTDIR: etcd's server module has replace directives, so `go install mod@ver`
# refuses it; a wrapper module requiring the published version builds it.
build_etcd() {
  local out="$1" work t
  work="$(mktemp -d)"; SCRATCH+=("$work")
  (
    cd "$work"
    printf 'module etcdbuild\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' "$ETCD_VERSION" > go.mod
    printf '//go:build tools\n\npackage etcdbuild\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > tools.go
    go mod tidy >&2
    t=$(date +%s)
    log "building etcd v${ETCD_VERSION}"
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3
    log "built etcd in $(elapsed "$t")s"
  )
  rm -rf "$work"
}

base() {
  complete "$DEST" etcd kube-apiserver kubectl && return 0
  with_lock "$BIN_DIR/.lock"
  complete "$DEST" etcd kube-apiserver kubectl && return 0
  if [[ -z "${ENVTEST_SKIP_DOWNLOAD:-}" ]]; then
    log "cache miss in $DEST; trying setup-envtest ${SETUP_ENVTEST_VERSION} download"
    local got
    if got="$(timeout 300 go run "sigs.k8s.io/controller-runtime/tools/setup-envtest@${SETUP_ENVTEST_VERSION}" \
          use "$K8S_VERSION" --bin-dir "$BIN_DIR" -p path 2>"$BIN_DIR/setup-envtest.log")" && complete "$got" etcd kube-apiserver kubectl; then
      [[ "$got" == "$DEST" ]] || { mkdir -p "$(dirname "$DEST")"; rm -rf "$DEST"; cp -a "$got" "$DEST"; }
      return 0
    fi
    log "setup-envtest could not download ($(tail -1 "$BIN_DIR/setup-envtest.log" 2>/dev/null | cut -c1-160)); building from source through the Go module proxy"
  fi
  local start tmp
  start=$(date +%s)
  tmp="$DEST.tmp.$$"; rm -rf "$tmp"; mkdir -p "$tmp"; SCRATCH+=("$tmp")
  build_k8s "$tmp" kube-apiserver kubectl
  build_etcd "$tmp"
  printf 'kubernetes=v%s\netcd=v%s\n%s\n' "$K8S_VERSION" "$ETCD_VERSION" "$(go version)" > "$tmp/.source-build"
  rm -rf "$DEST"; mv "$tmp" "$DEST"
  log "control plane v${K8S_VERSION} ready in $DEST after $(elapsed "$start")s"
}

extras() {
  [[ -z "$EXTRA_BINS" ]] && return 0
  # shellcheck disable=SC2086
  complete "$EXTRA_DEST" $EXTRA_BINS && return 0
  with_lock "$BIN_DIR/.lock"
  local tmp="$EXTRA_DEST.tmp.$$" b missing=()
  rm -rf "$tmp"; mkdir -p "$tmp"; SCRATCH+=("$tmp")
  for b in $EXTRA_BINS; do
    if [[ -x "$EXTRA_DEST/$b" ]]; then cp -a "$EXTRA_DEST/$b" "$tmp/"; else missing+=("$b"); fi
  done
  build_k8s "$tmp" "${missing[@]}"
  rm -rf "$EXTRA_DEST"; mv "$tmp" "$EXTRA_DEST"
}

base
extras
echo "$DEST"
