package plugin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/pki"
	"github.com/rsched/rsched/internal/testenv"
)

// One API server for the package's tests, started by the first test that needs it (the table
// tests do not); each test works in its own namespace.
var (
	kubeOnce sync.Once
	kube     *testenv.Kube
	kubeErr  error
)

func sharedKube(t *testing.T) *testenv.Kube {
	t.Helper()
	kubeOnce.Do(func() { kube, kubeErr = testenv.NewKube() })
	if kubeErr != nil {
		t.Fatal(kubeErr)
	}
	return kube
}

func TestMain(m *testing.M) {
	code := m.Run()
	if kube != nil {
		if err := kube.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	os.Exit(code)
}

// fixture is a namespace with a SchedulerInstance "sched" whose certificate objects hold real
// certificates and keys, as the operator writes them, and a kubeconfig of a ServiceAccount that
// may read instances and ConfigMaps and patch instances, and nothing else: no Secret.
type fixture struct {
	k          *testenv.Kube
	ns         string
	kubeconfig string
	ca, next   pki.KeyPair
	leaf       pki.KeyPair
	// keys are every private key in the namespace's Secrets, PEM-encoded: none may be printed.
	keys [][]byte
}

func newFixture(t *testing.T, ns string, tls rschedv1.TLSSpec) *fixture {
	t.Helper()
	k := sharedKube(t)
	ctx := context.Background()
	f := &fixture{k: k, ns: ns}
	now := time.Now()
	var err error
	if f.ca, err = pki.NewCA("rsched CA "+ns+"/sched", now.Add(-time.Hour), 365*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if f.next, err = pki.NewCA("rsched CA "+ns+"/sched", now, 365*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if f.leaf, err = pki.NewLeaf(f.ca, pki.ServiceDNSNames("sched", ns, "schedule.example.org"), now, 30*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	pemKey := func(kp pki.KeyPair) []byte {
		b, err := pki.EncodePrivateKey(kp.Key)
		if err != nil {
			t.Fatal(err)
		}
		f.keys = append(f.keys, b)
		return b
	}
	caKey, nextKey, leafKey := pemKey(f.ca), pemKey(f.next), pemKey(f.leaf)
	si := &rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Name: "sched", Namespace: ns},
		Spec: rschedv1.SchedulerInstanceSpec{Image: "registry.example.org/rsched/scheduler:test",
			Database: rschedv1.DatabaseSpec{URLSecretRef: &rschedv1.SecretKeyRef{Name: "sched-db", Key: "url"}}, TLS: tls}}
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{rschedv1.GroupVersion.Group}, Resources: []string{"schedulerinstances"}, Verbs: []string{"get", "list", "watch", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}},
	}
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		si,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sched-tls-ca", Namespace: ns},
			Data: map[string][]byte{"ca.crt": pki.EncodeCertificates(f.ca.Cert), "ca.key": caKey, "next.crt": pki.EncodeCertificates(f.next.Cert), "next.key": nextKey}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sched-tls", Namespace: ns}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": pki.EncodeCertificates(f.leaf.Cert), "tls.key": leafKey}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "sched-ca", Namespace: ns},
			Data: map[string]string{"ca.crt": string(pki.EncodeCertificates(f.ca.Cert, f.next.Cert))}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "cert-viewer", Namespace: ns}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "cert-viewer", Namespace: ns}, Rules: rules},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "cert-viewer", Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "cert-viewer"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "cert-viewer", Namespace: ns}}},
	} {
		if err := k.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	si.Status.TLS = &rschedv1.TLSStatus{Mode: rschedv1.TLSOperatorManaged, SecretName: "sched-tls", DNSNames: f.leaf.Cert.DNSNames,
		Issuer: f.leaf.Cert.Issuer.String(), SerialNumber: hex.EncodeToString(f.leaf.Cert.SerialNumber.Bytes()),
		NotBefore: seconds(f.leaf.Cert.NotBefore), NotAfter: seconds(f.leaf.Cert.NotAfter),
		RenewalTime: seconds(pki.RenewalTime(f.leaf.Cert, 0)), CANotAfter: seconds(f.ca.Cert.NotAfter),
		CARenewalTime: seconds(pki.RenewalTime(f.ca.Cert, 0)), CAReplacementPhase: string(pki.Propagating)}
	si.Status.Conditions = []metav1.Condition{{Type: rschedv1.ConditionCertificateReady, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonCAReplacement,
		Message: "The serving certificate is valid; a CA key replacement is in progress (see status.tls.caReplacementPhase)", LastTransitionTime: metav1.Now()}}
	if tls.SecretRef != nil {
		si.Status.TLS.Mode, si.Status.TLS.SecretName = rschedv1.TLSSecretRef, tls.SecretRef.Name
		si.Status.TLS.RenewalTime, si.Status.TLS.CANotAfter, si.Status.TLS.CARenewalTime, si.Status.TLS.CAReplacementPhase = nil, nil, nil, ""
	}
	if err := k.Client.Status().Update(ctx, si); err != nil {
		t.Fatal(err)
	}
	f.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := k.ServiceAccountKubeconfig(ctx, ns, "cert-viewer", f.kubeconfig, time.Hour); err != nil {
		t.Fatal(err)
	}
	// The proof below is only worth something if the account really cannot read a Secret.
	viewer, err := clientcmd.BuildConfigFromFlags("", f.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	vc, err := client.New(viewer, client.Options{Scheme: k.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	err = vc.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sched-tls"}, &corev1.Secret{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("the viewer account reads Secrets (%v): the test would prove nothing", err)
	}
	return f
}

func seconds(t time.Time) *metav1.Time {
	m := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &m
}

// run runs `kubectl rsched ARGS` in-process as the viewer account, with output to out.
func (f *fixture) run(out *testenv.OutputBuffer, args ...string) error {
	cmd := NewCommand(genericclioptions.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: out})
	cmd.SetArgs(append(args, "--kubeconfig", f.kubeconfig, "-n", f.ns))
	cmd.SetOut(out)
	cmd.SetErr(out)
	return cmd.Execute()
}

// noKeyMaterial fails the test if out holds anything of a private key: a PEM key block, a key's
// PEM text or its base64 body, in whole or a line of it.
func (f *fixture) noKeyMaterial(t *testing.T, what, out string) {
	t.Helper()
	if strings.Contains(out, "PRIVATE KEY") {
		t.Errorf("%s prints a private key block:\n%s", what, out)
	}
	for _, k := range f.keys {
		for _, line := range strings.Split(string(k), "\n") {
			if len(line) >= 16 && !strings.HasPrefix(line, "-----") && strings.Contains(out, line) {
				t.Errorf("%s prints a line of a private key:\n%s", what, out)
			}
		}
		if strings.Contains(out, base64.StdEncoding.EncodeToString(k)[:24]) {
			t.Errorf("%s prints a base64-encoded private key:\n%s", what, out)
		}
	}
}

// certs reads status.tls and the trust bundle (current and next CA while trust propagates) and
// shows them as a table, JSON and YAML, as an account that cannot read Secrets: no private key
// ever reaches the output, although the instance's Secrets hold three.
func TestCertsShowsStatusAndTheTrustBundleWithoutReadingSecrets(t *testing.T) {
	f := newFixture(t, "certs", rschedv1.TLSSpec{TrustPropagation: "15m"})
	var out testenv.OutputBuffer
	if err := f.run(&out, "certs", "sched"); err != nil {
		t.Fatalf("certs: %v\n%s", err, out.String())
	}
	table := out.String()
	t.Logf("kubectl rsched certs sched:\n%s", table)
	serial := func(kp pki.KeyPair) string { return hex.EncodeToString(kp.Cert.SerialNumber.Bytes()) }
	for _, want := range []string{
		"certs/sched\n",
		"CertificateReady:  True: The serving certificate is valid; a CA key replacement is in progress",
		"Mode:              OperatorManaged (issued and renewed by the operator from the instance's CA)",
		"Secret:            sched-tls",
		"DNS names:         sched, sched.certs, sched.certs.svc, sched.certs.svc.cluster.local, schedule.example.org",
		"Issuer:            CN=rsched CA certs/sched",
		"Serial:            " + serial(f.leaf),
		"Not after:         " + f.leaf.Cert.NotAfter.UTC().Truncate(time.Second).Format(time.RFC3339) + " (expires in 29d)",
		"Renewal:           " + pki.RenewalTime(f.leaf.Cert, 0).UTC().Truncate(time.Second).Format(time.RFC3339) + " (in 19d)",
		"CA not after:      " + f.ca.Cert.NotAfter.UTC().Truncate(time.Second).Format(time.RFC3339) + " (expires in 364d)",
		"CA replacement:    PropagatingTrust: the bundle holds the current and the next CA; the serving certificate moves to the next CA 15m (spec.tls.trustPropagation)",
		"Trust bundle (ConfigMap sched-ca, key ca.crt):",
		"current   CN=rsched CA certs/sched   " + serial(f.ca),
		"next      CN=rsched CA certs/sched   " + serial(f.next),
	} {
		if !strings.Contains(table, want) {
			t.Errorf("certs lacks %q:\n%s", want, table)
		}
	}
	f.noKeyMaterial(t, "certs", table)

	out = testenv.OutputBuffer{}
	if err := f.run(&out, "certs", "-o", "json"); err != nil {
		t.Fatalf("certs -o json: %v\n%s", err, out.String())
	}
	var views []CertView
	if err := json.Unmarshal([]byte(out.String()), &views); err != nil || len(views) != 1 {
		t.Fatalf("certs -o json: %v\n%s", err, out.String())
	}
	v := views[0]
	if v.SerialNumber != serial(f.leaf) || v.CAReplacementPhase != "PropagatingTrust" || len(v.Bundle) != 2 ||
		v.Bundle[0].Role != "current" || v.Bundle[1].Role != "next" || v.Bundle[1].SerialNumber != serial(f.next) || v.TrustPropagation != "15m" || v.Overlap != "10m" {
		t.Errorf("certs -o json: %+v", v)
	}
	f.noKeyMaterial(t, "certs -o json", out.String())
	out = testenv.OutputBuffer{}
	if err := f.run(&out, "certs", "-o", "yaml"); err != nil || !strings.Contains(out.String(), "serialNumber: "+serial(f.next)) {
		t.Errorf("certs -o yaml: %v\n%s", err, out.String())
	}
	f.noKeyMaterial(t, "certs -o yaml", out.String())

	out = testenv.OutputBuffer{}
	if err := f.run(&out, "certs", "no-such-instance"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("certs of a missing instance: %v", err)
	}
	if err := f.run(&out, "certs", "sched", "-A"); err == nil || !strings.Contains(err.Error(), "across all namespaces") {
		t.Errorf("certs NAME -A: %v", err)
	}
}

// An instance serving its own certificate: certs says whose it is and shows no operator CA;
// renew refuses it, and leaves the instance's annotations alone.
func TestRenewRefusesAnInstanceServingItsOwnCertificate(t *testing.T) {
	f := newFixture(t, "own-cert", rschedv1.TLSSpec{SecretRef: &rschedv1.LocalObjectReference{Name: "sched-tls"}})
	var out testenv.OutputBuffer
	if err := f.run(&out, "certs"); err != nil {
		t.Fatalf("certs: %v\n%s", err, out.String())
	}
	for _, want := range []string{"Mode:              SecretRef (spec.tls.secretRef: yours to renew; the operator never modifies it)", "    -      CN=rsched CA own-cert/sched"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("certs lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "CA replacement:") || strings.Contains(out.String(), "Renewal:") {
		t.Errorf("certs shows operator renewals for a certificate the operator does not renew:\n%s", out.String())
	}
	f.noKeyMaterial(t, "certs", out.String())
	for _, flag := range []string{"", "--ca", "--resign-ca"} {
		args := []string{"renew", "sched"}
		if flag != "" {
			args = append(args, flag)
		}
		out = testenv.OutputBuffer{}
		err := f.run(&out, args...)
		if err == nil || !strings.Contains(err.Error(), "serves its own certificate from Secret sched-tls (spec.tls.secretRef), which the operator never modifies") {
			t.Errorf("renew %s of a secretRef instance: %v\n%s", flag, err, out.String())
		}
	}
	var si rschedv1.SchedulerInstance
	if err := f.k.Client.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "sched"}, &si); err != nil {
		t.Fatal(err)
	}
	if len(si.Annotations) != 0 {
		t.Errorf("a refused renew annotated the instance: %v", si.Annotations)
	}

	// cert-manager's certificate: renewed with cmctl, never through the operator's annotations.
	g := newFixture(t, "cm-cert", rschedv1.TLSSpec{IssuerRef: &rschedv1.IssuerReference{Name: "team-ca"}})
	out = testenv.OutputBuffer{}
	if err := g.run(&out, "renew", "sched"); err == nil || !strings.Contains(err.Error(), "issued and renewed by cert-manager (spec.tls.issuerRef Issuer team-ca)") || !strings.Contains(err.Error(), "cmctl renew sched-tls -n "+g.ns) {
		t.Errorf("renew of an issuerRef instance: %v\n%s", err, out.String())
	}
}

