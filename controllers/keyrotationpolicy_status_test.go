package controllers

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/keyringstore"
	"github.com/rsched/rsched/internal/outcome"
	"github.com/rsched/rsched/internal/secretsource"
	"github.com/rsched/rsched/internal/vault"
)

// policyStatusCase is one reconcile's end: the policy as read, what the steps recorded, the
// outcome, and the conditions (type → "Status/Reason") the status must show. A condition missing
// from want must be absent.
type policyStatusCase struct {
	name  string
	krp   func() *rschedv1.KeyRotationPolicy
	steps func(st *policyStatus)
	err   error
	want  map[string]string
	check func(t *testing.T, got rschedv1.KeyRotationPolicyStatus)
	// counted: a counted failure adds to the failure count, so the status is no fixed point.
	counted bool
}

var policyStatusNow = time.Date(2026, 3, 1, 12, 0, 0, 500_000_000, time.UTC)

func statusPolicy() *rschedv1.KeyRotationPolicy {
	return &rschedv1.KeyRotationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "keys", Namespace: "ns", Generation: 4}}
}

func suspendedPolicy() *rschedv1.KeyRotationPolicy {
	krp := statusPolicy()
	krp.Spec.Suspend = true
	return krp
}

// rotatingPolicy was Rotating True before this reconcile.
func rotatingPolicy() *rschedv1.KeyRotationPolicy {
	krp := statusPolicy()
	krp.Status.Conditions = []metav1.Condition{{Type: rschedv1.ConditionRotating, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonStaged, Message: "staged", ObservedGeneration: 4}}
	return krp
}

// keyringRead: the keyring was read (and status caught up with it); no Vault storage.
func keyringRead(st *policyStatus) {
	st.noVault()
	st.loaded = true
	st.next.CurrentVersion = 2
}

// keyringReadFromVault: as keyringRead, from Vault.
func keyringReadFromVault(st *policyStatus) {
	keyringRead(st)
	st.vaultOK()
}

// vaultFailedWith is what readKeyringVault records for a failed login or read: the classified
// failure on VaultReachable, and the counted failure it returns.
func vaultFailedWith(err error) (func(*policyStatus), error) {
	o := secretsource.VaultFailure(rschedv1.ConditionVaultReachable, err)
	return func(st *policyStatus) { st.vaultDown(o.Reason, o.Message) }, failedRotation(errors.New(o.Message))
}

