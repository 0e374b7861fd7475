// Package auth holds the scheduling API server's authentication core. This file issues and
// verifies access tokens: short-lived JWTs signed with the keyring's active signing key.
//
// Verification trusts nothing in the token before the signature is checked against a key the
// keyring holds for that kid, with that key's own algorithm: there is no "none", no choice of
// algorithm by the token (an EdDSA key is never used as an HMAC secret), no unknown kid, and
// issuer, audience, expiry, not-before, issued-at, token id, subject and token use are all
// required. Refresh tokens are opaque random strings stored hashed (never JWTs), so one can never
// pass for an access token.
package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rsched/rsched/internal/keyring"
)

// AccessTokenType is the JOSE "typ" header of access tokens (RFC 9068), and AccessTokenUse the
// token_use claim; both separate access tokens from any other JWT a key might ever sign.
const (
	AccessTokenType = "at+jwt"
	AccessTokenUse  = "access"
)

// TokenConfig configures access tokens.
type TokenConfig struct {
	// Issuer is the "iss" claim written and required, e.g. "https://schedule.example.org".
	Issuer string
	// Audience is the "aud" claim written and required, e.g. "rsched-api".
	Audience string
	// TTL is the access token lifetime (SchedulerInstance auth.accessTokenTTL).
	TTL time.Duration
	// Leeway tolerates clock skew between replicas when checking exp, nbf and iat. Default 30s;
	// at most 2m.
	Leeway time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// AccessClaims are the claims of an access token. The role is deliberately absent: it is read
// from the database on each request, so a role change or deactivation takes effect at once.
type AccessClaims struct {
	jwt.RegisteredClaims
	// TokenUse is always AccessTokenUse.
	TokenUse string `json:"token_use"`
	// SessionID is the login session (refresh token family) the token belongs to; logout and
	// "revoke this session" end it.
	SessionID string `json:"sid"`
}

// UnmarshalJSON decodes the claims after checking that the time claims present are JSON
// numbers (RFC 7519 NumericDate). encoding/json, and so jwt.NumericDate, also takes a quoted
// number such as "exp": "1795000900"; a token we issued never has one.
func (c *AccessClaims) UnmarshalJSON(b []byte) error {
	var times struct {
		Exp json.RawMessage `json:"exp"`
		Nbf json.RawMessage `json:"nbf"`
		Iat json.RawMessage `json:"iat"`
	}
	if err := json.Unmarshal(b, &times); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"exp", times.Exp}, {"nbf", times.Nbf}, {"iat", times.Iat}} {
		if f.raw != nil && !isJSONNumber(f.raw) {
			return fmt.Errorf("%s claim is not a JSON number", f.name)
		}
	}
	type plain AccessClaims // no UnmarshalJSON: decodes field by field
	return json.Unmarshal(b, (*plain)(c))
}

// isJSONNumber says whether raw, one valid JSON value, is a number (or null, which the required
// claim checks refuse on their own).
func isJSONNumber(raw json.RawMessage) bool {
	switch v := bytes.TrimSpace(raw); {
	case len(v) == 0:
		return false
	case v[0] == '-' || (v[0] >= '0' && v[0] <= '9'):
		return true
	default:
		return string(v) == "null"
	}
}

// Tokens issues and verifies access tokens.
type Tokens struct {
	keys   keyring.Source
	cfg    TokenConfig
	parser *jwt.Parser
}

// ErrInvalidToken is the only error VerifyAccess returns to callers that must not learn why a
// token failed (HTTP responses). The wrapped cause is for logs and tests.
var ErrInvalidToken = errors.New("invalid or expired access token")

