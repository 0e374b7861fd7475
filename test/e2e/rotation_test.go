//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "k8s.io/api/apps/v1"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/keyprobe"
	"github.com/rsched/rsched/internal/keyring"
)

// kidOf returns the kid header of a JWT.
func kidOf(token string) string {
	head, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(b, &h)
	return h.Kid
}

// podIPs lists the instance's running pods by name.
func podIPs(ctx context.Context, ns string) (map[string]string, error) {
	var pods corev1.PodList
	if err := kc.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/instance": "sched"}); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, p := range pods.Items {
		if p.Status.PodIP != "" && p.DeletionTimestamp.IsZero() && p.Status.Phase == corev1.PodRunning {
			out[p.Name] = p.Status.PodIP
		}
	}
	return out, nil
}

// loadedVersions reads the keyring file version each pod has loaded, from its metrics port (over
// HTTPS, as the operator reads it).
func loadedVersions(ctx context.Context, ns string) (map[string]int64, error) {
	ips, err := podIPs(ctx, ns)
	if err != nil {
		return nil, err
	}
	cfg, err := tlsConfig(ctx, ns, "sched")
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	out := map[string]int64{}
	for name, ip := range ips {
		rep, err := keyprobe.Scrape(ctx, hc, "https://"+ip+":9090/metrics")
		if err != nil {
			return nil, err
		}
		out[name] = rep.KeyringVersion
	}
	return out, nil
}

// keyringFileVersion is the version of the keyring file in the instance's Secret.
func keyringFileVersion(ctx context.Context, ns string) (int64, error) {
	sec := &corev1.Secret{}
	if err := kc.Get(ctx, types.NamespacedName{Namespace: ns, Name: "sched-keyring"}, sec); err != nil {
		return 0, err
	}
	f, err := keyring.Decode(sec.Data["keyring.json"])
	if err != nil {
		return 0, err
	}
	return f.Version, nil
}

// signingKid signs in on one pod directly (its IP) and returns the kid of the access token.
func signingKid(hc *http.Client, ip, user, password string) (string, error) {
	body := fmt.Sprintf(`{"username":%q,"password":%q}`, user, password)
	resp, err := hc.Post("https://"+ip+":8080/api/v1/auth/login/json", "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("sign-in %d", resp.StatusCode)
	}
	at, _ := tok["access_token"].(string)
	return kidOf(at), nil
}

// clientPod is the e2e client (test/e2e/client) running in a pod of the namespace.
type clientPod struct{ ip string }

type clientStats struct {
	Logins, Requests, Refreshes, Failures int64
	// BundleReloads counts the changed trust bundles the client loaded after its first.
	BundleReloads int64
	// Connections counts the TLS connections the client established (each verified against the
	// bundle it held then).
	Connections int64
	Samples     []string
}

// startClientPod runs the client image under the restricted profile against base (HTTPS, trusting
// the instance's bundle mounted from its ConfigMap), labelled so that the instance admits it, and
// waits until every session has signed in.
func startClientPod(t *testing.T, ns, base, user, password string) *clientPod {
	t.Helper()
	c := runClientPod(t, ns, "client", serviceHost(ns, "sched"), map[string]string{clientLabel: "true"},
		"-base", base, "-user", user, "-password", password, "-sessions", "4")
	eventually(t, 2*time.Minute, "the client pod signed in", func(ctx context.Context) (bool, string) {
		st, err := c.stats()
		if err != nil {
			return false, err.Error()
		}
		return st.Logins == 4, fmt.Sprintf("%+v", st)
	})
	return c
}

// runClientPod starts the client image in a pod under the restricted profile, with the trust
// bundle of the namespace's instance (ConfigMap sched-ca) mounted and verified for the name
// sched.<ns of the instance>.svc (serverName), and waits until its stats port answers.
func runClientPod(t *testing.T, ns, name, serverName string, labels map[string]string, args ...string) *clientPod {
	t.Helper()
	ctx := context.Background()
	vol, mount := bundleVolume()
	args = append([]string{"-ca", bundleDir + "/" + bundleKey, "-server-name", serverName}, args...)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}, Spec: corev1.PodSpec{
		AutomountServiceAccountToken: ptr.To(false),
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Containers: []corev1.Container{{
			Name: "client", Image: "localhost/rsched/e2e-client:" + imageTag, ImagePullPolicy: corev1.PullNever,
			Args:         args,
			Ports:        []corev1.ContainerPort{{Name: "stats", ContainerPort: 8081}},
			VolumeMounts: []corev1.VolumeMount{mount},
			SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
				Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
		}},
		Volumes: []corev1.Volume{vol},
	}}
	if err := kc.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	c := &clientPod{}
	eventually(t, 2*time.Minute, "client pod "+ns+"/"+name+" serving", func(ctx context.Context) (bool, string) {
		if err := kc.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, pod); err != nil || pod.Status.PodIP == "" {
			return false, fmt.Sprint("no pod IP yet ", err)
		}
		c.ip = pod.Status.PodIP
		_, err := c.stats()
		return err == nil, fmt.Sprint(err)
	})
	return c
}