func policyStatusCases() []policyStatusCase {
	unreachable, unreachableErr := vaultFailedWith(vault.ErrUnreachable)
	refused, refusedErr := vaultFailedWith(vault.ErrAuth)
	denied, deniedErr := vaultFailedWith(vault.ErrForbidden)
	noTokenSecret, noTokenSecretErr := vaultFailedWith(outcome.BlockedOn("", rschedv1.ReasonSecretNotFound, `Secret "vault-token" named by spec.vault.auth.tokenSecretRef does not exist`, 0))
	noTokenKey, noTokenKeyErr := vaultFailedWith(outcome.BlockedOn("", rschedv1.ReasonSecretKeyMissing, `Secret "vault-token" named by spec.vault.auth.tokenSecretRef has no key "token"`, 0))
	blocked := func(reason string) error { return policyBlocked(reason, "a person must act: "+reason) }
	return []policyStatusCase{
		{name: "keys in place, no Vault storage: Scheduled, Idle", krp: statusPolicy, steps: keyringRead,
			want: map[string]string{rschedv1.ConditionReady: "True/Scheduled", rschedv1.ConditionRotating: "False/Idle"},
			check: func(t *testing.T, got rschedv1.KeyRotationPolicyStatus) {
				if got.ObservedGeneration != 4 || got.CurrentVersion != 2 || got.FailedAttempts != 0 {
					t.Errorf("observed generation %d, version %d, failures %d", got.ObservedGeneration, got.CurrentVersion, got.FailedAttempts)
				}
			}},
		{name: "keys read from Vault: Reachable", krp: statusPolicy, steps: keyringReadFromVault,
			want: map[string]string{rschedv1.ConditionReady: "True/Scheduled", rschedv1.ConditionRotating: "False/Idle", rschedv1.ConditionVaultReachable: "True/Reachable"}},
		{name: "Vault storage removed: VaultReachable goes",
			krp: func() *rschedv1.KeyRotationPolicy {
				krp := statusPolicy()
				krp.Status.Conditions = []metav1.Condition{{Type: rschedv1.ConditionVaultReachable, Status: metav1.ConditionFalse, Reason: rschedv1.ReasonVaultUnreachable, Message: "down", ObservedGeneration: 4}}
				return krp
			}, steps: keyringRead,
			want: map[string]string{rschedv1.ConditionReady: "True/Scheduled", rschedv1.ConditionRotating: "False/Idle"}},
		{name: "suspended: Suspended", krp: suspendedPolicy, steps: keyringRead,
			want: map[string]string{rschedv1.ConditionReady: "True/Suspended", rschedv1.ConditionRotating: "False/Idle"}},
		{name: "a version staged: Rotating True/Staged", krp: statusPolicy,
			steps: func(st *policyStatus) {
				keyringRead(st)
				st.rotating("Keyring version 2 is staged; waiting for every pod to load it")
			},
			want: map[string]string{rschedv1.ConditionReady: "True/Scheduled", rschedv1.ConditionRotating: "True/Staged"},
			check: func(t *testing.T, got rschedv1.KeyRotationPolicyStatus) {
				if c := meta.FindStatusCondition(got.Conditions, rschedv1.ConditionRotating); c.Message != "Keyring version 2 is staged; waiting for every pod to load it" {
					t.Errorf("Rotating's message %q", c.Message)
				}
			}},
		{name: "invalid schedule: InvalidSchedule", krp: statusPolicy, err: blocked(rschedv1.ReasonInvalidSchedule),
			want: map[string]string{rschedv1.ConditionReady: "False/InvalidSchedule"},
			check: func(t *testing.T, got rschedv1.KeyRotationPolicyStatus) {
				if c := meta.FindStatusCondition(got.Conditions, rschedv1.ConditionReady); c.Message != "a person must act: InvalidSchedule" {
					t.Errorf("Ready's message %q, want the block's", c.Message)
				}
			}},
		{name: "unknown time zone: UnknownTimeZone", krp: statusPolicy, err: blocked(rschedv1.ReasonUnknownTimeZone),
			want: map[string]string{rschedv1.ConditionReady: "False/UnknownTimeZone"}},
		{name: "no target: TargetNotFound", krp: statusPolicy, err: blocked(rschedv1.ReasonTargetNotFound),
			want: map[string]string{rschedv1.ConditionReady: "False/TargetNotFound"}},
		{name: "a second policy for the target: TargetConflict, Rotating as it stood", krp: rotatingPolicy, err: blocked(rschedv1.ReasonTargetConflict),
			want: map[string]string{rschedv1.ConditionReady: "False/TargetConflict", rschedv1.ConditionRotating: "True/Staged"}},
		{name: "Vault storage without spec.vault: StorageNeedsVault", krp: statusPolicy, err: blocked(rschedv1.ReasonStorageNeedsVault),
			want: map[string]string{rschedv1.ConditionReady: "False/StorageNeedsVault"}},
		{name: "no keyring yet: KeyringNotFound", krp: statusPolicy, steps: func(st *policyStatus) { st.noVault() },
			err:  blocked(rschedv1.ReasonKeyringNotFound),
			want: map[string]string{rschedv1.ConditionReady: "False/KeyringNotFound"}},
		{name: "Vault holds an invalid keyring: KeyringInvalid, Vault reached", krp: statusPolicy, steps: func(st *policyStatus) { st.vaultOK() },
			err:  blocked(rschedv1.ReasonKeyringInvalid),
			want: map[string]string{rschedv1.ConditionReady: "False/KeyringInvalid", rschedv1.ConditionVaultReachable: "True/Reachable"}},
		{name: "a write failed: RotationFailed, counted", krp: rotatingPolicy, steps: keyringRead, counted: true,
			err:  failedRotation(errors.New("writing the keyring Secret: conflict")),
			want: map[string]string{rschedv1.ConditionReady: "False/RotationFailed", rschedv1.ConditionRotating: "True/Staged"},
			check: func(t *testing.T, got rschedv1.KeyRotationPolicyStatus) {
				if got.FailedAttempts != 1 || got.LastFailureTime == nil || !got.LastFailureTime.Time.Equal(policyStatusNow.Truncate(time.Second)) {
					t.Errorf("failures %d at %v, want 1 at %v", got.FailedAttempts, got.LastFailureTime, policyStatusNow.Truncate(time.Second))
				}
			}},
		{name: "the third failure in a row: counted on", krp: func() *rschedv1.KeyRotationPolicy {
			krp := statusPolicy()
			krp.Status.FailedAttempts = 2
			return krp
		}, steps: keyringRead, counted: true, err: failedRotation(errors.New("boom")),
			want: map[string]string{rschedv1.ConditionReady: "False/RotationFailed"},
			check: func(t *testing.T, got rschedv1.KeyRotationPolicyStatus) {
				if got.FailedAttempts != 3 {
					t.Errorf("failures %d, want 3", got.FailedAttempts)
				}
			}},
		{name: "Vault unreachable: VaultUnreachable, RotationFailed", krp: statusPolicy, steps: unreachable, err: unreachableErr, counted: true,
			want: map[string]string{rschedv1.ConditionReady: "False/RotationFailed", rschedv1.ConditionVaultReachable: "False/VaultUnreachable"},
			check: func(t *testing.T, got rschedv1.KeyRotationPolicyStatus) {
				if c := meta.FindStatusCondition(got.Conditions, rschedv1.ConditionVaultReachable); c.Message != "Vault is unreachable; the keys in use stay as they are" {
					t.Errorf("VaultReachable's message %q", c.Message)
				}
			}},
		{name: "Vault refuses the login: VaultAuthFailed", krp: statusPolicy, steps: refused, err: refusedErr, counted: true,
			want: map[string]string{rschedv1.ConditionReady: "False/RotationFailed", rschedv1.ConditionVaultReachable: "False/VaultAuthFailed"}},
		{name: "Vault denies the path: VaultReadFailed", krp: statusPolicy, steps: denied, err: deniedErr, counted: true,
			want: map[string]string{rschedv1.ConditionReady: "False/RotationFailed", rschedv1.ConditionVaultReachable: "False/VaultReadFailed"}},
		{name: "the Vault token's Secret is missing: SecretNotFound", krp: statusPolicy, steps: noTokenSecret, err: noTokenSecretErr, counted: true,
			want: map[string]string{rschedv1.ConditionReady: "False/RotationFailed", rschedv1.ConditionVaultReachable: "False/SecretNotFound"}},
		{name: "the Vault token's Secret has no such key: SecretKeyMissing", krp: statusPolicy, steps: noTokenKey, err: noTokenKeyErr, counted: true,
			want: map[string]string{rschedv1.ConditionReady: "False/RotationFailed", rschedv1.ConditionVaultReachable: "False/SecretKeyMissing"}},
		{name: "an API error: ReconcileError, Rotating as it stood", krp: rotatingPolicy, steps: keyringRead, err: errors.New("connection refused"),
			want: map[string]string{rschedv1.ConditionReady: "False/ReconcileError", rschedv1.ConditionRotating: "True/Staged"}},
		// A lost check-and-set race is a wait: not counted, and Ready stands as it was until the
		// next reconcile reads Vault again (2 s later); before the outcome vocabulary it flashed
		// ReconcileError.
		{name: "a lost check-and-set race: not counted, Ready stands", krp: func() *rschedv1.KeyRotationPolicy {
			krp := statusPolicy()
			krp.Status.Conditions = []metav1.Condition{{Type: rschedv1.ConditionReady, Status: metav1.ConditionTrue, Reason: rschedv1.ReasonScheduled, ObservedGeneration: krp.Generation,
				Message: "The keys are in place and the next rotation is scheduled"}}
			return krp
		}, steps: keyringReadFromVault,
			err:  outcome.WaitFor(keyringstore.RetryAfterConflict, "the keyring in Vault changed while it was being written; reading it again"),
			want: map[string]string{rschedv1.ConditionReady: "True/Scheduled", rschedv1.ConditionVaultReachable: "True/Reachable"}},
	}
}