// NewTokens checks cfg and returns a Tokens.
func NewTokens(keys keyring.Source, cfg TokenConfig) (*Tokens, error) {
	switch {
	case keys == nil:
		return nil, errors.New("auth: no key source")
	case cfg.Issuer == "" || cfg.Audience == "":
		return nil, errors.New("auth: issuer and audience are required")
	case cfg.TTL < time.Minute || cfg.TTL > time.Hour:
		return nil, fmt.Errorf("auth: access token TTL %s is outside 1m..1h", cfg.TTL)
	case cfg.Leeway < 0 || cfg.Leeway > 2*time.Minute:
		return nil, fmt.Errorf("auth: leeway %s is outside 0..2m", cfg.Leeway)
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Tokens{
		keys: keys,
		cfg:  cfg,
		parser: jwt.NewParser(
			// The keyfunc pins the algorithm per key; this list is a second fence that keeps
			// "none" and every algorithm we do not use out before any key lookup.
			jwt.WithValidMethods([]string{keyring.HS256, keyring.HS512, keyring.EdDSA}),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithNotBeforeRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithTimeFunc(cfg.Now),
			jwt.WithStrictDecoding(),
		),
	}, nil
}

// IssueAccess signs an access token for user subject in session sessionID with the active key.
func (t *Tokens) IssueAccess(subject, sessionID string) (string, *AccessClaims, error) {
	if subject == "" || sessionID == "" {
		return "", nil, errors.New("auth: an access token needs a subject and a session")
	}
	jti, err := randomID()
	if err != nil {
		return "", nil, err
	}
	now := t.cfg.Now().Truncate(time.Second)
	claims := &AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.cfg.Issuer,
			Subject:   subject,
			Audience:  jwt.ClaimStrings{t.cfg.Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(t.cfg.TTL)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        jti,
		},
		TokenUse:  AccessTokenUse,
		SessionID: sessionID,
	}
	key := t.keys.Current().ActiveSigningKey()
	method, material, err := signingMaterial(key, true)
	if err != nil {
		return "", nil, err
	}
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = key.KID
	tok.Header["typ"] = AccessTokenType
	signed, err := tok.SignedString(material)
	if err != nil {
		return "", nil, fmt.Errorf("auth: signing with %s: %w", key.KID, err)
	}
	return signed, claims, nil
}

// VerifyAccess checks an access token and returns its claims. Every failure wraps
// ErrInvalidToken; the cause says why, for logs.
func (t *Tokens) VerifyAccess(token string) (*AccessClaims, error) {
	// A bound before any decoding: a real token is well under 1 KiB.
	if len(token) > 4096 {
		return nil, fmt.Errorf("%w: token longer than 4096 bytes", ErrInvalidToken)
	}
	claims := &AccessClaims{}
	keys := t.keys.Current() // one keyring for the whole check, even if a reload happens meanwhile
	_, err := t.parser.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
		if typ, _ := tok.Header["typ"].(string); typ != AccessTokenType {
			return nil, fmt.Errorf("typ header %q is not %s", truncate(typ, 32), AccessTokenType)
		}
		kid, _ := tok.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("no kid header")
		}
		key, err := keys.VerificationKey(kid, t.cfg.Now())
		if err != nil {
			return nil, fmt.Errorf("kid not usable: %w", err)
		}
		// The key decides the algorithm, never the token.
		if tok.Method.Alg() != key.Algorithm {
			return nil, fmt.Errorf("token algorithm %s does not match key %s (%s)", tok.Method.Alg(), key.KID, key.Algorithm)
		}
		_, material, err := signingMaterial(key, false)
		return material, err
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	switch {
	case claims.TokenUse != AccessTokenUse:
		return nil, fmt.Errorf("%w: token_use %q is not %s", ErrInvalidToken, claims.TokenUse, AccessTokenUse)
	case claims.Subject == "":
		return nil, fmt.Errorf("%w: no subject", ErrInvalidToken)
	case claims.ID == "":
		return nil, fmt.Errorf("%w: no token id", ErrInvalidToken)
	case claims.SessionID == "":
		return nil, fmt.Errorf("%w: no session", ErrInvalidToken)
	case claims.IssuedAt == nil:
		return nil, fmt.Errorf("%w: no issued-at", ErrInvalidToken)
	case len(claims.Audience) != 1:
		// We issue exactly one audience; a token meant for several services is not ours.
		return nil, fmt.Errorf("%w: %d audiences, want exactly one", ErrInvalidToken, len(claims.Audience))
	case claims.ExpiresAt.Sub(claims.IssuedAt.Time) > t.cfg.TTL+t.cfg.Leeway:
		// We never issue a longer-lived token, whatever a key could be made to sign.
		return nil, fmt.Errorf("%w: lifetime %s exceeds the configured %s", ErrInvalidToken, claims.ExpiresAt.Sub(claims.IssuedAt.Time), t.cfg.TTL)
	}
	return claims, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// signingMaterial returns the jwt method and the key to sign (private) or verify (public) with.
func signingMaterial(key *keyring.SigningKey, private bool) (jwt.SigningMethod, any, error) {
	switch key.Algorithm {
	case keyring.HS256:
		return jwt.SigningMethodHS256, key.Secret(), nil
	case keyring.HS512:
		return jwt.SigningMethodHS512, key.Secret(), nil
	case keyring.EdDSA:
		if private {
			return jwt.SigningMethodEdDSA, key.PrivateKey(), nil
		}
		return jwt.SigningMethodEdDSA, key.PublicKey(), nil
	}
	return nil, nil, fmt.Errorf("auth: key %s has unsupported algorithm %s", key.KID, key.Algorithm)
}

func randomID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
