package controllers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/pki"
	"github.com/rsched/rsched/internal/testenv"
)

// The kubelet's lag, scaled down with the test's trust propagation and overlap (10 s each, the
// CRD's minimum; 10 minutes by default against a kubelet refresh of about two): one "pod" sees a
// changed Secret after tzFastPod, the other after tzSlowPod; clients re-read the bundle every
// tzBundleEvery.
const (
	tzFastPod     = 500 * time.Millisecond
	tzSlowPod     = 3 * time.Second
	tzBundleEvery = 2 * time.Second
	tzWorkers     = 6
)

// TestCertificateRotationsUnderLoadWithTheRealServer runs two real API servers on the
// certificate the operator issues, their TLS files kept by a simulated kubelet from the
// instance's Secret (one pod quick, one slow), under a steady load of clients that trust only
// the published bundle (re-read every two seconds, as a client mounting the ConfigMap would) and
// verify the Service's name, half of them opening a new connection, hence a full handshake, for
// every request. Through (1) a leaf renewal, (2) a CA renewal and (3) a CA key replacement, all
// asked for with the instance's annotations as kubectl rsched renew does: zero failed requests,
// zero server restarts, and each pod serving the new certificate shortly after the request.
func TestCertificateRotationsUnderLoadWithTheRealServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	bin, pg := serverAndPostgres(t)

	ns := namespace(t, nil)
	op := startOperator(t)
	userSecret(t, ns, "tz-db-source", map[string]string{"url": pg.URL})
	si := instance(ns, "tz", func(si *rschedv1.SchedulerInstance) {
		si.Spec.Image = testImage
		si.Spec.TLS.TrustPropagation, si.Spec.TLS.Overlap = "10s", "10s"
		// The test database is plain PostgreSQL (its TLS is tested in internal/server/store).
		si.Spec.Database.TLS = rschedv1.DatabaseTLSSpec{Mode: "disable", InsecureAllowUnverified: true}
	})
	create(t, si)
	host := builders.ServiceHost(si)
	waitCondition(t, si, rschedv1.ConditionCertificateReady, metav1.ConditionTrue, rschedv1.ReasonCertificateValid)

	// The files every pod reads once at start (database URL, keyring).
	static := t.TempDir()
	for name, src := range map[string]struct{ secret, key string }{
		"url": {builders.DatabaseSecretName(si), builders.DatabaseURLKey}, builders.KeyringKey: {builders.KeyringSecretName(si), builders.KeyringKey},
	} {
		var sec corev1.Secret
		testenv.Eventually(t, 30*time.Second, "Secret "+src.secret, func() (bool, string) {
			err := get(t, ns, src.secret, &sec)
			return err == nil && len(sec.Data[src.key]) > 0, fmt.Sprint(err)
		})
		if err := os.WriteFile(filepath.Join(static, name), sec.Data[src.key], 0o600); err != nil {
			t.Fatal(err)
		}
	}

	kubelet := &tzKubelet{key: types.NamespacedName{Namespace: ns, Name: builders.TLSSecretName(si)}}
	pods := []*tzPod{
		{name: "fast", lag: tzFastPod, vol: testenv.NewVolume(t.TempDir())},
		{name: "slow", lag: tzSlowPod, vol: testenv.NewVolume(t.TempDir())},
	}
	kubelet.pods = pods
	kubelet.sync(ctx, t) // the pods start with the Secret's files, as a kubelet mounts them
	go kubelet.run(ctx)
	for _, p := range pods {
		p.start(t, bin, static)
	}

	bundle := &tzBundle{key: types.NamespacedName{Namespace: ns, Name: builders.CABundleName(si)}}
	if err := bundle.read(ctx); err != nil {
		t.Fatal(err)
	}
	go bundle.follow(ctx)
	for _, p := range pods {
		testenv.Eventually(t, 30*time.Second, "pod "+p.name+" ready over HTTPS", func() (bool, string) {
			_, err := bundle.serial(p.addr, host)
			return err == nil, fmt.Sprint(err)
		})
	}

	load := &tzLoad{}
	loadCtx, stopLoad := context.WithCancel(ctx)
	var workers sync.WaitGroup
	for i := range tzWorkers {
		workers.Add(1)
		go func() { defer workers.Done(); load.run(loadCtx, bundle, pods, host, i%2 == 0) }()
	}
	stopWorkers := sync.OnceFunc(func() { stopLoad(); workers.Wait() })
	t.Cleanup(stopWorkers)
	time.Sleep(2 * time.Second) // a steady stream before the first change

	annotate := func(key, value string) time.Time {
		t.Helper()
		cur := &rschedv1.SchedulerInstance{}
		if err := get(t, ns, si.Name, cur); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(cur.DeepCopy())
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations[key] = value
		if err := kube.Client.Patch(ctx, cur, patch); err != nil {
			t.Fatal(err)
		}
		return time.Now()
	}
	// allServe waits until every pod serves a certificate with serial, and returns when.
	allServe := func(what, serial string, within time.Duration) time.Time {
		t.Helper()
		testenv.Eventually(t, within, what, func() (bool, string) {
			var got []string
			for _, p := range pods {
				s, err := bundle.serial(p.addr, host)
				if err != nil || s != serial {
					got = append(got, fmt.Sprintf("%s: %s %v", p.name, s, err))
				}
			}
			return len(got) == 0, strings.Join(got, "; ")
		})
		return time.Now()
	}
	status := func() *rschedv1.TLSStatus {
		cur := &rschedv1.SchedulerInstance{}
		if err := get(t, ns, si.Name, cur); err != nil || cur.Status.TLS == nil {
			return &rschedv1.TLSStatus{}
		}
		return cur.Status.TLS
	}
	var report []string

	// (1) A leaf renewal.
	before := status().SerialNumber
	asked := annotate(rschedv1.RenewCertificateAnnotation, "tz-leaf")
	testenv.Eventually(t, 30*time.Second, "the renewal recorded", func() (bool, string) {
		s := status()
		return s.LastRenewRequest == "tz-leaf" && s.SerialNumber != before, s.SerialNumber
	})
	done := allServe("every pod serving the renewed certificate", status().SerialNumber, 30*time.Second)
	report = append(report, fmt.Sprintf("leaf renewal: every pod served the new certificate %.1f s after the request", done.Sub(asked).Seconds()))

	// (2) A CA renewal: the CA re-signed with its key; the bundle changes, the leaf does not.
	leafSerial, caBefore := status().SerialNumber, bundle.pem()
	asked = annotate(rschedv1.RenewCAAnnotation, "tz-ca")
	testenv.Eventually(t, 30*time.Second, "the CA renewal recorded and the new bundle read", func() (bool, string) {
		s := status()
		return s.LastRenewCARequest == "tz-ca" && bundle.pem() != caBefore, s.LastRenewCARequest
	})
	report = append(report, fmt.Sprintf("CA renewal: clients held the re-signed CA %.1f s after the request", time.Since(asked).Seconds()))
	time.Sleep(tzSlowPod + time.Second)
	if s := status(); s.SerialNumber != leafSerial {
		t.Fatalf("the CA renewal re-issued the leaf (%s -> %s)", leafSerial, s.SerialNumber)
	}

	// (3) A CA key replacement: propagation, promotion, overlap, done.
	oldCA := bundle.certs()[0]
	asked = annotate(rschedv1.ReplaceCAAnnotation, "tz-key")
	testenv.Eventually(t, 30*time.Second, "the replacement propagating", func() (bool, string) {
		s := status()
		return s.CAReplacementPhase == string(pki.Propagating) || s.LastReplaceCARequest == "tz-key", s.CAReplacementPhase
	})
	testenv.Eventually(t, time.Minute, "the leaf moved to the new CA", func() (bool, string) {
		s := status()
		return s.CAReplacementPhase == string(pki.Overlapping) || (s.LastReplaceCARequest == "tz-key" && s.SerialNumber != leafSerial), s.CAReplacementPhase
	})
	moved := status().SerialNumber
	done = allServe("every pod serving the certificate of the new CA", moved, 30*time.Second)
	report = append(report, fmt.Sprintf("CA key replacement: every pod served the new CA's certificate %.1f s after the request (trust propagation 10 s)", done.Sub(asked).Seconds()))
	testenv.Eventually(t, time.Minute, "the replacement complete, the old CA out of the bundle", func() (bool, string) {
		s := status()
		certs := bundle.certs()
		return s.CAReplacementPhase == "" && len(certs) == 1 && !certs[0].Equal(oldCA), fmt.Sprintf("phase %q, %d CAs", s.CAReplacementPhase, len(certs))
	})
	report = append(report, fmt.Sprintf("CA key replacement: complete %.1f s after the request", time.Since(asked).Seconds()))
	time.Sleep(tzBundleEvery + time.Second)

	stopWorkers()
	ok, failed, handshakes := load.ok.Load(), load.failed.Load(), load.handshakes.Load()
	for _, p := range pods {
		if p.exited() {
			t.Errorf("pod %s's server exited:\n%s", p.name, p.out.String())
		}
		reloads := p.metric(t, "rsched_tls_certificate_reloads_total", bundle, host)
		report = append(report, fmt.Sprintf("pod %s: 0 restarts, %s certificate reloads", p.name, reloads))
		if reloads == "0" {
			t.Errorf("pod %s never reloaded its certificate", p.name)
		}
	}
	report = append(report, fmt.Sprintf("load: %d requests served, %d failed, %d full handshakes, %d bundle re-reads", ok, failed, handshakes, bundle.reads.Load()))
	t.Logf("certificate rotations under load:\n  %s", strings.Join(report, "\n  "))
	if failed != 0 {
		t.Fatalf("%d requests failed; first errors:\n%s", failed, load.firstErrors())
	}
	if ok < 500 || handshakes < 100 {
		t.Fatalf("too little load to show anything: %d requests, %d handshakes", ok, handshakes)
	}
	tzNoKeyMaterial(t, ns, si, op.logs.String())
}