// operator plays the operator's part from the test: it waits for renew's annotation and then
// writes the status steps, each after renew printed the previous one.
type operator struct {
	t   *testing.T
	f   *fixture
	out *testenv.OutputBuffer
}

// request waits for annotation to be set, and returns its value.
func (o operator) request(annotation string) string {
	o.t.Helper()
	var req string
	testenv.Eventually(o.t, 20*time.Second, "renew sets "+annotation, func() (bool, string) {
		var si rschedv1.SchedulerInstance
		if err := o.f.k.Client.Get(context.Background(), client.ObjectKey{Namespace: o.f.ns, Name: "sched"}, &si); err != nil {
			return false, err.Error()
		}
		req = si.Annotations[annotation]
		return strings.HasPrefix(req, "kubectl-rsched-"), fmt.Sprint(si.Annotations)
	})
	return req
}

// update changes status.tls as the operator would.
func (o operator) update(change func(*rschedv1.TLSStatus)) {
	o.t.Helper()
	ctx := context.Background()
	var si rschedv1.SchedulerInstance
	if err := o.f.k.Client.Get(ctx, client.ObjectKey{Namespace: o.f.ns, Name: "sched"}, &si); err != nil {
		o.t.Fatal(err)
	}
	change(si.Status.TLS)
	if err := o.f.k.Client.Status().Update(ctx, &si); err != nil {
		o.t.Fatal(err)
	}
}

