package keyring

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func random(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// validFile is a keyring with every state in use: an active EdDSA key, a staged one, a
// verify-only HS256 key until t0+1h, a retired one; an active, a decrypt-only and a retired
// encryption key.
func validFile(version int64) *File {
	until := t0.Add(time.Hour)
	return &File{
		Format:  FormatVersion,
		Version: version,
		Signing: []FileKey{
			{KID: fmt.Sprintf("jwt-%d", version), Algorithm: EdDSA, State: Active, CreatedAt: t0, Key: random(32)},
			{KID: fmt.Sprintf("jwt-%d", version+1), Algorithm: EdDSA, State: Staged, CreatedAt: t0, Key: random(32)},
			{KID: fmt.Sprintf("jwt-%d", version-1), Algorithm: HS256, State: VerifyOnly, NotAfter: &until, CreatedAt: t0.Add(-time.Hour), Key: random(32)},
			{KID: fmt.Sprintf("jwt-%d", version-2), Algorithm: HS512, State: Retired, CreatedAt: t0.Add(-2 * time.Hour)},
		},
		Encryption: []FileKey{
			{KID: fmt.Sprintf("fields-%d", version), Algorithm: AES256GCM, State: Active, CreatedAt: t0, Key: random(32)},
			{KID: fmt.Sprintf("fields-%d", version-1), Algorithm: AES256GCM, State: DecryptOnly, CreatedAt: t0.Add(-time.Hour), Key: random(32)},
			{KID: fmt.Sprintf("fields-%d", version-2), Algorithm: AES256GCM, State: Retired, CreatedAt: t0.Add(-2 * time.Hour)},
		},
	}
}

func encode(t testing.TB, f *File) []byte {
	t.Helper()
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseAcceptsAKeyringWithEveryState(t *testing.T) {
	f := validFile(5)
	kr, err := Parse(encode(t, f))
	if err != nil {
		t.Fatal(err)
	}
	if kr.Version != 5 || kr.ActiveSigningKey().KID != "jwt-5" || kr.ActiveEncryptionKey().KID != "fields-5" {
		t.Fatalf("got version %d, active %s / %s", kr.Version, kr.ActiveSigningKey().KID, kr.ActiveEncryptionKey().KID)
	}
	if got := kr.ActiveSigningKey().PublicKey(); len(got) != 32 {
		t.Errorf("EdDSA public key has %d bytes", len(got))
	}
	if fmt.Sprint(kr.SigningKIDs()) != "[jwt-3 jwt-4 jwt-5 jwt-6]" || fmt.Sprint(kr.EncryptionKIDs()) != "[fields-3 fields-4 fields-5]" {
		t.Errorf("kids: %v %v", kr.SigningKIDs(), kr.EncryptionKIDs())
	}
	for _, alg := range []struct {
		name string
		size int
	}{{HS256, 32}, {HS512, 64}} {
		g := validFile(2)
		g.Signing[0].Algorithm, g.Signing[0].Key = alg.name, random(alg.size)
		kr, err := Parse(encode(t, g))
		if err != nil {
			t.Fatalf("%s: %v", alg.name, err)
		}
		if !bytes.Equal(kr.ActiveSigningKey().Secret(), g.Signing[0].Key) || kr.ActiveSigningKey().PrivateKey() != nil {
			t.Errorf("%s key material not kept as an HMAC secret", alg.name)
		}
	}
}

func TestParseRejectsInvalidKeyrings(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(f *File)
		want   string
	}{
		{"unknown format", func(f *File) { f.Format = 2 }, "format 2 is not supported"},
		{"version 0", func(f *File) { f.Version = 0 }, "version must be at least 1"},
		{"no active signing key", func(f *File) { f.Signing[0].State = Staged }, "no active signing key"},
		{"two active signing keys", func(f *File) { f.Signing[1].State = Active }, `signing keys "jwt-5" and "jwt-6" are both active`},
		{"no active encryption key", func(f *File) { f.Encryption[0].State = DecryptOnly }, "no active encryption key"},
		{"two active encryption keys", func(f *File) { f.Encryption[1].State = Active }, "are both active"},
		{"no signing keys at all", func(f *File) { f.Signing = nil }, "no active signing key"},
		{"duplicate kid", func(f *File) { f.Signing[1].KID = "jwt-5" }, `kid "jwt-5" is used twice`},
		{"kid shared across purposes", func(f *File) { f.Encryption[0].KID = "jwt-5" }, `kid "jwt-5" is used twice`},
		{"kid with a slash", func(f *File) { f.Signing[0].KID = "../etc" }, "signing key 0 (invalid kid): kid must be"},
		{"kid too long", func(f *File) { f.Signing[0].KID = strings.Repeat("k", 65) }, "kid must be 1-64 characters"},
		{"missing created_at", func(f *File) { f.Signing[0].CreatedAt = time.Time{} }, "created_at is required"},
		{"verify-only without not_after", func(f *File) { f.Signing[2].NotAfter = nil }, "a verify-only key needs not_after"},
		{"not_after on an active key", func(f *File) { u := t0; f.Signing[0].NotAfter = &u }, "not_after applies to verify-only keys"},
		{"unknown signing state", func(f *File) { f.Signing[0].State = "decrypt-only" }, `state "decrypt-only" is not one of staged, active, verify-only, retired`},
		{"unknown encryption state", func(f *File) { f.Encryption[1].State = VerifyOnly }, `state "verify-only" is not one of staged, active, decrypt-only, retired`},
		{"signing with none", func(f *File) { f.Signing[0].Algorithm = "none" }, `algorithm "none" is not one of HS256, HS512, EdDSA`},
		{"signing with RS256", func(f *File) { f.Signing[0].Algorithm = "RS256" }, `algorithm "RS256" is not one of HS256, HS512, EdDSA`},
		{"encryption with HS256", func(f *File) { f.Encryption[0].Algorithm = HS256 }, `algorithm "HS256" is not AES256GCM`},
		{"short HS256 secret", func(f *File) { f.Signing[0].Algorithm, f.Signing[0].Key = HS256, random(31) }, "an HS256 key needs at least 32 bytes, got 31"},
		{"short HS512 secret", func(f *File) { f.Signing[0].Algorithm, f.Signing[0].Key = HS512, random(32) }, "an HS512 key needs at least 64 bytes, got 32"},
		{"EdDSA seed of the wrong size", func(f *File) { f.Signing[0].Key = random(64) }, "an EdDSA key is a 32-byte Ed25519 seed, got 64 bytes"},
		{"AES key of 16 bytes", func(f *File) { f.Encryption[0].Key = random(16) }, "an AES256GCM key is 32 bytes, got 16"},
		{"active key without material", func(f *File) { f.Signing[0].Key = nil }, "an EdDSA key is a 32-byte Ed25519 seed, got 0 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := validFile(5)
			c.mutate(f)
			_, err := Parse(encode(t, f))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			assertNoKeyMaterial(t, err.Error(), f)
		})
	}
}

