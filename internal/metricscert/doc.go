// Package metricscert keeps the manager's own metrics serving certificate, so that a scraper
// verifies the manager's metrics endpoint against a CA it can read instead of skipping
// verification. It is internal/pki's model on a smaller scale: one CA of the manager's own
// (ECDSA P-256, one year by default), a short-lived leaf for the metrics Service's names (seven
// days by default), each renewed at 2/3 of its life, the CA by re-signing its own key so that a
// scraper holding the old CA certificate verifies the new leaf unchanged.
//
// Two objects in the manager's namespace hold it, both read from and written to the API server
// directly (never a cache) with the resourceVersion read:
//
//   - Secret (Opaque, --metrics-cert-secret): ca.crt, ca.key, tls.crt, tls.key. Every replica
//     reads it, so all of them serve the same leaf, and a restart finds what it issued before.
//   - ConfigMap (--metrics-ca-configmap): ca.crt, the CA certificate and never its key. The
//     chart's ServiceMonitor trusts it.
//
// Keeper.Sync reads both, asks pki.Decide, performs the one action (in memory, then one write),
// and asks again until the answer is to wait; then it writes the Secret's leaf into the
// directory controller-runtime's certificate watcher reads (--metrics-cert-dir, an emptyDir),
// the way the kubelet updates a Secret volume, so the metrics server serves a renewed leaf
// without a restart. Replicas that act at the same moment are serialised by the API server:
// the loser's write fails with a conflict (or AlreadyExists for the first creation), and it
// reads again and decides on what the winner wrote. A decision depends only on what is stored,
// so a restart renews nothing by itself.
//
// What is left out on purpose: the CA key replacement in phases that instances get. The key
// never leaves the Secret; a Secret whose CA key is gone or damaged (a person edited it) gets a
// new CA at once, which a scraper trusts when it next reads the ConfigMap.
//
// Nothing here logs, returns or records key material: errors name objects and keys, never data.
package metricscert
