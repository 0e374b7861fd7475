package auth

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyring/keyringtest"
)

var t0 = keyringtest.T0

// sk is one signing key of a test keyring.
type sk = keyringtest.Key

var random = keyringtest.Random

// ring builds a keyring of version with the given signing keys (and a default encryption key).
func ring(t testing.TB, version int64, keys ...sk) *keyring.Keyring {
	t.Helper()
	return keyringtest.Build(t, version, keys, nil)
}

type clock struct{ now atomic.Pointer[time.Time] }

func (c *clock) Now() time.Time  { return *c.now.Load() }
func (c *clock) Set(t time.Time) { c.now.Store(&t) }

func newTokens(t testing.TB, kr *keyring.Keyring) (*Tokens, *keyringtest.Source, *clock) {
	t.Helper()
	keys := keyringtest.NewSource(kr)
	c := &clock{}
	c.Set(t0)
	tk, err := NewTokens(keys, TokenConfig{Issuer: "https://rsched.test", Audience: "rsched-api", TTL: 15 * time.Minute, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return tk, keys, c
}

var (
	edSeed   = random(32)
	hsSecret = random(32)
)

func standardRing(t testing.TB) *keyring.Keyring {
	return ring(t, 1,
		sk{KID: "ed-1", Algorithm: keyring.EdDSA, State: keyring.Active, Material: edSeed},
		sk{KID: "hs-1", Algorithm: keyring.HS256, State: keyring.Staged, Material: hsSecret})
}

func TestIssuedTokenVerifiesWithEveryClaim(t *testing.T) {
	for _, alg := range []string{keyring.EdDSA, keyring.HS256, keyring.HS512} {
		t.Run(alg, func(t *testing.T) {
			material := map[string][]byte{keyring.EdDSA: edSeed, keyring.HS256: random(32), keyring.HS512: random(64)}[alg]
			tk, _, _ := newTokens(t, ring(t, 1, sk{KID: "k1", Algorithm: alg, State: keyring.Active, Material: material}))
			token, issued, err := tk.IssueAccess("user-42", "session-7")
			if err != nil {
				t.Fatal(err)
			}
			header := decodeSegment(t, token, 0)
			if header["alg"] != alg || header["kid"] != "k1" || header["typ"] != AccessTokenType {
				t.Errorf("header %v", header)
			}
			got, err := tk.VerifyAccess(token)
			if err != nil {
				t.Fatal(err)
			}
			if got.Subject != "user-42" || got.SessionID != "session-7" || got.ID != issued.ID || got.ID == "" ||
				got.Issuer != "https://rsched.test" || got.Audience[0] != "rsched-api" || got.TokenUse != AccessTokenUse ||
				!got.ExpiresAt.Equal(t0.Add(15*time.Minute)) || !got.IssuedAt.Equal(t0) || !got.NotBefore.Equal(t0) {
				t.Errorf("claims %+v", got)
			}
		})
	}
}

func TestTokenIDsAreUnique(t *testing.T) {
	tk, _, _ := newTokens(t, standardRing(t))
	seen := map[string]bool{}
	for range 1000 {
		_, c, err := tk.IssueAccess("u", "s")
		if err != nil {
			t.Fatal(err)
		}
		if seen[c.ID] {
			t.Fatalf("jti %s issued twice", c.ID)
		}
		seen[c.ID] = true
	}
}

func decodeSegment(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func segment(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// forge builds a token by hand: header and claims as given, signed by sign over "header.claims".
func forge(header, claims map[string]any, sign func(signingInput []byte) []byte) string {
	input := segment(header) + "." + segment(claims)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(input)))
}

func hs256(secret []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write(in)
		return m.Sum(nil)
	}
}

func goodClaims() map[string]any {
	return map[string]any{
		"iss": "https://rsched.test", "aud": []string{"rsched-api"}, "sub": "user-42", "sid": "session-7",
		"jti": "abc", "token_use": "access",
		"iat": t0.Unix(), "nbf": t0.Unix(), "exp": t0.Add(15 * time.Minute).Unix(),
	}
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func TestForgedAndMisusedTokensAreRejected(t *testing.T) {
	tk, _, _ := newTokens(t, standardRing(t))
	edPub := ed25519.NewKeyFromSeed(edSeed).Public().(ed25519.PublicKey)
	hsHeader := map[string]any{"alg": "HS256", "typ": AccessTokenType, "kid": "hs-1"}
	edSign := func(in []byte) []byte { return ed25519.Sign(ed25519.NewKeyFromSeed(edSeed), in) }
	edHeader := map[string]any{"alg": "EdDSA", "typ": AccessTokenType, "kid": "ed-1"}
	valid, _, err := tk.IssueAccess("user-42", "session-7")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(valid, ".")

	cases := []struct {
		name, token, cause string
	}{
		{"control: a hand-made token with the right key passes", forge(hsHeader, goodClaims(), hs256(hsSecret)), ""},
		{"alg none", forge(map[string]any{"alg": "none", "typ": AccessTokenType, "kid": "hs-1"}, goodClaims(), func([]byte) []byte { return nil }), "signing method none is invalid"},
		{"alg none, no signature segment", segment(map[string]any{"alg": "none", "typ": AccessTokenType, "kid": "hs-1"}) + "." + segment(goodClaims()) + ".", "signing method none is invalid"},
		{"HS256 signed with the EdDSA public key (algorithm confusion)", forge(with(hsHeader, "kid", "ed-1"), goodClaims(), hs256(edPub)), "token algorithm HS256 does not match key ed-1 (EdDSA)"},
		{"RS256 header", forge(with(hsHeader, "alg", "RS256"), goodClaims(), hs256(hsSecret)), "signing method RS256 is invalid"},
		{"unknown kid", forge(with(hsHeader, "kid", "hs-9"), goodClaims(), hs256(hsSecret)), "kid not usable"},
		{"path traversal kid", forge(with(hsHeader, "kid", "../../../../etc/passwd"), goodClaims(), hs256(hsSecret)), "kid not usable"},
		{"SQL kid", forge(with(hsHeader, "kid", "x' OR '1'='1"), goodClaims(), hs256(hsSecret)), "kid not usable"},
		{"non-string kid", forge(with(hsHeader, "kid", 7), goodClaims(), hs256(hsSecret)), "no kid header"},
		{"no kid", forge(with(hsHeader, "kid", nil), goodClaims(), hs256(hsSecret)), "no kid header"},
		{"wrong typ", forge(with(hsHeader, "typ", "JWT"), goodClaims(), hs256(hsSecret)), `typ header "JWT" is not at+jwt`},
		{"HMAC with a guessed secret", forge(hsHeader, goodClaims(), hs256([]byte("secret"))), "signature is invalid"},
		{"expired", forge(hsHeader, with(goodClaims(), "exp", t0.Add(-time.Minute).Unix()), hs256(hsSecret)), "token is expired"},
		{"no exp", forge(hsHeader, with(goodClaims(), "exp", nil), hs256(hsSecret)), "token is missing required claim: exp claim is required"},
		{"not yet valid", forge(hsHeader, with(goodClaims(), "nbf", t0.Add(time.Hour).Unix()), hs256(hsSecret)), "token is not valid yet"},
		{"no nbf", forge(hsHeader, with(goodClaims(), "nbf", nil), hs256(hsSecret)), "nbf claim is required"},
		{"issued in the future", forge(hsHeader, with(goodClaims(), "iat", t0.Add(time.Hour).Unix()), hs256(hsSecret)), "token used before issued"},
		{"no iat", forge(hsHeader, with(goodClaims(), "iat", nil), hs256(hsSecret)), "no issued-at"},
		{"wrong audience", forge(hsHeader, with(goodClaims(), "aud", []string{"other-api"}), hs256(hsSecret)), "token has invalid audience"},
		{"wrong issuer", forge(hsHeader, with(goodClaims(), "iss", "https://evil.test"), hs256(hsSecret)), "token has invalid issuer"},
		{"two audiences", forge(hsHeader, with(goodClaims(), "aud", []string{"rsched-api", "billing-api"}), hs256(hsSecret)), "2 audiences, want exactly one"},
		{"a year-long token", forge(hsHeader, with(goodClaims(), "exp", t0.Add(365*24*time.Hour).Unix()), hs256(hsSecret)), "exceeds the configured 15m0s"},
		{"huge typ echoed in logs", forge(with(hsHeader, "typ", strings.Repeat("x", 2000)), goodClaims(), hs256(hsSecret)), `typ header "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..." is not`},
		{"no subject", forge(hsHeader, with(goodClaims(), "sub", nil), hs256(hsSecret)), "no subject"},
		{"no jti", forge(hsHeader, with(goodClaims(), "jti", nil), hs256(hsSecret)), "no token id"},
		{"no session", forge(hsHeader, with(goodClaims(), "sid", nil), hs256(hsSecret)), "no session"},
		{"token_use refresh", forge(hsHeader, with(goodClaims(), "token_use", "refresh"), hs256(hsSecret)), `token_use "refresh" is not access`},
		{"no token_use", forge(hsHeader, with(goodClaims(), "token_use", nil), hs256(hsSecret)), `token_use "" is not access`},
		{"tampered payload, original signature", parts[0] + "." + segment(with(decodeSegment(t, valid, 1), "sub", "admin")) + "." + parts[2], "signature is invalid"},
		{"tampered header, original signature", segment(with(decodeSegment(t, valid, 0), "kid", "hs-1", "alg", "HS256")) + "." + parts[1] + "." + parts[2], "signature is invalid"},
		{"an opaque refresh token", base64.RawURLEncoding.EncodeToString(random(32)), "token is malformed"},
		{"empty", "", "token is malformed"},
		{"oversized", strings.Repeat("a", 5000), "longer than 4096 bytes"},
		{"signature with padding (non-strict base64)", parts[0] + "." + parts[1] + "." + parts[2] + "==", "token is malformed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := tk.VerifyAccess(c.token)
			if c.cause == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Errorf("error %v does not wrap ErrInvalidToken", err)
			}
			if !strings.Contains(err.Error(), c.cause) {
				t.Errorf("error %q does not give the cause %q", err, c.cause)
			}
		})
	}
	// The EdDSA control: the same hand-made path with the real key passes.
	if _, err := tk.VerifyAccess(forge(edHeader, goodClaims(), edSign)); err != nil {
		t.Errorf("hand-made EdDSA token: %v", err)
	}
}

