#!/usr/bin/env bash
# Prints the path of a real `vault` server binary for tests, building it on a cache miss.
#
#   export RSCHED_VAULT_BIN="$(hack/get-vault.sh)"
#
# Vault is not packaged for Debian and the machine has no internet, so it is built from source
# through the Go module proxy from the wrapper module in hack/vault (pinned go.mod + go.sum).
# Cold: ~20 min and ~7.5 GB of Go caches on 2 cores, once. The binary is cached under
# $RSCHED_CACHE/vault, keyed by version and by the hash of the wrapper's go.mod/go.sum.
# Vault (BUSL-1.1) is a local test dependency only; rsched never ships it.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOG_PREFIX=get-vault
# shellcheck source=hack/lib.sh
source "$HERE/lib.sh"

mod="$HERE/vault"
version="$(awk '$1=="github.com/hashicorp/vault"{print $2; exit}' "$mod/go.mod")"
[[ -n "$version" ]] || { log "no github.com/hashicorp/vault requirement in $mod/go.mod"; exit 1; }
key="$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-12)"
cache="$RSCHED_CACHE/vault"
bin="$cache/vault-${version}-$(go env GOOS)-$(go env GOARCH)-${key}"

if [[ ! -x "$bin" ]]; then
  with_lock "$cache/.lock"
  if [[ ! -x "$bin" ]]; then
    start=$(date +%s)
    log "building vault ${version} from the Go module proxy into $cache (cold: ~20 min on 2 cores, printed once)"
    ( cd "$mod" && go build -mod=readonly -trimpath -ldflags='-s -w' -o "$bin.tmp.$$" github.com/hashicorp/vault ) >&2
    mv "$bin.tmp.$$" "$bin"
    log "built vault ${version} in $(elapsed "$start")s"
  fi
fi
echo "$bin"
