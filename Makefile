# rsched — make help lists the targets.
#
# Tools (controller-gen, staticcheck) and test components (kube-apiserver, etcd, kubectl, vault)
# are built into a cache outside the repository, keyed by version, so a fresh clone on the same
# machine reuses them: $(RSCHED_CACHE).

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

RSCHED_CACHE ?= $(HOME)/.cache/rsched
export RSCHED_CACHE
TOOLS_DIR := $(RSCHED_CACHE)/tools
GOFLAGS ?= -buildvcs=false
export GOFLAGS
# go.mod's toolchain line names the patched Go release rsched is built and tested with (fixes in the
# standard library reach us only through it); auto lets an older local Go fetch that release from
# the module proxy once (~7 s, into the module cache). An assignment here overrides the
# GOTOOLCHAIN=local that Debian-style installs put in the environment or in go.env.
GOTOOLCHAIN := auto
export GOTOOLCHAIN

CONTROLLER_TOOLS_VERSION ?= v0.23.0
STATICCHECK_VERSION ?= v0.8.2
GOLANGCI_LINT_VERSION ?= v2.15.0
HELM_VERSION ?= v3.22.0
CONTROLLER_GEN := $(TOOLS_DIR)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
STATICCHECK := $(TOOLS_DIR)/staticcheck-$(STATICCHECK_VERSION)
GOLANGCI_LINT := $(TOOLS_DIR)/golangci-lint-$(GOLANGCI_LINT_VERSION)
HELM := $(TOOLS_DIR)/helm-$(HELM_VERSION)

IMG ?= ghcr.io/rsched/rsched:dev
# Tag of the images `make images` assembles (localhost/rsched/<name>:<tag>).
IMAGE_TAG ?= dev
SCHEDULER_IMG ?= ghcr.io/rsched/scheduler:dev
# The version of this tree (v + semver), from internal/version/version.go: the chart, the
# kustomize install and the image tags say the same (internal/version TestOneVersionEverywhere).
VERSION ?= $(shell sed -n 's/^const Release = "\(v[^"]*\)"$$/\1/p' internal/version/version.go)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -s -w -X github.com/rsched/rsched/internal/version.Version=$(VERSION) -X github.com/rsched/rsched/internal/version.Commit=$(COMMIT)

GO_TEST_FLAGS ?= -count=1 -timeout 30m