// tzNoKeyMaterial: after issuance and three rotations, no private key (the CA's, the next CA's,
// the leaf's) appears in the operator's log, the instance's events or its status.
func tzNoKeyMaterial(t *testing.T, ns string, si *rschedv1.SchedulerInstance, logs string) {
	t.Helper()
	var keys []string
	for _, name := range []string{builders.TLSCASecretName(si), builders.TLSSecretName(si)} {
		var sec corev1.Secret
		if err := get(t, ns, name, &sec); err != nil {
			t.Fatal(err)
		}
		for k, v := range sec.Data {
			if strings.HasSuffix(k, ".key") {
				keys = append(keys, string(v), base64.StdEncoding.EncodeToString(v))
			}
		}
	}
	if len(keys) == 0 {
		t.Fatal("no key found to look for")
	}
	var events eventsv1.EventList
	if err := kube.Client.List(context.Background(), &events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	cur := &rschedv1.SchedulerInstance{}
	if err := get(t, ns, si.Name, cur); err != nil {
		t.Fatal(err)
	}
	status, _ := json.Marshal(cur.Status)
	haystacks := map[string]string{"the operator's log": logs, "the instance's status": string(status)}
	for _, e := range events.Items {
		haystacks["event "+e.Reason] += e.Note + "\n"
	}
	for where, text := range haystacks {
		if strings.Contains(text, "PRIVATE KEY") {
			t.Errorf("%s holds a PEM private key", where)
		}
		for _, k := range keys {
			if strings.Contains(text, strings.TrimSpace(k)) {
				t.Errorf("%s holds a private key", where)
			}
		}
	}
}

// tzPod is one real server process, reading its TLS files from its own volume.
type tzPod struct {
	name string
	lag  time.Duration
	vol  *testenv.Volume
	addr string // API address
	mets string // metrics address
	out  testenv.OutputBuffer
	done <-chan struct{}
}

func (p *tzPod) start(t *testing.T, bin, static string) {
	t.Helper()
	p.addr, p.mets = testenv.FreeAddr(t), testenv.FreeAddr(t)
	cfg := fmt.Sprintf(`listen_addr: %q
metrics_addr: %q
issuer: https://schedule.test
auth:
  mfa_required_roles: []
rate_limit:
  api: {requests: 1000000, period: 1m}
# The test database is plain PostgreSQL (its TLS is tested in internal/server/store).
database:
  tls: {mode: disable, insecure_allow_unverified: true}
secrets:
  database_url_file: %q
  keyring_file: %q
tls:
  cert_file: %q
  key_file: %q
`, p.addr, p.mets, filepath.Join(static, "url"), filepath.Join(static, builders.KeyringKey), p.vol.Path(corev1.TLSCertKey), p.vol.Path(corev1.TLSPrivateKeyKey))
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p.done = runServer(t, bin, path, &p.out, func() {
		t.Logf("pod %s's server log (tail):\n%s", p.name, zdTail(p.out.String(), 30))
	})
}

func (p *tzPod) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// metric reads one value from the pod's metrics listener, over HTTPS like everything else.
func (p *tzPod) metric(t *testing.T, name string, b *tzBundle, host string) string {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialTLSContext: b.dialer(host)}}
	res, err := hc.Get("https://" + p.mets + "/metrics")
	if err != nil {
		t.Fatalf("pod %s metrics: %v", p.name, err)
	}
	defer res.Body.Close()
	page, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(page), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return "absent"
}

