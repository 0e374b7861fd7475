package controllers

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/pki"
	"github.com/rsched/rsched/internal/testenv"
)

// databaseTLSMaterial is a CA bundle and a client certificate with its key, in PEM, as a Vault
// KV secret holds them.
type databaseTLSMaterial struct{ ca, cert, key []byte }

func (m databaseTLSMaterial) kv() map[string]any {
	return map[string]any{"ca.crt": string(m.ca), "tls.crt": string(m.cert), "tls.key": string(m.key)}
}

func newDatabaseTLSMaterial(t *testing.T, ca pki.KeyPair, bundle ...pki.KeyPair) databaseTLSMaterial {
	t.Helper()
	leaf, err := pki.NewLeaf(ca, []string{"rsched"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.EncodePrivateKey(leaf.Key)
	if err != nil {
		t.Fatal(err)
	}
	m := databaseTLSMaterial{cert: pki.EncodeCertificates(leaf.Cert), key: key}
	for _, c := range append([]pki.KeyPair{ca}, bundle...) {
		m.ca = append(m.ca, pki.EncodeCertificates(c.Cert)...)
	}
	return m
}

func newTestCA(t *testing.T, name string) pki.KeyPair {
	t.Helper()
	ca, err := pki.NewCA(name, time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// The database's CA and client certificate from Vault: the operator copies them into the
// instance's own Secret <instance>-database-tls, mounted at the paths a user's Secrets would be. A
// new value in Vault reaches that Secret on the next refresh (the interval, 1m here: nothing else
// makes it read) without touching the pod template, since the server re-reads the files on every
// dial: the Deployment's generation, config hash and database revision stay. A value the server
// could not use (a CA that is not PEM, a key that is not the certificate's) is refused with
// SecretsSynced=False InvalidDatabaseTLS, backed off like a Vault failure, and the last good
// Secret stays. No key material, no Vault value reaches an event, the status or the log.
func TestDatabaseTLSFromVaultIsMountedAndRotatedWithoutARestart(t *testing.T) {
	v := testenv.StartVault(t)
	seedVault(t, v)
	first := newDatabaseTLSMaterial(t, newTestCA(t, "database CA 1"))
	putDatabaseTLS(t, v, first.kv())
	ns := namespace(t, nil)
	op := startOperator(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(op.logs.String())
		}
	})
	userSecret(t, ns, "vault-token", map[string]string{"token": v.Token})
	si := vaultInstance(ns, "dbv", v.Addr, rschedv1.VaultAuthSpec{TokenSecretRef: &rschedv1.SecretKeyRef{Name: "vault-token", Key: "token"}})
	si.Spec.Vault.RefreshInterval = &metav1.Duration{Duration: time.Minute}
	si.Spec.Database.TLS = rschedv1.DatabaseTLSSpec{
		CAVault:         &rschedv1.VaultKVRef{Path: "rsched/db-tls", Key: "ca.crt"},
		ClientCertVault: &rschedv1.VaultKVCertificateRef{Path: "rsched/db-tls"},
	}
	create(t, si)
	got := waitCondition(t, si, rschedv1.ConditionSecretsSynced, metav1.ConditionTrue, rschedv1.ReasonSecretsSynced)
	owned := waitDatabaseTLSSecret(t, ns, "dbv", first, 20*time.Second)
	if !metav1.IsControlledBy(owned, got) || owned.Labels[builders.LabelManagedBy] != builders.ManagedBy || owned.Annotations[builders.RevisionAnnotation] != "" {
		t.Fatalf("the database TLS Secret is not the instance's own, uncounted Secret: owners %v, labels %v, annotations %v", owned.OwnerReferences, owned.Labels, owned.Annotations)
	}
	var dep appsv1.Deployment
	testenv.Eventually(t, 20*time.Second, "the Deployment", func() (bool, string) { return get(t, ns, "dbv", &dep) == nil, "missing" })
	assertDatabaseTLSMounted(t, ns, &dep)
	generation, template := dep.Generation, dep.Spec.Template.DeepCopy()
	unchanged := func(when string) {
		t.Helper()
		if err := get(t, ns, "dbv", &dep); err != nil {
			t.Fatal(err)
		}
		if dep.Generation != generation || !equality.Semantic.DeepEqual(&dep.Spec.Template, template) {
			t.Fatalf("%s: the pod template changed (generation %d -> %d; annotations %v -> %v): the pods would restart",
				when, generation, dep.Generation, template.Annotations, dep.Spec.Template.Annotations)
		}
	}

	// Rotation in Vault: the bundle gains a second CA, the client certificate is renewed under it.
	// Only the refresh interval brings it in.
	ca2 := newTestCA(t, "database CA 2")
	second := newDatabaseTLSMaterial(t, ca2)
	second.ca = append(append([]byte{}, first.ca...), second.ca...)
	putDatabaseTLS(t, v, second.kv())
	start := time.Now()
	waitDatabaseTLSSecret(t, ns, "dbv", second, 100*time.Second)
	t.Logf("the rotated values reached the Secret %.1f s after they were written to Vault", time.Since(start).Seconds())
	unchanged("after the rotation")
	var db corev1.Secret
	if err := get(t, ns, "dbv-database", &db); err != nil || db.Annotations[builders.RevisionAnnotation] != "1" {
		t.Fatalf("the database URL Secret's revision moved: %v %v", err, db.Annotations)
	}

	// A CA that is not PEM: refused, the last good Secret stays. A spec change that leaves the pod
	// template alone (the refresh interval) makes the operator read at once.
	refused := second.kv()
	refused["ca.crt"] = vaultCanary + " is not a certificate"
	putDatabaseTLS(t, v, refused)
	setRefreshInterval(t, ns, "dbv", 2*time.Minute)
	got = waitCondition(t, si, rschedv1.ConditionSecretsSynced, metav1.ConditionFalse, rschedv1.ReasonInvalidDatabaseTLS)
	if msg := meta.FindStatusCondition(got.Status.Conditions, rschedv1.ConditionSecretsSynced).Message; msg != "spec.database.tls.caVault: in the Vault secret secret/rsched/db-tls, key ca.crt is not a list of PEM certificates" {
		t.Fatalf("message %q", msg)
	}
	if d := meta.FindStatusCondition(got.Status.Conditions, rschedv1.ConditionDegraded); d == nil || d.Status != metav1.ConditionTrue || got.Status.VaultFailures < 1 {
		t.Fatalf("Degraded %+v, vaultFailures %d", d, got.Status.VaultFailures)
	}
	waitDatabaseTLSSecret(t, ns, "dbv", second, 0)
	testenv.Eventually(t, 10*time.Second, "a Warning event for the refused CA", func() (bool, string) {
		var evs eventsv1.EventList
		if err := kube.Client.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		for _, e := range evs.Items {
			if e.Reason == rschedv1.ReasonInvalidDatabaseTLS && e.Type == corev1.EventTypeWarning &&
				strings.HasPrefix(e.Note, "spec.database.tls.caVault: in the Vault secret secret/rsched/db-tls, key ca.crt is not a list of PEM certificates; keeping the last good Secrets") {
				return true, ""
			}
		}
		return false, "none"
	})

	// A key that is not the certificate's: refused too, read at once after another spec change
	// (inside the backoff of the last failure), the last good Secret still in place.
	mismatched := second.kv()
	mismatched["tls.key"] = string(first.key)
	putDatabaseTLS(t, v, mismatched)
	setRefreshInterval(t, ns, "dbv", 3*time.Minute)
	want := "spec.database.tls.clientCertVault: in the Vault secret secret/rsched/db-tls, key tls.key is not the private key of the certificate in key tls.crt"
	testenv.Eventually(t, 30*time.Second, "the mismatched key refused", func() (bool, string) {
		var cur rschedv1.SchedulerInstance
		if err := get(t, ns, "dbv", &cur); err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(cur.Status.Conditions, rschedv1.ConditionSecretsSynced)
		if c == nil {
			return false, "no condition"
		}
		return c.Status == metav1.ConditionFalse && c.Reason == rschedv1.ReasonInvalidDatabaseTLS && c.Message == want, c.Reason + ": " + c.Message
	})
	waitDatabaseTLSSecret(t, ns, "dbv", second, 0)
	unchanged("after two refused values")

	// Fixed in Vault: taken at once after a spec change, the failures reset.
	third := newDatabaseTLSMaterial(t, ca2)
	third.ca = second.ca
	putDatabaseTLS(t, v, third.kv())
	setRefreshInterval(t, ns, "dbv", 4*time.Minute)
	got = waitCondition(t, si, rschedv1.ConditionSecretsSynced, metav1.ConditionTrue, rschedv1.ReasonSecretsSynced)
	waitDatabaseTLSSecret(t, ns, "dbv", third, 20*time.Second)
	if got.Status.VaultFailures != 0 {
		t.Fatalf("failures not reset: %d", got.Status.VaultFailures)
	}
	unchanged("after the recovery")

	noLeaks(t, op, ns, "dbv")
	noKeyMaterial(t, op, ns, "dbv", first.key, second.key, third.key)
}

func putDatabaseTLS(t *testing.T, v *testenv.Vault, data map[string]any) {
	t.Helper()
	if _, err := v.Client.KVv2("secret").Put(context.Background(), "rsched/db-tls", data); err != nil {
		t.Fatal(err)
	}
}

// setRefreshInterval changes spec.vault.refreshInterval: a spec change that the pod template
// does not depend on.
func setRefreshInterval(t *testing.T, ns, name string, d time.Duration) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, "the spec update", func() (bool, string) {
		var si rschedv1.SchedulerInstance
		if err := get(t, ns, name, &si); err != nil {
			return false, err.Error()
		}
		si.Spec.Vault.RefreshInterval = &metav1.Duration{Duration: d}
		if err := kube.Client.Update(context.Background(), &si); err != nil {
			return false, err.Error() // a conflict with the operator's status write: read again
		}
		return true, ""
	})
}

