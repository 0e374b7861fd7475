package controllers

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

// TestDecideKeyringSource pins which keyring is authoritative without an API server or Vault:
// the Secret alone without storage.vault; with it, Vault when it holds a keyring at least as new
// as the Secret's (the Secret rendered from it only when it differs), the Secret recorded in
// Vault otherwise, and a block whenever nothing readable remains.
func TestDecideKeyringSource(t *testing.T) {
	v1, err := keyrotation.Stage(nil, bootstrapKeys, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	v2, err := keyrotation.Stage(v1, bootstrapKeys, time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC))
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

	missing := keyringInSecret{missing: true}
	invalid := keyringInSecret{decodeErr: bad}
	secret := func(f *keyring.File, request string) keyringInSecret {
		return keyringInSecret{file: f, request: request}
	}
	inVault := func(f *keyring.File, request string) *keyringInVault {
		return &keyringInVault{file: f, request: request}
	}
	emptyVault := &keyringInVault{}

	cases := []struct {
		name string
		sec  keyringInSecret
		vlt  *keyringInVault
		want keyringDecision
	}{
		{"no Vault storage: the Secret", secret(v1, ""), nil, keyringDecision{source: keyringFromSecret}},
		{"no Vault storage, Secret missing", missing, nil, keyringDecision{source: keyringNotFound}},
		{"no Vault storage, Secret invalid", invalid, nil, keyringDecision{source: keyringSecretInvalid}},

		{"Vault equals the Secret: nothing to write", secret(v1, "r1"), inVault(v1, "r1"), keyringDecision{source: keyringFromVault}},
		{"Vault ahead (a crash before the Secret write): render", secret(v1, ""), inVault(v2, "r2"), keyringDecision{source: keyringFromVault, renderSecret: true}},
		{"same version, other contents: Vault wins", secret(&v1other, ""), inVault(v1, ""), keyringDecision{source: keyringFromVault, renderSecret: true}},
		{"same keyring, other rotate request: render", secret(v1, "r0"), inVault(v1, "r1"), keyringDecision{source: keyringFromVault, renderSecret: true}},
		{"Secret lost: rendered from Vault", missing, inVault(v2, ""), keyringDecision{source: keyringFromVault, renderSecret: true}},
		{"Secret damaged: rendered from Vault", invalid, inVault(v2, ""), keyringDecision{source: keyringFromVault, renderSecret: true}},

		{"Vault holds nothing yet: record the Secret", secret(v1, ""), emptyVault, keyringDecision{source: keyringSecretToVault}},
		{"Vault behind the Secret: record the Secret", secret(v2, ""), inVault(v1, ""), keyringDecision{source: keyringSecretToVault}},

		{"Vault invalid: blocked even with a good Secret", secret(v1, ""), &keyringInVault{decodeErr: bad}, keyringDecision{source: keyringVaultInvalid}},
		{"nothing anywhere", missing, emptyVault, keyringDecision{source: keyringNotFound}},
		{"Secret invalid and Vault empty", invalid, emptyVault, keyringDecision{source: keyringSecretInvalid}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := decideKeyringSource(tc.sec, tc.vlt); got != tc.want {
				t.Errorf("decideKeyringSource = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestKeyringBlocked pins the reason and the sentence of every keyring that cannot be rotated.
func TestKeyringBlocked(t *testing.T) {
	si := &rschedv1.SchedulerInstance{ObjectMeta: metav1.ObjectMeta{Name: "si", Namespace: "ns"}}
	ran := si.DeepCopy()
	ran.Status.KeyVersion = 3
	krp := &rschedv1.KeyRotationPolicy{}
	krp.Spec.Storage = &rschedv1.KeyStorage{Vault: &rschedv1.VaultKVPath{Path: "rsched/keyring"}}
	bad := errors.New("keyring: not JSON")
	cases := []struct {
		name   string
		si     *rschedv1.SchedulerInstance
		sec    keyringInSecret
		vlt    *keyringInVault
		source keyringSource
		reason string
		msg    string // a part of the message
	}{
		{"not created yet", si, keyringInSecret{missing: true}, nil, keyringNotFound, rschedv1.ReasonKeyringNotFound, "does not exist yet; the SchedulerInstance creates it"},
		{"lost after the instance ran", ran, keyringInSecret{missing: true}, nil, keyringNotFound, rschedv1.ReasonKeyringNotFound, "restore it from a backup"},
		{"not in Vault either", si, keyringInSecret{missing: true}, &keyringInVault{}, keyringNotFound, rschedv1.ReasonKeyringNotFound, "does not exist yet and Vault holds no keyring"},
		{"Secret invalid", si, keyringInSecret{decodeErr: bad}, nil, keyringSecretInvalid, rschedv1.ReasonKeyringInvalid, "does not hold a valid keyring; restore it from a backup: keyring: not JSON"},
		{"Secret invalid, Vault empty", si, keyringInSecret{decodeErr: bad}, &keyringInVault{}, keyringSecretInvalid, rschedv1.ReasonKeyringInvalid, "and Vault holds none"},
		{"Vault invalid", si, keyringInSecret{}, &keyringInVault{decodeErr: bad}, keyringVaultInvalid, rschedv1.ReasonKeyringInvalid, "the keyring in Vault at secret/rsched/keyring is not valid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reason, msg := keyringBlocked(krp, tc.si, tc.sec, tc.vlt, tc.source)
			if reason != tc.reason || !strings.Contains(msg, tc.msg) {
				t.Errorf("keyringBlocked = %s %q, want %s and %q", reason, msg, tc.reason, tc.msg)
			}
		})
	}
}
