package keyringstore

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rschedv1 "github.com/rsched/rsched/api/v1alpha1"
	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyrotation"
)

var testKeys = []rschedv1.RotatedKey{
	{Name: "jwt", Purpose: rschedv1.KeyPurposeSigning, Algorithm: rschedv1.AlgorithmHS512},
	{Name: "fields", Purpose: rschedv1.KeyPurposeEncryption, Algorithm: rschedv1.AlgorithmAES256GCM},
}

// TestDecideKeyringSource pins which keyring is authoritative without an API server or Vault:
// the Secret alone without storage.vault; with it, Vault when it holds a keyring at least as new
// as the Secret's (the Secret rendered from it only when it differs), the Secret recorded in
// Vault otherwise, and a block whenever nothing readable remains.
func TestDecideKeyringSource(t *testing.T) {
	v1, err := keyrotation.Stage(nil, testKeys, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	v2, err := keyrotation.Stage(v1, testKeys, time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if v2.Version <= v1.Version {
		t.Fatalf("staging gave version %d after %d", v2.Version, v1.Version)
	}
	// v1other has v1's version but other contents (a Secret damaged or edited by hand).
	v1other := *v1
	v1other.Signing = v2.Signing
	bad := errors.New("keyring: not JSON")

	missing := SecretCopy{missing: true}
	invalid := SecretCopy{decodeErr: bad}
	secret := func(f *keyring.File, request string) SecretCopy {
		return SecretCopy{file: f, request: request}
	}
	inVault := func(f *keyring.File, request string) *VaultCopy {
		return &VaultCopy{file: f, request: request}
	}
	emptyVault := &VaultCopy{}

	cases := []struct {
		name string
		sec  SecretCopy
		vlt  *VaultCopy
		want Decision
	}{
		{"no Vault storage: the Secret", secret(v1, ""), nil, Decision{Source: FromSecret}},
		{"no Vault storage, Secret missing", missing, nil, Decision{Source: NotFound}},
		{"no Vault storage, Secret invalid", invalid, nil, Decision{Source: SecretInvalid}},

		{"Vault equals the Secret: nothing to write", secret(v1, "r1"), inVault(v1, "r1"), Decision{Source: FromVault}},
		{"Vault ahead (a crash before the Secret write): render", secret(v1, ""), inVault(v2, "r2"), Decision{Source: FromVault, RenderSecret: true}},
		{"same version, other contents: Vault wins", secret(&v1other, ""), inVault(v1, ""), Decision{Source: FromVault, RenderSecret: true}},
		{"same keyring, other rotate request: render", secret(v1, "r0"), inVault(v1, "r1"), Decision{Source: FromVault, RenderSecret: true}},
		{"Secret lost: rendered from Vault", missing, inVault(v2, ""), Decision{Source: FromVault, RenderSecret: true}},
		{"Secret damaged: rendered from Vault", invalid, inVault(v2, ""), Decision{Source: FromVault, RenderSecret: true}},

		{"Vault holds nothing yet: record the Secret", secret(v1, ""), emptyVault, Decision{Source: SecretToVault}},
		{"Vault behind the Secret: record the Secret", secret(v2, ""), inVault(v1, ""), Decision{Source: SecretToVault}},

		{"Vault invalid: blocked even with a good Secret", secret(v1, ""), &VaultCopy{decodeErr: bad}, Decision{Source: VaultInvalid}},
		{"nothing anywhere", missing, emptyVault, Decision{Source: NotFound}},
		{"Secret invalid and Vault empty", invalid, emptyVault, Decision{Source: SecretInvalid}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Decide(tc.sec, tc.vlt); got != tc.want {
				t.Errorf("Decide = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestBlocked pins the reason and the sentence of every keyring that cannot be rotated.
func TestBlocked(t *testing.T) {
	si := &rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Name: "si", Namespace: "ns"}}
	ran := si.DeepCopy()
	ran.Status.KeyVersion = 3
	loc := rschedv1.VaultKVPath{Path: "rsched/keyring"}
	bad := errors.New("keyring: not JSON")
	cases := []struct {
		name   string
		si     *rschedv1.SchedulerInstance
		sec    SecretCopy
		vlt    *VaultCopy
		source Source
		reason string
		msg    string // a part of the message
	}{
		{"not created yet", si, SecretCopy{missing: true}, nil, NotFound, rschedv1.ReasonKeyringNotFound, "does not exist yet; the SchedulerInstance creates it"},
		{"lost after the instance ran", ran, SecretCopy{missing: true}, nil, NotFound, rschedv1.ReasonKeyringNotFound, "restore it from a backup"},
		{"not in Vault either", si, SecretCopy{missing: true}, &VaultCopy{loc: loc}, NotFound, rschedv1.ReasonKeyringNotFound, "does not exist yet and Vault holds no keyring"},
		{"Secret invalid", si, SecretCopy{decodeErr: bad}, nil, SecretInvalid, rschedv1.ReasonKeyringInvalid, "does not hold a valid keyring; restore it from a backup: keyring: not JSON"},
		{"Secret invalid, Vault empty", si, SecretCopy{decodeErr: bad}, &VaultCopy{loc: loc}, SecretInvalid, rschedv1.ReasonKeyringInvalid, "and Vault holds none"},
		{"Vault invalid", si, SecretCopy{}, &VaultCopy{decodeErr: bad, loc: loc}, VaultInvalid, rschedv1.ReasonKeyringInvalid, "the keyring in Vault at secret/rsched/keyring is not valid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reason, msg := Blocked(tc.si, 0, tc.sec, tc.vlt, tc.source)
			if reason != tc.reason || !strings.Contains(msg, tc.msg) {
				t.Errorf("Blocked = %s %q, want %s and %q", reason, msg, tc.reason, tc.msg)
			}
		})
	}
	// A policy that recorded a version knows the instance ran, whatever the instance's status says.
	if _, msg := Blocked(si, 2, SecretCopy{missing: true}, nil, NotFound); !strings.Contains(msg, "restore it from a backup") {
		t.Errorf("lost after the policy recorded version 2: %q", msg)
	}
}