func (c *clientPod) stats() (*clientStats, error) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + c.ip + ":8081/stats")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	st := &clientStats{}
	return st, json.NewDecoder(resp.Body).Decode(st)
}

// stop ends the load and returns the final counts.
func (c *clientPod) stop(t *testing.T) *clientStats {
	t.Helper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Post("http://"+c.ip+":8081/stop", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	st, err := c.stats()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Scenarios 3 and 4: rotations under load on real pods with zero failed requests, the time from
// the request to the new key signing in every pod, while the instance's CA key is replaced (the
// client re-reads its mounted bundle; the operator observes the pods over HTTPS throughout); then
// the operator pod is deleted and its successor rotates nothing, restarts nothing and writes
// nothing.
func TestRotationUnderLoadOnRealPodsAndOperatorFailover(t *testing.T) {
	installOperator(t)
	pg, v := backends(t)
	ns := "e2e-rotation"
	ctx := context.Background()
	deployInstance(t, ns, pg, v.Addr, v.Token)
	policy := &rschedv1.KeyRotationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "sched-keys", Namespace: ns}, Spec: rschedv1.KeyRotationPolicySpec{
		TargetRef: rschedv1.LocalObjectReference{Name: "sched"},
		Keys: []rschedv1.RotatedKey{
			{Name: "jwt", Purpose: rschedv1.KeyPurposeSigning, Algorithm: rschedv1.AlgorithmHS512},
			{Name: "fields", Purpose: rschedv1.KeyPurposeEncryption, Algorithm: rschedv1.AlgorithmAES256GCM},
		},
		Schedule:    rschedv1.RotationSchedule{Every: &metav1.Duration{Duration: 720 * time.Hour}},
		GracePeriod: &metav1.Duration{Duration: 10 * time.Minute},
	}}
	if err := kc.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}
	krp := &rschedv1.KeyRotationPolicy{}
	eventually(t, time.Minute, "the policy Ready at version 1", func(ctx context.Context) (bool, string) {
		if err := kc.Get(ctx, types.NamespacedName{Namespace: ns, Name: "sched-keys"}, krp); err != nil {
			return false, err.Error()
		}
		return meta.IsStatusConditionTrue(krp.Status.Conditions, rschedv1.ConditionReady) && krp.Status.CurrentVersion == 1, fmt.Sprintf("%+v", krp.Status.Conditions)
	})

	base := serviceBase(t, ns, "sched")
	const password = "E2e-Correct-Horse-Battery-Staple-42"
	api(t, base, "POST", "/auth/register", "", map[string]any{"username": "e2e-admin", "email": "e2e-admin@example.org", "password": password}, http.StatusCreated)

	cl := startClientPod(t, ns, "https://sched."+ns+".svc:8080/api/v1", "e2e-admin", password)
	started := time.Now()
	podsBefore := instancePods(t, ns)
	var canary keyCanary
	canary.collect(t, ns)
	// Under load, first the serving certificate is renewed (a new key under the same CA), then the
	// CA is renewed by re-signing its own key: nothing for the client pod to change, though it
	// loads the new bundle.
	leaf := renewLeaf(t, ns, "e2e-leaf-1")
	canary.collect(t, ns)
	caRenewed, reloads := renewCA(t, ns, "e2e-ca-1", cl)
	canary.collect(t, ns)
	// Under the same load the instance's CA key is replaced (tls.trustPropagation and tls.overlap
	// are 30s on the e2e instances): the client pod trusts only its mounted bundle, so it must
	// re-read it when the kubelet updates it, once with both CAs, once with the new one alone.
	si := &rschedv1.SchedulerInstance{}
	if err := kc.Get(ctx, types.NamespacedName{Namespace: ns, Name: "sched"}, si); err != nil {
		t.Fatal(err)
	}
	firstCert := si.Status.TLS.DeepCopy()
	if firstCert == nil || firstCert.SerialNumber == "" {
		t.Fatalf("status.tls before the CA replacement: %+v", firstCert)
	}
	siPatch := client.MergeFrom(si.DeepCopy())
	if si.Annotations == nil {
		si.Annotations = map[string]string{}
	}
	si.Annotations[rschedv1.ReplaceCAAnnotation] = "e2e-1"
	if err := kc.Patch(ctx, si, siPatch); err != nil {
		t.Fatal(err)
	}
	caRequested := time.Now()
	eventually(t, time.Minute, "the next CA published beside the current one", func(ctx context.Context) (bool, string) {
		_, cas, err := trustBundle(ctx, ns, "sched")
		return err == nil && cas == 2, fmt.Sprintf("%d CAs (%v)", cas, err)
	})
	canary.collect(t, ns) // the next CA's key
	var toActive, toSigning []time.Duration
	for n := int64(2); n <= 4; n++ {
		req := time.Now()
		patch := client.MergeFrom(krp.DeepCopy())
		if krp.Annotations == nil {
			krp.Annotations = map[string]string{}
		}
		krp.Annotations[rschedv1.RotateAnnotation] = fmt.Sprintf("e2e-%d", n)
		if err := kc.Patch(ctx, krp, patch); err != nil {
			t.Fatal(err)
		}
		eventually(t, 3*time.Minute, fmt.Sprintf("version %d active", n), func(ctx context.Context) (bool, string) {
			if err := kc.Get(ctx, types.NamespacedName{Namespace: ns, Name: "sched-keys"}, krp); err != nil {
				return false, err.Error()
			}
			rot := meta.FindStatusCondition(krp.Status.Conditions, rschedv1.ConditionRotating)
			return krp.Status.CurrentVersion == n && rot != nil && rot.Status == metav1.ConditionFalse, fmt.Sprintf("version %d, rotating %v", krp.Status.CurrentVersion, rot)
		})
		toActive = append(toActive, time.Since(req))
		// The activated keyring reaches every pod through the kubelet's Secret refresh; a pod
		// signs with the new key once it has loaded that file.
		active, err := keyringFileVersion(ctx, ns)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Minute, fmt.Sprintf("every pod loaded keyring file %d (key version %d active)", active, n), func(ctx context.Context) (bool, string) {
			got, err := loadedVersions(ctx, ns)
			if err != nil {
				return false, err.Error()
			}
			for _, v := range got {
				if v < active {
					return false, fmt.Sprint(got)
				}
			}
			return len(got) == 2, fmt.Sprint(got)
		})
		toSigning = append(toSigning, time.Since(req))
	}
	// Each pod now signs with the last key (one sign-in per pod: sign-ins are rate limited).
	ips, err := podIPs(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	hc := instanceClient(t, ns, 5*time.Second)
	for name, ip := range ips {
		if kid, err := signingKid(hc, ip, "e2e-admin", password); err != nil || kid != "jwt-4" {
			t.Fatalf("pod %s signs with %q (%v), want jwt-4", name, kid, err)
		}
	}
	// The CA replacement completes: a new serving certificate from the new CA, the old CA
	// dropped from the bundle; every pod serves the new certificate, and the client pod loaded
	// both bundles.
	eventually(t, 3*time.Minute, "the CA key replaced", func(ctx context.Context) (bool, string) {
		if err := kc.Get(ctx, types.NamespacedName{Namespace: ns, Name: "sched"}, si); err != nil {
			return false, err.Error()
		}
		_, cas, err := trustBundle(ctx, ns, "sched")
		st := si.Status.TLS
		return err == nil && st != nil && st.LastReplaceCARequest == "e2e-1" && st.CAReplacementPhase == "" && st.SerialNumber != firstCert.SerialNumber && cas == 1,
			fmt.Sprintf("%d CAs in the bundle (%v), status.tls %+v", cas, err, st)
	})
	caReplaced := time.Since(caRequested)
	expectServesOperatorCertificate(t, ns)
	eventually(t, time.Minute, "the client pod reloaded its bundle twice more", func(context.Context) (bool, string) {
		st, err := cl.stats()
		if err != nil {
			return false, err.Error()
		}
		return st.BundleReloads >= reloads+2, fmt.Sprintf("%d reloads (%d after the CA renewal)", st.BundleReloads, reloads)
	})
	time.Sleep(5 * time.Second) // keep the load on a little after the last activation and the new CA
	st := cl.stop(t)
	t.Logf("rotation under load on real pods: a leaf renewal, a CA renewal, %d key rotations and a CA key replacement, %d GET /auth/me + %d refreshes + %d sign-ins from a client pod over %v (%d TLS connections, %d bundle reloads), failures %d",
		len(toActive), st.Requests, st.Refreshes, st.Logins, time.Since(started).Round(100*time.Millisecond), st.Connections, st.BundleReloads, st.Failures)
	t.Logf("request → new version active in status: %v; request → every pod signing with it: %v (kubelet syncFrequency 10s)", toActive, toSigning)
	t.Logf("leaf renewal (renew-certificate, kubelet syncFrequency 10s): %s", leaf)
	t.Logf("CA renewal (renew-ca, same key): CA serial %s → %s alone in the bundle %v after the request, the client pod verifying against it %v after the request; serving certificate unchanged",
		caRenewed.fromCA, caRenewed.toCA, caRenewed.toBundle.Round(100*time.Millisecond), caRenewed.toClient.Round(100*time.Millisecond))
	t.Logf("CA key replacement (trustPropagation 30s, overlap 30s): serial %s → %s, done %v after the request", firstCert.SerialNumber, si.Status.TLS.SerialNumber, caReplaced.Round(100*time.Millisecond))
	if st.Failures != 0 || st.Requests == 0 || st.Refreshes == 0 {
		t.Fatalf("%d failed requests: %v", st.Failures, st.Samples)
	}
	podsAfter := instancePods(t, ns)
	if !maps.Equal(podsBefore, podsAfter) {
		t.Fatalf("pods replaced or restarted across the rotations:\nbefore %v\nafter  %v", podsBefore, podsAfter)
	}
	t.Logf("pods across the leaf renewal, the CA renewal, the rotations and the CA key replacement: %v (none replaced, restart counts unchanged)", podsAfter)
	// Canary: no private key reached a log, an event or a status along the way.
	canary.collect(t, ns)
	canary.check(t, ns)

	// Scenario 4: the operator pod goes away; its successor takes the Lease and changes nothing.
	before := snapshot(t, ns)
	old, err := operatorPod(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := kc.Delete(ctx, old); err != nil {
		t.Fatal(err)
	}
	var successor *corev1.Pod
	eventually(t, 2*time.Minute, "a new operator pod leads", func(ctx context.Context) (bool, string) {
		p, err := operatorPod(ctx)
		if err != nil || p.Name == old.Name {
			return false, fmt.Sprint(err)
		}
		successor = p
		out := k(t, "get", "lease", "-n", operatorNS, "rsched-manager.scheduling.rsched.io", "-o", "jsonpath={.spec.holderIdentity}")
		return strings.HasPrefix(out, p.Name+"_"), "holder " + out
	})
	// The new leader has reconciled everything once it holds the Lease; give it a window in
	// which a wrong restart would show, then compare.
	time.Sleep(15 * time.Second)
	if after := snapshot(t, ns); after != before {
		t.Fatalf("the new operator (%s) changed owned objects:\nbefore %s\nafter  %s", successor.Name, before, after)
	}
}

// snapshot lists the resource versions of what a restart must not touch: the policy, the
// instance's Secrets, ConfigMap and Deployment, and the pods (a restart would replace them).
func snapshot(t *testing.T, ns string) string {
	t.Helper()
	ctx := context.Background()
	var parts []string
	var secs corev1.SecretList
	var cms corev1.ConfigMapList
	var pods corev1.PodList
	var deps appsv1.DeploymentList
	var pols rschedv1.KeyRotationPolicyList
	for _, l := range []client.ObjectList{&secs, &cms, &pods, &deps, &pols} {
		if err := kc.List(ctx, l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range secs.Items {
		parts = append(parts, "secret/"+s.Name+"="+s.ResourceVersion)
	}
	for _, c := range cms.Items {
		parts = append(parts, "configmap/"+c.Name+"="+c.ResourceVersion)
	}
	for _, p := range pods.Items {
		parts = append(parts, "pod/"+p.Name+"@"+string(p.UID))
	}
	for _, d := range deps.Items {
		parts = append(parts, fmt.Sprintf("deployment/%s=gen%d", d.Name, d.Generation))
	}
	for _, p := range pols.Items {
		parts = append(parts, fmt.Sprintf("krp/%s=v%d,%s", p.Name, p.Status.CurrentVersion, p.ResourceVersion))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}
