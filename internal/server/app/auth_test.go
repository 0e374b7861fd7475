package app

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/keyring"
	"github.com/rsched/rsched/internal/keyring/keyringtest"
)

func cookie(r resp, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Seed §7.3 #1, #2, #3, #4: the sign-in contract.
func TestLoginFormIssuesTokensAndAHardenedCookie(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	r := e.call("POST", "/api/v1/auth/login", nil, req{form: url.Values{"username": {"alice"}, "password": {adminPassword}}}).want(t, 200, "form login")
	if r.str("token_type") != "bearer" || r.str("access_token") == "" || r.str("refresh_token") == "" || r.str("csrf_token") == "" {
		t.Fatalf("token response %v", r.Body)
	}
	c := cookie(r, "access_token")
	if c == nil || c.Value != r.str("access_token") || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/api/" || c.MaxAge != 900 {
		t.Fatalf("access_token cookie %+v", c)
	}
	if cs := cookie(r, "csrf_token"); cs == nil || cs.HttpOnly || !cs.Secure || cs.Value != r.str("csrf_token") {
		t.Fatalf("csrf_token cookie %+v", cs)
	}
	cl := claimsOf(t, r.str("access_token"))
	for _, k := range []string{"sub", "exp", "iat", "nbf", "jti", "iss", "aud", "sid", "token_use"} {
		if _, ok := cl[k]; !ok {
			t.Errorf("claim %s missing: %v", k, cl)
		}
	}
	if cl["sub"] != admin.ID || cl["token_use"] != "access" {
		t.Errorf("claims %v", cl)
	}
	if strings.Contains(r.Raw, adminPassword) {
		t.Fatal("the password is echoed")
	}
}

func TestWrongPasswordAndUnknownUserLookAlike(t *testing.T) {
	e := newEnv(t, 1, nil)
	e.bootstrap()
	wrong := e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "alice", "password": "nope-nope-nope"}, req{}).want(t, 401, "wrong password")
	unknown := e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "mallory", "password": "nope-nope-nope"}, req{}).want(t, 401, "unknown user")
	if wrong.detail() != "Incorrect username or password" || unknown.detail() != wrong.detail() {
		t.Fatalf("details differ: %q / %q", wrong.detail(), unknown.detail())
	}
	if wrong.Header.Get("WWW-Authenticate") == "" || unknown.Header.Get("WWW-Authenticate") == "" {
		t.Fatal("401 without WWW-Authenticate")
	}
}

func TestInactiveAccountIsToldOnlyToWhoeverKnowsThePassword(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	bob := e.create(admin, "bob", "resident")
	e.call("PATCH", "/api/v1/admin/users/"+bob.ID, map[string]any{"is_active": false}, req{bearer: admin.Access}).want(t, 200, "deactivate")
	r := e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "bob", "password": "wrong-password-1"}, req{}).want(t, 401, "inactive, wrong password")
	if r.detail() != "Incorrect username or password" {
		t.Fatalf("wrong password on an inactive account disclosed %q", r.detail())
	}
	e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "bob", "password": bob.Password}, req{}).want(t, 403, "inactive, right password")
	// Deactivation ended bob's session at once.
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: bob.Access}).want(t, 401, "token of a deactivated user")
}

func TestMalformedSignInsAre422(t *testing.T) {
	e := newEnv(t, 1, nil)
	e.bootstrap()
	e.call("POST", "/api/v1/auth/login", nil, req{form: url.Values{"username": {"alice"}}}).want(t, 422, "form without password")
	e.call("POST", "/api/v1/auth/login", nil, req{form: url.Values{"username": {""}, "password": {""}}}).want(t, 422, "empty form")
	e.call("POST", "/api/v1/auth/login/json", map[string]any{"username": "al", "password": "x"}, req{}).want(t, 422, "2-char username")
	e.call("POST", "/api/v1/auth/login/json", `{"username": "alice", "password": "x", "extra": 1}`, req{contentType: "application/json"}).want(t, 422, "unknown field")
	e.call("POST", "/api/v1/auth/login/json", `{"username": `, req{contentType: "application/json"}).want(t, 422, "broken JSON")
	e.call("POST", "/api/v1/auth/login/json", `{}`, req{contentType: "text/plain"}).want(t, 415, "wrong content type")
}

