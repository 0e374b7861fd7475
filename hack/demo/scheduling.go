package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/apiload"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/testenv"
)

// showScheduling uses the minimal instance's API from the host, through one of its pods (the
// node is this machine, so pod IPs are reachable) over HTTPS, trusting only the CA the operator
// publishes for the instance and verifying the Service's name: its first user becomes the
// administrator and enrols MFA as the instance requires, a synthetic program of the predecessor's
// size goes in (18 residents, 12 faculty, rotation templates, 5 % absences approved), block 1 is
// generated, validated and exported.
func showScheduling(ctx context.Context, kube *testenv.Kube) error {
	si := &rschedv1.SchedulerInstance{}
	if err := kube.Client.Get(ctx, types.NamespacedName{Namespace: "demo", Name: "minimal"}, si); err != nil {
		return err
	}
	var sel []string
	for k, v := range builders.SelectorLabels(si) {
		sel = append(sel, k+"="+v)
	}
	ip, err := kube.Kubectl("get", "pods", "-n", "demo", "-l", strings.Join(sel, ","), "--field-selector=status.phase=Running",
		"-o", "jsonpath={.items[0].status.podIP}")
	if err != nil || ip == "" {
		fmt.Println("    no running pod of demo/minimal to call; skipping the scheduling tour")
		return nil
	}
	hc, err := instanceHTTPS(ctx, kube, si)
	if err != nil {
		return err
	}
	base := fmt.Sprintf("https://%s:%d", ip, builders.APIPort)
	step("the scheduling API of demo/minimal (%s, verified as %s against ConfigMap demo/%s): the first user signs in as administrator and enrols MFA",
		base, builders.ServiceHost(si), builders.CABundleName(si))
	password, err := randomHex(16)
	if err != nil {
		return err
	}
	c := &apiload.Client{Base: base, HTTP: hc}
	if _, err := c.Bootstrap(ctx, "demo-admin", "demo-admin@example.org", "Demo-"+password); err != nil {
		return fmt.Errorf("signing in to the scheduler: %w", err)
	}

	block := roster.AcademicYearOf(roster.DateOf(time.Now())).Blocks()[1]
	step("loading a program (18 residents, 12 faculty, 5 templates, 5 %% absences) and generating block 1 (%s to %s) with a 2 s budget", block.Start, block.End)
	p, err := roster.GenerateProgram(roster.ProgramConfig{Residents: 18, Faculty: 12, From: block.Start, To: block.End, AbsenceRate: 0.05, Seed: 1})
	if err != nil {
		return err
	}
	res, err := c.Load(ctx, p, 2*time.Second, 1)
	if err != nil {
		return err
	}
	var run struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Hard   int    `json:"hard_violations"`
		Stats  struct {
			Assignments  int     `json:"assignments"`
			CoverageRate float64 `json:"coverage_rate"`
			Iterations   int     `json:"iterations"`
			Construct    int64   `json:"construct_elapsed_ns"`
			StoppedBy    string  `json:"stopped_by"`
		} `json:"stats"`
	}
	if err := json.Unmarshal(res.Run, &run); err != nil {
		return err
	}
	fmt.Printf("    loaded %d people, %d templates, %d approved absences in %.1f s\n", res.People, res.Templates, res.Absences, res.LoadSeconds)
	fmt.Printf("    POST /api/v1/schedule/generate: HTTP %d, run %s %s: %d assignments, coverage %.3f, %d hard violations,\n", res.HTTPStatus, run.ID, run.Status,
		run.Stats.Assignments, run.Stats.CoverageRate, run.Hard)
	fmt.Printf("    first compliant schedule after %s, %d iterations, stopped by %s\n", time.Duration(run.Stats.Construct).Round(100*time.Microsecond), run.Stats.Iterations, run.Stats.StoppedBy)
	var v struct {
		Compliant bool `json:"compliant"`
		Hard      int  `json:"hard_violations"`
		Total     int  `json:"total_violations"`
	}
	q := "?start_date=" + block.Start.String() + "&end_date=" + block.End.String()
	if _, err := c.Call(ctx, "GET", "/api/v1/schedule/validate"+q, nil, &v, http.StatusOK); err != nil {
		return err
	}
	fmt.Printf("    GET /api/v1/schedule/validate: compliant=%t, %d hard and %d soft violations\n", v.Compliant, v.Hard, v.Total-v.Hard)
	host := fmt.Sprintf("%s:%d", builders.ServiceHost(si), builders.APIPort)
	fmt.Printf("    more: kubectl get configmap %s -n demo -o jsonpath='{.data.ca\\.crt}' > ca.crt\n", builders.CABundleName(si))
	fmt.Printf("          curl --cacert ca.crt --resolve %s:%s -H \"Authorization: Bearer $TOKEN\" 'https://%s/api/v1/schedule/export.csv%s'\n", host, ip, host, q)
	fmt.Println("          (the token stays in this process; sign in yourself)")
	return nil
}