// TestTimeClaimsMustBeJSONNumbers: RFC 7519 NumericDate is a JSON number. encoding/json (and so
// golang-jwt) would also take a quoted number, so a correctly signed token whose exp, nbf or iat
// is a string must be refused by our own check.
func TestTimeClaimsMustBeJSONNumbers(t *testing.T) {
	tk, _, _ := newTokens(t, standardRing(t))
	hsHeader := map[string]any{"alg": "HS256", "typ": AccessTokenType, "kid": "hs-1"}
	good := goodClaims()
	for _, claim := range []string{"exp", "nbf", "iat"} {
		for name, v := range map[string]any{
			"string":        strconv.FormatInt(good[claim].(int64), 10),
			"boolean":       true,
			"object":        map[string]any{"n": good[claim]},
			"list":          []any{good[claim]},
			"numeric float": float64(good[claim].(int64)) + 0.5,
		} {
			t.Run(claim+" "+name, func(t *testing.T) {
				_, err := tk.VerifyAccess(forge(hsHeader, with(good, claim, v), hs256(hsSecret)))
				if name == "numeric float" {
					if err != nil {
						t.Fatalf("a fractional NumericDate is a number and must pass: %v", err)
					}
					return
				}
				if err == nil {
					t.Fatalf("accepted %s as a %s", claim, name)
				}
				if !errors.Is(err, ErrInvalidToken) {
					t.Errorf("error %v does not wrap ErrInvalidToken", err)
				}
			})
		}
	}
}