// Seed #7, #8, #9 and the JWT attacks, all through GET /auth/me.
func TestMeRejectsEveryBadToken(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	r := e.call("GET", "/api/v1/auth/me", nil, req{}).want(t, 401, "no credentials")
	if r.detail() != "Not authenticated" || r.Header.Get("WWW-Authenticate") == "" || r.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("401: %q %v", r.detail(), r.Header)
	}
	me := e.call("GET", "/api/v1/auth/me", nil, req{bearer: admin.Access}).want(t, 200, "valid token")
	if me.str("username") != "alice" || me.str("role") != "admin" || me.Body["is_active"] != true {
		t.Fatalf("me %v", me.Body)
	}
	parts := strings.Split(admin.Access, ".")
	tamperedClaims := claimsOf(t, admin.Access)
	tamperedClaims["sub"] = "00000000-0000-0000-0000-000000000001"
	body, _ := json.Marshal(tamperedClaims)
	cases := map[string]string{
		"tampered signature": parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])),
		"tampered payload":   parts[0] + "." + base64.RawURLEncoding.EncodeToString(body) + "." + parts[2],
		"alg none":           forgeJWT(t, map[string]any{"alg": "none", "typ": "at+jwt", "kid": "sig-1"}, claimsOf(t, admin.Access), nil),
		"unknown kid":        forgeJWT(t, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": "sig-9"}, claimsOf(t, admin.Access), secretHS),
		"path kid":           forgeJWT(t, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": "../../etc/passwd"}, claimsOf(t, admin.Access), secretHS),
		"wrong secret":       forgeJWT(t, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": "sig-1"}, claimsOf(t, admin.Access), []byte(strings.Repeat("k", 32))),
		"wrong audience":     forgeJWT(t, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": "sig-1"}, with(claimsOf(t, admin.Access), "aud", "other-api"), secretHS),
		"expired":            forgeJWT(t, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": "sig-1"}, with(with(claimsOf(t, admin.Access), "exp", time.Now().Add(-time.Hour).Unix()), "iat", time.Now().Add(-2*time.Hour).Unix()), secretHS),
		"not an access jwt":  forgeJWT(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": "sig-1"}, claimsOf(t, admin.Access), secretHS),
		"refresh token":      admin.Refresh,
		"garbage":            "abc",
	}
	for name, tok := range cases {
		e.call("GET", "/api/v1/auth/me", nil, req{bearer: tok}).want(t, 401, name)
		e.call("GET", "/api/v1/auth/me", nil, req{cookie: tok}).want(t, 401, name+" as cookie")
	}
	e.call("GET", "/api/v1/auth/me", nil, req{header: map[string]string{"Authorization": admin.Access}}).want(t, 401, "no Bearer prefix")
	e.call("GET", "/api/v1/auth/me", nil, req{header: map[string]string{"Authorization": "Bearer "}}).want(t, 401, "empty Bearer")
}

// A forged token that is correct in every respect but the one under test must be refused; a
// correctly signed copy proves the forging helper itself produces acceptable tokens.
func TestForgedTokenWithTheRightKeyIsAccepted(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	ok := forgeJWT(t, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": "sig-1"}, claimsOf(t, admin.Access), secretHS)
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: ok}).want(t, 200, "control: a correctly signed copy")
}

// Seed #10 and the deviation: logout ends the access token, the cookie and the refresh token.
func TestLogoutEndsTheTokenAndTheWholeSession(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	r := e.call("POST", "/api/v1/auth/logout", nil, req{bearer: admin.Access}).want(t, 200, "logout")
	if r.str("message") != "Successfully logged out" {
		t.Fatalf("logout body %v", r.Body)
	}
	if c := cookie(r, "access_token"); c == nil || c.MaxAge >= 0 {
		t.Fatalf("cookie not cleared: %+v", c)
	}
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: admin.Access}).want(t, 401, "access token after logout")
	e.call("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": admin.Refresh}, req{}).want(t, 401, "refresh token after logout")
	e.call("POST", "/api/v1/auth/logout", nil, req{bearer: admin.Access}).want(t, 401, "logout twice")
}

