package controllers

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
)

// assertConditions checks that conds are exactly want (type → "Status/Reason"), each observed at
// generation and with a message: the status tables of both reconcilers use it.
func assertConditions(t *testing.T, conds []metav1.Condition, want map[string]string, generation int64) {
	t.Helper()
	// Stalled and Reconciling follow Ready (TestKstatusOfEveryReason checks them on every case);
	// a case names them only when it is about them.
	n := len(conds)
	for _, typ := range []string{rschedv1.ConditionStalled, rschedv1.ConditionReconciling} {
		if _, named := want[typ]; !named && meta.FindStatusCondition(conds, typ) != nil {
			n--
		}
	}
	if n != len(want) {
		t.Errorf("%d conditions %v, want %d", len(conds), conds, len(want))
	}
	for typ, w := range want {
		c := meta.FindStatusCondition(conds, typ)
		if c == nil {
			t.Errorf("%s: missing, want %s", typ, w)
			continue
		}
		if g := string(c.Status) + "/" + c.Reason; g != w {
			t.Errorf("%s: %s, want %s", typ, g, w)
		}
		if c.ObservedGeneration != generation || c.Message == "" {
			t.Errorf("%s: observed generation %d, message %q", typ, c.ObservedGeneration, c.Message)
		}
	}
}
