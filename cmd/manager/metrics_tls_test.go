package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