// Seed #11, #12, and the stronger rule: reuse revokes the family.
func TestRefreshReuseRevokesFamily(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	r1 := admin.Refresh
	first := e.call("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": r1}, req{}).want(t, 200, "first refresh")
	r2, a2 := first.str("refresh_token"), first.str("access_token")
	if r2 == "" || r2 == r1 || a2 == "" || a2 == admin.Access || cookie(first, "access_token") == nil {
		t.Fatalf("refresh response %v", first.Body)
	}
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: a2}).want(t, 200, "new access token")
	e.call("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": r1}, req{}).want(t, 401, "reused refresh token")
	// The copy was detected: the legitimate holder's newer tokens die with the family.
	e.call("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": r2}, req{}).want(t, 401, "descendant after reuse")
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: a2}).want(t, 401, "access token of the revoked family")
	// Another sign-in is another family, untouched.
	e.login(admin)
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: admin.Access}).want(t, 200, "a new sign-in")
	audit := e.call("GET", "/api/v1/audit?action=auth.refresh.reuse_detected", nil, req{bearer: admin.Access}).want(t, 200, "audit")
	if audit.Body["total"] != float64(1) {
		t.Fatalf("reuse audited %v times", audit.Body["total"])
	}
	for name, tok := range map[string]string{"access token": admin.Access, "garbage": "garbage", "empty": ""} {
		want := 401
		if tok == "" {
			want = 422
		}
		e.call("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": tok}, req{}).want(t, want, name)
	}
}

func TestRefreshAfterIdleTimeoutOrAbsoluteExpiryFails(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	e.clock.Advance(e.cfg.Auth.SessionIdleTimeout.D() + time.Minute)
	e.call("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": admin.Refresh}, req{}).want(t, 401, "idle session")

	e.login(admin)
	for range 30 { // keep it busy: refresh every 7h for 7 days
		e.clock.Advance(7 * time.Hour)
		r := e.call("POST", "/api/v1/auth/refresh", map[string]any{"refresh_token": admin.Refresh}, req{})
		if r.Status != 200 {
			if e.clock.Now().Before(time.Now().Add(e.cfg.Auth.RefreshTokenTTL.D() - 7*time.Hour)) {
				t.Fatalf("refresh failed early: %d %s", r.Status, r.Raw)
			}
			return // the absolute lifetime ended it
		}
		admin.Refresh = r.str("refresh_token")
	}
	t.Fatal("a session outlived its absolute lifetime")
}

