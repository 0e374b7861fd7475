//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

// servedLeaves dials every running pod of the instance "sched" on the API port, trusting only the
// bundle published now and verifying the Service's name, and returns the certificate each pod
// presents.
func servedLeaves(ctx context.Context, ns string) (map[string]*x509.Certificate, error) {
	ips, err := podIPs(ctx, ns)
	if err != nil {
		return nil, err
	}
	cfg, err := tlsConfig(ctx, ns, "sched")
	if err != nil {
		return nil, err
	}
	out := map[string]*x509.Certificate{}
	for pod, ip := range ips {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: cfg}
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip, "8080"))
		if err != nil {
			return nil, fmt.Errorf("pod %s: %w", pod, err)
		}
		out[pod] = conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
		_ = conn.Close()
	}
	return out, nil
}

func serialHex(c *x509.Certificate) string { return hex.EncodeToString(c.SerialNumber.Bytes()) }

// annotateInstance sets one annotation on the instance "sched" and returns when it did.
func annotateInstance(t *testing.T, ns, key, value string) time.Time {
	t.Helper()
	ctx := context.Background()
	si := &rschedv1.SchedulerInstance{}
	if err := kc.Get(ctx, types.NamespacedName{Namespace: ns, Name: "sched"}, si); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(si.DeepCopy())
	if si.Annotations == nil {
		si.Annotations = map[string]string{}
	}
	si.Annotations[key] = value
	if err := kc.Patch(ctx, si, patch); err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

func instanceTLS(ctx context.Context, ns string) (*rschedv1.TLSStatus, error) {
	si := &rschedv1.SchedulerInstance{}
	if err := kc.Get(ctx, types.NamespacedName{Namespace: ns, Name: "sched"}, si); err != nil {
		return nil, err
	}
	if si.Status.TLS == nil {
		return nil, fmt.Errorf("no status.tls")
	}
	return si.Status.TLS.DeepCopy(), nil
}

// leafRenewal is what a leaf renewal under load measured.
type leafRenewal struct {
	from, to string
	// toStatus: request → status.tls names the new serial; toEveryPod: request → the last pod
	// serving it; perPod: request → each pod serving it (first seen).
	toStatus, toEveryPod time.Duration
	perPod               map[string]time.Duration
}

func (r leafRenewal) String() string {
	var per []string
	for _, p := range slices.Sorted(maps.Keys(r.perPod)) {
		per = append(per, fmt.Sprintf("%s %v", p, r.perPod[p].Round(100*time.Millisecond)))
	}
	return fmt.Sprintf("serial %s → %s, in status.tls %v after the request, every pod serving it %v after the request (%s)",
		r.from, r.to, r.toStatus.Round(100*time.Millisecond), r.toEveryPod.Round(100*time.Millisecond), strings.Join(per, ", "))
}

// renewLeaf asks for a new serving certificate (renew-certificate) and measures the time until
// status.tls records it and until every pod serves it: a new serial with a new key, under the
// same CA, verified against the published bundle alone.
func renewLeaf(t *testing.T, ns, id string) leafRenewal {
	t.Helper()
	ctx := context.Background()
	before, err := instanceTLS(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	old, err := servedLeaves(ctx, ns)
	if err != nil || len(old) == 0 {
		t.Fatalf("the pods' certificates before the renewal: %v %v", old, err)
	}
	var oldLeaf *x509.Certificate
	for _, c := range old {
		oldLeaf = c
	}
	r := leafRenewal{from: before.SerialNumber, perPod: map[string]time.Duration{}}
	req := annotateInstance(t, ns, rschedv1.RenewCertificateAnnotation, id)
	eventually(t, 2*time.Minute, "status.tls records renewal "+id, func(ctx context.Context) (bool, string) {
		st, err := instanceTLS(ctx, ns)
		if err != nil {
			return false, err.Error()
		}
		r.to = st.SerialNumber
		return st.LastRenewRequest == id && st.SerialNumber != before.SerialNumber && st.SerialNumber != "", fmt.Sprintf("%+v", st)
	})
	r.toStatus = time.Since(req)
	eventually(t, 2*time.Minute, "every pod serves serial "+r.to, func(ctx context.Context) (bool, string) {
		got, err := servedLeaves(ctx, ns)
		if err != nil {
			return false, err.Error()
		}
		seen := map[string]string{}
		for pod, c := range got {
			seen[pod] = serialHex(c)
			if seen[pod] != r.to {
				continue
			}
			if _, ok := r.perPod[pod]; !ok {
				r.perPod[pod] = time.Since(req)
			}
			if bytes.Equal(c.RawSubjectPublicKeyInfo, oldLeaf.RawSubjectPublicKeyInfo) || c.Issuer.String() != oldLeaf.Issuer.String() {
				t.Fatalf("pod %s: the renewed certificate kept the old key or changed issuer (%q → %q)", pod, oldLeaf.Issuer, c.Issuer)
			}
		}
		for _, s := range seen {
			if s != r.to {
				return false, fmt.Sprint(seen)
			}
		}
		return len(seen) == len(old), fmt.Sprint(seen)
	})
	r.toEveryPod = time.Since(req)
	return r
}

// bundleCAs parses the CAs of the published bundle (ConfigMap sched-ca).
func bundleCAs(ctx context.Context, ns string) ([]*x509.Certificate, error) {
	cm := &corev1.ConfigMap{}
	if err := kc.Get(ctx, types.NamespacedName{Namespace: ns, Name: "sched-ca"}, cm); err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for rest := []byte(cm.Data[bundleKey]); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return out, nil
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}

// caRenewal is what a CA renewal under load measured.
type caRenewal struct {
	fromCA, toCA string
	// toBundle: request → the re-signed CA alone in the bundle; toClient: request → the client
	// pod verifying against it (its mounted bundle refreshed by the kubelet).
	toBundle, toClient time.Duration
}

// renewCA asks for the CA to be re-signed with its own key (renew-ca): status.tls records the
// request, the bundle then holds one CA with a new serial and the same key, the serving
// certificate and its Secret stay as they were, every pod still serves it verified against the
// new bundle alone, and the client pod loads the new bundle. It returns the client's bundle
// reloads after that.
func renewCA(t *testing.T, ns, id string, cl *clientPod) (caRenewal, int64) {
	t.Helper()
	ctx := context.Background()
	before, err := instanceTLS(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	cas, err := bundleCAs(ctx, ns)
	if err != nil || len(cas) != 1 {
		t.Fatalf("the bundle before the CA renewal: %d CAs (%v)", len(cas), err)
	}
	oldCA := cas[0]
	leafSecret := &corev1.Secret{}
	if err := kc.Get(ctx, types.NamespacedName{Namespace: ns, Name: "sched-tls"}, leafSecret); err != nil {
		t.Fatal(err)
	}
	st0, err := cl.stats()
	if err != nil {
		t.Fatal(err)
	}
	r := caRenewal{fromCA: serialHex(oldCA)}
	req := annotateInstance(t, ns, rschedv1.RenewCAAnnotation, id)
	eventually(t, 2*time.Minute, "CA renewal "+id+" recorded and published", func(ctx context.Context) (bool, string) {
		st, err := instanceTLS(ctx, ns)
		if err != nil {
			return false, err.Error()
		}
		cas, err := bundleCAs(ctx, ns)
		if err != nil {
			return false, err.Error()
		}
		if len(cas) == 1 {
			r.toCA = serialHex(cas[0])
		}
		return st.LastRenewCARequest == id && len(cas) == 1 && r.toCA != r.fromCA, fmt.Sprintf("%d CAs, status.tls %+v", len(cas), st)
	})
	r.toBundle = time.Since(req)
	cas, err = bundleCAs(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	if ca := cas[0]; !bytes.Equal(ca.RawSubjectPublicKeyInfo, oldCA.RawSubjectPublicKeyInfo) || ca.Subject.String() != oldCA.Subject.String() || ca.NotAfter.Before(oldCA.NotAfter) {
		t.Fatalf("the renewed CA is not the old key re-signed: subject %q → %q, notAfter %v → %v, same key %v",
			oldCA.Subject, ca.Subject, oldCA.NotAfter, ca.NotAfter, bytes.Equal(ca.RawSubjectPublicKeyInfo, oldCA.RawSubjectPublicKeyInfo))
	}
	after, err := instanceTLS(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	sec := &corev1.Secret{}
	if err := kc.Get(ctx, types.NamespacedName{Namespace: ns, Name: "sched-tls"}, sec); err != nil {
		t.Fatal(err)
	}
	if after.SerialNumber != before.SerialNumber || !bytes.Equal(sec.Data["tls.crt"], leafSecret.Data["tls.crt"]) || !bytes.Equal(sec.Data["tls.key"], leafSecret.Data["tls.key"]) {
		t.Fatalf("the CA renewal changed the serving certificate: serial %s → %s", before.SerialNumber, after.SerialNumber)
	}
	// The pods' certificate verifies against the bundle holding the re-signed CA alone.
	expectServesOperatorCertificate(t, ns)
	var reloads int64
	eventually(t, 2*time.Minute, "the client pod loaded the re-signed CA", func(context.Context) (bool, string) {
		st, err := cl.stats()
		if err != nil {
			return false, err.Error()
		}
		reloads = st.BundleReloads
		return st.BundleReloads > st0.BundleReloads, fmt.Sprintf("%d reloads (had %d)", st.BundleReloads, st0.BundleReloads)
	})
	r.toClient = time.Since(req)
	return r, reloads
}

// instancePods identifies the instance's pods and their containers' restarts: a pod replaced or
// a container restarted changes it.
func instancePods(t *testing.T, ns string) map[string]string {
	t.Helper()
	var pods corev1.PodList
	if err := kc.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/instance": "sched"}); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pods.Items {
		var restarts int32
		for _, c := range p.Status.ContainerStatuses {
			restarts += c.RestartCount
		}
		out[p.Name] = fmt.Sprintf("uid %s, %d restarts", p.UID, restarts)
	}
	return out
}

// keyCanary remembers every private key the instance's TLS Secrets held (serving keys, the CA
// key, the next CA key) and checks that none of them, nor any PEM private key at all, reached a
// log, an event or a status.
type keyCanary struct {
	needles map[string]string // needle → where it came from
	seen    map[string]bool   // keys collected, by their PEM
	keys    int
}

// collect adds the keys the Secrets hold now: each PEM body line, the base64 of the whole file
// (how a []byte is rendered in JSON) and hex of the DER.
func (c *keyCanary) collect(t *testing.T, ns string) {
	t.Helper()
	if c.needles == nil {
		c.needles, c.seen = map[string]string{}, map[string]bool{}
	}
	for name, keys := range map[string][]string{"sched-tls": {"tls.key"}, "sched-tls-ca": {"ca.key", "next.key"}} {
		sec := &corev1.Secret{}
		if err := kc.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, sec); err != nil {
			t.Fatal(err)
		}
		for _, key := range keys {
			data := sec.Data[key]
			if len(data) == 0 {
				continue
			}
			from := name + "/" + key
			if !c.seen[string(data)] {
				c.seen[string(data)] = true
				c.keys++
			}
			block, _ := pem.Decode(data)
			if block == nil || len(block.Bytes) < 48 {
				t.Fatalf("%s: not a PEM key", from)
			}
			for _, line := range strings.Split(string(data), "\n") {
				if len(line) >= 32 && !strings.HasPrefix(line, "-----") {
					c.needles[line] = from + " (PEM line)"
				}
			}
			if b64 := base64.StdEncoding.EncodeToString(data); len(b64) > 100 {
				c.needles[b64[40:100]] = from + " (base64 of the file)"
			}
			c.needles[hex.EncodeToString(block.Bytes[8:40])] = from + " (hex of the DER)"
		}
	}
}

// check reads the operator's logs, the instance pods' logs, the namespace's events and the
// instance's and policy's objects, and fails on any key collected or any "PRIVATE KEY".
func (c *keyCanary) check(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	op, err := operatorPod(ctx)
	if err != nil {
		t.Fatal(err)
	}
	places := map[string]string{
		"operator logs (" + op.Name + ")":                     k(t, "logs", "-n", operatorNS, op.Name, "--all-containers"),
		"events of " + ns:                                     k(t, "get", "events", "-n", ns, "-o", "json"),
		"events of " + operatorNS:                             k(t, "get", "events", "-n", operatorNS, "-o", "json"),
		"schedulerinstances and keyrotationpolicies of " + ns: k(t, "get", "schedulerinstances,keyrotationpolicies", "-n", ns, "-o", "json"),
	}
	ips, err := podIPs(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	for pod := range ips {
		places["logs of "+pod] = k(t, "logs", "-n", ns, pod, "--all-containers")
	}
	total, found := 0, 0
	for where, text := range places {
		total += len(text)
		if strings.Contains(text, "PRIVATE KEY") {
			found++
			t.Errorf("%s: holds %q", where, "PRIVATE KEY")
		}
		for needle, from := range c.needles {
			if strings.Contains(text, needle) {
				found++
				t.Errorf("%s: holds %s", where, from)
			}
		}
	}
	t.Logf("key canary: %d needles (%d keys' PEM lines, base64, hex) and \"PRIVATE KEY\" searched in %d places (%d bytes: operator logs, instance pod logs, events, instance and policy objects): %d found",
		len(c.needles), c.keys, len(places), total, found)
}