// TestComputePolicyStatus pins every condition computePolicyStatus sets, without an API server:
// the policy as read, what the steps recorded and the outcome are the whole input.
func TestComputePolicyStatus(t *testing.T) {
	transition := metav1.NewTime(policyStatusNow)
	for _, tc := range policyStatusCases() {
		t.Run(tc.name, func(t *testing.T) {
			krp := tc.krp()
			before := krp.DeepCopy()
			st := newPolicyStatus(krp, policyStatusNow)
			if tc.steps != nil {
				tc.steps(st)
			}
			recorded := st.next.DeepCopy()
			got := computePolicyStatus(krp, st, tc.err, transition)
			assertConditions(t, got.Conditions, tc.want, krp.Generation)
			if tc.check != nil {
				tc.check(t, got)
			}
			if !equality.Semantic.DeepEqual(before, krp) || !equality.Semantic.DeepEqual(recorded, st.next) {
				t.Errorf("computePolicyStatus changed what it read")
			}
			if again := computePolicyStatus(krp, st, tc.err, transition); !equality.Semantic.DeepEqual(got, again) {
				t.Errorf("a second computation differs")
			}
			if tc.counted {
				return
			}
			// A steady state is a fixed point: the next reconcile, finding the same, writes nothing.
			stored := krp.DeepCopy()
			stored.Status = got
			st2 := newPolicyStatus(stored, policyStatusNow.Add(time.Hour))
			if tc.steps != nil {
				tc.steps(st2)
			}
			if again := computePolicyStatus(stored, st2, tc.err, metav1.NewTime(policyStatusNow.Add(time.Hour))); !equality.Semantic.DeepEqual(got, again) {
				t.Errorf("not a fixed point: %v\nthen %v", got, again)
			}
		})
	}
}