// step changes status.tls, then waits until renew printed want.
func (o operator) step(change func(*rschedv1.TLSStatus), want string) {
	o.t.Helper()
	o.update(change)
	testenv.Eventually(o.t, 20*time.Second, "renew prints "+want, func() (bool, string) {
		return strings.Contains(o.out.String(), want), o.out.String()
	})
}

// renew sets the annotation of its kind to a fresh request id and follows status.tls: another
// request's record is not its own, a recorded request without a new serial is not done yet, and a
// CA key replacement is reported phase by phase.
func TestRenewSetsTheAnnotationAndFollowsTheOperator(t *testing.T) {
	f := newFixture(t, "renew", rschedv1.TLSSpec{})
	op := operator{t: t, f: f}
	// No replacement in progress, so that the one below starts at once.
	op.update(func(s *rschedv1.TLSStatus) { s.CAReplacementPhase = "" })
	oldSerial := hex.EncodeToString(f.leaf.Cert.SerialNumber.Bytes())

	start := func(args ...string) (*testenv.OutputBuffer, chan error) {
		out := &testenv.OutputBuffer{}
		done := make(chan error, 1)
		go func() { done <- f.run(out, args...) }()
		op.out = out
		return out, done
	}
	finish := func(what string, out *testenv.OutputBuffer, done chan error) string {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: %v\n%s", what, err, out.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s did not return after the operator's last step:\n%s", what, out.String())
		}
		f.noKeyMaterial(t, what, out.String())
		if !strings.Contains(what, "--ca") && strings.Contains(out.String(), "PropagatingTrust") {
			t.Errorf("%s reports the phases of a CA key replacement:\n%s", what, out.String())
		}
		t.Logf("kubectl rsched %s:\n%s", what, out.String())
		return out.String()
	}

	// A certificate renewal.
	out, done := start("renew", "sched")
	req := op.request(rschedv1.RenewCertificateAnnotation)
	op.update(func(s *rschedv1.TLSStatus) { s.LastRenewRequest = "someone-else" })
	op.update(func(s *rschedv1.TLSStatus) { s.LastRenewRequest = req })
	time.Sleep(time.Second) // two polls: the request recorded with the old serial is not done
	if want := "requested a new serving certificate for renew/sched (serial " + oldSerial + " now, expires "; !strings.Contains(out.String(), want) {
		t.Errorf("renew lacks %q:\n%s", want, out.String())
	}
	select {
	case err := <-done:
		t.Fatalf("renew returned before the serial changed: %v\n%s", err, out.String())
	default:
	}
	op.step(func(s *rschedv1.TLSStatus) { s.SerialNumber = "0a1b2c" }, "renewed: serial 0a1b2c, valid until")
	finish("renew sched", out, done)

	// A CA renewal by re-signing.
	out, done = start("renew", "sched", "--resign-ca")
	req = op.request(rschedv1.RenewCAAnnotation)
	later := seconds(f.ca.Cert.NotAfter.Add(time.Hour))
	op.step(func(s *rschedv1.TLSStatus) { s.LastRenewCARequest, s.CANotAfter = req, later },
		"CA renewed: it expires "+stamp(later)+"; same key, so clients and the serving certificate have nothing to change")
	finish("renew sched --resign-ca", out, done)

	// A CA key replacement, phase by phase.
	out, done = start("renew", "sched", "--ca")
	req = op.request(rschedv1.ReplaceCAAnnotation)
	op.step(func(s *rschedv1.TLSStatus) {
		s.LastReplaceCARequest, s.CAReplacementPhase = req, string(pki.Propagating)
	},
		"PropagatingTrust: a new CA is published in ConfigMap sched-ca beside the current one; the serving certificate moves to it in 10m (spec.tls.trustPropagation)")
	op.step(func(s *rschedv1.TLSStatus) { s.CAReplacementPhase, s.SerialNumber = string(pki.Overlapping), "0d0e0f" },
		"Overlapping: the serving certificate moved to the new CA (serial 0d0e0f); the previous CA stays in the bundle for 10m (spec.tls.overlap)")
	op.step(func(s *rschedv1.TLSStatus) { s.CAReplacementPhase = "" }, "done: the previous CA left ConfigMap sched-ca; serial 0d0e0f under the new CA")
	text := finish("renew sched --ca", out, done)
	for _, want := range []string{"requested a CA key replacement for renew/sched (serial 0a1b2c now, under CN=rsched CA renew/sched)",
		"it takes two waits, trustPropagation 10m then overlap 10m (spec.tls), and restarts no pod; following for up to 25m"} {
		if !strings.Contains(text, want) {
			t.Errorf("renew --ca lacks %q:\n%s", want, text)
		}
	}

	// Nobody acts: renew gives up after --timeout, and says the request stands.
	out = &testenv.OutputBuffer{}
	err := f.run(out, "renew", "sched", "--timeout", "1s")
	if err == nil || !strings.Contains(err.Error(), "renew/sched: the certificate renewal did not finish within 1s (last state: waiting for the operator); the operator goes on") {
		t.Errorf("renew without an operator: %v\n%s", err, out.String())
	}
	if err := f.run(out, "renew", "sched", "--ca", "--resign-ca"); err == nil {
		t.Error("renew --ca --resign-ca was accepted")
	}
}

