package auth

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzVerifyAccess feeds arbitrary strings, and mutations of a real token, to VerifyAccess. It
// must never panic, every failure must wrap ErrInvalidToken, and anything accepted must carry all
// the claims a request handler relies on.
func FuzzVerifyAccess(f *testing.F) {
	tk, _, _ := newTokens(f, standardRing(f))
	valid, _, err := tk.IssueAccess("user-42", "session-7")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(strings.Replace(valid, ".", "..", 1))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		claims, err := tk.VerifyAccess(token)
		if err != nil {
			if claims != nil {
				t.Fatal("claims returned with an error")
			}
			return
		}
		if claims.Subject == "" || claims.SessionID == "" || claims.ID == "" || claims.TokenUse != AccessTokenUse ||
			claims.ExpiresAt == nil || claims.IssuedAt == nil || claims.NotBefore == nil {
			t.Fatalf("accepted a token with missing claims: %+v", claims)
		}
	})
}

// FuzzVerifySignedClaims signs arbitrary claim bytes with the real key, so the fuzzer explores
// claim validation itself (a forged signature never gets that far). Whatever is accepted must be
// exactly the token we would have issued: right issuer and single audience, access use, all
// required claims, inside its validity window, no longer-lived than the configured TTL.
func FuzzVerifySignedClaims(f *testing.F) {
	tk, _, clk := newTokens(f, standardRing(f))
	now := clk.Now()
	good, _ := json.Marshal(goodClaims())
	f.Add(good)
	f.Add([]byte(`{"iss":"https://rsched.test","aud":"rsched-api","sub":"u","sid":"s","jti":"j","token_use":"access","iat":1795000000,"nbf":1795000000,"exp":1795000900}`))
	f.Add([]byte(`{"exp":1e308}`))
	f.Add([]byte(`[]`))
	header := map[string]any{"alg": "HS256", "typ": AccessTokenType, "kid": "hs-1"}
	f.Fuzz(func(t *testing.T, claims []byte) {
		input := segment(header) + "." + base64.RawURLEncoding.EncodeToString(claims)
		token := input + "." + base64.RawURLEncoding.EncodeToString(hs256(hsSecret)([]byte(input)))
		c, err := tk.VerifyAccess(token)
		if err != nil {
			return
		}
		if c.Issuer != "https://rsched.test" || len(c.Audience) != 1 || c.Audience[0] != "rsched-api" ||
			c.TokenUse != AccessTokenUse || c.Subject == "" || c.ID == "" || c.SessionID == "" {
			t.Fatalf("accepted claims %s", claims)
		}
		leeway := 30 * time.Second
		if now.After(c.ExpiresAt.Add(leeway)) || now.Add(leeway).Before(c.NotBefore.Time) || now.Add(leeway).Before(c.IssuedAt.Time) ||
			c.ExpiresAt.Sub(c.IssuedAt.Time) > 15*time.Minute+leeway {
			t.Fatalf("accepted a token outside its window or too long-lived: %s", claims)
		}
	})
}
