package controllers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/rotation"
	"github.com/rsched/rsched/internal/vault"
)

// The keyring lives in the instance's Secret (what the pods mount) and, with storage.vault, in a
// Vault KV v2 secret that is the source of truth. Every change is written to Vault first (with
// check-and-set on the version read, so two writers cannot both succeed), then to the Secret. A
// crash between the two leaves Vault ahead; the next reconcile finds the difference and copies
// Vault's keyring into the Secret: the rotation completes, no version is skipped or generated
// twice. Vault's KV history keeps every version.

// Vault KV data keys of a stored keyring.
const (
	vaultKeyringKey = "keyring.json"
	vaultRequestKey = "rotate-request"
)

// storedKeyring is the keyring in use and where it came from.
type storedKeyring struct {
	file    *keyring.File
	request string // the rotate annotation value that produced file's version ("" if none)
	secret  *corev1.Secret
	// vaultVersion is the KV version read (the check-and-set value of the next write); useVault
	// says whether storage.vault applies.
	vaultVersion int
	useVault     bool
	vc           *vault.Client
}

// loadKeyring reads the keyring from the Secret and, with storage.vault, from Vault, and makes
// the Secret agree with Vault. It returns nil (with the reason in status) when there is no
// keyring to rotate yet.
func (r *KeyRotationPolicyReconciler) loadKeyring(ctx context.Context, krp *rschedv1.KeyRotationPolicy, si *rschedv1.SchedulerInstance, st *policyStatus) (*storedKeyring, error) {
	kr := &storedKeyring{}
	sec := &corev1.Secret{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: si.Namespace, Name: builders.KeyringSecretName(si)}, sec)
	missing, err := notFoundOrErr(err)
	if err != nil {
		return nil, fmt.Errorf("keyring Secret: %w", err)
	}
	var secretFile *keyring.File
	var secretErr error
	if !missing {
		kr.secret = sec
		secretFile, secretErr = keyring.Decode(sec.Data[builders.KeyringKey])
		kr.request = sec.Annotations[rschedv1.RotateRequestAnnotation]
	}
	if krp.Spec.Storage == nil || krp.Spec.Storage.Vault == nil {
		st.noVault()
		switch {
		case missing:
			st.blocked(rschedv1.ReasonKeyringNotFound, keyringNotFoundMessage(krp, si, ""))
			return nil, nil
		case secretErr != nil:
			// Never rotate over a keyring that cannot be read: its versions would be lost.
			st.blocked(rschedv1.ReasonKeyringInvalid, fmt.Sprintf("Secret %q does not hold a valid keyring; restore it from a backup: %v", builders.KeyringSecretName(si), secretErr))
			return nil, nil
		}
		kr.file = secretFile
		return r.refuseRegression(krp, kr, st)
	}

	loc := krp.Spec.Storage.Vault
	vc, err := instanceVaultClient(ctx, r.APIReader, r.Vault, si)
	if err != nil {
		return nil, r.vaultError(krp, st, err)
	}
	kr.useVault, kr.vc = true, vc
	kv, err := vc.ReadKV(ctx, loc.Mount, loc.Path)
	var vaultFile *keyring.File
	switch {
	case errors.Is(err, vault.ErrNotFound):
		if kv != nil {
			kr.vaultVersion = kv.Version // the latest version was deleted: write after it
		}
	case err != nil:
		return nil, r.vaultError(krp, st, err)
	default:
		kr.vaultVersion = kv.Version
		if vaultFile, err = keyring.Decode([]byte(kv.Data[vaultKeyringKey])); err != nil {
			st.vaultOK()
			st.blocked(rschedv1.ReasonKeyringInvalid, fmt.Sprintf("the keyring in Vault at %s/%s is not valid; restore an earlier KV version: %v", orDefault(loc.Mount, "secret"), loc.Path, err))
			return nil, nil
		}
	}
	st.vaultOK()
	switch {
	case vaultFile != nil && (secretFile == nil || vaultFile.Version >= secretFile.Version):
		// Vault is the truth. A Secret that differs is behind (a write that did not reach it)
		// or was lost or damaged: render it from Vault.
		kr.file, kr.request = vaultFile, kv.Data[vaultRequestKey]
		if missing || secretErr != nil || !sameKeyring(secretFile, vaultFile) || kr.request != sec.Annotations[rschedv1.RotateRequestAnnotation] {
			if err := r.writeSecret(ctx, krp, si, kr, vaultFile, kr.request); err != nil {
				return nil, err
			}
			r.event(krp, corev1.EventTypeNormal, rschedv1.ReasonKeyringRestored, "Restore", "Keyring Secret %s rendered from Vault (key version %d)", builders.KeyringSecretName(si), rotation.KeyVersion(vaultFile))
		}
	case secretFile != nil:
		// Vault holds nothing yet (storage just configured) or an older version: record the
		// Secret's keyring there as a new KV version.
		kr.file = secretFile
		if err := r.writeVault(ctx, krp, kr, secretFile, kr.request); err != nil {
			return nil, err
		}
	case missing:
		st.blocked(rschedv1.ReasonKeyringNotFound, keyringNotFoundMessage(krp, si, " and Vault holds no keyring"))
		return nil, nil
	default:
		st.blocked(rschedv1.ReasonKeyringInvalid, fmt.Sprintf("Secret %q does not hold a valid keyring and Vault holds none; restore it from a backup: %v", builders.KeyringSecretName(si), secretErr))
		return nil, nil
	}
	return r.refuseRegression(krp, kr, st)
}

