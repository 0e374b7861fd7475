package app

import (
	"net/url"
	"strings"
	"testing"
)

// TestTextThatPostgreSQLRefusesNeverReachesIt: a NUL character or invalid UTF-8 in the sign-in
// name (JSON and form), the user search or the audit filters used to reach PostgreSQL, which
// refused it, and the request answered 500. Each is now a 4xx from the decode path.
func TestTextThatPostgreSQLRefusesNeverReachesIt(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	admin1 := req{bearer: admin.Access}
	json := req{contentType: "application/json"}
	for what, r := range map[string]resp{
		"a NUL in the JSON sign-in name":         e.call("POST", "/api/v1/auth/login/json", `{"username":"ali\u0000ce","password":"x"}`, json),
		"invalid UTF-8 in the JSON sign-in name": e.call("POST", "/api/v1/auth/login/json", "{\"username\":\"ali\xffce\",\"password\":\"x\"}", json),
		"a NUL in the form sign-in name":         e.call("POST", "/api/v1/auth/login", nil, req{form: url.Values{"username": {"ali\x00ce"}, "password": {"x"}}}),
		"invalid UTF-8 in the form sign-in name": e.call("POST", "/api/v1/auth/login", nil, req{form: url.Values{"username": {"ali\xffce"}, "password": {"x"}}}),
		"a NUL in the user search":               e.call("GET", "/api/v1/admin/users?q=%00", nil, admin1),
		"invalid UTF-8 in the user search":       e.call("GET", "/api/v1/admin/users?q=%FF", nil, admin1),
		"a NUL in the legacy user search":        e.call("GET", "/api/v1/auth/users?q=al%00", nil, admin1),
		"a NUL in the audit actor filter":        e.call("GET", "/api/v1/audit?actor=%00", nil, admin1),
		"invalid UTF-8 in the audit action":      e.call("GET", "/api/v1/audit?action=auth%FF", nil, admin1),
		"a NUL in the audit target filter":       e.call("GET", "/api/v1/audit?target=user:%00", nil, admin1),
	} {
		if r.Status != 422 || r.detail() == "" {
			t.Errorf("%s: %d %s, want 422 with a detail", what, r.Status, r.Raw)
		}
		if strings.Contains(r.Raw, "\x00") || strings.Contains(r.Raw, "\xff") {
			t.Errorf("%s: the answer echoes the bad text: %q", what, r.Raw)
		}
	}
	// The server is still healthy, and the same requests with clean text work.
	e.call("GET", "/api/v1/admin/users?q=ali", nil, admin1).want(t, 200, "a clean user search")
	e.call("GET", "/api/v1/audit?actor="+admin.ID, nil, admin1).want(t, 200, "a clean audit filter")
	e.login(admin)
}

// TestDuplicateKeysAreRefused: encoding/json keeps the last of two equal keys, so
// {"role":"resident","role":"admin"} used to create an administrator. Every body, form and query
// with a repeated name is now a 400, and nothing is written.
func TestDuplicateKeysAreRefused(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	json := req{bearer: admin.Access, contentType: "application/json"}
	for what, body := range map[string]string{
		"the same key twice":          `{"username":"mallory","email":"mallory@example.org","role":"resident","role":"admin"}`,
		"the same key in other cases": `{"username":"mallory","email":"mallory@example.org","role":"resident","Role":"admin"}`,
	} {
		r := e.call("POST", "/api/v1/admin/users", body, json)
		if r.Status != 400 || !strings.Contains(r.detail(), "duplicate field") {
			t.Errorf("%s: %d %s, want 400 naming the duplicate field", what, r.Status, r.Raw)
		}
	}
	if l := e.call("GET", "/api/v1/admin/users?q=mallory", nil, req{bearer: admin.Access}).want(t, 200, "list"); l.Body["total"].(float64) != 0 {
		t.Fatalf("a user was created from a body with a duplicate key: %s", l.Raw)
	}
	bob := e.create(admin, "bob", "resident")
	e.call("PATCH", "/api/v1/admin/users/"+bob.ID, `{"role":"faculty","role":"admin"}`, json).want(t, 400, "a role change with two roles")
	if u := e.call("GET", "/api/v1/admin/users/"+bob.ID, nil, req{bearer: admin.Access}).want(t, 200, "bob"); u.str("role") != "resident" {
		t.Fatalf("bob's role changed to %s", u.str("role"))
	}
	e.call("POST", "/api/v1/auth/login", "username=bob&username=alice&password="+url.QueryEscape(bob.Password),
		req{contentType: "application/x-www-form-urlencoded"}).want(t, 400, "a form with the name twice")
	e.call("GET", "/api/v1/admin/users?role=resident&role=admin", nil, req{bearer: admin.Access}).want(t, 400, "a query with a parameter twice")
}