// Seed #13, #14, #15: registration and the first-user bootstrap.
func TestRegistrationBootstrapsOneAdminThenNeedsAnAdmin(t *testing.T) {
	e := newEnv(t, 1, nil)
	r := e.call("POST", "/api/v1/auth/register", map[string]any{"username": "alice", "email": "alice@example.org", "password": adminPassword, "role": "coordinator"}, req{}).
		want(t, 201, "first user")
	if r.str("role") != "admin" || strings.Contains(r.Raw, "password_hash") || strings.Contains(r.Raw, adminPassword) {
		t.Fatalf("first user %v", r.Body)
	}
	admin := &user{ID: r.str("id"), Username: "alice", Password: adminPassword}
	e.login(admin)
	nobody := e.call("POST", "/api/v1/auth/register", map[string]any{"username": "bob", "email": "bob@example.org", "password": "Another-Good-Pass-7"}, req{}).want(t, 403, "no caller")
	e.call("POST", "/api/v1/auth/register", map[string]any{"username": "bob", "email": "bob@example.org", "password": "weak"}, req{}).want(t, 403, "no caller, weak password: who before what")
	if !strings.Contains(nobody.detail(), "Admin") {
		t.Fatalf("detail %q", nobody.detail())
	}
	res := e.create(admin, "rita", "resident")
	e.call("POST", "/api/v1/auth/register", map[string]any{"username": "bob", "email": "bob@example.org", "password": "Another-Good-Pass-7"}, req{bearer: res.Access}).want(t, 403, "resident")
	e.call("POST", "/api/v1/auth/register", map[string]any{"username": "rita", "email": "x@example.org", "password": "Another-Good-Pass-7"}, req{bearer: admin.Access}).want(t, 409, "duplicate username")
	e.call("POST", "/api/v1/auth/register", map[string]any{"username": "RITA", "email": "y@example.org", "password": "Another-Good-Pass-7"}, req{bearer: admin.Access}).want(t, 409, "duplicate username in other case")
	e.call("POST", "/api/v1/auth/register", map[string]any{"username": "rita2", "email": "rita@example.org", "password": "Another-Good-Pass-7"}, req{bearer: admin.Access}).want(t, 409, "duplicate email")
	for _, pw := range []string{"Short1!", "onlylowercaseletters12", "password", "Password123!"} {
		e.call("POST", "/api/v1/auth/register", map[string]any{"username": "carl", "email": "carl@example.org", "password": pw}, req{bearer: admin.Access}).want(t, 422, "weak password "+pw)
	}
	e.call("POST", "/api/v1/auth/register", map[string]any{"username": "carl", "email": "not-an-email", "password": "Another-Good-Pass-7"}, req{bearer: admin.Access}).want(t, 422, "bad email")
	e.call("POST", "/api/v1/auth/register", map[string]any{"username": "carl", "email": "carl@example.org", "password": "Another-Good-Pass-7", "role": "superuser"}, req{bearer: admin.Access}).want(t, 422, "bad role")
	e.call("POST", "/api/v1/auth/register", map[string]any{"username": "carl", "email": "carl@example.org", "password": "Another-Good-Pass-7"}, req{bearer: "forged"}).want(t, 401, "bad credentials are not ignored")
	e.call("POST", "/api/v1/auth/register", map[string]any{"username": "carl", "email": "carl@example.org", "password": "Another-Good-Pass-7", "role": "faculty"}, req{bearer: admin.Access}).want(t, 201, "admin registers")

	users := e.call("GET", "/api/v1/auth/users", nil, req{bearer: admin.Access}).want(t, 200, "list")
	var names []string
	for _, u := range users.List {
		names = append(names, u.(map[string]any)["username"].(string))
	}
	if strings.Join(names, ",") != "alice,carl,rita" {
		t.Fatalf("users %v", names)
	}
	if d := e.call("GET", "/api/v1/auth/users", nil, req{bearer: res.Access}).want(t, 403, "resident lists users").detail(); d != "Admin access required" {
		t.Fatalf("detail %q", d)
	}
}

func TestConcurrentFirstRegistrationsMakeExactlyOneAdmin(t *testing.T) {
	e := newEnv(t, 2, nil)
	results := make(chan int, 6)
	for i := range 6 {
		go func() {
			r := e.call("POST", "/api/v1/auth/register", map[string]any{"username": "user" + string(rune('a'+i)), "email": "u" + string(rune('a'+i)) + "@example.org",
				"password": "Parallel-Start-42x"}, req{instance: i % 2})
			results <- r.Status
		}()
	}
	created := 0
	for range 6 {
		if <-results == 201 {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("%d first users created, want exactly 1", created)
	}
}

// Seed #19, #21, #22, #23: headers on every response; no docs, metrics or bootstrap backdoor on
// the public port.
func TestPublicPortServesNoDocsMetricsOrBootstrap(t *testing.T) {
	e := newEnv(t, 1, nil)
	for _, p := range []string{"/docs", "/openapi.json", "/metrics", "/api/v1/metrics"} {
		r := e.call("GET", p, nil, req{}).want(t, 404, p)
		for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "Strict-Transport-Security", "Cache-Control", "X-Request-ID", "Referrer-Policy", "Permissions-Policy", "Reporting-Endpoints"} {
			if r.Header.Get(h) == "" {
				t.Errorf("%s: header %s missing", p, h)
			}
		}
	}
	e.call("POST", "/api/v1/auth/initialize-admin", nil, req{}).want(t, 404, "no bootstrap endpoint")
}