// tzKubelet follows the serving Secret and writes each change into every pod's volume after
// that pod's lag, as kubelets refreshing their Secret volumes do.
type tzKubelet struct {
	key  types.NamespacedName
	pods []*tzPod
	last string
}

func (k *tzKubelet) files(ctx context.Context) (map[string][]byte, string, error) {
	var sec corev1.Secret
	if err := kube.Client.Get(ctx, k.key, &sec); err != nil {
		return nil, "", err
	}
	return map[string][]byte{corev1.TLSCertKey: sec.Data[corev1.TLSCertKey], corev1.TLSPrivateKeyKey: sec.Data[corev1.TLSPrivateKeyKey]}, sec.ResourceVersion, nil
}

func (k *tzKubelet) sync(ctx context.Context, t *testing.T) {
	t.Helper()
	files, rv, err := k.files(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range k.pods {
		if _, err := p.vol.Update(files); err != nil {
			t.Fatal(err)
		}
	}
	k.last = rv
}

func (k *tzKubelet) run(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		files, rv, err := k.files(ctx)
		if err != nil || rv == k.last {
			continue
		}
		k.last = rv
		for _, p := range k.pods {
			time.AfterFunc(p.lag, func() { _, _ = p.vol.Update(files) })
		}
	}
}

// tzBundle is what the clients trust: the published bundle, re-read every tzBundleEvery.
type tzBundle struct {
	key   types.NamespacedName
	mu    sync.Mutex
	raw   string
	pool  *x509.CertPool
	list  []*x509.Certificate
	reads atomic.Int64
}

