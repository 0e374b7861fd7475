package controllers

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

// kstatusOf runs kstatus (the library Flux and cli-utils use) over an object with this generation
// and status (a pointer to either kind's status), as the API server would serve it.
func kstatusOf(t *testing.T, kind string, generation int64, st any) *status.Result {
	t.Helper()
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(st)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": rschedv1.GroupVersion.String(), "kind": kind,
		"metadata": map[string]any{"name": "x", "namespace": "ns", "generation": generation},
		"status":   content,
	}}
	res, err := status.Compute(u)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// failedInDocs are the reasons docs/gitops.md lists as Failed (Stalled=True) for each kind, in
// its kstatus table: the column of SchedulerInstance, then KeyRotationPolicy.
func failedInDocs(t *testing.T) (instance, policy []string) {
	t.Helper()
	doc, err := os.ReadFile("../docs/gitops.md")
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "| Failed (`Stalled=True`) |") {
			row = line
		}
	}
	cells := strings.Split(row, "|")
	if len(cells) != 5 {
		t.Fatalf("docs/gitops.md has no kstatus row \"| Failed (`Stalled=True`) | … | … |\" (found %q)", row)
	}
	re := regexp.MustCompile("`([A-Za-z]+)`")
	names := func(cell string) []string {
		var out []string
		for _, m := range re.FindAllStringSubmatch(cell, -1) {
			if m[1] != "Ready" {
				out = append(out, m[1])
			}
		}
		return out
	}
	return names(cells[2]), names(cells[3])
}

// expectedKstatus is docs/gitops.md's table for a status: Current when Ready and nothing under
// way, Failed when Ready is False for a listed reason, otherwise InProgress.
func expectedKstatus(conds []metav1.Condition, failed []string) status.Status {
	ready := meta.FindStatusCondition(conds, rschedv1.ConditionReady)
	switch {
	case ready == nil:
		return status.InProgressStatus
	case ready.Status != metav1.ConditionTrue && slices.Contains(failed, ready.Reason):
		return status.FailedStatus
	case ready.Status != metav1.ConditionTrue, meta.IsStatusConditionTrue(conds, rschedv1.ConditionRotating):
		return status.InProgressStatus
	}
	return status.CurrentStatus
}

// TestKstatusOfEveryReason: kstatus reads both kinds as docs/gitops.md says, for every reason they
// declare and for every status case of both reconcilers' tables; the documented Failed reasons are
// exactly stalledReasons.
func TestKstatusOfEveryReason(t *testing.T) {
	siFailed, krpFailed := failedInDocs(t)
	documented := map[string]bool{}
	for _, r := range append(slices.Clone(siFailed), krpFailed...) {
		documented[r] = true
	}
	for r := range stalledReasons {
		if !documented[r] {
			t.Errorf("%s stalls but docs/gitops.md does not list it as Failed", r)
		}
	}
	for r := range documented {
		if !stalledReasons[r] {
			t.Errorf("docs/gitops.md lists %s as Failed but it does not stall", r)
		}
	}

	// Every declared reason as Ready's, through the real derivation.
	declared := append(declaredReasons(t, "../api/v1alpha1/schedulerinstance_conditions.go"),
		declaredReasons(t, "../api/v1alpha1/keyrotationpolicy_conditions.go")...)
	if len(declared) < 40 {
		t.Fatalf("found only %d reasons: %v", len(declared), declared)
	}
	now := metav1.NewTime(time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC))
	for _, kind := range []struct {
		name   string
		failed []string
	}{{"SchedulerInstance", siFailed}, {"KeyRotationPolicy", krpFailed}} {
		for _, r := range declared {
			conds := []metav1.Condition{{Type: rschedv1.ConditionReady, Status: metav1.ConditionFalse, Reason: r, Message: "m", ObservedGeneration: 2, LastTransitionTime: now}}
			kstatusConditions(&conds, nil, 2, now)
			res := kstatusOf(t, kind.name, 2, &rschedv1.SchedulerInstanceStatus{ObservedGeneration: 2, Conditions: conds})
			want := status.InProgressStatus
			if stalledReasons[r] {
				want = status.FailedStatus
			}
			if res.Status != want {
				t.Errorf("%s Ready=False %s: kstatus %s (%s), want %s", kind.name, r, res.Status, res.Message, want)
			}
			if want == status.FailedStatus && !slices.Contains(kind.failed, r) && kindOnly(r, kind.name) {
				t.Errorf("%s can report %s, which stalls, but its column in docs/gitops.md does not list it", kind.name, r)
			}
		}
	}

	// Every case of both status tables, as the reconcilers compute it.
	transition := metav1.NewTime(statusNow)
	for _, tc := range statusCases() {
		si := tc.si()
		b := newStatusBuilder(si, statusNow)
		if tc.steps != nil {
			tc.steps(b)
		}
		if tc.err != nil {
			b.reconcileError(tc.err)
		}
		got := computeInstanceStatus(si, b, transition)
		if res, want := kstatusOf(t, "SchedulerInstance", si.Generation, &got), expectedKstatus(got.Conditions, siFailed); res.Status != want {
			t.Errorf("instance case %q: kstatus %s (%s), want %s", tc.name, res.Status, res.Message, want)
		}
		// A spec not yet observed is InProgress whatever the conditions say.
		if res := kstatusOf(t, "SchedulerInstance", si.Generation+1, &got); res.Status != status.InProgressStatus {
			t.Errorf("instance case %q with a newer generation: kstatus %s", tc.name, res.Status)
		}
	}
	for _, tc := range policyStatusCases() {
		krp := tc.krp()
		st := newPolicyStatus(krp, policyStatusNow)
		if tc.steps != nil {
			tc.steps(st)
		}
		got := computePolicyStatus(krp, st, tc.err, transition)
		if res, want := kstatusOf(t, "KeyRotationPolicy", krp.Generation, &got), expectedKstatus(got.Conditions, krpFailed); res.Status != want {
			t.Errorf("policy case %q: kstatus %s (%s), want %s", tc.name, res.Status, res.Message, want)
		}
	}
}

// kindOnly: the reason belongs to that kind's conditions file, or is shared (the instance's file
// declares the shared ones) and the kind is the instance.
func kindOnly(reason, kind string) bool {
	policyOwn := map[string]bool{rschedv1.ReasonUnknownTimeZone: true, rschedv1.ReasonInvalidSchedule: true,
		rschedv1.ReasonStorageNeedsVault: true, rschedv1.ReasonTargetConflict: true, rschedv1.ReasonKeyringInvalid: true}
	if kind == "KeyRotationPolicy" {
		return policyOwn[reason]
	}
	return !policyOwn[reason]
}
