# shellcheck shell=bash
# Sourced by `make test` (and usable by hand: `source hack/test-env.sh && go test ./...`).
# Exports where the real test components are; each script builds or installs on a cache miss.
# internal/testenv fails a test with a clear message when one of these is missing.
_rsched_hack="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KUBEBUILDER_ASSETS="$(ENVTEST_EXTRA_BINS="kube-controller-manager kube-scheduler" "$_rsched_hack/envtest-assets.sh")"
# kube-controller-manager and kube-scheduler (built beside the envtest binaries) and kwok make
# Deployments run on envtest: tests that need workloads find them here.
RSCHED_WORKLOAD_BINS="$KUBEBUILDER_ASSETS-extra"
RSCHED_KWOK_BIN="$("$_rsched_hack/get-kwok.sh")"
RSCHED_VAULT_BIN="$("$_rsched_hack/get-vault.sh")"
RSCHED_PG_BINDIR="$("$_rsched_hack/postgres.sh")"
RSCHED_CBC_BIN="$("$_rsched_hack/get-cbc.sh")"
RSCHED_LUA_BIN="$("$_rsched_hack/get-lua.sh")"
export RSCHED_TESTSSL_BIN; RSCHED_TESTSSL_BIN="$("$_rsched_hack/get-testssl.sh")"
# cert-manager's controller (`controller`) and its CRDs (`crds/`), for testenv.StartCertManager.
export RSCHED_CERT_MANAGER_DIR; RSCHED_CERT_MANAGER_DIR="$("$_rsched_hack/get-cert-manager.sh")"
# govulncheck and the offline Go vulnerability database (`govulncheck`, `db/`), for hack/vulncheck's tests.
export RSCHED_VULNCHECK_DIR; RSCHED_VULNCHECK_DIR="$("$_rsched_hack/get-vulncheck.sh")"
# cyclonedx-gomod, for hack/release's test (the SBOMs of make release).
export RSCHED_CYCLONEDX_BIN; RSCHED_CYCLONEDX_BIN="$("$_rsched_hack/get-cyclonedx.sh")"
# cosign, for hack/release's test (the signatures and attestations of make release).
export RSCHED_COSIGN_BIN; RSCHED_COSIGN_BIN="$("$_rsched_hack/get-cosign.sh")"
# kube-score, the outside reviewer of every object the chart, config/ and the operator make
# (cmd/manager's TestKubeScoreFindsNothingUnreviewed).
export RSCHED_KUBE_SCORE_BIN; RSCHED_KUBE_SCORE_BIN="$("$_rsched_hack/get-kube-score.sh")"
RSCHED_HELM_BIN="$(make -s --no-print-directory -C "$_rsched_hack/.." helm-bin)"
export KUBEBUILDER_ASSETS RSCHED_VAULT_BIN RSCHED_PG_BINDIR RSCHED_CBC_BIN RSCHED_LUA_BIN RSCHED_HELM_BIN RSCHED_WORKLOAD_BINS RSCHED_KWOK_BIN
unset _rsched_hack
