package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rsched/rsched/internal/pki"
	"github.com/rsched/rsched/internal/testenv"
)

// TestManagerMetricsCertificateIsVerifiedAndReloaded: with --metrics-cert-dir (what the chart
// sets for metrics.certificate) the manager serves that certificate, which a scraper verifies
// against the CA for the metrics Service's name, as the chart's ServiceMonitor then does; a
// renewed pair swapped in as the kubelet swaps a Secret volume is served without a restart.
func TestManagerMetricsCertificateIsVerifiedAndReloaded(t *testing.T) {
	k := testenv.StartKube(t)
	ns := "rsched-system"
	if err := k.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	const host = "rsched-manager-metrics.rsched-system.svc"
	ca, err := pki.NewCA("metrics CA", time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	issue := func() (map[string][]byte, *x509.Certificate) {
		leaf, err := pki.NewLeaf(ca, []string{host}, time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		key, err := pki.EncodePrivateKey(leaf.Key)
		if err != nil {
			t.Fatal(err)
		}
		return map[string][]byte{"tls.crt": pki.EncodeCertificates(leaf.Cert), "tls.key": key}, leaf.Cert
	}
	vol := testenv.NewVolume(t.TempDir())
	files, first := issue()
	if _, err := vol.Update(files); err != nil {
		t.Fatal(err)
	}
	m := startManager(t, managerBin, k, ns, "--metrics-cert-dir", vol.Dir)

	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	served := func() (*x509.Certificate, error) {
		conn, err := tls.Dial("tcp", m.metrics, &tls.Config{RootCAs: roots, ServerName: host, MinVersion: tls.VersionTLS12})
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0], nil
	}
	testenv.Eventually(t, 30*time.Second, "the manager serving the given certificate, verified", func() (bool, string) {
		c, err := served()
		return err == nil && c.Equal(first), errString(err)
	})
	verified := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: host}}}
	if code, _, err := httpStatus(verified, "https://"+m.metrics+"/metrics", ""); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("a verified request without a token: %d %v, want 401 (TLS verified, then authentication)", code, err)
	}

	files, renewed := issue()
	if _, err := vol.Update(files); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "the renewed certificate served without a restart", func() (bool, string) {
		c, err := served()
		return err == nil && c.Equal(renewed), errString(err)
	})
	select {
	case <-m.done:
		t.Fatal("the manager exited")
	default:
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestManagerIssuesRenewsAndSharesItsOwnMetricsCertificate: with the flags the chart passes by
// default (no certificate values), the real manager issues its metrics certificate from a CA of
// its own, and a scraper that trusts only the published ConfigMap and checks the Service's name
// reads the metrics over verified TLS; a second manager process serves under the same CA; a
// short leaf lifetime makes the manager renew while running, and the same scraper, without
// re-reading anything, keeps working on the new certificate; a restart keeps the CA.
func TestManagerIssuesRenewsAndSharesItsOwnMetricsCertificate(t *testing.T) {
	k := testenv.StartKube(t)
	ctx := context.Background()
	ns := "rsched-system"
	if err := k.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	const host = "rsched-manager-metrics.rsched-system.svc"
	own := func() []string {
		return []string{"--metrics-cert-dir", t.TempDir(), "--metrics-cert-secret", "rsched-metrics-certs",
			"--metrics-ca-configmap", "rsched-metrics-ca", "--metrics-service", "rsched-manager-metrics",
			"--metrics-cert-lifetime", "3m"} // renewed 20 s after issuance (2/3 of 3m plus the 5m backdate)
	}
	a := startManager(t, managerBin, k, ns, own()...)

	scraper := serviceAccountToken(t, k, ns, "prometheus")
	reader := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "test-metrics-reader"},
		Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "test-metrics-reader"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "prometheus"}}}
	for _, o := range []client.Object{reader, binding} {
		if err := k.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	// The scraper reads the ConfigMap once: that is all it trusts.
	cm := &corev1.ConfigMap{}
	testenv.Eventually(t, 30*time.Second, "the CA published in ConfigMap rsched-metrics-ca", func() (bool, string) {
		err := k.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rsched-metrics-ca"}, cm)
		return err == nil && cm.Data["ca.crt"] != "", errString(err)
	})
	if len(cm.Data) != 1 || strings.Contains(cm.Data["ca.crt"], "PRIVATE") {
		t.Fatalf("the ConfigMap holds %d keys, want ca.crt alone and no key", len(cm.Data))
	}
	caPEM := cm.Data["ca.crt"]
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(caPEM)) {
		t.Fatal("ca.crt holds no certificate")
	}
	tlsConf := &tls.Config{RootCAs: roots, ServerName: host, MinVersion: tls.VersionTLS12}
	verified := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf, DisableKeepAlives: true}}
	served := func(m *managerProc) (*x509.Certificate, error) {
		conn, err := tls.Dial("tcp", m.metrics, tlsConf)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0], nil
	}
	scrape := func(m *managerProc) (bool, string) {
		code, body, err := httpStatus(verified, "https://"+m.metrics+"/metrics", scraper)
		return code == http.StatusOK && strings.Contains(body, "certwatcher_read_certificate_total"), fmt.Sprint(code, " ", err)
	}
	testenv.Eventually(t, 30*time.Second, "a scrape over verified TLS, trusting only the ConfigMap", func() (bool, string) { return scrape(a) })
	if _, err := tls.Dial("tcp", a.metrics, &tls.Config{RootCAs: roots, ServerName: "rsched-manager-metrics.other.svc", MinVersion: tls.VersionTLS12}); err == nil {
		t.Error("the certificate verifies for another namespace's Service name")
	}
	first, err := served(a)
	if err != nil {
		t.Fatal(err)
	}

	// A second process (a second replica) serves under the same CA, from the same Secret.
	b := startManager(t, managerBin, k, ns, own()...)
	testenv.Eventually(t, 30*time.Second, "the second manager scraped with the same CA", func() (bool, string) { return scrape(b) })

	// Renewal while running: a new serial, verified by the scraper that has not re-read anything.
	start := time.Now()
	testenv.Eventually(t, 90*time.Second, "the first manager serving a renewed certificate without a restart", func() (bool, string) {
		c, err := served(a)
		return err == nil && c.SerialNumber.Cmp(first.SerialNumber) != 0, errString(err)
	})
	renewed, _ := served(a)
	issuedAt := renewed.NotBefore.Add(pki.Backdate)
	t.Logf("renewed %.1f s after the first was issued; served %.2f s after its issuance (waited %.1f s)",
		issuedAt.Sub(first.NotBefore.Add(pki.Backdate)).Seconds(), time.Since(issuedAt).Seconds(), time.Since(start).Seconds())
	if ok, detail := scrape(a); !ok {
		t.Errorf("a scrape after the renewal: %s", detail)
	}
	testenv.Eventually(t, 30*time.Second, "the second manager serving a renewed certificate too", func() (bool, string) {
		c, err := served(b)
		return err == nil && c.SerialNumber.Cmp(first.SerialNumber) != 0, errString(err)
	})
	for _, m := range []*managerProc{a, b} {
		select {
		case <-m.done:
			t.Fatal("a manager exited")
		default:
		}
	}

	// A restart keeps the CA: the scraper's old ConfigMap still verifies it.
	a.stop(t)
	again := startManager(t, managerBin, k, ns, own()...)
	testenv.Eventually(t, 30*time.Second, "the restarted manager scraped with the same CA", func() (bool, string) { return scrape(again) })
	if err := k.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rsched-metrics-ca"}, cm); err != nil || cm.Data["ca.crt"] != caPEM {
		t.Errorf("the published CA changed (%v)", err)
	}
	sec := &corev1.Secret{}
	if err := k.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rsched-metrics-certs"}, sec); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{a.out.String(), b.out.String(), again.out.String()} {
		if strings.Contains(out, "PRIVATE KEY") || strings.Contains(out, string(sec.Data["ca.key"])) {
			t.Error("a manager logged key material")
		}
	}
}