// waitDatabaseTLSSecret waits until the instance's database TLS Secret holds exactly m (within 0:
// it must already).
func waitDatabaseTLSSecret(t *testing.T, ns, name string, m databaseTLSMaterial, within time.Duration) *corev1.Secret {
	t.Helper()
	sec := &corev1.Secret{}
	holds := func() (bool, string) {
		if err := get(t, ns, name+"-database-tls", sec); err != nil {
			return false, err.Error()
		}
		ok := len(sec.Data) == 3 && bytes.Equal(sec.Data["ca.crt"], m.ca) && bytes.Equal(sec.Data["tls.crt"], m.cert) && bytes.Equal(sec.Data["tls.key"], m.key)
		return ok, "other values"
	}
	if within == 0 {
		if ok, msg := holds(); !ok {
			t.Fatalf("the last good database TLS Secret did not stay: %s", msg)
		}
		return sec
	}
	testenv.Eventually(t, within, "the database TLS Secret's values", holds)
	return sec
}

// assertDatabaseTLSMounted: the CA and the client pair are mounted from the instance's own Secret
// at the paths the rendered configuration names.
func assertDatabaseTLSMounted(t *testing.T, ns string, dep *appsv1.Deployment) {
	t.Helper()
	pod := dep.Spec.Template.Spec
	vols := map[string]string{}
	for _, vol := range pod.Volumes {
		if vol.Secret != nil {
			vols[vol.Name] = vol.Secret.SecretName
		}
	}
	mounts := map[string]string{}
	for _, m := range pod.Containers[0].VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if vols["database-ca"] != "dbv-database-tls" || vols["database-client"] != "dbv-database-tls" ||
		mounts["database-ca"] != builders.DatabaseCADir || mounts["database-client"] != builders.DatabaseCertDir {
		t.Fatalf("volumes %v mounted at %v", vols, mounts)
	}
	var cm corev1.ConfigMap
	if err := get(t, ns, "dbv-config", &cm); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"ca_file: /var/run/secrets/rsched/database-ca/ca.crt",
		"cert_file: /var/run/secrets/rsched/database-client/tls.crt",
		"key_file: /var/run/secrets/rsched/database-client/tls.key",
	} {
		if !strings.Contains(cm.Data[builders.ConfigFile], line) {
			t.Fatalf("the configuration does not say %q:\n%s", line, cm.Data[builders.ConfigFile])
		}
	}
}

// noKeyMaterial fails if any PEM block, or any line of the private keys' PEM bodies, appears in
// the operator's log, the namespace's events or the instance's status.
func noKeyMaterial(t *testing.T, op *operator, ns, name string, keys ...[]byte) {
	t.Helper()
	var evs eventsv1.EventList
	if err := kube.Client.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	places := map[string]string{"the operator's log": op.logs.String(), "the status": statusJSON(t, ns, name)}
	for _, e := range evs.Items {
		places["event "+e.Reason] = e.Note
	}
	for where, text := range places {
		if strings.Contains(text, "-----BEGIN") || strings.Contains(text, "PRIVATE KEY") {
			t.Errorf("%s carries a PEM block", where)
		}
		for _, k := range keys {
			for _, line := range strings.Split(string(k), "\n") {
				if len(line) >= 16 && !strings.HasPrefix(line, "-----") && strings.Contains(text, line) {
					t.Errorf("%s carries a line of a private key", where)
				}
			}
		}
	}
}
