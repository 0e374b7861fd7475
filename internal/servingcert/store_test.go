package servingcert

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/outcome"
	"github.com/rsched/rsched/internal/pki"
	"github.com/rsched/rsched/internal/testenv"
)

type fixture struct {
	t     *testing.T
	ctx   context.Context
	kube  *testenv.Kube
	store *Store
	req   Request
}

func newFixture(t *testing.T, kube *testenv.Kube, ns string) *fixture {
	t.Helper()
	ctx := context.Background()
	if err := kube.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	si := &rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Name: "sched", Namespace: ns, UID: types.UID("uid-" + ns)}}
	si.APIVersion, si.Kind = rschedv1.GroupVersion.String(), "SchedulerInstance"
	return &fixture{t: t, ctx: ctx, kube: kube,
		store: &Store{Reader: kube.Client, Writer: kube.Client, Scheme: kube.Scheme},
		req: Request{
			Owner:      si,
			Objects:    Objects{Namespace: ns, CASecret: "sched-tls-ca", LeafSecret: "sched-tls", BundleName: "sched-ca"},
			Labels:     map[string]string{"app.kubernetes.io/managed-by": "rsched"},
			DNSNames:   pki.ServiceDNSNames("sched", ns),
			CommonName: "rsched " + ns + "/sched CA",
		}}
}

func (f *fixture) converge(now time.Time) Result {
	f.t.Helper()
	res, err := f.store.Converge(f.ctx, f.req, now)
	if err != nil {
		f.t.Fatalf("%v: %v", now, err)
	}
	return res
}

func actions(res Result) []pki.Action {
	var out []pki.Action
	for _, d := range res.Performed {
		out = append(out, d.Action)
	}
	return out
}

func (f *fixture) objects() (ca, leaf *corev1.Secret, bundle *corev1.ConfigMap) {
	f.t.Helper()
	ca, leaf, bundle = &corev1.Secret{}, &corev1.Secret{}, &corev1.ConfigMap{}
	o := f.req.Objects
	for name, obj := range map[string]client.Object{o.CASecret: ca, o.LeafSecret: leaf, o.BundleName: bundle} {
		if err := f.kube.Client.Get(f.ctx, client.ObjectKey{Namespace: o.Namespace, Name: name}, obj); err != nil {
			f.t.Fatal(err)
		}
	}
	return ca, leaf, bundle
}

// verifies checks that the stored leaf verifies, at now, against the stored bundle for the
// Service's name, as a client trusting only the ConfigMap would.
func (f *fixture) verifies(now time.Time, bundlePEM string) *x509.Certificate {
	f.t.Helper()
	_, leafSec, _ := f.objects()
	leaf, err := pki.DecodeCertificates(leafSec.Data[corev1.TLSCertKey])
	if err != nil {
		f.t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(bundlePEM)) {
		f.t.Fatal("bundle holds no certificate")
	}
	if _, err := leaf[0].Verify(x509.VerifyOptions{Roots: roots, DNSName: "sched." + f.req.Objects.Namespace + ".svc", CurrentTime: now}); err != nil {
		f.t.Fatalf("%v: the leaf does not verify against the bundle: %v", now, err)
	}
	return leaf[0]
}

