package keyringstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyrotation"
	"github.com/rsched/rsched/internal/outcome"
	"github.com/rsched/rsched/internal/secretsource"
	"github.com/rsched/rsched/internal/vault"
)

// RetryAfterConflict is the wait after a lost check-and-set race in Vault.
const RetryAfterConflict = 2 * time.Second

// Store writes keyrings for a KeyRotationPolicy.
type Store struct {
	Client client.Client
	// Scheme makes a created Secret owned by its instance.
	Scheme *runtime.Scheme
	// Clock stamps the staging time the Secret records.
	Clock clock.PassiveClock
}

// Settle acts on d, a Decision that is not blocked, and returns the keyring in use: the Secret's
// (FromSecret); Vault's, rendering the Secret from it when it differs (FromVault: restored says
// so); or the Secret's, recorded in Vault as a new KV version (SecretToVault).
func (s *Store) Settle(ctx context.Context, krp *rschedv1.KeyRotationPolicy, si *rschedv1.SchedulerInstance, sec SecretCopy, vlt *VaultCopy, d Decision) (kr *Keyring, restored bool, err error) {
	kr = &Keyring{File: sec.file, Request: sec.request, Secret: sec.secret, vault: vlt}
	switch d.Source {
	case FromSecret:
	case FromVault:
		// Vault is the truth. A Secret that differs is behind (a write that did not reach it)
		// or was lost or damaged: render it from Vault.
		kr.File, kr.Request = vlt.file, vlt.request
		if d.RenderSecret {
			if err := s.WriteSecret(ctx, krp, si, kr, vlt.file, kr.Request); err != nil {
				return nil, false, err
			}
			restored = true
		}
	case SecretToVault:
		// Vault holds nothing yet (storage just configured) or an older version: record the
		// Secret's keyring there as a new KV version.
		if err := s.writeVault(ctx, kr, sec.file, kr.Request); err != nil {
			return nil, false, err
		}
	default:
		return nil, false, fmt.Errorf("keyringstore: settling a blocked decision (%d)", d.Source)
	}
	return kr, restored, nil
}

// Write records next as the keyring: Vault first when it is the source of truth, then the
// Secret. A lost check-and-set race in Vault is an outcome.Wait: read again and decide again.
func (s *Store) Write(ctx context.Context, krp *rschedv1.KeyRotationPolicy, si *rschedv1.SchedulerInstance, kr *Keyring, next *keyring.File, request string) error {
	if kr.vault != nil {
		if err := s.writeVault(ctx, kr, next, request); err != nil {
			return err
		}
	}
	if err := s.WriteSecret(ctx, krp, si, kr, next, request); err != nil {
		return err
	}
	kr.File, kr.Request = next, request
	return nil
}

func (s *Store) writeVault(ctx context.Context, kr *Keyring, f *keyring.File, request string) error {
	data, err := keyring.Marshal(f)
	if err != nil {
		return err
	}
	v := kr.vault
	version, err := v.client.WriteKV(ctx, v.loc.Mount, v.loc.Path, map[string]string{vaultKeyringKey: string(data), vaultRequestKey: request}, v.version)
	if err != nil {
		if errors.Is(err, vault.ErrConflict) {
			// Someone wrote since we read: read again and decide again.
			return outcome.WaitFor(RetryAfterConflict, "the keyring in Vault changed while it was being written; reading it again")
		}
		return fmt.Errorf("writing the keyring to Vault: %s: %w", secretsource.VaultMessage(err), err)
	}
	v.version = version
	return nil
}

// WriteSecret writes f into the instance's Secret, creating it (owned by the instance, as the
// instance creates it) when it is missing. An update carries the resourceVersion read, so a
// concurrent change fails instead of being overwritten. The Secret records the rotate request
// that produced f and, while a version is staged, when it was staged and (rollout
// RollingRestart) the version the pods must be restarted for.
func (s *Store) WriteSecret(ctx context.Context, krp *rschedv1.KeyRotationPolicy, si *rschedv1.SchedulerInstance, kr *Keyring, f *keyring.File, request string) error {
	data, err := keyring.Marshal(f)
	if err != nil {
		return err
	}
	sec := kr.Secret
	create := sec == nil
	if create {
		sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: builders.KeyringSecretName(si), Namespace: si.Namespace, Labels: builders.Labels(si)}, Type: corev1.SecretTypeOpaque}
		if err := controllerutil.SetControllerReference(si, sec, s.Scheme); err != nil {
			return err
		}
	} else {
		sec = sec.DeepCopy()
	}
	sec.Data = map[string][]byte{builders.KeyringKey: data}
	sec.Annotations = s.annotations(krp, sec.Annotations, f, request)
	if create {
		err = s.Client.Create(ctx, sec)
	} else {
		err = s.Client.Update(ctx, sec)
	}
	if err != nil {
		return fmt.Errorf("writing the keyring Secret %s: %w", sec.Name, err)
	}
	kr.Secret = sec
	return nil
}

// annotations are the Secret's annotations for f (a, changed in place, or new).
func (s *Store) annotations(krp *rschedv1.KeyRotationPolicy, a map[string]string, f *keyring.File, request string) map[string]string {
	if a == nil {
		a = map[string]string{}
	}
	if request != "" {
		a[rschedv1.RotateRequestAnnotation] = request
	} else {
		delete(a, rschedv1.RotateRequestAnnotation)
	}
	version := strconv.FormatInt(keyrotation.KeyVersion(f), 10)
	staged := HasStaged(f)
	if krp.Spec.Rollout == rschedv1.RolloutRollingRestart && staged {
		// Once per rotation, the version number: the instance restarts its pods for it.
		a[rschedv1.RolloutVersionAnnotation] = version
	}
	if staged {
		if v, _, _ := strings.Cut(a[rschedv1.StagedAnnotation], "@"); v != version {
			// Rounded up to the second the annotation can hold: activation is measured from it.
			a[rschedv1.StagedAnnotation] = version + "@" + keyrotation.RecordedStagingTime(s.Clock.Now()).Format(time.RFC3339)
		}
	} else {
		delete(a, rschedv1.StagedAnnotation)
	}
	return a
}

// HasStaged reports whether f holds a staged key (a rotation under way).
func HasStaged(f *keyring.File) bool {
	for _, k := range f.Signing {
		if k.State == keyring.Staged {
			return true
		}
	}
	for _, k := range f.Encryption {
		if k.State == keyring.Staged {
			return true
		}
	}
	return false
}
