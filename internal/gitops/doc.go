// Package gitops holds what GitOps tools need to judge rsched's objects: the Argo CD health
// checks (Lua) for SchedulerInstance and KeyRotationPolicy. They are embedded so that tests run
// exactly the scripts docs/gitops.md shows.
package gitops