// TestStoreLifecycleAgainstARealAPIServer drives one instance's certificates through issuance,
// a steady state with no writes, a renewal asked for, a CA renewal by re-signing, and a CA key
// replacement in its three phases, against a real kube-apiserver; at every step the stored leaf
// verifies against the stored bundle.
func TestStoreLifecycleAgainstARealAPIServer(t *testing.T) {
	kube := testenv.StartKube(t)
	f := newFixture(t, kube, "lifecycle")
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 250_000_000, time.UTC)

	res := f.converge(t0)
	if got := actions(res); len(got) != 3 || got[0] != pki.IssueCA || got[1] != pki.PublishBundle || got[2] != pki.IssueLeaf {
		t.Fatalf("fresh instance: %v, want IssueCA, PublishBundle, IssueLeaf", got)
	}
	ca, leaf, bundle := f.objects()
	if leaf.Type != corev1.SecretTypeTLS || !metav1.IsControlledBy(ca, f.req.Owner) || !metav1.IsControlledBy(leaf, f.req.Owner) || !metav1.IsControlledBy(bundle, f.req.Owner) {
		t.Fatalf("objects: leaf type %s, owners %v %v %v", leaf.Type, ca.OwnerReferences, leaf.OwnerReferences, bundle.OwnerReferences)
	}
	if strings.Contains(bundle.Data[BundleKey], "PRIVATE KEY") {
		t.Fatal("the published bundle holds a private key")
	}
	first := f.verifies(t0, bundle.Data[BundleKey])
	if res.Next.Action != pki.Nothing || res.Next.After != pki.RenewalTime(first, 0).Sub(t0) {
		t.Fatalf("next: %+v, want a wait until the leaf's renewal", res.Next)
	}

	// Steady: nothing decided, nothing written, from a new store too (a restarted operator).
	versions := func() [3]string {
		ca, leaf, bundle := f.objects()
		return [3]string{ca.ResourceVersion, leaf.ResourceVersion, bundle.ResourceVersion}
	}
	before := versions()
	f.store = &Store{Reader: kube.Client, Writer: kube.Client, Scheme: kube.Scheme}
	if res := f.converge(t0.Add(time.Hour)); len(res.Performed) != 0 || versions() != before {
		t.Fatalf("steady state: %v, versions %v -> %v", actions(res), before, versions())
	}

	// With a cache to read first, the steady state reads nothing from the API server; an action
	// is decided again on fresh reads.
	fresh := &countingReader{Reader: kube.Client}
	f.store = &Store{Reader: fresh, Cache: kube.Client, Writer: kube.Client, Scheme: kube.Scheme}
	if res := f.converge(t0.Add(90 * time.Minute)); len(res.Performed) != 0 || fresh.n != 0 {
		t.Fatalf("steady state with a cache: %v, %d reads past it", actions(res), fresh.n)
	}

	// A renewal asked for: a new key under the same CA, once.
	f.req.RenewRequest = "r1"
	if res := f.converge(t0.Add(2 * time.Hour)); len(res.Performed) != 1 || res.Performed[0].Reason != pki.ManualRenewRequest || res.LastRenewRequest != "r1" {
		t.Fatalf("renew request: %+v", res)
	}
	_, _, bundle = f.objects()
	renewed := f.verifies(t0.Add(2*time.Hour), bundle.Data[BundleKey])
	if renewed.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("the renewal kept the serial")
	}
	if fresh.n != 3 {
		t.Fatalf("the renewal was decided on %d fresh reads, want the 3 objects", fresh.n)
	}
	if res := f.converge(t0.Add(3 * time.Hour)); len(res.Performed) != 0 {
		t.Fatalf("a request acted on renews again: %v", actions(res))
	}

	// The CA at 2/3 of its life: re-signed, same key, the bundle republished, the leaf untouched.
	caCert := res.CA
	caDue := pki.RenewalTime(caCert, 0)
	res = f.converge(caDue)
	if got := actions(res); len(got) < 2 || got[0] != pki.RenewCA || got[1] != pki.PublishBundle {
		t.Fatalf("CA due: %v", got)
	}
	if string(res.CA.SubjectKeyId) != string(caCert.SubjectKeyId) || res.CA.Equal(caCert) {
		t.Fatal("the CA renewal did not re-sign the same key")
	}
	_, _, bundle = f.objects()
	f.verifies(caDue, bundle.Data[BundleKey])

	// A CA renewal asked for: re-signed again at once, once.
	f.req.RenewCARequest = "c1"
	res = f.converge(caDue.Add(time.Minute))
	if got := actions(res); len(got) != 2 || res.Performed[0].Reason != pki.ManualRenewCARequest || res.LastRenewCARequest != "c1" {
		t.Fatalf("renew-CA request: %v", res.Performed)
	}
	if res := f.converge(caDue.Add(2 * time.Minute)); len(res.Performed) != 0 {
		t.Fatalf("a renew-CA request acted on renews again: %v", actions(res))
	}

	// A CA key replacement: the next CA published beside the current one, the leaf moved after the
	// propagation, the old CA dropped after the overlap; the leaf verifies against every bundle.
	now := caDue.Add(time.Hour)
	f.req.ReplaceRequest = "k1"
	res = f.converge(now)
	if got := actions(res); len(got) != 1 || got[0] != pki.StartCAReplacement || res.Phase != pki.Propagating {
		t.Fatalf("replace request: %v, phase %s", got, res.Phase)
	}
	_, _, bundle = f.objects()
	if certs, _ := pki.DecodeCertificates([]byte(bundle.Data[BundleKey])); len(certs) != 2 {
		t.Fatalf("propagating: bundle of %d certificates, want 2", len(certs))
	}
	oldBundle := bundle.Data[BundleKey]
	f.verifies(now, oldBundle)
	if res := f.converge(now.Add(pki.DefaultTrustPropagation - time.Second)); len(res.Performed) != 0 || res.Next.Reason != pki.WaitingForTrust {
		t.Fatalf("inside the propagation: %v %+v", actions(res), res.Next)
	}
	now = now.Add(pki.DefaultTrustPropagation + time.Second)
	res = f.converge(now)
	if got := actions(res); len(got) != 1 || got[0] != pki.PromoteCA || res.Phase != pki.Overlapping {
		t.Fatalf("after the propagation: %v, phase %s", got, res.Phase)
	}
	moved := f.verifies(now, oldBundle) // a client that read the bundle before still verifies
	if moved.CheckSignatureFrom(caCert) == nil {
		t.Fatal("the leaf did not move to the new CA")
	}
	now = now.Add(pki.DefaultOverlap + time.Second)
	res = f.converge(now)
	if got := actions(res); len(got) != 1 || got[0] != pki.DropPreviousCA || res.Phase != pki.NoReplacement {
		t.Fatalf("after the overlap: %v, phase %s", got, res.Phase)
	}
	_, _, bundle = f.objects()
	if certs, _ := pki.DecodeCertificates([]byte(bundle.Data[BundleKey])); len(certs) != 1 || !certs[0].Equal(res.CA) {
		t.Fatal("after the overlap the bundle is not the new CA alone")
	}
	f.verifies(now, bundle.Data[BundleKey])
	if res := f.converge(now.Add(time.Minute)); len(res.Performed) != 0 || res.LastReplaceRequest != "k1" {
		t.Fatalf("a replacement acted on runs again: %v", actions(res))
	}
}

