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
	"github.com/rsched/rsched/internal/keyrotation"
	"github.com/rsched/rsched/internal/outcome"
	"github.com/rsched/rsched/internal/secretsource"
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
// the Secret agree with Vault. It returns a block (policyBlocked) when there is no keyring it may
// rotate. It reads as read the sources → decide which is authoritative
// (decideKeyringSource) → act (render the Secret from Vault, record the Secret in Vault, or block).
func (r *KeyRotationPolicyReconciler) loadKeyring(ctx context.Context, krp *rschedv1.KeyRotationPolicy, si *rschedv1.SchedulerInstance, st *policyStatus) (*storedKeyring, error) {
	sec, err := r.readKeyringSecret(ctx, si)
	if err != nil {
		return nil, err
	}
	kr := &storedKeyring{secret: sec.secret, request: sec.request}
	var vlt *keyringInVault
	if krp.Spec.Storage == nil || krp.Spec.Storage.Vault == nil {
		st.noVault()
	} else {
		if vlt, err = r.readKeyringVault(ctx, krp, si, kr, st); err != nil {
			return nil, err
		}
		st.vaultOK()
	}
	d := decideKeyringSource(sec, vlt)
	switch d.source {
	case keyringFromSecret:
		kr.file = sec.file
	case keyringFromVault:
		// Vault is the truth. A Secret that differs is behind (a write that did not reach it)
		// or was lost or damaged: render it from Vault.
		kr.file, kr.request = vlt.file, vlt.request
		if d.renderSecret {
			if err := r.writeSecret(ctx, krp, si, kr, vlt.file, kr.request); err != nil {
				return nil, err
			}
			r.event(krp, corev1.EventTypeNormal, rschedv1.ReasonKeyringRestored, "Restore", "Keyring Secret %s rendered from Vault (key version %d)", builders.KeyringSecretName(si), keyrotation.KeyVersion(vlt.file))
		}
	case keyringSecretToVault:
		// Vault holds nothing yet (storage just configured) or an older version: record the
		// Secret's keyring there as a new KV version.
		kr.file = sec.file
		if err := r.writeVault(ctx, krp, kr, sec.file, kr.request); err != nil {
			return nil, err
		}
	default:
		return nil, policyBlocked(keyringBlocked(krp, si, sec, vlt, d.source))
	}
	return kr, refuseRegression(krp, kr)
}

// keyringInSecret is the keyring Secret as read: missing, or its file (nil with decodeErr when the
// Secret does not hold a valid keyring) and the rotate request that produced it.
type keyringInSecret struct {
	secret    *corev1.Secret // nil when missing
	missing   bool
	file      *keyring.File
	decodeErr error
	request   string
}

// keyringInVault is the keyring in Vault as read: file is nil when Vault holds none (decodeErr
// says when what it holds is not a valid keyring).
type keyringInVault struct {
	file      *keyring.File
	decodeErr error
	request   string
}

// readKeyringSecret reads the instance's keyring Secret.
func (r *KeyRotationPolicyReconciler) readKeyringSecret(ctx context.Context, si *rschedv1.SchedulerInstance) (keyringInSecret, error) {
	sec := &corev1.Secret{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: si.Namespace, Name: builders.KeyringSecretName(si)}, sec)
	missing, err := notFoundOrErr(err)
	if err != nil {
		return keyringInSecret{}, fmt.Errorf("keyring Secret: %w", err)
	}
	if missing {
		return keyringInSecret{missing: true}, nil
	}
	f, decodeErr := keyring.Decode(sec.Data[builders.KeyringKey])
	return keyringInSecret{secret: sec, file: f, decodeErr: decodeErr, request: sec.Annotations[rschedv1.RotateRequestAnnotation]}, nil
}

// readKeyringVault logs in to Vault and reads the keyring at storage.vault; kr learns the client
// and the KV version (the check-and-set value of the next write). A failed login or read is
// recorded in status and returned.
func (r *KeyRotationPolicyReconciler) readKeyringVault(ctx context.Context, krp *rschedv1.KeyRotationPolicy, si *rschedv1.SchedulerInstance, kr *storedKeyring, st *policyStatus) (*keyringInVault, error) {
	loc := krp.Spec.Storage.Vault
	vc, err := secretsource.VaultClient(ctx, r.APIReader, r.Vault, si)
	if err != nil {
		return nil, r.vaultError(krp, st, err)
	}
	kr.useVault, kr.vc = true, vc
	kv, err := vc.ReadKV(ctx, loc.Mount, loc.Path)
	switch {
	case errors.Is(err, vault.ErrNotFound):
		if kv != nil {
			kr.vaultVersion = kv.Version // the latest version was deleted: write after it
		}
		return &keyringInVault{}, nil
	case err != nil:
		return nil, r.vaultError(krp, st, err)
	}
	kr.vaultVersion = kv.Version
	f, decodeErr := keyring.Decode([]byte(kv.Data[vaultKeyringKey]))
	if decodeErr != nil {
		f = nil
	}
	return &keyringInVault{file: f, decodeErr: decodeErr, request: kv.Data[vaultRequestKey]}, nil
}

// keyringSource is where the keyring in use comes from, or why there is none to rotate.
type keyringSource int

