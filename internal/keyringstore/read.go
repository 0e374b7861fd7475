package keyringstore

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/vault"
)

// Vault KV data keys of a stored keyring.
const (
	vaultKeyringKey = "keyring.json"
	vaultRequestKey = "rotate-request"
)

// Keyring is the keyring in use and where it is kept.
type Keyring struct {
	File *keyring.File
	// Request is the rotate annotation value that produced File's version ("" if none).
	Request string
	// Secret is the keyring Secret as last read or written (nil while missing).
	Secret *corev1.Secret
	// vault is where Vault keeps it (nil without Vault storage); its version is the
	// check-and-set value of the next write.
	vault *VaultCopy
}

// UsesVault says whether Vault is the keyring's source of truth.
func (k *Keyring) UsesVault() bool { return k.vault != nil }

// SecretCopy is the keyring Secret as read: missing, or its file (nil with decodeErr when the
// Secret does not hold a valid keyring) and the rotate request that produced it.
type SecretCopy struct {
	secret    *corev1.Secret // nil when missing
	missing   bool
	file      *keyring.File
	decodeErr error
	request   string
}

// VaultCopy is the keyring in Vault as read: file is nil when Vault holds none (decodeErr says
// when what it holds is not a valid keyring). It remembers the client, the path and the KV
// version read, for the check-and-set of the next write.
type VaultCopy struct {
	file      *keyring.File
	decodeErr error
	request   string

	client  *vault.Client
	loc     rschedv1.VaultKVPath
	version int
}

// ReadSecret reads the instance's keyring Secret.
func ReadSecret(ctx context.Context, c client.Reader, si *rschedv1.SchedulerInstance) (SecretCopy, error) {
	sec := &corev1.Secret{}
	err := c.Get(ctx, types.NamespacedName{Namespace: si.Namespace, Name: builders.KeyringSecretName(si)}, sec)
	if apierrors.IsNotFound(err) {
		return SecretCopy{missing: true}, nil
	}
	if err != nil {
		return SecretCopy{}, fmt.Errorf("keyring Secret: reading: %w", err)
	}
	f, decodeErr := keyring.Decode(sec.Data[builders.KeyringKey])
	return SecretCopy{secret: sec, file: f, decodeErr: decodeErr, request: sec.Annotations[rschedv1.RotateRequestAnnotation]}, nil
}

// ReadVault reads the keyring at loc with vc. A failed read is returned as the vault package's
// error, for the caller to classify.
func ReadVault(ctx context.Context, vc *vault.Client, loc rschedv1.VaultKVPath) (*VaultCopy, error) {
	out := &VaultCopy{client: vc, loc: loc}
	kv, err := vc.ReadKV(ctx, loc.Mount, loc.Path)
	switch {
	case errors.Is(err, vault.ErrNotFound):
		if kv != nil {
			out.version = kv.Version // the latest version was deleted: write after it
		}
		return out, nil
	case err != nil:
		return nil, err
	}
	out.version = kv.Version
	f, decodeErr := keyring.Decode([]byte(kv.Data[vaultKeyringKey]))
	if decodeErr != nil {
		f = nil
	}
	out.file, out.decodeErr, out.request = f, decodeErr, kv.Data[vaultRequestKey]
	return out, nil
}