func TestRotationKeepsOldTokensValidUntilTheGracePeriodEnds(t *testing.T) {
	oldSeed, newSeed := random(32), random(32)
	tk, keys, clk := newTokens(t, ring(t, 1,
		sk{KID: "jwt-1", Algorithm: keyring.EdDSA, State: keyring.Active, Material: oldSeed}))
	before, _, err := tk.IssueAccess("u", "s")
	if err != nil {
		t.Fatal(err)
	}
	// Stage jwt-2: old tokens still verify, new tokens are still signed by jwt-1.
	keys.Set(ring(t, 2,
		sk{KID: "jwt-1", Algorithm: keyring.EdDSA, State: keyring.Active, Material: oldSeed},
		sk{KID: "jwt-2", Algorithm: keyring.EdDSA, State: keyring.Staged, Material: newSeed}))
	staged, _, _ := tk.IssueAccess("u", "s")
	if kid := decodeSegment(t, staged, 0)["kid"]; kid != "jwt-1" {
		t.Errorf("signed with %v while jwt-2 is only staged", kid)
	}
	// Activate jwt-2; jwt-1 verifies for one more hour.
	keys.Set(ring(t, 3,
		sk{KID: "jwt-2", Algorithm: keyring.EdDSA, State: keyring.Active, Material: newSeed},
		sk{KID: "jwt-1", Algorithm: keyring.EdDSA, State: keyring.VerifyOnly, Material: oldSeed, NotAfter: t0.Add(time.Hour)}))
	after, _, _ := tk.IssueAccess("u", "s")
	if kid := decodeSegment(t, after, 0)["kid"]; kid != "jwt-2" {
		t.Errorf("signed with %v after jwt-2 became active", kid)
	}
	clk.Set(t0.Add(10 * time.Minute))
	for name, tok := range map[string]string{"before": before, "staged": staged, "after": after} {
		if _, err := tk.VerifyAccess(tok); err != nil {
			t.Errorf("%s-rotation token rejected inside the grace period: %v", name, err)
		}
	}
	// Past not_after the old key no longer verifies, even for a token that has not expired. Use
	// a keyring whose grace ended early to show the key's window, not the token's, decides.
	keys.Set(ring(t, 4,
		sk{KID: "jwt-2", Algorithm: keyring.EdDSA, State: keyring.Active, Material: newSeed},
		sk{KID: "jwt-1", Algorithm: keyring.EdDSA, State: keyring.VerifyOnly, Material: oldSeed, NotAfter: t0.Add(5 * time.Minute)}))
	if _, err := tk.VerifyAccess(before); err == nil || !strings.Contains(err.Error(), "kid not usable") {
		t.Errorf("token of a key past its not_after: %v", err)
	}
	if _, err := tk.VerifyAccess(after); err != nil {
		t.Errorf("token of the active key: %v", err)
	}
}

