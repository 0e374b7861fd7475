//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

// netpolEnforced says whether the cluster's pod network enforces NetworkPolicies: the local
// cluster does with RSCHED_CLUSTER_CNI=cilium; any other cluster says so with
// RSCHED_E2E_NETPOL=enforced.
func netpolEnforced() bool {
	if local {
		return os.Getenv("RSCHED_CLUSTER_CNI") == "cilium"
	}
	return os.Getenv("RSCHED_E2E_NETPOL") == "enforced"
}

// probe asks the client pod to GET target; it returns the HTTP status, or the error the pod saw.
// A certificate that did not verify is an error of the test, not a block: the pod reached a
// server.
func (c *clientPod) probe(target string) (int, string, error) {
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + c.ip + ":8081/probe?url=" + url.QueryEscape(target))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var out struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
		TLS    bool   `json:"tls"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, "", fmt.Errorf("probe answer: %d %w", resp.StatusCode, err)
	}
	if out.TLS {
		return 0, "", fmt.Errorf("%s answered with a certificate that does not verify against the bundle: %s", target, out.Error)
	}
	return out.Status, out.Error, nil
}

// expectReach waits until from reaches target (an HTTP 200); a new pod's identity can take a
// moment to reach the dataplane.
func expectReach(t *testing.T, from *clientPod, name, target string) {
	t.Helper()
	eventually(t, time.Minute, name+" reaches "+target, func(context.Context) (bool, string) {
		status, perr, err := from.probe(target)
		if err != nil {
			return false, err.Error()
		}
		return status == http.StatusOK, fmt.Sprintf("status %d, error %q", status, perr)
	})
}

// expectBlocked checks that three attempts in a row from the pod get no answer at all: no HTTP
// status, a connection error or a timeout.
func expectBlocked(t *testing.T, from *clientPod, name, target string) {
	t.Helper()
	for i := range 3 {
		status, perr, err := from.probe(target)
		if err != nil {
			t.Fatalf("asking %s to probe: %v", name, err)
		}
		if status != 0 || perr == "" {
			t.Fatalf("%s reached %s (attempt %d): status %d; the NetworkPolicies should block it", name, target, i+1, status)
		}
		if i == 0 {
			t.Logf("%s → %s blocked: %s", name, target, perr)
		}
	}
}

// Scenario 6: on a pod network that enforces NetworkPolicies, the instance's generated policies
// admit the pods its spec names and the operator's namespace, on the API and metrics ports, and
// block every other pod; with the policies switched off the same pod gets through, and switching
// them back on blocks it again. The pods became Ready under the same policies, so their egress to
// DNS, PostgreSQL and Vault is allowed (docs/network-policies.md has the whole truth table,
// evaluated without a dataplane in make test).
func TestNetworkPoliciesEnforcedOnRealPods(t *testing.T) {
	if !netpolEnforced() {
		msg := "the cluster's pod network does not enforce NetworkPolicies: run with RSCHED_CLUSTER_CNI=cilium (local cluster) or RSCHED_E2E_NETPOL=enforced (a cluster whose CNI enforces them)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI runs `make test-e2e` on the local cluster with Cilium")
		}
		t.Skip(msg)
	}
	op := installOperator(t)
	pg, v := backends(t)
	ns, other := "e2e-netpol", "e2e-netpol-other"
	ctx := context.Background()
	deployInstance(t, ns, pg, v.Addr, v.Token)
	appNamespace(t, other)

	ips, err := podIPs(ctx, ns)
	if err != nil || len(ips) == 0 {
		t.Fatalf("scheduler pod addresses: %v %v", ips, err)
	}
	var podIP string
	for _, ip := range ips {
		podIP = ip
		break
	}
	// Every probe is HTTPS verified against the instance's bundle for its Service's name (a pod
	// IP too), so a reach is an answer from the instance and a block is no connection at all. The
	// pods of other namespaces get a copy of the bundle.
	svcAPI := "https://sched." + ns + ".svc:8080/api/v1/health/live"
	podAPI := "https://" + podIP + ":8080/api/v1/health/live"
	podMetrics := "https://" + podIP + ":9090/metrics"
	host := serviceHost(ns, "sched")
	copyBundle(t, ns, other)
	copyBundle(t, ns, op.Namespace)

	allowed := runClientPod(t, ns, "allowed", host, map[string]string{clientLabel: "true"}, "-sessions", "0")
	unlabelled := runClientPod(t, ns, "unlabelled", host, nil, "-sessions", "0")
	elsewhere := runClientPod(t, other, "elsewhere", host, map[string]string{clientLabel: "true"}, "-sessions", "0")
	operatorNS := runClientPod(t, op.Namespace, "probe", host, nil, "-sessions", "0")
	t.Cleanup(func() {
		_ = kc.Delete(context.Background(), &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: op.Namespace, Name: "probe"}})
	})

	for _, target := range []string{svcAPI, podAPI, podMetrics} {
		expectReach(t, allowed, "a labelled pod of the namespace", target)
		expectReach(t, operatorNS, "a pod of the operator's namespace", target)
		expectBlocked(t, unlabelled, "an unlabelled pod of the namespace", target)
		expectBlocked(t, elsewhere, "a labelled pod of another namespace", target)
	}

	// The block is the policies' doing: without them the same pod gets through...
	setPolicy(t, ns, rschedv1.NetworkPolicyDisabled)
	eventually(t, time.Minute, "the operator deleted the NetworkPolicies", func(ctx context.Context) (bool, string) {
		var l networkingv1.NetworkPolicyList
		if err := kc.List(ctx, &l, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		return len(l.Items) == 0, fmt.Sprintf("%d left", len(l.Items))
	})
	expectReach(t, unlabelled, "an unlabelled pod, policies off,", svcAPI)
	// ...and with them back it is blocked again.
	setPolicy(t, ns, rschedv1.NetworkPolicyEnforce)
	eventually(t, time.Minute, "the unlabelled pod blocked again", func(context.Context) (bool, string) {
		status, perr, err := unlabelled.probe(svcAPI)
		return err == nil && status == 0 && perr != "", fmt.Sprintf("status %d, error %q, %v", status, perr, err)
	})
	expectBlocked(t, unlabelled, "an unlabelled pod, policies on again,", svcAPI)
	expectReach(t, allowed, "a labelled pod, policies on again,", svcAPI)
}

func setPolicy(t *testing.T, ns string, mode rschedv1.NetworkPolicyMode) {
	t.Helper()
	si := &rschedv1.SchedulerInstance{}
	if err := kc.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "sched"}, si); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(si.DeepCopy())
	si.Spec.Network.Policy = mode
	if err := kc.Patch(context.Background(), si, patch); err != nil {
		t.Fatal(err)
	}
}