func (b *tzBundle) read(ctx context.Context) error {
	var cm corev1.ConfigMap
	if err := kube.Client.Get(ctx, b.key, &cm); err != nil {
		return err
	}
	raw := cm.Data[builders.CABundleKey]
	certs, err := pki.DecodeCertificates([]byte(raw))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if raw != b.raw {
		b.reads.Add(1)
	}
	b.raw, b.pool, b.list = raw, pool, certs
	return nil
}

func (b *tzBundle) follow(ctx context.Context) {
	tick := time.NewTicker(tzBundleEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_ = b.read(ctx)
		}
	}
}

func (b *tzBundle) pem() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.raw
}

func (b *tzBundle) certs() []*x509.Certificate {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.list
}

// dialer opens TLS connections trusting the bundle as it is at each dial, for host.
func (b *tzBundle) dialer(host string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		b.mu.Lock()
		pool := b.pool
		b.mu.Unlock()
		d := &tls.Dialer{Config: &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}}
		return d.DialContext(ctx, network, addr)
	}
}

// serial is the serial of the certificate addr serves, verified against the bundle for host.
func (b *tzBundle) serial(addr, host string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := b.dialer(host)(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return hex.EncodeToString(conn.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.Bytes()), nil
}

// tzLoad counts the clients' requests.
type tzLoad struct {
	ok, failed, handshakes atomic.Int64
	mu                     sync.Mutex
	errs                   map[string]int
}

// run sends requests to the pods in turn until ctx ends: with fresh, a new connection (a full
// handshake) for each; otherwise over kept-alive connections, as a browser or SDK would.
func (l *tzLoad) run(ctx context.Context, b *tzBundle, pods []*tzPod, host string, fresh bool) {
	dial := b.dialer(host)
	tr := &http.Transport{DisableKeepAlives: fresh, MaxIdleConnsPerHost: 4, DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		l.handshakes.Add(1)
		return dial(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: tr}
	for i := 0; ctx.Err() == nil; i++ {
		p := pods[i%len(pods)]
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+p.addr+"/api/v1/health/ready", nil)
		res, err := hc.Do(req)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", res.StatusCode)
			}
		}
		if err != nil {
			l.failed.Add(1)
			l.mu.Lock()
			if l.errs == nil {
				l.errs = map[string]int{}
			}
			l.errs[fmt.Sprintf("pod %s: %v", p.name, err)]++
			l.mu.Unlock()
			continue
		}
		l.ok.Add(1)
		time.Sleep(5 * time.Millisecond)
	}
}

func (l *tzLoad) firstErrors() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for e, n := range l.errs {
		out = append(out, fmt.Sprintf("%5d × %s", n, e))
	}
	sort.Strings(out)
	if len(out) > 10 {
		out = out[:10]
	}
	return strings.Join(out, "\n")
}
