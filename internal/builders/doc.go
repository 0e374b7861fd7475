// Package builders computes, as pure functions, the Kubernetes objects a SchedulerInstance owns:
// no client, no I/O, only the API types in and objects out, so every object can be table-tested
// and the reconciler only compares and writes. Objects are fully specified, API-server defaults
// included, so that comparing a desired object with the stored one finds no difference in a
// steady state (the reconciler then writes nothing).
package builders