// keyringNotFoundMessage says why there is no keyring to rotate. Before the instance first ran,
// it writes its first keyring; after, it never writes a new one (every token and encrypted field
// would become invalid), so the keyring must be restored.
func keyringNotFoundMessage(krp *rschedv1.KeyRotationPolicy, si *rschedv1.SchedulerInstance, andVault string) string {
	name := builders.KeyringSecretName(si)
	if si.Status.KeyVersion > 0 || krp.Status.CurrentVersion > 0 {
		return fmt.Sprintf("Secret %q is missing%s; SchedulerInstance %q ran on it and does not write a new one (every token and encrypted field would become invalid): restore it from a backup", name, andVault, si.Name)
	}
	return fmt.Sprintf("Secret %q does not exist yet%s; the SchedulerInstance creates it", name, andVault)
}

// refuseRegression refuses a keyring older than the version status recorded (a Secret recreated
// from scratch, an old backup restored): adopting it would bring back versions that were
// replaced and, at the next rotation, reuse their key ids with new material.
func (r *KeyRotationPolicyReconciler) refuseRegression(krp *rschedv1.KeyRotationPolicy, kr *storedKeyring, st *policyStatus) (*storedKeyring, error) {
	if v := rotation.KeyVersion(kr.file); v < krp.Status.CurrentVersion {
		st.blocked(rschedv1.ReasonKeyringInvalid, fmt.Sprintf("the keyring holds key version %d, older than version %d this policy recorded; restore the newer keyring (or delete and recreate this policy to accept the older one)", v, krp.Status.CurrentVersion))
		return nil, nil
	}
	return kr, nil
}

// write records next as the keyring: Vault first when configured, then the Secret.
func (r *KeyRotationPolicyReconciler) write(ctx context.Context, krp *rschedv1.KeyRotationPolicy, si *rschedv1.SchedulerInstance, kr *storedKeyring, next *keyring.File, request string) error {
	if kr.useVault {
		if err := r.writeVault(ctx, krp, kr, next, request); err != nil {
			return err
		}
	}
	if err := r.writeSecret(ctx, krp, si, kr, next, request); err != nil {
		return err
	}
	kr.file, kr.request = next, request
	return nil
}

