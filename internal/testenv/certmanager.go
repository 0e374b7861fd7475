package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// CertManagerClusterResourceNamespace is where the cert-manager controller started by
// StartCertManager keeps the Secrets of ClusterIssuers (its --cluster-resource-namespace).
const CertManagerClusterResourceNamespace = "cert-manager"

// CertManager is cert-manager's controller running against a Kube, with cert-manager's CRDs
// installed there. Without cert-manager's webhook, objects are neither defaulted nor validated at
// admission; the controllers are the real ones.
type CertManager struct {
	// Dir is the component directory from RSCHED_CERT_MANAGER_DIR: `controller` and `crds/`.
	Dir string
	// LogFile holds the controller's output.
	LogFile string

	proc *process
}

// CertManagerGVK returns the GroupVersionKind of a cert-manager.io/v1 kind (Issuer,
// ClusterIssuer, Certificate, CertificateRequest), for unstructured objects.
func CertManagerGVK(kind string) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: kind}
}

// StartCertManager installs cert-manager's CRDs into k, starts its controller against k, waits
// until the controller has made a self-signed Issuer Ready, and stops it when the test ends.
// Its log file is in t.TempDir(); the log's tail is shown when the test failed. The component
// comes from RSCHED_CERT_MANAGER_DIR (hack/get-cert-manager.sh); without it the test fails.
func StartCertManager(t testing.TB, k *Kube) *CertManager {
	t.Helper()
	cm, err := NewCertManager(k, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cert-manager controller (exited %v: %v) log %s (tail):\n%s", cm.proc.exited(), cm.proc.err, cm.LogFile, cm.logTail())
		}
		if err := cm.Stop(); err != nil {
			t.Error(err)
		}
	})
	return cm
}

// NewCertManager installs cert-manager's CRDs into k and starts its controller, logging to a file
// in logDir, and waits until it works; the caller must Stop it.
func NewCertManager(k *Kube, logDir string) (*CertManager, error) {
	bin, err := lookupExecutable("cert-manager controller", "RSCHED_CERT_MANAGER_DIR", "hack/get-cert-manager.sh", "controller")
	if err != nil {
		return nil, err
	}
	cm := &CertManager{Dir: filepath.Dir(bin), LogFile: filepath.Join(logDir, "cert-manager-controller.log")}
	crds := filepath.Join(cm.Dir, "crds")
	if _, err := envtest.InstallCRDs(k.Config, envtest.CRDInstallOptions{Paths: []string{crds}, ErrorIfPathMissing: true}); err != nil {
		return nil, fmt.Errorf("installing cert-manager's CRDs from %s (hack/get-cert-manager.sh): %w", crds, err)
	}
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: CertManagerClusterResourceNamespace}}
	if err := k.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}

	log, err := os.OpenFile(cm.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer func() { _ = log.Close() }() // the child has its own descriptor
	// Leader election off: one replica. The webhook is a separate binary and not started, so
	// nothing here depends on it; the controller set is cert-manager's default.
	cmd := exec.Command(bin, "--kubeconfig="+k.Kubeconfig, "--leader-elect=false",
		"--cluster-resource-namespace="+CertManagerClusterResourceNamespace, "--controllers=*", "--v=2")
	cmd.Dir = logDir
	cmd.Env = append(os.Environ(), "HOME="+logDir)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = ownGroup()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start cert-manager controller: %w", err)
	}
	cm.proc = &process{name: "cert-manager controller", cmd: cmd, out: &OutputBuffer{}, done: make(chan struct{})}
	go func() {
		cm.proc.err = cmd.Wait()
		close(cm.proc.done)
	}()
	if err := cm.waitWorking(k, 60*time.Second); err != nil {
		err = fmt.Errorf("%w\ncert-manager controller log %s (tail):\n%s", err, cm.LogFile, cm.logTail())
		_ = cm.Stop()
		return nil, err
	}
	return cm, nil
}

// waitWorking creates a self-signed Issuer and waits for the controller to mark it Ready: the
// CRDs are served, the informers synced and the issuers controller runs. The Issuer is removed.
func (cm *CertManager) waitWorking(k *Kube, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	probe := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"selfSigned": map[string]any{}}}}
	probe.SetGroupVersionKind(CertManagerGVK("Issuer"))
	probe.SetNamespace(CertManagerClusterResourceNamespace)
	probe.SetGenerateName("rsched-readiness-probe-")
	if err := k.Client.Create(ctx, probe); err != nil {
		return fmt.Errorf("creating cert-manager's readiness probe Issuer: %w", err)
	}
	defer func() { _ = k.Client.Delete(context.Background(), probe) }()
	for {
		if cm.proc.exited() {
			return fmt.Errorf("the cert-manager controller exited before it worked: %v", cm.proc.err)
		}
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(probe.GroupVersionKind())
		if err := k.Client.Get(ctx, client.ObjectKeyFromObject(probe), got); err == nil && CertManagerConditionTrue(got, "Ready") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the cert-manager controller did not make a self-signed Issuer Ready within %s", timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// CertManagerConditionTrue reports whether a cert-manager object's status has condition typ with
// status True, observed at the object's current generation when the condition says which.
func CertManagerConditionTrue(obj *unstructured.Unstructured, typ string) bool {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != typ {
			continue
		}
		if g, ok := m["observedGeneration"].(int64); ok && g != obj.GetGeneration() {
			return false
		}
		return m["status"] == string(metav1.ConditionTrue)
	}
	return false
}

// Pid is the controller's process ID (also its process group).
func (cm *CertManager) Pid() int { return cm.proc.Pid() }

// logTail is the last 8 KiB of the controller's log.
func (cm *CertManager) logTail() string {
	b, err := os.ReadFile(cm.LogFile)
	if err != nil {
		return err.Error()
	}
	return tail(string(b), 8000)
}

// Stop ends the controller (SIGTERM, then SIGKILL after 10 s). The CRDs stay installed.
func (cm *CertManager) Stop() error {
	if cm.proc == nil {
		return nil
	}
	err := cm.proc.stop(syscall.SIGTERM, 10*time.Second)
	cm.proc = nil
	return err
}

// CertManagerRenew asks cert-manager to re-issue a Certificate now, as `cmctl renew` does: the
// Issuing condition, set True on the status subresource.
func CertManagerRenew(ctx context.Context, c client.Client, namespace, name string) error {
	crt := &unstructured.Unstructured{}
	crt.SetGroupVersionKind(CertManagerGVK("Certificate"))
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, crt); err != nil {
		return err
	}
	conds, _, _ := unstructured.NestedSlice(crt.Object, "status", "conditions")
	conds = slices.DeleteFunc(conds, func(c any) bool { m, _ := c.(map[string]any); return m["type"] == "Issuing" })
	conds = append(conds, map[string]any{
		"type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
		"message":            "Certificate re-issuance manually triggered",
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
		"observedGeneration": crt.GetGeneration(),
	})
	if err := unstructured.SetNestedSlice(crt.Object, conds, "status", "conditions"); err != nil {
		return err
	}
	return c.Status().Update(ctx, crt)
}