// TestStoreRecoversAndRefuses: an expired leaf after months without an operator is re-issued at
// once; a damaged CA key starts a replacement (its leaf still serves meanwhile); an object of
// someone else under one of the names is a conflict, never overwritten.
func TestStoreRecoversAndRefuses(t *testing.T) {
	kube := testenv.StartKube(t)
	f := newFixture(t, kube, "recover")
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	first := f.converge(t0)

	late := first.Leaf.NotAfter.Add(24 * time.Hour)
	res := f.converge(late)
	if got := actions(res); len(got) != 1 || got[0] != pki.ReissueLeaf || res.Performed[0].Reason != pki.LeafExpired {
		t.Fatalf("operator back after the leaf expired: %v", res.Performed)
	}
	_, _, bundle := f.objects()
	f.verifies(late, bundle.Data[BundleKey])

	ca, _, _ := f.objects()
	ca.Data[CAKeyKey] = []byte("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
	if err := kube.Client.Update(f.ctx, ca); err != nil {
		t.Fatal(err)
	}
	res = f.converge(late.Add(time.Minute))
	if got := actions(res); len(got) != 1 || got[0] != pki.StartCAReplacement || res.Performed[0].Reason != pki.CAKeyMissing {
		t.Fatalf("damaged CA key: %v", res.Performed)
	}
	_, _, bundle = f.objects()
	f.verifies(late.Add(time.Minute), bundle.Data[BundleKey])

	// The CA Secret deleted: the bundle's CA that signed the serving leaf is kept, without its key,
	// and replaced with the full propagation; the leaf pods serve verifies all along.
	h := newFixture(t, kube, "ca-deleted")
	h.converge(t0)
	ca, _, _ = h.objects()
	if err := kube.Client.Delete(h.ctx, ca); err != nil {
		t.Fatal(err)
	}
	res = h.converge(t0.Add(time.Hour))
	if got := actions(res); len(got) != 1 || got[0] != pki.StartCAReplacement || res.Performed[0].Reason != pki.CAKeyMissing {
		t.Fatalf("CA Secret deleted: %v, want a replacement with propagation", res.Performed)
	}
	_, _, bundle = h.objects()
	if certs, _ := pki.DecodeCertificates([]byte(bundle.Data[BundleKey])); len(certs) != 2 {
		t.Fatalf("after the CA Secret's loss the bundle holds %d CAs, want the old and the next", len(certs))
	}
	h.verifies(t0.Add(time.Hour), bundle.Data[BundleKey])
	// Promoted, then the leaf lost during the overlap: re-issued, and the overlap starts again.
	moved := t0.Add(time.Hour + pki.DefaultTrustPropagation + time.Second)
	if got := actions(h.converge(moved)); len(got) != 1 || got[0] != pki.PromoteCA {
		t.Fatalf("after the propagation: %v", got)
	}
	_, leafSec, _ := h.objects()
	if err := kube.Client.Delete(h.ctx, leafSec); err != nil {
		t.Fatal(err)
	}
	again := moved.Add(pki.DefaultOverlap - time.Minute)
	if got := actions(h.converge(again)); len(got) != 1 || got[0] != pki.IssueLeaf {
		t.Fatalf("leaf lost during the overlap: %v", got)
	}
	if res := h.converge(moved.Add(pki.DefaultOverlap + time.Second)); len(res.Performed) != 0 || res.Next.Reason != pki.WaitingForOverlap {
		t.Fatalf("the overlap did not restart with the re-issued leaf: %v %+v", actions(res), res.Next)
	}

	g := newFixture(t, kube, "conflict")
	theirs := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sched-tls", Namespace: "conflict"}, StringData: map[string]string{"x": "theirs"}}
	if err := kube.Client.Create(g.ctx, theirs); err != nil {
		t.Fatal(err)
	}
	_, err := g.store.Converge(g.ctx, g.req, t0)
	var o *outcome.Outcome
	if !errors.As(err, &o) || o.Kind != outcome.Blocked || o.Reason != rschedv1.ReasonNameConflict || !o.Halt {
		t.Fatalf("someone else's Secret under the leaf's name: %v", err)
	}
	got := &corev1.Secret{}
	if err := kube.Client.Get(g.ctx, client.ObjectKeyFromObject(theirs), got); err != nil || string(got.Data["x"]) != "theirs" {
		t.Fatalf("their Secret was touched: %v %v", err, got.Data)
	}
}

// countingReader counts the reads that reach the API server past the cache.
type countingReader struct {
	client.Reader
	n int
}

func (c *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.n++
	return c.Reader.Get(ctx, key, obj, opts...)
}
