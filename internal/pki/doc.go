// Package pki is the pure heart of the operator-managed TLS of a SchedulerInstance: issuing its
// CA and serving certificate (crypto/x509, ECDSA P-256), and deciding, one step at a time, what
// to do next so that certificates are renewed and a CA key is replaced without a client ever
// meeting a certificate it cannot verify. No Kubernetes client and no API types: the reconciler
// reads the Secrets, the published bundle and status into an Input, asks Decide, performs the one
// Action, persists what it did, and asks again.
//
// # The model
//
// Each instance has its own CA, self-signed, CA:true with path length 0 (it signs leaves, never
// another CA), key usage certificate and CRL signing, one year by default. The serving leaf is
// issued under it for the Service's names (name, name.ns, name.ns.svc,
// name.ns.svc.cluster.local) plus spec.tls.dnsNames, server authentication only, 30 days by
// default, and never past its CA certificate's NotAfter. Both have 128-bit random serials and a
// NotBefore 5 minutes in the past for peers whose clocks lag. The lifetimes are shorter than
// CloudNativePG's (90-day leaves renewed 7 days before expiry) on purpose: renewal that happens
// monthly is renewal that is known to work.
//
// The trust bundle (ConfigMap <instance>-ca, key ca.crt) is what clients trust. It holds the
// current CA certificate, plus the other CA of a key replacement in progress.
//
// # Renewal
//
// A certificate is due at 2/3 of its life (cert-manager's rule: renewBefore defaults to a
// third of the life, and a renewBefore not shorter than the life falls back to it), read from
// the certificate's own NotBefore and NotAfter, never from when the operator last looked.
//
// The CA is renewed by re-signing its own key (ResignCA), as CloudNativePG does: a new
// certificate with the same subject and public key, so every leaf verifies against the old and
// the new certificate alike and no client has anything to change. Leaf renewal writes a new key
// and certificate to the Secret, which pods pick up without a restart.
//
// # CA key replacement
//
// When the key itself must change (a manual request through the annotation, or the CA's key is
// gone so it can neither be re-signed nor sign a leaf), the replacement runs in three persisted
// phases, each an Action:
//
//  1. StartCAReplacement: generate the next CA and publish a bundle holding the current and the
//     next CA (phase Propagating, BundlePublished recorded). The leaf stays under the current CA.
//  2. PromoteCA, once TrustPropagation has passed since the bundle was published: the next CA
//     becomes the current one, the leaf is re-issued under it (phase Overlapping, LeafMoved
//     recorded), the bundle is unchanged.
//  3. DropPreviousCA, once Overlap has passed since the leaf moved: publish the bundle with the
//     current CA alone.
//
// No pod restarts at any point. A PublishBundle while Propagating (the bundle was found
// without the next CA) restarts the propagation wait: it is measured from the last
// publication. When waiting protects nothing (the current CA has expired, or the leaf cannot
// serve and the current CA has no key to re-issue it) the promotion happens at once
// (ServingBroken). Strimzi shows the cost of doing it otherwise: its CA key replacement is three
// rolling updates (trust the new CA, new server certificates, drop the old CA), the last of
// which ran again on every reconcile (#11717); and cluster CAs there expired after a year
// without being renewed, leaving pods unable to start (#8861). Here every phase is decided from
// persisted data and ends in a state that decides Nothing.
//
// # The chain
//
// Decide runs small checks in order; the first that decides wins, and each is tested alone:
//
//	caMissing          no CA                                   IssueCA (and a leaf after)
//	replacementLost    propagating without the next CA or key  StartCAReplacement again
//	bundleOutOfDate    published bundle ≠ DesiredBundle, or    PublishBundle
//	                   a propagation with no publication time
//	trustPropagated    propagation time passed                 PromoteCA
//	servingBroken      propagating, nothing left to protect    PromoteCA
//	overlapEnded       overlap passed, leaf under the new CA   DropPreviousCA
//	caKeyMissing       no CA key, no replacement running       StartCAReplacement
//	manualReplace      a new replace request, none running     StartCAReplacement
//	manualRenewCA      a new renew-CA request                  RenewCA (re-sign)
//	caExpired          CA expired (operator was down)          RenewCA (re-sign)
//	caDue              CA at 2/3 of its life                   RenewCA (re-sign)
//	leafMissing        no leaf                                 IssueLeaf
//	leafNotSignedByCA  leaf not signed by the current CA       ReissueLeaf
//	leafExpired        leaf expired (operator was down)        ReissueLeaf
//	leafKeyMissing     leaf key absent or not its pair         ReissueLeaf
//	leafNamesChanged   DNS names differ from the wanted ones   ReissueLeaf
//	manualRenew        a new renew request                     RenewLeaf
//	leafCapped         leaf due, but it ends with its CA       RenewCA (re-sign), then the leaf
//	leafDue            leaf at 2/3 of its life                 RenewLeaf
//	(end)              nothing to do                           wait: After = next due point
//	                   (Reason NotDue, WaitingForTrust or WaitingForOverlap)
//
// Why this order: the bundle is repaired before anything is signed, because a leaf under a CA
// that clients do not trust is an outage; a replacement in progress moves on before the current
// CA is renewed (a CA being replaced is not re-signed); the CA is renewed or replaced before a
// leaf is signed with it; and of the leaf checks, those that mean "this leaf does not serve"
// come before those that mean "this leaf will soon need replacing". The leaf checks need the
// current CA's key; without it the replacement's promotion is what re-issues the leaf.
//
// # Invariants (the simulation in the tests checks them at every step)
//
//   - Nothing ever expires while the operator runs: the serving leaf is always within its
//     validity, and so is every CA certificate a client needs to verify it.
//   - Zero downtime: a client holding any bundle published within the last TrustPropagation
//     verifies the current leaf. That is why a new CA key is published before it signs and
//     the old one is kept after it stops signing.
//   - Never stuck: a leaf that is not signed by the current CA is re-issued on the next
//     reconcile (CloudNativePG #10433 left such certificates in place until a human deleted
//     pods), and so is an expired leaf or CA after the operator was down for months: an
//     expired certificate is never a state to wait in.
//   - A restart or a leader change renews nothing by itself: Decide reads only its Input, every
//     field of which is persisted (the Secrets, the bundle, status), so it decides the same
//     before and after. A converged instance decides Nothing however often it is asked.
//
// # What the reconciler persists, and in which order
//
// The CA state (current CA and key, the next CA and key while propagating, the previous CA
// certificate while overlapping, the phase, BundlePublished and LeafMoved) lives in one object
// written in one update, so that PromoteCA's swap of CAs and its LeafMoved can never be half
// written. Each action then writes in this order: the CA state, the bundle, the leaf's Secret,
// BundlePublished last (after the bundle it dates; recorded rounded up to the second, as
// status keeps it). A reconciler stopped between two writes leaves a state the chain already
// handles: a bundle out of date or a propagation without its publication time (PublishBundle,
// which restarts the wait), a leaf under the previous CA (ReissueLeaf, LeafNotSignedByCA).
// A key that could not be read is an error to retry, never "absent": absent starts a
// replacement.
//
// # Durations
//
// TrustPropagation (default 10 minutes) must outlast the time a client takes to re-read the
// bundle (a mounted ConfigMap reaches pods within the kubelet's sync period and cache TTL,
// about two minutes by default); Overlap (default 10 minutes) must outlast the time a pod keeps
// serving a replaced leaf (the same kubelet refresh). Renewal runs by default: OpenSearch
// operator #1451 shipped it off, which guarantees an outage when the first certificate expires.
package pki
