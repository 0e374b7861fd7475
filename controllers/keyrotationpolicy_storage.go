package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/keyringstore"
	"github.com/rsched/rsched/internal/keyrotation"
	"github.com/rsched/rsched/internal/outcome"
	"github.com/rsched/rsched/internal/secretsource"
)

// The keyring lives in the instance's Secret (what the pods mount) and, with storage.vault, in a
// Vault KV v2 secret that is the source of truth: internal/keyringstore reads, decides and
// writes; the reconciler says when, and reports.

// keyrings is the store the policy writes the keyring through.
func (r *KeyRotationPolicyReconciler) keyrings() *keyringstore.Store {
	return &keyringstore.Store{Client: r.Client, Scheme: r.Scheme, Clock: r.Clock}
}

// loadKeyring reads the keyring from the Secret and, with storage.vault, from Vault, and makes
// the Secret agree with Vault. It returns a block (policyBlocked) when there is no keyring it may
// rotate. It reads as read the sources → decide which is authoritative (keyringstore.Decide) →
// act (keyringstore.Settle: render the Secret from Vault, or record the Secret in Vault).
func (r *KeyRotationPolicyReconciler) loadKeyring(ctx context.Context, krp *rschedv1.KeyRotationPolicy, si *rschedv1.SchedulerInstance, st *policyStatus) (*keyringstore.Keyring, error) {
	sec, err := keyringstore.ReadSecret(ctx, r.Client, si)
	if err != nil {
		return nil, err
	}
	var vlt *keyringstore.VaultCopy
	if krp.Spec.Storage == nil || krp.Spec.Storage.Vault == nil {
		st.noVault()
	} else if vlt, err = r.readKeyringVault(ctx, krp, si, st); err != nil {
		return nil, err
	}
	d := keyringstore.Decide(sec, vlt)
	if d.Blocked() {
		return nil, policyBlocked(keyringstore.Blocked(si, krp.Status.CurrentVersion, sec, vlt, d.Source))
	}
	kr, restored, err := r.keyrings().Settle(ctx, krp, si, sec, vlt, d)
	if err != nil {
		return nil, err
	}
	if restored {
		r.event(krp, corev1.EventTypeNormal, rschedv1.ReasonKeyringRestored, "Restore", "Keyring Secret %s rendered from Vault (key version %d)", builders.KeyringSecretName(si), keyrotation.KeyVersion(kr.File))
	}
	return kr, refuseRegression(krp, kr)
}

// readKeyringVault logs in to Vault and reads the keyring at storage.vault. A failed login or
// read is recorded in status and returned as a counted failure.
func (r *KeyRotationPolicyReconciler) readKeyringVault(ctx context.Context, krp *rschedv1.KeyRotationPolicy, si *rschedv1.SchedulerInstance, st *policyStatus) (*keyringstore.VaultCopy, error) {
	vc, err := secretsource.VaultClient(ctx, r.APIReader, r.Vault, si)
	if err != nil {
		return nil, vaultError(st, err)
	}
	vlt, err := keyringstore.ReadVault(ctx, vc, *krp.Spec.Storage.Vault)
	if err != nil {
		return nil, vaultError(st, err)
	}
	st.vaultOK()
	return vlt, nil
}

// refuseRegression refuses a keyring older than the version status recorded (a Secret recreated
// from scratch, an old backup restored): adopting it would bring back versions that were
// replaced and, at the next rotation, reuse their key ids with new material.
func refuseRegression(krp *rschedv1.KeyRotationPolicy, kr *keyringstore.Keyring) error {
	if v := keyrotation.KeyVersion(kr.File); v < krp.Status.CurrentVersion {
		return policyBlocked(rschedv1.ReasonKeyringInvalid, fmt.Sprintf("the keyring holds key version %d, older than version %d this policy recorded; restore the newer keyring (or delete and recreate this policy to accept the older one)", v, krp.Status.CurrentVersion))
	}
	return nil
}

// vaultError records a failed Vault read or login and returns the error to back off with.
func vaultError(st *policyStatus, err error) error {
	o := secretsource.VaultFailure(rschedv1.ConditionVaultReachable, err)
	st.vaultDown(o.Reason, o.Message)
	cause := errors.New(o.Message) // a reference a person must fix: its sentence is the whole story
	if o.Kind == outcome.Failed {
		cause = fmt.Errorf("%s: %w", o.Message, err)
	}
	return failedRotation(cause)
}
