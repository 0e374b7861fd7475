// Package plugin is kubectl-rsched, the kubectl plugin for rsched's objects: `status` (instances
// and policies in one view, failing conditions with their reasons), `rotate` (a manual rotation,
// followed until the new keys are active), `keys` (a policy's key versions), `certs` (an
// instance's serving certificate, CA and trust bundle) and `renew` (a new serving certificate, a
// re-signed CA or a CA key replacement, followed until done). It reads and writes only through
// the Kubernetes API, with kubectl's own flags and kubeconfig handling, and never reads a Secret:
// what it shows of certificates comes from status and the public trust bundle.
package plugin
