package fieldcrypt

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyring/keyringtest"
)

var random = keyringtest.Random

// ek is one AES256GCM key of a test keyring.
type ek struct {
	kid   string
	state keyring.State
	key   []byte
}

// ring builds a keyring with the given encryption keys (and a default signing key).
func ring(t testing.TB, enc ...ek) *keyring.Keyring {
	t.Helper()
	var keys []keyringtest.Key
	for _, e := range enc {
		keys = append(keys, keyringtest.Key{KID: e.kid, Algorithm: keyring.AES256GCM, State: e.state, Material: e.key})
	}
	return keyringtest.Build(t, 1, nil, keys)
}

func newFields(t testing.TB, kr *keyring.Keyring) (*Fields, *keyringtest.Source) {
	src := keyringtest.NewSource(kr)
	return NewFields(src), src
}

var here = Binding{Table: "absences", Column: "notes", Row: "8f14e45f"}

func TestEncryptDecryptRoundTrip(t *testing.T) {
	f, _ := newFields(t, ring(t, ek{"fields-1", keyring.Active, random(32)}))
	for _, plain := range [][]byte{[]byte("TDY: Fort Liberty, 3 weeks"), {}, bytes.Repeat([]byte{0xff}, MaxPlaintext)} {
		ct, err := f.Encrypt(plain, here)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ct, prefix) || (len(plain) > 4 && strings.Contains(ct, string(plain[:4]))) {
			t.Fatalf("ciphertext %.40q", ct)
		}
		got, err := f.Decrypt(ct, here)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("round trip of %d bytes: %v", len(plain), err)
		}
	}
	if _, err := f.Encrypt(make([]byte, MaxPlaintext+1), here); err == nil {
		t.Error("encrypted more than MaxPlaintext")
	}
}

func TestSamePlaintextGivesDifferentCiphertexts(t *testing.T) {
	f, _ := newFields(t, ring(t, ek{"fields-1", keyring.Active, random(32)}))
	seen := map[string]bool{}
	for range 1000 {
		ct, err := f.Encrypt([]byte("same"), here)
		if err != nil {
			t.Fatal(err)
		}
		if seen[ct] {
			t.Fatal("a ciphertext repeated: nonces are not unique")
		}
		seen[ct] = true
	}
}

func TestACiphertextOpensOnlyWhereItWasWritten(t *testing.T) {
	f, _ := newFields(t, ring(t, ek{"fields-1", keyring.Active, random(32)}))
	ct, err := f.Encrypt([]byte("on leave: family emergency"), here)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]Binding{
		"another row":    {Table: "absences", Column: "notes", Row: "c9f0f895"},
		"another column": {Table: "absences", Column: "tdy_location", Row: "8f14e45f"},
		"another table":  {Table: "audit_log", Column: "notes", Row: "8f14e45f"},
		// Length prefixes: moving bytes between parts must not produce the same associated data.
		"shifted parts": {Table: "absencesn", Column: "otes", Row: "8f14e45f"},
	} {
		if _, err := f.Decrypt(ct, b); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: %v, want ErrDecrypt", name, err)
		}
	}
	if _, err := f.Decrypt(ct, Binding{Table: "absences", Column: "notes"}); err == nil || errors.Is(err, ErrDecrypt) {
		t.Errorf("an incomplete binding: %v, want a usage error", err)
	}
}

func TestTamperingIsDetected(t *testing.T) {
	// fields-0 has the very same key material as fields-1, so relabelling can only fail because
	// the kid is bound into the associated data.
	shared := random(32)
	f, _ := newFields(t, ring(t, ek{"fields-1", keyring.Active, shared}, ek{"fields-0", keyring.DecryptOnly, shared}))
	ct, err := f.Encrypt([]byte("confidential"), here)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(ct, prefix))
	for i := range raw {
		mutated := bytes.Clone(raw)
		mutated[i] ^= 0x01
		if _, err := f.Decrypt(prefix+base64.RawURLEncoding.EncodeToString(mutated), here); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("flipping a bit of byte %d: %v, want ErrDecrypt", i, err)
		}
	}
	// Relabel as the other (valid, decrypt-only) key: the kid is bound too.
	relabelled := append([]byte{byte(len("fields-0"))}, "fields-0"...)
	relabelled = append(relabelled, raw[1+len("fields-1"):]...)
	if _, err := f.Decrypt(prefix+base64.RawURLEncoding.EncodeToString(relabelled), here); !errors.Is(err, ErrDecrypt) {
		t.Errorf("relabelled to another key: %v", err)
	}
	for _, bad := range []string{"", "rsf1.", "rsf1.!!!", "rsf2." + ct[5:], ct[:len(ct)-4], "rsf1.AA", strings.TrimPrefix(ct, prefix)} {
		if _, err := f.Decrypt(bad, here); !errors.Is(err, ErrDecrypt) {
			t.Errorf("malformed %.20q: %v", bad, err)
		}
	}
}

