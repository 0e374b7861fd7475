// Package plugin is kubectl-rsched, the kubectl plugin for rsched's objects: `status` (instances
// and policies in one view, failing conditions with their reasons), `rotate` (a manual rotation,
// followed until the new keys are active) and `keys` (a policy's key versions). It reads and
// writes only through the Kubernetes API, with kubectl's own flags and kubeconfig handling.
package plugin
