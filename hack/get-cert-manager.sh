#!/usr/bin/env bash
# Prints the path of a directory holding cert-manager's controller (`controller`) and its CRDs as
# plain YAML (`crds/*.yaml`), building them from the Go module proxy on a cache miss (several
# minutes on 2 cores, once). internal/testenv.StartCertManager installs the CRDs into an envtest
# API server and runs the controller against it.
#
#   export RSCHED_CERT_MANAGER_DIR="$(hack/get-cert-manager.sh)"
#
# The proxy serves only cert-manager's root module (github.com/cert-manager/cert-manager): its
# controller main is a module of its own (controller-binary) that is not published there. The root
# module holds the controllers, their registry and the configuration API; hack/cert-manager/main.go
# is the wiring between them, built here in a throwaway module under cert-manager's import path
# (which lets it use cert-manager's internal configuration packages) with exactly the dependency
# versions cert-manager's go.mod asks for. The CRDs are the controller-gen output the module ships
# in deploy/crds (the Helm chart renders the same schemas with its labels added).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_PREFIX=get-cert-manager
# shellcheck source=hack/lib.sh
source "$HERE/lib.sh"

# without_venafi DIR: reduce the Venafi packages of the cert-manager module copied into DIR to the
# controller-name constants that cert-manager's configuration defaults import.
without_venafi() {
  local dir
  for dir in pkg/issuer/venafi pkg/controller/certificaterequests/venafi pkg/controller/certificatesigningrequests/venafi; do
    { echo "package venafi"; echo; echo "const ("
      grep -hE '^[[:space:]]*C(S)?RControllerName[[:space:]]*=' "$1/$dir"/*.go || true
      echo ")"; } > "$1/$dir/names.go.new"
    rm -rf "${1:?}/$dir"/*.go "$1/$dir/client"
    mv "$1/$dir/names.go.new" "$1/$dir/names.go"
  done
}

# The newest v1.21 patch the proxy serves (`go list -m -versions github.com/cert-manager/cert-manager`).
version="${CERT_MANAGER_VERSION:-v1.21.2}"
module=github.com/cert-manager/cert-manager
cache="$RSCHED_CACHE/cert-manager/$version"
bin="$cache/controller"
if [[ ! -x "$bin" || ! -s "$cache/crds/cert-manager.io_certificates.yaml" ]]; then
  mkdir -p "$cache"
  with_lock "$cache/.lock"
  if [[ ! -x "$bin" || ! -s "$cache/crds/cert-manager.io_certificates.yaml" ]]; then
    start=$(date +%s)
    work="$(mktemp -d "${TMPDIR:-/tmp}/rsched-cert-manager.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    export GOFLAGS=-mod=mod GOWORK=off
    log "fetching ${module}@${version} from the Go module proxy"
    src="$(go mod download -json "${module}@${version}" | awk -F'"' '$2=="Dir"{print $4}')"
    [[ -d "$src/deploy/crds" ]] || { log "no deploy/crds in ${module}@${version} ($src)"; exit 1; }

    rm -rf "$cache/crds.tmp"; mkdir -p "$cache/crds.tmp"
    cp "$src"/deploy/crds/*cert-manager.io_*.yaml "$cache/crds.tmp/"
    chmod 0644 "$cache"/crds.tmp/*.yaml
    rm -rf "$cache/crds"; mv "$cache/crds.tmp" "$cache/crds"
    log "CRDs: $(cd "$cache/crds" && echo *.yaml)"

    log "building cert-manager's controller ${version} into $cache (several minutes on 2 cores, once)"
    sed '/^\/\/go:build ignore$/d' "$HERE/cert-manager/main.go" > "$work/main.go"
    (
      cd "$work"
      go mod init "${module}/rsched-testcontroller" >/dev/null 2>&1
      go get "${module}@${version}" >&2
      # The proxy this project builds from refuses every vcert v5.13 zip ("403: not available"):
      # the Venafi issuer's client, linked in only through cert-manager's configuration defaults,
      # which need just the names of the two Venafi controllers. When the version cert-manager
      # asks for is refused, the build uses a copy of the module whose three Venafi packages are
      # reduced to those names: the Venafi issuer and its controllers are then not built in;
      # every other file is cert-manager's, unchanged.
      vcert=github.com/Venafi/vcert/v5
      if ! go mod download "${vcert}@$(go list -m -f '{{.Version}}' "$vcert")" 2>/dev/null; then
        log "the proxy refuses ${vcert} at the version cert-manager asks for: building without cert-manager's Venafi issuer"
        cp -r "$src" "$work/cert-manager"; chmod -R u+w "$work/cert-manager"
        without_venafi "$work/cert-manager"
        go mod edit -replace "${module}=./cert-manager"
      fi
      go build -trimpath -ldflags="-s -w -X ${module}/pkg/util.AppVersion=${version}" -o "$work/controller" . >&2
    )
    mv "$work/controller" "$bin"
    log "built cert-manager's controller ${version} in $(elapsed "$start")s"
  fi
fi
echo "$cache"
