# Sourced by `make test` (and usable by hand: `source hack/test-env.sh && go test ./...`).
# Exports where the real test components are; each script builds or installs on a cache miss.
# internal/testenv fails a test with a clear message when one of these is missing.
_rsched_hack="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KUBEBUILDER_ASSETS="$("$_rsched_hack/envtest-assets.sh")"
RSCHED_VAULT_BIN="$("$_rsched_hack/get-vault.sh")"
RSCHED_PG_BINDIR="$("$_rsched_hack/postgres.sh")"
RSCHED_HELM_BIN="$(make -s --no-print-directory -C "$_rsched_hack/.." helm-bin)"
export KUBEBUILDER_ASSETS RSCHED_VAULT_BIN RSCHED_PG_BINDIR RSCHED_HELM_BIN
unset _rsched_hack