##@ General

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate DeepCopy methods for the API types.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC into config/, and copy the CRDs into the Helm chart (files/crds, rendered by templates/crds.yaml).
	$(CONTROLLER_GEN) rbac:roleName=rsched-manager crd paths=./api/... paths=./controllers/... \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	mkdir -p charts/rsched-operator/files/crds
	rm -f charts/rsched-operator/files/crds/*.yaml
	cp config/crd/bases/*.yaml charts/rsched-operator/files/crds/

.PHONY: docs
docs: manifests ## Regenerate docs/crd-reference.md from the CRDs (a test fails when it is stale).
	go run ./hack/crdref > docs/crd-reference.md

.PHONY: crd-snapshot
crd-snapshot: manifests test-components ## Record the CRD schemas in api/v1alpha1/testdata/crd-schema-snapshot.json after adding fields (TestCRDSchemaIsCompatible fails on a removed or retyped one).
	source hack/test-env.sh && RSCHED_UPDATE_CRD_SNAPSHOT=1 go test -count=1 ./api/... -run TestCRDSchemaIsCompatible

.PHONY: verify-generated
verify-generated: $(CONTROLLER_GEN) ## Fail when 'make generate manifests' would change any file.
	CONTROLLER_GEN=$(CONTROLLER_GEN) hack/verify-generated.sh

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -s -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: $(STATICCHECK) complexity shellcheck ## gofmt check, go vet, staticcheck, the complexity gate and shellcheck; fails on any finding.
	@out="$$(gofmt -s -l $$(git ls-files '*.go'))"; if [[ -n "$$out" ]]; then echo "not gofmt -s formatted:"; echo "$$out"; exit 1; fi
	go vet ./...
	$(STATICCHECK) ./...

.PHONY: complexity
complexity: $(GOLANGCI_LINT) ## The complexity gate (.golangci.yml: gocyclo, gocognit, nestif, funlen, sqlclosecheck); fails on any finding.
	$(GOLANGCI_LINT) run ./...

.PHONY: shellcheck
shellcheck: ## shellcheck every script in hack/ and .ci/ (Debian's shellcheck, installed when missing).
	"$$(hack/get-shellcheck.sh)" -x $$(find hack -name '*.sh' | sort) .ci/run

##@ Test

# An execution count, not a duration: a run bounded by time ended once here with a bare "context
# deadline exceeded" from the fuzzing coordinator and no failing input, failing make test for
# nothing. 100000 executions take a few seconds per target.
FUZZTIME ?= 100000x

.PHONY: test
test: lint verify-generated test-components ## Everything: lint, generated-files check, the known-vulnerability gate, the alerting rules' promtool tests, unit and integration tests against real kube-apiserver, Vault and PostgreSQL, a short fuzz run.
	$(MAKE) --no-print-directory vulncheck
	$(MAKE) --no-print-directory test-alerts
	source hack/test-env.sh && go test $(GO_TEST_FLAGS) ./...
	$(MAKE) --no-print-directory test-race
	$(MAKE) --no-print-directory fuzz

# The code that runs on several goroutines at once, under the race detector: the reconcilers, the
# keyring watcher, the principal cache, the local rate limiter, the audit log's live stream and a
# run's after-commit hooks (whole packages; audit and scheduling add ~25 s), and the server's
# tests that drive it from many clients or replicas at once: the cache across replicas, the
# first-admin race, lockouts, limits across replicas, a keyring rotation under load, overlapping
# generations and a run's progress and heartbeat (the whole app package under -race takes over
# 10 minutes: argon2 and the solver are slow there, and single-threaded).
RACE_PKGS ?= ./controllers/... ./internal/keyring/... ./internal/server/accounts/... ./internal/server/ratelimit/... \
	./internal/server/audit/... ./internal/server/scheduling/... ./internal/server/tlsserve/...
RACE_APP_TESTS ?= Concurrent|Replica|Progress

.PHONY: test-race
test-race: test-components ## The packages with concurrency again under the race detector (part of make test).
	source hack/test-env.sh && go test -race $(GO_TEST_FLAGS) $(RACE_PKGS)
	source hack/test-env.sh && go test -race $(GO_TEST_FLAGS) -run '$(RACE_APP_TESTS)' ./internal/server/app/

# Each fuzz target as package:function; go test -fuzz takes one target at a time.
FUZZ_TARGETS := ./internal/keyring:FuzzParse ./internal/server/auth:FuzzVerifyAccess ./internal/server/auth:FuzzVerifySignedClaims ./internal/server/fieldcrypt:FuzzDecrypt ./internal/server/httpapi:FuzzDecodeRequest ./internal/server/httpapi:FuzzCSPReport

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 100000 executions; e.g. make fuzz FUZZTIME=10m).
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} in $${t%%:*} for $(FUZZTIME)"; \
		go test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) "$${t%%:*}" || exit 1; \
	done

.PHONY: vulncheck
vulncheck: ## Known vulnerabilities: govulncheck offline (Go vulnerability database from the module proxy, hack/get-vulncheck.sh) over ./... and the three binaries as shipped; fails on a reachable one not in hack/vulncheck/allow.yaml.
	dir="$$(hack/get-vulncheck.sh)" && bins="$$(mktemp -d)" && trap 'rm -rf "$$bins"' EXIT && \
	for c in manager scheduler kubectl-rsched; do CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o "$$bins/$$c" "./cmd/$$c"; done && \
	go run ./hack/vulncheck -govulncheck "$$dir/govulncheck" -db "$$dir/db" -allow hack/vulncheck/allow.yaml \
		-source ./... "$$bins/manager" "$$bins/scheduler" "$$bins/kubectl-rsched"

# The database is pinned (reproducible runs); make vulncheck warns once the pin is 45 days old.
.PHONY: vulncheck-update
vulncheck-update: ## Move the vulnerability database pin (VULNDB_VERSION's default in hack/get-vulncheck.sh) to golang.org/x/vulndb@master as the module proxy resolves it (@latest where the proxy refuses a branch); prints old -> new with dates. Then make vulncheck and commit.
	go run ./hack/vulncheck -update-pin hack/get-vulncheck.sh

.PHONY: test-alerts
test-alerts: ## The alerting rules (charts/rsched-operator/files/prometheus-rules.yaml): promtool check rules, then its unit tests (test/monitoring/alerts.test.yaml; Debian's promtool, installed when missing).
	promtool="$$(hack/get-promtool.sh)" && "$$promtool" check rules charts/rsched-operator/files/prometheus-rules.yaml && "$$promtool" test rules test/monitoring/alerts.test.yaml

.PHONY: test-api
test-api: ## Only the CRD admission tests (real kube-apiserver; ~15 s once the components are cached).
	source hack/test-env.sh && go test $(GO_TEST_FLAGS) ./api/...

.PHONY: test-components
test-components: $(HELM) ## Build or find kube-apiserver/etcd/kubectl (+ controller-manager, scheduler, kwok), Vault, PostgreSQL, CBC and Lua (cached after the first run).
	ENVTEST_EXTRA_BINS="kube-controller-manager kube-scheduler" hack/envtest-assets.sh >/dev/null
	hack/get-kwok.sh >/dev/null
	hack/get-vault.sh >/dev/null
	hack/postgres.sh >/dev/null
	hack/get-cbc.sh >/dev/null
	hack/get-lua.sh >/dev/null
	hack/get-testssl.sh >/dev/null
	hack/get-promtool.sh >/dev/null
	hack/get-cert-manager.sh >/dev/null
	hack/get-vulncheck.sh >/dev/null
	hack/get-cyclonedx.sh >/dev/null
	hack/get-cosign.sh >/dev/null
	hack/get-kube-score.sh >/dev/null

# Flags for hack/apibench, e.g. make bench-api APIBENCH_FLAGS='-c 64 -d 30s -baseline=false'
# (-max-load 0: measure at once instead of waiting up to 15 min for a 1-minute load below 2.5).
APIBENCH_FLAGS ?=

.PHONY: bench
bench: test-components ## Run the Go benchmarks (packages start their real components in TestMain), then bench-api.
	source hack/test-env.sh && go test -run '^$$' -bench . -benchmem ./...
	$(MAKE) --no-print-directory bench-api

.PHONY: bench-api
bench-api: test-components ## Drive a real server over HTTPS with N clients (kept-alive and a full handshake per request) and compare with the predecessor's FastAPI baseline behind TLS (docs/performance.md).
	source hack/test-env.sh && go run ./hack/apibench $(APIBENCH_FLAGS)

##@ Build

.PHONY: build
build: ## Build the operator, the API server and the kubectl plugin (with its completion helper kubectl_complete-rsched) into bin/.
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/manager ./cmd/manager
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/scheduler ./cmd/scheduler
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/kubectl-rsched ./cmd/kubectl-rsched
	ln -sf kubectl-rsched bin/kubectl_complete-rsched

.PHONY: run
run: manifests ## Run the manager against the cluster of the current kubeconfig (CRDs must be installed).
	go run ./cmd/manager --leader-elect=false --metrics-bind-address=0 --scheduler-image=$(SCHEDULER_IMG)

.PHONY: demo
demo: build ## Start a local control plane, Vault and PostgreSQL, run the operator, apply the samples and show them (Ctrl-C or 'make demo-down' stops it).
	hack/demo.sh up

.PHONY: demo-down
demo-down: ## Stop everything 'make demo' started.
	hack/demo.sh down

.PHONY: images
images: ## Assemble the operator and API server images as docker-archive tarballs in bin/images (no Docker needed).
	go run ./hack/images -out bin/images -tag $(IMAGE_TAG)

# make release signs with cosign and the project's long-lived key, required: COSIGN_KEY=<KMS URI>
# (awskms://, gcpkms://, azurekms://, hashivault://) or COSIGN_KEY=<encrypted cosign.key> with
# COSIGN_PASSWORD from the environment (never a make argument). Users verify with the public key
# published apart from the release (docs/release.md), never the release's own cosign.pub.
# TLOG=1 uploads the signatures to Rekor (the release pipeline; offline there is none).
# The chart's Helm provenance file (<chart>.tgz.prov, helm verify) is signed with the project's
# long-lived OpenPGP key, required with COSIGN_KEY: HELM_SIGN_KEYRING=<secret keyring file>
# HELM_SIGN_KEY=<key name>, and HELM_SIGN_PASSPHRASE_FILE=<file> when the key is encrypted.
# EPHEMERAL_KEY=1 signs with a throwaway pair (and OpenPGP key) instead, for tests and dry runs
# only: the release says it is untrusted (UNTRUSTED-EPHEMERAL-KEY). UNSIGNED=1 skips signing.
.PHONY: release
release: $(HELM) ## Write the release artefacts into dist/$(VERSION) (offline; docs/release.md): OCI image layouts, SBOMs, CRDs, install.yaml and the chart pinned by digest, the kubectl plugin and its krew manifest, cosign signatures and SBOM attestations, the chart's Helm provenance, SHA256SUMS.
	go run ./hack/release -out dist/$(VERSION) -version $(VERSION) -commit $(COMMIT) -cyclonedx "$$(hack/get-cyclonedx.sh)" \
		-kubectl "$$(hack/envtest-assets.sh)/kubectl" -helm $(HELM) \
		$(if $(filter 1,$(UNSIGNED)),,-cosign "$$(hack/get-cosign.sh)" $(if $(COSIGN_KEY),-cosign-key "$(COSIGN_KEY)") \
			$(if $(HELM_SIGN_KEYRING),-helm-keyring "$(HELM_SIGN_KEYRING)") $(if $(HELM_SIGN_KEY),-helm-key "$(HELM_SIGN_KEY)") \
			$(if $(HELM_SIGN_PASSPHRASE_FILE),-helm-passphrase-file "$(HELM_SIGN_PASSPHRASE_FILE)") \
			$(if $(filter 1,$(EPHEMERAL_KEY)),-ephemeral-key) $(if $(filter 1,$(TLOG)),-tlog))

.PHONY: cluster-up
cluster-up: ## Start a real single-node cluster on this machine (Linux, root; builds its binaries on first use).
	hack/local-cluster.sh up

.PHONY: cluster-down
cluster-down: ## Stop the local cluster and remove everything it put on the host.
	hack/local-cluster.sh down

.PHONY: load-images
load-images: images ## Import bin/images/*.tar into the local cluster's containerd.
	hack/local-cluster.sh load bin/images/manager.tar bin/images/scheduler.tar

# The local cluster's pod network for test-e2e: cilium enforces NetworkPolicies (the NetworkPolicy
# scenario needs it), bridge does not (quicker to build and start; that scenario then skips).
E2E_CNI ?= cilium

.PHONY: test-e2e
test-e2e: ## End-to-end tests on a real cluster: the local one (Linux, root; built on first use; E2E_CNI=cilium|bridge) or KUBECONFIG with RSCHED_E2E_CLUSTER=existing.
	source hack/test-env.sh && RSCHED_CLUSTER_CNI=$(E2E_CNI) go test -tags e2e -count=1 -timeout 60m -v ./test/e2e/

.PHONY: docker-build
docker-build: ## Build the operator and API server images (needs a Docker engine).
	docker build --target manager -t $(IMG) .
	docker build --target scheduler -t $(SCHEDULER_IMG) .

.PHONY: helm-bin
helm-bin: $(HELM) ## Print the path of the helm binary in the tool cache (building it if missing).
	@echo $(HELM)

.PHONY: helm-lint
helm-lint: $(HELM) ## Lint the Helm chart (warnings fail it).
	$(HELM) lint --strict charts/rsched-operator

##@ Tools

$(CONTROLLER_GEN):
	@mkdir -p $(TOOLS_DIR)
	@echo "installing controller-gen $(CONTROLLER_TOOLS_VERSION) into $(TOOLS_DIR)"
	tmp=$$(mktemp -d -p $(TOOLS_DIR)) && GOBIN=$$tmp go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION) && mv $$tmp/controller-gen $@ && rmdir $$tmp

# Built from source through the module proxy, like every tool here (its releases are binaries we
# cannot download). Only the complexity linters are enabled (.golangci.yml): staticcheck and vet
# run on their own above.
$(GOLANGCI_LINT):
	@mkdir -p $(TOOLS_DIR)
	@echo "installing golangci-lint $(GOLANGCI_LINT_VERSION) into $(TOOLS_DIR) (a few minutes, once)"
	tmp=$$(mktemp -d -p $(TOOLS_DIR)) && GOBIN=$$tmp CGO_ENABLED=0 go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION) && mv $$tmp/golangci-lint $@ && rmdir $$tmp

$(STATICCHECK):
	@mkdir -p $(TOOLS_DIR)
	@echo "installing staticcheck $(STATICCHECK_VERSION) into $(TOOLS_DIR)"
	tmp=$$(mktemp -d -p $(TOOLS_DIR)) && GOBIN=$$tmp go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) && mv $$tmp/staticcheck $@ && rmdir $$tmp

# The -X flags are the ones helm's own release build sets: without them `go install` yields a
# helm that calls itself "v3.22" and assumes Kubernetes v1.20, so `helm template` would refuse
# the chart's kubeVersion (>=1.31). 1.37 is the Kubernetes of helm $(HELM_VERSION)'s client-go
# (v0.37); update it together with HELM_VERSION.
$(HELM):
	@mkdir -p $(TOOLS_DIR)
	@echo "installing helm $(HELM_VERSION) into $(TOOLS_DIR)"
	tmp=$$(mktemp -d -p $(TOOLS_DIR)) && GOBIN=$$tmp CGO_ENABLED=0 go install -trimpath -ldflags "-s -w \
		-X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
		-X helm.sh/helm/v3/internal/version.gitTreeState=clean \
		-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37 \
		-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37" \
		helm.sh/helm/v3/cmd/helm@$(HELM_VERSION) && mv $$tmp/helm $@ && rmdir $$tmp
