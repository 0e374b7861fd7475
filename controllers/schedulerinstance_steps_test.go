package controllers

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/outcome"
)

// TestRunSteps pins how a reconcile's steps end: which outcomes stop it, which let it go on
// over the last good Secrets, what status is handed and when it comes back. No API server: the
// steps are closures returning what the real steps return.
func TestRunSteps(t *testing.T) {
	plain := errors.New("the API server refused the write")
	vaultDown := outcome.FailedWith(rschedv1.ConditionSecretsSynced, rschedv1.ReasonVaultUnreachable, "Vault is unreachable", errors.New("dial"))
	vaultDown.After = 40 * time.Second
	backoffWait := outcome.WaitFor(7*time.Second, "waiting out the backoff after a failed read")
	noImage := outcome.BlockedOn(rschedv1.ConditionReady, rschedv1.ReasonImageNotSet, "No image", retryLong)
	svcConflict := nameConflict(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "si"}})
	cmConflict := nameConflict(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "si-config"}})
	npConflict := nameConflict(&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "si-api"}})
	sourceMissing := outcome.BlockedOn(rschedv1.ConditionSecretsSynced, rschedv1.ReasonSecretNotFound, `Secret "db" does not exist`, retryShort)
	noWait := outcome.BlockedOn(rschedv1.ConditionReady, rschedv1.ReasonInvalidConfig, "x", 0)

	cases := []struct {
		name     string
		lastGood bool
		results  []error // what each step returns, in order
		ran      int     // how many steps ran
		want     error   // the outcome handed to status (compared by identity, After aside)
		after    time.Duration
	}{
		{"all done", true, []error{nil, nil, nil}, 3, nil, 0},
		{"a plain error stops, whatever the Secrets", true, []error{nil, plain, nil}, 2, plain, 0},
		{"without last good Secrets an outcome stops", false, []error{vaultDown, nil, nil}, 1, vaultDown, 40 * time.Second},
		{"a Vault failure goes on over the last good Secrets", true, []error{vaultDown, nil, nil}, 3, vaultDown, 40 * time.Second},
		{"a backoff wait goes on too", true, []error{backoffWait, nil}, 2, backoffWait, 7 * time.Second},
		{"a ConfigMap conflict halts", true, []error{nil, cmConflict, nil}, 2, cmConflict, retryShort},
		{"a NetworkPolicy conflict halts", true, []error{nil, npConflict, nil}, 2, npConflict, retryShort},
		{"a Service conflict goes on", true, []error{nil, svcConflict, nil}, 3, svcConflict, retryShort},
		{"the first block of Ready wins over a later one", true, []error{noImage, svcConflict}, 2, noImage, retryShort},
		{"a block of Ready wins over an earlier failure", true, []error{vaultDown, svcConflict}, 2, svcConflict, retryShort},
		{"without a block of Ready the last is reported", true, []error{sourceMissing, backoffWait}, 2, backoffWait, 7 * time.Second},
		{"the earliest wait of all is kept", true, []error{vaultDown, noImage, backoffWait}, 3, noImage, 7 * time.Second},
		{"a block without a wait still gets the others' wait", true, []error{noWait, vaultDown}, 2, noWait, 40 * time.Second},
		{"a plain error after deferred outcomes stops with it", true, []error{vaultDown, plain, nil}, 2, plain, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ran := 0
			steps := make([]func(context.Context) error, len(tc.results))
			for i, r := range tc.results {
				steps[i] = func(context.Context) error { ran++; return r }
			}
			got := runSteps(context.Background(), steps, func() bool { return tc.lastGood })
			if ran != tc.ran {
				t.Errorf("%d steps ran, want %d", ran, tc.ran)
			}
			kind, o := outcome.Of(got)
			wantKind, w := outcome.Of(tc.want)
			switch {
			case kind != wantKind:
				t.Fatalf("outcome %v (%v), want %v (%v)", kind, got, wantKind, tc.want)
			case w != nil && w.Reason != "" && (o.Reason != w.Reason || o.Message != w.Message || o.Halt != w.Halt):
				t.Fatalf("outcome %+v, want %+v", o, w)
			case tc.want == plain && !errors.Is(got, plain):
				t.Fatalf("error %v, want the plain one", got)
			}
			if o != nil && kind != outcome.Failed || o != nil && o.After > 0 {
				if o.After != tc.after {
					t.Errorf("comes back after %v, want %v", o.After, tc.after)
				}
			}
		})
	}
	if noImage.After != retryLong || backoffWait.After != 7*time.Second {
		t.Fatal("runSteps changed a step's own outcome")
	}
}