// How renew reads status.tls for its own request.
func TestRenewStateIsReadFromStatus(t *testing.T) {
	before := rschedv1.TLSStatus{SerialNumber: "aa", LastRenewRequest: "old", LastReplaceCARequest: "old", LastRenewCARequest: "old"}
	with := func(change func(*rschedv1.TLSStatus)) *rschedv1.TLSStatus {
		s := before.DeepCopy()
		change(s)
		return s
	}
	for _, c := range []struct {
		name string
		kind RenewKind
		st   *rschedv1.TLSStatus
		want renewState
	}{
		{"no status yet", RenewLeaf, nil, renewWaiting},
		{"not taken yet", RenewLeaf, with(func(*rschedv1.TLSStatus) {}), renewWaiting},
		{"taken, same serial", RenewLeaf, with(func(s *rschedv1.TLSStatus) { s.LastRenewRequest = "mine" }), renewWaiting},
		{"renewed", RenewLeaf, with(func(s *rschedv1.TLSStatus) { s.LastRenewRequest, s.SerialNumber = "mine", "bb" }), renewDone},
		{"another kind's request", RenewLeaf, with(func(s *rschedv1.TLSStatus) { s.LastRenewCARequest, s.SerialNumber = "mine", "bb" }), renewWaiting},
		{"CA re-signed", ResignCA, with(func(s *rschedv1.TLSStatus) { s.LastRenewCARequest = "mine" }), renewDone},
		{"another replacement running", ReplaceCA, with(func(s *rschedv1.TLSStatus) { s.CAReplacementPhase = "Overlapping" }), renewWaiting},
		{"propagating", ReplaceCA, with(func(s *rschedv1.TLSStatus) { s.LastReplaceCARequest, s.CAReplacementPhase = "mine", "PropagatingTrust" }), renewPropagating},
		{"overlapping", ReplaceCA, with(func(s *rschedv1.TLSStatus) { s.LastReplaceCARequest, s.CAReplacementPhase = "mine", "Overlapping" }), renewOverlapping},
		{"replaced", ReplaceCA, with(func(s *rschedv1.TLSStatus) { s.LastReplaceCARequest = "mine" }), renewDone},
	} {
		if got := renewStateOf(c.kind, c.st, "mine", before); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestCertsTableSaysWhatIsNotThereYet(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	expired := metav1.NewTime(now.Add(-50 * time.Hour))
	var b bytes.Buffer
	if err := CertsTable(&b, now, []CertView{
		{Namespace: "a", Name: "new", Ready: "Unknown", BundleConfigMap: "new-ca", BundleProblem: "not published"},
		{Namespace: "a", Name: "old", Ready: "True", Reported: true, TLSStatus: rschedv1.TLSStatus{Mode: rschedv1.TLSSecretRef, SecretName: "mine", NotAfter: &expired}, BundleConfigMap: "old-ca", Bundle: []BundleCert{}},
	}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"a/new\n", "not reported yet: the operator has not reconciled the instance's certificate",
		"Trust bundle (ConfigMap new-ca, key ca.crt): not published", "(expired 2d ago)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	if b.Reset(); CertsTable(&b, now, nil) != nil || b.String() != "No SchedulerInstances found.\n" {
		t.Errorf("no instances: %q", b.String())
	}
}