func (r *KeyRotationPolicyReconciler) writeVault(ctx context.Context, krp *rschedv1.KeyRotationPolicy, kr *storedKeyring, f *keyring.File, request string) error {
	data, err := keyring.Marshal(f)
	if err != nil {
		return err
	}
	loc := krp.Spec.Storage.Vault
	v, err := kr.vc.WriteKV(ctx, loc.Mount, loc.Path, map[string]string{vaultKeyringKey: string(data), vaultRequestKey: request}, kr.vaultVersion)
	if err != nil {
		if errors.Is(err, vault.ErrConflict) {
			// Someone wrote since we read: read again and decide again.
			return &waitError{reason: "the keyring in Vault changed while it was being written; reading it again", after: retryShortKeys}
		}
		return fmt.Errorf("writing the keyring to Vault: %s: %w", vaultMessage(err), err)
	}
	kr.vaultVersion = v
	return nil
}

// retryShortKeys is the wait after a lost check-and-set race.
const retryShortKeys = 2 * time.Second

// writeSecret writes the keyring into the instance's Secret, creating it (owned by the
// instance, as the instance creates it) when it is missing. An update carries the
// resourceVersion read, so a concurrent change fails instead of being overwritten.
func (r *KeyRotationPolicyReconciler) writeSecret(ctx context.Context, krp *rschedv1.KeyRotationPolicy, si *rschedv1.SchedulerInstance, kr *storedKeyring, f *keyring.File, request string) error {
	data, err := keyring.Marshal(f)
	if err != nil {
		return err
	}
	sec := kr.secret
	create := sec == nil
	if create {
		sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: builders.KeyringSecretName(si), Namespace: si.Namespace, Labels: builders.Labels(si)}, Type: corev1.SecretTypeOpaque}
		if err := controllerutil.SetControllerReference(si, sec, r.Scheme); err != nil {
			return err
		}
	} else {
		sec = sec.DeepCopy()
	}
	if sec.Annotations == nil {
		sec.Annotations = map[string]string{}
	}
	sec.Data = map[string][]byte{builders.KeyringKey: data}
	if request != "" {
		sec.Annotations[rschedv1.RotateRequestAnnotation] = request
	} else {
		delete(sec.Annotations, rschedv1.RotateRequestAnnotation)
	}
	version := strconv.FormatInt(rotation.KeyVersion(f), 10)
	if krp.Spec.Rollout == rschedv1.RolloutRollingRestart && hasStaged(f) {
		// Once per rotation, the version number: the instance restarts its pods for it.
		sec.Annotations[rschedv1.RolloutVersionAnnotation] = version
	}
	if hasStaged(f) {
		if v, _, _ := strings.Cut(sec.Annotations[rschedv1.StagedAnnotation], "@"); v != version {
			// Rounded up to the second the annotation can hold: activation is measured from it.
			sec.Annotations[rschedv1.StagedAnnotation] = version + "@" + rotation.RecordedStagingTime(r.Clock.Now()).Format(time.RFC3339)
		}
	} else {
		delete(sec.Annotations, rschedv1.StagedAnnotation)
	}
	if create {
		err = r.Client.Create(ctx, sec)
	} else {
		err = r.Client.Update(ctx, sec)
	}
	if err != nil {
		return fmt.Errorf("writing the keyring Secret %s: %w", sec.Name, err)
	}
	kr.secret = sec
	return nil
}

// vaultError records a failed Vault read or login and returns the error to back off with.
func (r *KeyRotationPolicyReconciler) vaultError(krp *rschedv1.KeyRotationPolicy, st *policyStatus, err error) error {
	var se *sourceError
	if errors.As(err, &se) {
		st.vaultDown(se.reason, se.msg)
		return &rotationError{err: errors.New(se.msg)}
	}
	reason := rschedv1.ReasonVaultReadFailed
	switch {
	case errors.Is(err, vault.ErrUnreachable):
		reason = rschedv1.ReasonVaultUnreachable
	case errors.Is(err, vault.ErrAuth):
		reason = rschedv1.ReasonVaultAuthFailed
	}
	st.vaultDown(reason, vaultMessage(err))
	return &rotationError{err: fmt.Errorf("%s: %w", vaultMessage(err), err)}
}

func sameKeyring(a, b *keyring.File) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, err1 := keyring.Marshal(a)
	y, err2 := keyring.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