// policyEventReasons are the reasons of keyrotationpolicy_conditions.go that only events carry.
var policyEventReasons = map[string]bool{rschedv1.ReasonRotated: true, rschedv1.ReasonKeyRetired: true, rschedv1.ReasonKeyringRestored: true}

// TestComputePolicyStatusCoversEveryReason: every reason a KeyRotationPolicy's conditions can
// show appears in TestComputePolicyStatus's expectations: each Reason constant declared in
// api/v1alpha1/keyrotationpolicy_conditions.go (a new one fails here until a case shows it, or
// it is named an event-only reason), and the shared ones the policy reports.
func TestComputePolicyStatusCoversEveryReason(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range policyStatusCases() {
		for _, w := range tc.want {
			_, reason, _ := strings.Cut(w, "/")
			seen[reason] = true
		}
	}
	declared := declaredReasons(t, "../api/v1alpha1/keyrotationpolicy_conditions.go")
	if len(declared) < 10 {
		t.Fatalf("found only %d reasons in keyrotationpolicy_conditions.go: %v", len(declared), declared)
	}
	shared := []string{
		rschedv1.ReasonVaultOK, rschedv1.ReasonVaultUnreachable, rschedv1.ReasonVaultAuthFailed, rschedv1.ReasonVaultReadFailed,
		rschedv1.ReasonSecretNotFound, rschedv1.ReasonSecretKeyMissing, rschedv1.ReasonReconcileError,
	}
	for _, r := range append(declared, shared...) {
		if !seen[r] && !policyEventReasons[r] {
			t.Errorf("no case reports %s", r)
		}
	}
}

// declaredReasons lists the values of the Reason* string constants declared in file.
func declaredReasons(t *testing.T, file string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !strings.HasPrefix(name.Name, "Reason") || !ok || lit.Kind != token.STRING {
					continue
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, v)
			}
		}
	}
	return out
}

// TestPolicyBlockedWaits pins when a blocked policy looks again: soon for a keyring the instance
// is about to create, every minute for a missing target or an unusable keyring, and otherwise on
// the change that lifts the block (an event), as before the outcome vocabulary.
func TestPolicyBlockedWaits(t *testing.T) {
	for reason, want := range map[string]time.Duration{
		rschedv1.ReasonKeyringNotFound:   10 * time.Second,
		rschedv1.ReasonTargetNotFound:    time.Minute,
		rschedv1.ReasonKeyringInvalid:    time.Minute,
		rschedv1.ReasonInvalidSchedule:   0,
		rschedv1.ReasonUnknownTimeZone:   0,
		rschedv1.ReasonTargetConflict:    0,
		rschedv1.ReasonStorageNeedsVault: 0,
	} {
		kind, o := outcome.Of(policyBlocked(reason, "message"))
		if kind != outcome.Blocked || o.Condition != rschedv1.ConditionReady || o.Reason != reason || o.Message != "message" || o.After != want {
			t.Errorf("%s: %v %+v, want blocked on Ready after %v", reason, kind, o, want)
		}
	}
}
