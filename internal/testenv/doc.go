// Package testenv starts real components for integration tests: a Kubernetes API server with
// etcd (controller-runtime envtest) with rsched's CRDs installed, a Vault dev server and a
// throw-away PostgreSQL cluster. Nothing here is a fake.
//
// Where the binaries are comes from the environment, which `make test` sets through
// hack/test-env.sh:
//
//	KUBEBUILDER_ASSETS  etcd, kube-apiserver, kubectl   (hack/envtest-assets.sh)
//	RSCHED_VAULT_BIN    the vault binary                (hack/get-vault.sh)
//	RSCHED_PG_BINDIR    initdb, postgres                (hack/postgres.sh)
//	RSCHED_CBC_BIN      the cbc MILP solver             (hack/get-cbc.sh)
//
// A missing component fails the test with a message saying how to get it; it is never skipped,
// so a machine without the component can never report a green run that tested nothing.
package testenv