// assertNoKeyMaterial fails if s contains any key of f, raw or base64.
func assertNoKeyMaterial(t *testing.T, s string, f *File) {
	t.Helper()
	for _, k := range append(append([]FileKey{}, f.Signing...), f.Encryption...) {
		if len(k.Key) == 0 {
			continue
		}
		b64 := base64.StdEncoding.EncodeToString(k.Key)
		if strings.Contains(s, string(k.Key)) || strings.Contains(s, b64) || strings.Contains(s, b64[:12]) {
			t.Fatalf("key material of %s appears in %q", k.KID, s)
		}
	}
}

func TestParseRejectsMalformedFilesWithoutEchoingThem(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString(random(32))
	for name, input := range map[string]string{
		"not JSON":              "format: 1",
		"unknown field":         `{"format":1,"version":1,"signing":[],"encryption":[],"extra":true}`,
		"key that is not b64":   `{"format":1,"version":1,"signing":[{"kid":"a","algorithm":"HS256","state":"active","created_at":"2026-01-01T00:00:00Z","key":"` + secret + `!!"}],"encryption":[]}`,
		"wrong type":            `{"format":"1","version":1}`,
		"trailing data":         `{"format":1,"version":1,"signing":[],"encryption":[]} {}`,
		"a secret in a bad doc": `{"format":1,"version":1,"signing":[{"kid":"a","key":` + secret + `}]}`,
		"too large":             `{"format":1,"pad":"` + strings.Repeat("x", MaxFileSize) + `"}`,
		"trailing brace":        `{"format":1,"version":1,"signing":[],"encryption":[]}}`,
		"trailing brackets":     `{"format":1,"version":1,"signing":[],"encryption":[]}]]]} anything`,
		"a key in upper case":   `{"format":1,"FORMAT":2,"version":1,"signing":[],"encryption":[]}`,
		"a key given twice":     `{"format":1,"version":1,"version":2,"signing":[],"encryption":[]}`,
	} {
		_, err := Parse([]byte(input))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), secret[:12]) {
			t.Errorf("%s: the error echoes key material: %v", name, err)
		}
	}
}