const (
	keyringFromSecret    keyringSource = iota // no Vault storage: the Secret's keyring
	keyringFromVault                          // Vault's keyring, the Secret rendered from it when it differs
	keyringSecretToVault                      // the Secret's keyring, recorded in Vault
	keyringNotFound                           // blocked: no keyring anywhere
	keyringSecretInvalid                      // blocked: the Secret's keyring cannot be read and nothing replaces it
	keyringVaultInvalid                       // blocked: Vault holds a keyring that cannot be read
)

// keyringDecision is decideKeyringSource's answer.
type keyringDecision struct {
	source keyringSource
	// renderSecret (keyringFromVault): the Secret is missing, damaged, holds another keyring or
	// another rotate request, and is written from Vault.
	renderSecret bool
}

// decideKeyringSource decides which keyring is authoritative; vlt is nil without Vault storage.
// Vault wins when it holds a keyring at least as new as the Secret's; never rotate over a
// keyring that cannot be read (its versions would be lost).
func decideKeyringSource(sec keyringInSecret, vlt *keyringInVault) keyringDecision {
	if vlt == nil {
		switch {
		case sec.missing:
			return keyringDecision{source: keyringNotFound}
		case sec.decodeErr != nil:
			return keyringDecision{source: keyringSecretInvalid}
		}
		return keyringDecision{source: keyringFromSecret}
	}
	switch {
	case vlt.decodeErr != nil:
		return keyringDecision{source: keyringVaultInvalid}
	case vlt.file != nil && (sec.file == nil || vlt.file.Version >= sec.file.Version):
		render := sec.missing || sec.decodeErr != nil || !sameKeyring(sec.file, vlt.file) || vlt.request != sec.request
		return keyringDecision{source: keyringFromVault, renderSecret: render}
	case sec.file != nil:
		return keyringDecision{source: keyringSecretToVault}
	case sec.missing:
		return keyringDecision{source: keyringNotFound}
	}
	return keyringDecision{source: keyringSecretInvalid}
}

// keyringBlocked is the Ready reason and message of a keyring that cannot be rotated.
func keyringBlocked(krp *rschedv1.KeyRotationPolicy, si *rschedv1.SchedulerInstance, sec keyringInSecret, vlt *keyringInVault, source keyringSource) (string, string) {
	name := builders.KeyringSecretName(si)
	switch {
	case source == keyringVaultInvalid:
		loc := krp.Spec.Storage.Vault
		return rschedv1.ReasonKeyringInvalid, fmt.Sprintf("the keyring in Vault at %s/%s is not valid; restore an earlier KV version: %v", orDefault(loc.Mount, "secret"), loc.Path, vlt.decodeErr)
	case source == keyringNotFound && vlt == nil:
		return rschedv1.ReasonKeyringNotFound, keyringNotFoundMessage(krp, si, "")
	case source == keyringNotFound:
		return rschedv1.ReasonKeyringNotFound, keyringNotFoundMessage(krp, si, " and Vault holds no keyring")
	case vlt == nil:
		return rschedv1.ReasonKeyringInvalid, fmt.Sprintf("Secret %q does not hold a valid keyring; restore it from a backup: %v", name, sec.decodeErr)
	}
	return rschedv1.ReasonKeyringInvalid, fmt.Sprintf("Secret %q does not hold a valid keyring and Vault holds none; restore it from a backup: %v", name, sec.decodeErr)
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
func refuseRegression(krp *rschedv1.KeyRotationPolicy, kr *storedKeyring) error {
	if v := keyrotation.KeyVersion(kr.file); v < krp.Status.CurrentVersion {
		return policyBlocked(rschedv1.ReasonKeyringInvalid, fmt.Sprintf("the keyring holds key version %d, older than version %d this policy recorded; restore the newer keyring (or delete and recreate this policy to accept the older one)", v, krp.Status.CurrentVersion))
	}
	return nil
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
			return outcome.WaitFor(retryShortKeys, "the keyring in Vault changed while it was being written; reading it again")
		}
		return fmt.Errorf("writing the keyring to Vault: %s: %w", secretsource.VaultMessage(err), err)
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
	version := strconv.FormatInt(keyrotation.KeyVersion(f), 10)
	if krp.Spec.Rollout == rschedv1.RolloutRollingRestart && hasStaged(f) {
		// Once per rotation, the version number: the instance restarts its pods for it.
		sec.Annotations[rschedv1.RolloutVersionAnnotation] = version
	}
	if hasStaged(f) {
		if v, _, _ := strings.Cut(sec.Annotations[rschedv1.StagedAnnotation], "@"); v != version {
			// Rounded up to the second the annotation can hold: activation is measured from it.
			sec.Annotations[rschedv1.StagedAnnotation] = version + "@" + keyrotation.RecordedStagingTime(r.Clock.Now()).Format(time.RFC3339)
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
	o := secretsource.VaultFailure(rschedv1.ConditionVaultReachable, err)
	st.vaultDown(o.Reason, o.Message)
	cause := errors.New(o.Message) // a reference a person must fix: its sentence is the whole story
	if o.Kind == outcome.Failed {
		cause = fmt.Errorf("%s: %w", o.Message, err)
	}
	return failedRotation(cause)
}

func sameKeyring(a, b *keyring.File) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, err1 := keyring.Marshal(a)
	y, err2 := keyring.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
