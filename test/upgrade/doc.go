// Package upgrade proves that upgrading the operator restarts and rotates nothing: the previous
// release's CRDs and manager, built from git (see previousRevision in previous_test.go), run a
// SchedulerInstance and a KeyRotationPolicy until both are Ready; then this tree's CRDs and
// manager take over on the same API server, and every pod, certificate, key and owned object must
// stay as it was. Its tests are the package; `make test` runs them (go test ./...).
package upgrade
