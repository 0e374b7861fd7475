//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

// bundleKey is the key of the trust bundle in the ConfigMap <instance>-ca.
const bundleKey = "ca.crt"

// serviceHost is the name an instance's serving certificate is verified for, whatever address is
// dialled (the Service's ClusterIP, a pod IP).
func serviceHost(ns, name string) string { return name + "." + ns + ".svc" }

// trustBundle reads the instance's published CAs (ConfigMap <instance>-ca, key ca.crt): what a
// client of the instance trusts, and nothing else.
func trustBundle(ctx context.Context, ns, name string) (*x509.CertPool, int, error) {
	cm := &corev1.ConfigMap{}
	if err := kc.Get(ctx, types.NamespacedName{Namespace: ns, Name: name + "-ca"}, cm); err != nil {
		return nil, 0, err
	}
	pool, n := x509.NewCertPool(), 0
	for rest := []byte(cm.Data[bundleKey]); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, 0, fmt.Errorf("%s-ca: %w", name, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, 0, fmt.Errorf("%s-ca holds no certificate under %s", name, bundleKey)
	}
	return pool, n, nil
}

// tlsConfig trusts only the instance's bundle and verifies the Service's name.
func tlsConfig(ctx context.Context, ns, name string) (*tls.Config, error) {
	pool, _, err := trustBundle(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: serviceHost(ns, name)}, nil
}

// instanceClient is an HTTPS client for the instance "sched" of ns, through its Service or a pod
// IP. Keep-alives off: each call is a handshake against the bundle as it is now.
func instanceClient(t *testing.T, ns string, timeout time.Duration) *http.Client {
	t.Helper()
	cfg, err := tlsConfig(context.Background(), ns, "sched")
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
}

// bundleVolume mounts the instance's trust bundle (ConfigMap sched-ca of the pod's namespace) in
// the client pod: whole, never with subPath, so that the kubelet updates it in place.
const bundleDir = "/etc/rsched-ca"

func bundleVolume() (corev1.Volume, corev1.VolumeMount) {
	return corev1.Volume{Name: "ca", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "sched-ca"}}}},
		corev1.VolumeMount{Name: "ca", MountPath: bundleDir, ReadOnly: true}
}

// copyBundle publishes the instance's trust bundle in another namespace (where a client pod can
// mount it), as a user distributing it would.
func copyBundle(t *testing.T, from, to string) {
	t.Helper()
	ctx := context.Background()
	cm := &corev1.ConfigMap{}
	if err := kc.Get(ctx, types.NamespacedName{Namespace: from, Name: "sched-ca"}, cm); err != nil {
		t.Fatal(err)
	}
	cp := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: to, Name: "sched-ca"}, Data: cm.Data}
	if err := kc.Create(ctx, cp); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kc.Delete(context.Background(), cp) })
}

// expectServesOperatorCertificate checks what a client of the instance relies on: status.tls
// describes the operator's certificate and CertificateReady is True; every pod presents that
// certificate on the API and metrics ports, and it verifies against the published bundle alone for
// the Service's name (and not for another name); a plain-HTTP request to the API port is refused
// with the Go server's 400, and no page.
func expectServesOperatorCertificate(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	si := &rschedv1.SchedulerInstance{}
	if err := kc.Get(ctx, types.NamespacedName{Namespace: ns, Name: "sched"}, si); err != nil {
		t.Fatal(err)
	}
	st, host := si.Status.TLS, serviceHost(ns, "sched")
	if c := meta.FindStatusCondition(si.Status.Conditions, rschedv1.ConditionCertificateReady); c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != si.Generation {
		t.Fatalf("CertificateReady: %+v", c)
	}
	if st == nil || st.Mode != rschedv1.TLSOperatorManaged || st.SecretName != "sched-tls" || st.SerialNumber == "" || st.Issuer == "" ||
		!slices.Contains(st.DNSNames, host) || st.NotAfter == nil || !st.NotAfter.After(time.Now()) || st.RenewalTime == nil || st.CANotAfter == nil {
		t.Fatalf("status.tls: %+v", st)
	}
	if want := "https://" + host + ":8080"; si.Status.Endpoint != want {
		t.Fatalf("status.endpoint %q, want %q", si.Status.Endpoint, want)
	}
	cfg, err := tlsConfig(ctx, ns, "sched")
	if err != nil {
		t.Fatal(err)
	}
	ips, err := podIPs(ctx, ns)
	if err != nil || len(ips) == 0 {
		t.Fatalf("scheduler pod addresses: %v %v", ips, err)
	}
	for pod, ip := range ips {
		for _, port := range []string{"8080", "9090"} {
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", net.JoinHostPort(ip, port), cfg)
			if err != nil {
				t.Fatalf("pod %s port %s: handshake against the bundle for %s: %v", pod, port, host, err)
			}
			cs := conn.ConnectionState()
			_ = conn.Close()
			leaf := cs.PeerCertificates[0]
			serial := hex.EncodeToString(leaf.SerialNumber.Bytes())
			if serial != st.SerialNumber || leaf.Issuer.String() != st.Issuer {
				t.Fatalf("pod %s port %s serves serial %s from %q; status.tls says %s from %q", pod, port, serial, leaf.Issuer, st.SerialNumber, st.Issuer)
			}
			if port == "8080" {
				t.Logf("pod %s (%s) serves %s, serial %s, issuer %q, until %s (%s)", pod, ip, tls.VersionName(cs.Version), serial, leaf.Issuer, leaf.NotAfter.Format(time.RFC3339), tls.CipherSuiteName(cs.CipherSuite))
			}
		}
		// The name is checked: the same certificate does not pass for another instance's Service.
		other := cfg.Clone()
		other.ServerName = serviceHost(ns, "other")
		if conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", net.JoinHostPort(ip, "8080"), other); err == nil {
			_ = conn.Close()
			t.Fatalf("pod %s: the certificate verified for %s", pod, other.ServerName)
		} else if !strings.Contains(err.Error(), "certificate is valid for") {
			t.Fatalf("pod %s: for %s: %v, want a name mismatch", pod, other.ServerName, err)
		}
		// Plain HTTP gets Go's refusal, and nothing of the API.
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + net.JoinHostPort(ip, "8080") + "/api/v1/health/live")
		if err != nil {
			t.Fatalf("pod %s: plain HTTP: %v", pod, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "Client sent an HTTP request to an HTTPS server") || strings.Contains(string(body), "{") {
			t.Fatalf("pod %s: plain HTTP to the API port: %d %.200q", pod, resp.StatusCode, body)
		}
	}
}
