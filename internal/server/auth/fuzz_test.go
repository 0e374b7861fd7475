package auth

import (
	"strings"
	"testing"
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