func TestCookieNeverOverridesAValidHeaderAndNeedsCSRFForChanges(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: admin.Access, cookie: "stale.forged.cookie"}).want(t, 200, "valid header, bad cookie")
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: "forged", cookie: admin.Access}).want(t, 401, "bad header never falls back to the cookie")
	e.call("GET", "/api/v1/auth/me", nil, req{cookie: admin.Access}).want(t, 200, "cookie alone, safe method")
	e.call("GET", "/api/v1/auth/me", nil, req{header: map[string]string{"Cookie": `access_token="Bearer ` + admin.Access + `"`}}).want(t, 200, "the predecessor's quoted Bearer cookie")
	e.call("POST", "/api/v1/admin/users", map[string]any{"username": "bob", "email": "bob@example.org", "password": "Zq8#Vw2mLr-T4kx", "role": "resident"},
		req{cookie: admin.Access}).want(t, 403, "cookie change without CSRF token")
	e.call("POST", "/api/v1/admin/users", map[string]any{"username": "bob", "email": "bob@example.org", "password": "Zq8#Vw2mLr-T4kx", "role": "resident"},
		req{cookie: admin.Access, csrf: "not-the-token"}).want(t, 403, "cookie change with a wrong CSRF token")
	e.call("POST", "/api/v1/admin/users", map[string]any{"username": "bob", "email": "bob@example.org", "password": "Zq8#Vw2mLr-T4kx", "role": "resident"},
		req{cookie: admin.Access, csrf: admin.CSRF}).want(t, 201, "cookie change with the CSRF token")
	e.call("POST", "/api/v1/auth/logout", nil, req{bearer: admin.Access}).want(t, 200, "header changes need no CSRF token")
}

// Seed #20: the predecessor's unversioned paths redirect, preflights do not.
func TestLegacyPathsRedirectToV1(t *testing.T) {
	e := newEnv(t, 1, nil)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, want := range map[string]string{
		"/api/people?type=resident": "/api/v1/people?type=resident",
		"/api/auth/me":              "/api/v1/auth/me",
		"/api//evil.example/x":      "/api/v1/evil.example/x",
	} {
		res, err := client.Get(e.servers[0].URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 307 || res.Header.Get("Location") != want || res.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: %d Location %q", path, res.StatusCode, res.Header.Get("Location"))
		}
	}
	r := e.call("OPTIONS", "/api/people", nil, req{})
	if r.Status == 307 {
		t.Fatal("a preflight was redirected")
	}
}

// Algorithm confusion over HTTP: with an EdDSA signing key, a token "signed" with HS256 using the
// public key as the HMAC secret (raw or DER-encoded) is refused; the real EdDSA token works.
func TestAlgorithmConfusionWithAnEdDSAKeyIsRejected(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	seed := keyringtest.Random(32)
	e.keys[0].Set(keyringtest.Build(t, 2,
		[]keyringtest.Key{
			{KID: "sig-1", Algorithm: keyring.HS256, State: keyring.VerifyOnly, Material: secretHS, NotAfter: e.clock.Now().Add(time.Hour)},
			{KID: "sig-ed", Algorithm: keyring.EdDSA, State: keyring.Active, Material: seed},
		},
		[]keyringtest.Key{{KID: "enc-1", Algorithm: keyring.AES256GCM, State: keyring.Active, Material: secretAES}}))
	e.login(admin)
	if h := jwtHeader(t, admin.Access); h["alg"] != "EdDSA" || h["kid"] != "sig-ed" {
		t.Fatalf("token header %v", h)
	}
	e.call("GET", "/api/v1/auth/me", nil, req{bearer: admin.Access}).want(t, 200, "the EdDSA token")
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	for name, secret := range map[string][]byte{"raw public key": pub, "DER public key": der} {
		forged := forgeJWT(t, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": "sig-ed"}, claimsOf(t, admin.Access), secret)
		e.call("GET", "/api/v1/auth/me", nil, req{bearer: forged}).want(t, 401, "HS256 with the "+name)
	}
}
