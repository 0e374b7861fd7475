//go:build e2e

package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/testenv"
)

// waitCondition waits until the instance's condition has the status and reason.
func waitCondition(t *testing.T, ns, name, typ string, status metav1.ConditionStatus, reason string, within time.Duration) {
	t.Helper()
	eventually(t, within, typ+"="+string(status)+"/"+reason, func(ctx context.Context) (bool, string) {
		si := &rschedv1.SchedulerInstance{}
		if err := kc.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, si); err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(si.Status.Conditions, typ)
		if c == nil {
			return false, "no condition"
		}
		return c.Status == status && c.Reason == reason, c.Reason + ": " + c.Message
	})
}

func podUIDs(t *testing.T, ns string) string {
	t.Helper()
	var pods corev1.PodList
	if err := kc.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/instance": "sched"}); err != nil {
		t.Fatal(err)
	}
	var uids []string
	for _, p := range pods.Items {
		uids = append(uids, string(p.UID))
	}
	return strings.Join(uids, ",")
}

// Scenario 5: Vault becomes unreachable for the operator: the pods keep serving on the last good
// Secrets, the conditions say why, and everything recovers by itself when Vault returns.
func TestVaultOutageKeepsPodsServingAndRecovers(t *testing.T) {
	installOperator(t)
	pg, v := backends(t)
	proxy := testenv.StartProxy(t, hostIP, strings.TrimPrefix(v.Addr, "http://"))
	ns := "e2e-vault"
	ctx := context.Background()
	deployInstance(t, ns, pg, "http://"+proxy.Addr, v.Token)
	base := serviceBase(t, ns, "sched")
	const password = "E2e-Correct-Horse-Battery-Staple-42"
	api(t, base, "POST", "/auth/register", "", map[string]any{"username": "e2e-admin", "email": "e2e-admin@example.org", "password": password}, http.StatusCreated)
	tok := api(t, base, "POST", "/auth/login/json", "", map[string]any{"username": "e2e-admin", "password": password}, http.StatusOK)
	access := tok["access_token"].(string)
	pods := podUIDs(t, ns)

	// Vault goes away; a spec change makes the operator read it again (so does the refresh
	// interval, after at least a minute).
	proxy.Cut()
	cur := &rschedv1.SchedulerInstance{}
	if err := kc.Get(ctx, types.NamespacedName{Namespace: ns, Name: "sched"}, cur); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(cur.DeepCopy())
	cur.Spec.Vault.RefreshInterval = &metav1.Duration{Duration: 2 * time.Minute}
	if err := kc.Patch(ctx, cur, patch); err != nil {
		t.Fatal(err)
	}
	outage := time.Now()
	waitCondition(t, ns, "sched", rschedv1.ConditionVaultReachable, metav1.ConditionFalse, rschedv1.ReasonVaultUnreachable, time.Minute)
	waitCondition(t, ns, "sched", rschedv1.ConditionDegraded, metav1.ConditionTrue, rschedv1.ReasonVaultUnreachable, time.Minute)
	// The pods serve on: the database URL and secrets they have are the last good ones.
	for range 20 {
		if me := api(t, base, "GET", "/auth/me", access, nil, http.StatusOK); me["username"] != "e2e-admin" {
			t.Fatalf("/auth/me during the outage: %v", me)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if api(t, base, "POST", "/auth/login/json", "", map[string]any{"username": "e2e-admin", "password": password}, http.StatusOK)["access_token"] == nil {
		t.Fatal("no sign-in during the outage")
	}

	// Vault returns: the operator recovers with no one's help.
	proxy.Restore(t)
	back := time.Now()
	waitCondition(t, ns, "sched", rschedv1.ConditionVaultReachable, metav1.ConditionTrue, rschedv1.ReasonVaultOK, 2*time.Minute)
	waitCondition(t, ns, "sched", rschedv1.ConditionDegraded, metav1.ConditionFalse, rschedv1.ReasonAvailable, time.Minute)
	t.Logf("Vault outage of %v: conditions recovered %v after Vault returned", back.Sub(outage).Round(100*time.Millisecond), time.Since(back).Round(100*time.Millisecond))
	if after := podUIDs(t, ns); after != pods {
		t.Fatal("the outage restarted the pods")
	}
	if me := api(t, base, "GET", "/auth/me", access, nil, http.StatusOK); me["username"] != "e2e-admin" {
		t.Fatalf("/auth/me after the outage: %v", me)
	}
}