func TestNewTokensRefusesUnsafeConfig(t *testing.T) {
	keys := keyringtest.NewSource(nil)
	for _, cfg := range []TokenConfig{
		{Audience: "a", TTL: time.Minute},
		{Issuer: "i", TTL: time.Minute},
		{Issuer: "i", Audience: "a", TTL: 30 * time.Second},
		{Issuer: "i", Audience: "a", TTL: 2 * time.Hour},
		{Issuer: "i", Audience: "a", TTL: time.Minute, Leeway: 5 * time.Minute},
	} {
		if _, err := NewTokens(keys, cfg); err == nil {
			t.Errorf("accepted %+v", cfg)
		}
	}
	if _, err := NewTokens(nil, TokenConfig{Issuer: "i", Audience: "a", TTL: time.Minute}); err == nil {
		t.Error("accepted a nil key source")
	}
}

func BenchmarkVerifyAccessToken(b *testing.B) {
	for _, alg := range []string{keyring.HS256, keyring.EdDSA} {
		b.Run(alg, func(b *testing.B) {
			material := map[string][]byte{keyring.EdDSA: random(32), keyring.HS256: random(32)}[alg]
			tk, _, _ := newTokens(b, ring(b, 1, sk{KID: "k1", Algorithm: alg, State: keyring.Active, Material: material}))
			token, _, err := tk.IssueAccess("user-42", "session-7")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tk.VerifyAccess(token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkIssueAccessToken(b *testing.B) {
	for _, alg := range []string{keyring.HS256, keyring.EdDSA} {
		b.Run(alg, func(b *testing.B) {
			material := map[string][]byte{keyring.EdDSA: random(32), keyring.HS256: random(32)}[alg]
			tk, _, _ := newTokens(b, ring(b, 1, sk{KID: "k1", Algorithm: alg, State: keyring.Active, Material: material}))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := tk.IssueAccess("user-42", "session-7"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
