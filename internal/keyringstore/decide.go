package keyringstore

import (
	"fmt"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/builders"
	"github.com/rsched/rsched/internal/keyring"
)

// Source is where the keyring in use comes from, or why there is none to rotate.
type Source int

const (
	FromSecret    Source = iota // no Vault storage: the Secret's keyring
	FromVault                   // Vault's keyring, the Secret rendered from it when it differs
	SecretToVault               // the Secret's keyring, recorded in Vault
	NotFound                    // blocked: no keyring anywhere
	SecretInvalid               // blocked: the Secret's keyring cannot be read and nothing replaces it
	VaultInvalid                // blocked: Vault holds a keyring that cannot be read
)

// Decision is Decide's answer.
type Decision struct {
	Source Source
	// RenderSecret (FromVault): the Secret is missing, damaged, holds another keyring or another
	// rotate request, and is written from Vault.
	RenderSecret bool
}

// Blocked: there is no keyring that may be rotated (Blocked says why).
func (d Decision) Blocked() bool { return d.Source >= NotFound }

// Decide decides which keyring is authoritative; vlt is nil without Vault storage. Vault wins
// when it holds a keyring at least as new as the Secret's; never rotate over a keyring that
// cannot be read (its versions would be lost).
func Decide(sec SecretCopy, vlt *VaultCopy) Decision {
	if vlt == nil {
		switch {
		case sec.missing:
			return Decision{Source: NotFound}
		case sec.decodeErr != nil:
			return Decision{Source: SecretInvalid}
		}
		return Decision{Source: FromSecret}
	}
	switch {
	case vlt.decodeErr != nil:
		return Decision{Source: VaultInvalid}
	case vlt.file != nil && (sec.file == nil || vlt.file.Version >= sec.file.Version):
		render := sec.missing || sec.decodeErr != nil || !Same(sec.file, vlt.file) || vlt.request != sec.request
		return Decision{Source: FromVault, RenderSecret: render}
	case sec.file != nil:
		return Decision{Source: SecretToVault}
	case sec.missing:
		return Decision{Source: NotFound}
	}
	return Decision{Source: SecretInvalid}
}

// Blocked is the Ready reason and message of a keyring that cannot be rotated (source is a
// blocked Decision's). recorded is the key version the policy's status recorded.
func Blocked(si *rschedv1.SchedulerInstance, recorded int64, sec SecretCopy, vlt *VaultCopy, source Source) (string, string) {
	name := builders.KeyringSecretName(si)
	switch {
	case source == VaultInvalid:
		return rschedv1.ReasonKeyringInvalid, fmt.Sprintf("the keyring in Vault at %s/%s is not valid; restore an earlier KV version: %v", orDefault(vlt.loc.Mount, "secret"), vlt.loc.Path, vlt.decodeErr)
	case source == NotFound && vlt == nil:
		return rschedv1.ReasonKeyringNotFound, notFoundMessage(si, recorded, "")
	case source == NotFound:
		return rschedv1.ReasonKeyringNotFound, notFoundMessage(si, recorded, " and Vault holds no keyring")
	case vlt == nil:
		return rschedv1.ReasonKeyringInvalid, fmt.Sprintf("Secret %q does not hold a valid keyring; restore it from a backup: %v", name, sec.decodeErr)
	}
	return rschedv1.ReasonKeyringInvalid, fmt.Sprintf("Secret %q does not hold a valid keyring and Vault holds none; restore it from a backup: %v", name, sec.decodeErr)
}

// notFoundMessage says why there is no keyring to rotate. Before the instance first ran, it
// writes its first keyring; after, it never writes a new one (every token and encrypted field
// would become invalid), so the keyring must be restored.
func notFoundMessage(si *rschedv1.SchedulerInstance, recorded int64, andVault string) string {
	name := builders.KeyringSecretName(si)
	if si.Status.KeyVersion > 0 || recorded > 0 {
		return fmt.Sprintf("Secret %q is missing%s; SchedulerInstance %q ran on it and does not write a new one (every token and encrypted field would become invalid): restore it from a backup", name, andVault, si.Name)
	}
	return fmt.Sprintf("Secret %q does not exist yet%s; the SchedulerInstance creates it", name, andVault)
}

// Same reports whether a and b are the same keyring (both nil counts).
func Same(a, b *keyring.File) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, err1 := keyring.Marshal(a)
	y, err2 := keyring.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
