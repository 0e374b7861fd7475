package secretsource

import (
	"errors"
	"fmt"
	"testing"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/outcome"
	"github.com/rsched/rsched/internal/vault"
)

// TestVaultFailure pins the reason and the secret-free message of every kind of Vault failure,
// and that a reference a person must fix stays a block.
func TestVaultFailure(t *testing.T) {
	vaultText := errors.New("Error making API request. Code: 403. * permission denied for s.hvs.SECRETTOKEN")
	cases := []struct {
		name    string
		err     error
		kind    outcome.Kind
		reason  string
		message string
	}{
		{"unreachable", fmt.Errorf("secret kv/db: %w", vault.ErrUnreachable), outcome.Failed, rschedv1.ReasonVaultUnreachable, "Vault is unreachable"},
		{"login refused", fmt.Errorf("%w: %w", vault.ErrAuth, vaultText), outcome.Failed, rschedv1.ReasonVaultAuthFailed, "Vault refused the login"},
		{"no token for the ServiceAccount", fmt.Errorf("%w: %w", vault.ErrAuth, vault.ErrTokenForbidden), outcome.Failed, rschedv1.ReasonVaultAuthFailed,
			"the operator may not request a token for the instance's ServiceAccount (Vault kubernetes auth needs the opt-in permission: chart value rbac.serviceAccountTokenCreate.enabled=true, or the kustomize component config/components/vault-kubernetes-auth)"},
		{"forbidden", fmt.Errorf("%w: %w", vault.ErrForbidden, vaultText), outcome.Failed, rschedv1.ReasonVaultReadFailed, "Vault denied access to a configured secret"},
		{"not found", vault.ErrNotFound, outcome.Failed, rschedv1.ReasonVaultReadFailed, "a configured secret does not exist in Vault"},
		{"key missing", vault.ErrKeyMissing, outcome.Failed, rschedv1.ReasonVaultReadFailed, "a configured Vault secret has no such key"},
		{"anything else", vaultText, outcome.Failed, rschedv1.ReasonVaultReadFailed, "Vault returned an unexpected answer"},
		{"the login's Secret is missing", outcome.BlockedOn("", rschedv1.ReasonSecretNotFound, `Secret "approle" named by spec.vault.auth.appRole.secretIDSecretRef does not exist`, 0),
			outcome.Blocked, rschedv1.ReasonSecretNotFound, `Secret "approle" named by spec.vault.auth.appRole.secretIDSecretRef does not exist`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := VaultFailure(rschedv1.ConditionVaultReachable, c.err)
			if o.Kind != c.kind || o.Reason != c.reason || o.Message != c.message || o.Condition != rschedv1.ConditionVaultReachable {
				t.Fatalf("VaultFailure = %v %s %q on %q, want %v %s %q", o.Kind, o.Reason, o.Message, o.Condition, c.kind, c.reason, c.message)
			}
			if c.kind == outcome.Failed && !errors.Is(o, c.err) {
				t.Fatal("the cause is lost")
			}
		})
	}
	if VaultFailure(rschedv1.ConditionVaultReachable, nil) != nil {
		t.Fatal("no error is no failure")
	}
}