func TestRotationOldDataStaysReadableAndRewrapsToTheActiveKey(t *testing.T) {
	k1, k2 := random(32), random(32)
	f, src := newFields(t, ring(t, ek{"fields-1", keyring.Active, k1}))
	old, err := f.Encrypt([]byte("written before the rotation"), here)
	if err != nil {
		t.Fatal(err)
	}
	src.Set(ring(t, ek{"fields-2", keyring.Active, k2}, ek{"fields-1", keyring.DecryptOnly, k1}))
	if got, err := f.Decrypt(old, here); err != nil || string(got) != "written before the rotation" {
		t.Fatalf("old data after rotation: %q %v", got, err)
	}
	if kid, _ := KeyID(old); kid != "fields-1" {
		t.Errorf("KeyID = %s", kid)
	}
	fresh, err := f.Encrypt([]byte("new"), here)
	if err != nil {
		t.Fatal(err)
	}
	if kid, _ := KeyID(fresh); kid != "fields-2" {
		t.Errorf("new data sealed with %s, want the active fields-2", kid)
	}
	rewrapped, changed, err := f.Rewrap(old, here)
	if err != nil || !changed {
		t.Fatalf("Rewrap: changed=%v err=%v", changed, err)
	}
	if kid, _ := KeyID(rewrapped); kid != "fields-2" {
		t.Errorf("rewrapped with %s", kid)
	}
	if _, changed, _ := f.Rewrap(rewrapped, here); changed {
		t.Error("rewrapping an up-to-date value changed it")
	}
	if _, _, err := f.Rewrap(rewrapped, Binding{Table: "absences", Column: "notes", Row: "elsewhere"}); !errors.Is(err, ErrDecrypt) {
		t.Errorf("rewrapping a current value moved to another row: %v, want ErrDecrypt", err)
	}
	// Once fields-1 is dropped, only rewrapped data opens.
	src.Set(ring(t, ek{"fields-2", keyring.Active, k2}, ek{"fields-1", keyring.Retired, nil}))
	if _, err := f.Decrypt(old, here); !errors.Is(err, ErrDecrypt) {
		t.Errorf("data of a retired key: %v", err)
	}
	if got, err := f.Decrypt(rewrapped, here); err != nil || string(got) != "written before the rotation" {
		t.Errorf("rewrapped data: %q %v", got, err)
	}
	if _, _, err := f.Rewrap(old, here); !errors.Is(err, ErrDecrypt) {
		t.Errorf("rewrapping data of a retired key: %v", err)
	}
}

func FuzzDecrypt(f *testing.F) {
	fields, _ := newFields(f, ring(f, ek{"fields-1", keyring.Active, random(32)}))
	ct, err := fields.Encrypt([]byte("seed"), here)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ct)
	f.Add("rsf1.")
	f.Add("rsf1.CGZpZWxkcy0x")
	f.Fuzz(func(t *testing.T, s string) {
		_, err := fields.Decrypt(s, here)
		if err != nil && !errors.Is(err, ErrDecrypt) {
			t.Fatalf("error %v is not ErrDecrypt", err)
		}
		// The only ciphertext ever written is ct: anything else that opens is a forgery.
		if err == nil && s != ct {
			t.Fatalf("a ciphertext that was never written opened: %q", s)
		}
	})
}

func BenchmarkEncryptField(b *testing.B) {
	f, _ := newFields(b, ring(b, ek{"fields-1", keyring.Active, random(32)}))
	plain := []byte("TDY location: Fort Liberty, NC; return 2026-12-14")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Encrypt(plain, here); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecryptField(b *testing.B) {
	f, _ := newFields(b, ring(b, ek{"fields-1", keyring.Active, random(32)}))
	ct, _ := f.Encrypt([]byte("TDY location: Fort Liberty, NC; return 2026-12-14"), here)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Decrypt(ct, here); err != nil {
			b.Fatal(err)
		}
	}
}