// instanceHTTPS is a client of the instance's pods: it trusts the CAs of the bundle the operator
// publishes (ConfigMap <instance>-ca, key ca.crt) and nothing else, and verifies the Service's
// name whatever address it dials. It prints the serving certificate's facts from status.tls.
func instanceHTTPS(ctx context.Context, kube *testenv.Kube, si *rschedv1.SchedulerInstance) (*http.Client, error) {
	cm := &corev1.ConfigMap{}
	if err := kube.Client.Get(ctx, types.NamespacedName{Namespace: si.Namespace, Name: builders.CABundleName(si)}, cm); err != nil {
		return nil, fmt.Errorf("reading the instance's trust bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(cm.Data[builders.CABundleKey])) {
		return nil, fmt.Errorf("ConfigMap %s/%s holds no certificate under %s", si.Namespace, cm.Name, builders.CABundleKey)
	}
	if t := si.Status.TLS; t != nil {
		ready := "not reported"
		if c := meta.FindStatusCondition(si.Status.Conditions, rschedv1.ConditionCertificateReady); c != nil {
			ready = fmt.Sprintf("%s (%s)", c.Status, c.Reason)
		}
		step("the serving certificate of demo/minimal (status.tls): CertificateReady %s", ready)
		fmt.Printf("    %s, Secret %s, serial %s, issued by %q\n", t.Mode, t.SecretName, t.SerialNumber, t.Issuer)
		fmt.Printf("    names %s\n", strings.Join(t.DNSNames, ", "))
		fmt.Printf("    valid %s to %s, renewed at %s; CA valid to %s, renewed at %s\n",
			timeOf(t.NotBefore), timeOf(t.NotAfter), timeOf(t.RenewalTime), timeOf(t.CANotAfter), timeOf(t.CARenewalTime))
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: builders.ServiceHost(si)}
	return &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{TLSClientConfig: cfg}}, nil
}

// timeOf prints a status time, or "-" when it is not set.
func timeOf(t *metav1.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// showPlugin runs the kubectl plugin (bin/kubectl-rsched, built by make demo) through kubectl, as
// a user would: the status of everything, a manual rotation followed until it is active, then the
// instance's certificates and a renewal of its serving certificate.
func showPlugin(root string, kube *testenv.Kube) error {
	run := func(args ...string) error {
		cmd := exec.Command(filepath.Join(kube.Assets, "kubectl"), args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kube.Kubeconfig, "PATH="+filepath.Join(root, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		return cmd.Run()
	}
	step("kubectl rsched status -A (the kubectl plugin, bin/kubectl-rsched)")
	if err := run("rsched", "status", "-A"); err != nil {
		return err
	}
	step("kubectl rsched rotate minimal-keys -n demo")
	if err := run("rsched", "rotate", "minimal-keys", "-n", "demo", "--timeout", "3m"); err != nil {
		return err
	}
	step("kubectl rsched keys minimal-keys -n demo")
	if err := run("rsched", "keys", "minimal-keys", "-n", "demo"); err != nil {
		return err
	}
	step("kubectl rsched certs minimal -n demo (the serving certificate, its CA and the published bundle; never a key)")
	if err := run("rsched", "certs", "minimal", "-n", "demo"); err != nil {
		return err
	}
	step("kubectl rsched renew minimal -n demo (a new key and certificate under the same CA; the pods reload it, no restart)")
	return run("rsched", "renew", "minimal", "-n", "demo", "--timeout", "3m")
}
