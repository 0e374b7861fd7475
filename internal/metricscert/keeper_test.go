package metricscert

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rsched/rsched/internal/pki"
	"github.com/rsched/rsched/internal/testenv"
)

const testNS = "rsched-system"

func newKeeper(t *testing.T, k *testenv.Kube, clk *clocktesting.FakeClock) *Keeper {
	t.Helper()
	return New(k.Client, Config{
		Namespace: testNS, SecretName: "rsched-metrics-certs", ConfigMapName: "rsched-metrics-ca",
		Dir: t.TempDir(), Policy: testPolicy, Labels: map[string]string{"app.kubernetes.io/managed-by": "rsched"},
		Clock: clk,
	})
}

func objects(t *testing.T, k *testenv.Kube) (*corev1.Secret, *corev1.ConfigMap) {
	t.Helper()
	sec, cm := &corev1.Secret{}, &corev1.ConfigMap{}
	ctx := context.Background()
	if err := k.Client.Get(ctx, client.ObjectKey{Namespace: testNS, Name: "rsched-metrics-certs"}, sec); err != nil {
		t.Fatal(err)
	}
	if err := k.Client.Get(ctx, client.ObjectKey{Namespace: testNS, Name: "rsched-metrics-ca"}, cm); err != nil {
		t.Fatal(err)
	}
	return sec, cm
}

func served(t *testing.T, kp *Keeper) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(kp.cfg.Dir, TLSCertKey))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKeepersShareOneCAAndARestartRenewsNothing, against a real kube-apiserver: two replicas
// starting at the same moment create one CA between them (the loser of the creation reads what
// the winner wrote) and serve the same leaf, which verifies against the published ConfigMap for
// the Service's name; the ConfigMap holds no key; a third start writes nothing; at the renewal
// time one replica renews the leaf under the same CA, the other picks it up from the Secret, and
// a scraper holding the ConfigMap read before verifies it.
func TestKeepersShareOneCAAndARestartRenewsNothing(t *testing.T) {
	k := testenv.StartKube(t)
	ctx := context.Background()
	if err := k.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}); err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Now())
	a, b := newKeeper(t, k, clk), newKeeper(t, k, clk)
	var wg sync.WaitGroup
	results := make([]Result, 2)
	errs := make([]error, 2)
	for i, kp := range []*Keeper{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); results[i], errs[i] = kp.Sync(ctx) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
	t.Logf("replica actions: %v / %v", results[0].Performed, results[1].Performed)
	issued := 0
	for _, r := range results {
		for _, d := range r.Performed {
			if d.Action == pki.IssueCA {
				issued++
			}
		}
	}
	if issued != 1 {
		t.Errorf("%d CAs issued by two replicas, want 1", issued)
	}
	sec, cm := objects(t, k)
	if !bytes.Equal(served(t, a), sec.Data[TLSCertKey]) || !bytes.Equal(served(t, b), sec.Data[TLSCertKey]) {
		t.Fatal("the replicas do not serve the Secret's leaf")
	}
	if len(cm.Data) != 1 || bytes.Contains([]byte(cm.Data[BundleKey]), []byte("PRIVATE")) || !bytes.Equal([]byte(cm.Data[BundleKey]), sec.Data[CACertKey]) {
		t.Fatalf("the ConfigMap holds %d keys; want ca.crt alone, the Secret's CA certificate", len(cm.Data))
	}
	verifyAgainst(t, served(t, a), cm.Data[BundleKey], clk.Now())
	if results[0].Next != Resync {
		t.Errorf("next look in %v, want the resync (%v): the renewal is days away", results[0].Next, Resync)
	}

	// A restart (a new Keeper on the same objects) writes nothing and serves the same leaf.
	restarted := newKeeper(t, k, clk)
	res, err := restarted.Sync(ctx)
	if err != nil || len(res.Performed) != 0 {
		t.Fatalf("a restart: %v %v", res.Performed, err)
	}
	if sec2, cm2 := objects(t, k); sec2.ResourceVersion != sec.ResourceVersion || cm2.ResourceVersion != cm.ResourceVersion {
		t.Error("a restart wrote an object")
	}
	if !bytes.Equal(served(t, restarted), sec.Data[TLSCertKey]) {
		t.Error("the restarted replica does not serve the stored leaf")
	}

	// At the renewal time: one replica renews, the other picks the new leaf up, same CA.
	clk.Step(5 * 24 * time.Hour)
	res, err = a.Sync(ctx)
	if err != nil || len(res.Performed) != 1 || res.Performed[0].Action != pki.RenewLeaf {
		t.Fatalf("at 5 of 7 days: %v %v, want RenewLeaf", res.Performed, err)
	}
	if res, err := b.Sync(ctx); err != nil || len(res.Performed) != 0 {
		t.Fatalf("the other replica after the renewal: %v %v, want nothing to do", res.Performed, err)
	}
	renewed, cmAfter := objects(t, k)
	if bytes.Equal(renewed.Data[TLSCertKey], sec.Data[TLSCertKey]) || !bytes.Equal(renewed.Data[CACertKey], sec.Data[CACertKey]) || cmAfter.ResourceVersion != cm.ResourceVersion {
		t.Fatal("the renewal did not replace the leaf alone")
	}
	if !bytes.Equal(served(t, b), renewed.Data[TLSCertKey]) {
		t.Error("the other replica does not serve the renewed leaf")
	}
	verifyAgainst(t, served(t, b), cm.Data[BundleKey], clk.Now())

	// A deleted ConfigMap is published again with the same CA.
	if err := k.Client.Delete(ctx, cmAfter); err != nil {
		t.Fatal(err)
	}
	if res, err := b.Sync(ctx); err != nil || len(res.Performed) != 1 || res.Performed[0].Action != pki.PublishBundle {
		t.Fatalf("after the ConfigMap was deleted: %v %v", res.Performed, err)
	}
	if _, cm3 := objects(t, k); cm3.Data[BundleKey] != cm.Data[BundleKey] {
		t.Error("the republished ConfigMap holds another CA")
	}
}