func TestVerificationKeyHonoursStatesAndExpiry(t *testing.T) {
	kr, err := Parse(encode(t, validFile(5)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		kid  string
		at   time.Time
		want bool
	}{
		{"jwt-5", t0, true},                       // active
		{"jwt-6", t0, true},                       // staged: verifies before it signs
		{"jwt-4", t0.Add(59 * time.Minute), true}, // verify-only, inside its window
		{"jwt-4", t0.Add(time.Hour), false},       // verify-only, window over (not_after is exclusive)
		{"jwt-3", t0, false},                      // retired
		{"jwt-99", t0, false},                     // unknown
		{"fields-5", t0, false},                   // an encryption key never verifies tokens
	} {
		_, err := kr.VerificationKey(c.kid, c.at)
		if got := err == nil; got != c.want {
			t.Errorf("VerificationKey(%s at %s) usable=%v, want %v (err %v)", c.kid, c.at.Format(time.Kitchen), got, c.want, err)
		}
		if err != nil && !errors.Is(err, ErrUnknownKey) {
			t.Errorf("error %v is not ErrUnknownKey", err)
		}
	}
	for kid, want := range map[string]bool{"fields-5": true, "fields-4": true, "fields-3": false, "jwt-5": false, "nope": false} {
		if _, err := kr.DecryptionKey(kid); (err == nil) != want {
			t.Errorf("DecryptionKey(%s) usable=%v, want %v", kid, err == nil, want)
		}
	}
}

func TestKeysNeverPrintTheirMaterial(t *testing.T) {
	f := validFile(5)
	f.Signing[0].Algorithm, f.Signing[0].Key = HS256, random(32)
	kr, err := Parse(encode(t, f))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{kr.ActiveSigningKey(), kr.ActiveEncryptionKey(), *kr, kr} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			assertNoKeyMaterial(t, fmt.Sprintf(verb, v), f)
		}
	}
	if got := fmt.Sprint(kr.ActiveSigningKey()); got != "signing key jwt-5 (HS256, active)" {
		t.Errorf("String() = %q", got)
	}
}

func TestMarshalRoundTripsAndValidates(t *testing.T) {
	f := validFile(9)
	b, err := Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if kr.Version != 9 || !bytes.Equal(kr.ActiveEncryptionKey().Key(), f.Encryption[0].Key) {
		t.Error("round trip lost data")
	}
	f.Signing[1].State = Active
	if _, err := Marshal(f); err == nil {
		t.Error("Marshal wrote a keyring with two active signing keys")
	}
}
