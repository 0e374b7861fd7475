// Package servingcert keeps a SchedulerInstance's operator-managed serving certificate: it reads
// the three objects that hold it, asks internal/pki what to do, does it, and says what it did.
//
//   - Secret <instance>-tls-ca (Opaque): the CA state, written in one update so that a CA swap is
//     never half written: ca.crt and ca.key (the current CA), next.crt and next.key (the next CA
//     while a key replacement propagates), previous.crt (the replaced CA while the old and the new
//     overlap), and annotations for the replacement's phase, when the bundle holding both CAs was
//     published, when the leaf moved, and the last replace request acted on.
//   - Secret <instance>-tls (kubernetes.io/tls): tls.crt and tls.key, mounted by the pods, which
//     re-read them when the kubelet refreshes the volume (no restart); an annotation holds the last
//     renew request acted on.
//   - ConfigMap <instance>-ca: ca.crt, the trust bundle clients verify the server with.
//
// An action is only ever decided on the three read from the API server directly, not from the
// manager's cache: a decision taken on a stale copy of one of them (a CA Secret from before a
// promotion beside a leaf from after it) would re-issue a certificate for nothing. The cache is
// read first, and when it decides nothing is to be done (the steady state) nothing is read from
// the API server at all. Every write carries the resourceVersion read, so a
// concurrent writer makes it fail instead of being overwritten. The write order of each action is
// the one internal/pki's documentation states; a stop between two writes leaves a state the chain
// handles on the next reconcile.
//
// Nothing here logs, returns or records key material: errors name objects and keys, never data.
package servingcert
