package app

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rsched/rsched/internal/server/httpapi"
	"github.com/rsched/rsched/internal/server/rbac"
	"github.com/rsched/rsched/internal/testenv"
)

func TestEveryRouteDeclaresItsAccess(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range httpapi.Routes() {
		key := r.Method + " " + r.Pattern
		if !r.Access.Declared() {
			t.Errorf("%s has no declared access", key)
		}
		if seen[key] {
			t.Errorf("%s registered twice", key)
		}
		seen[key] = true
		if !strings.HasPrefix(r.Pattern, "/api/v1/") {
			t.Errorf("%s is outside /api/v1", key)
		}
	}
}

// Every route, called by every role, answers as the matrix says: 403 exactly when the role lacks
// the route's permission, and 401 for a caller without credentials.
func TestRouteRoleWalkMatchesTheMatrix(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	users := map[rbac.Role]*user{rbac.Admin: admin}
	for _, role := range rbac.Roles[1:] {
		users[role] = e.create(admin, "walk_"+string(role), string(role))
	}
	routes := httpapi.Routes()
	// Logout last: it ends the session the walk uses.
	slices.SortStableFunc(routes, func(a, b httpapi.RouteInfo) int {
		return strings.Compare(boolKey(a.Pattern == "/api/v1/auth/logout"), boolKey(b.Pattern == "/api/v1/auth/logout"))
	})
	const missing = "00000000-0000-4000-8000-000000000000"
	checked := 0
	for _, rt := range routes {
		path := strings.ReplaceAll(rt.Pattern, "{id}", missing)
		if rt.Access.IsPublic() {
			continue
		}
		if r := e.call(rt.Method, path, nil, req{}); r.Status != 401 {
			t.Errorf("%s %s without credentials: %d, want 401", rt.Method, rt.Pattern, r.Status)
		}
		for _, role := range rbac.Roles {
			var body any
			if rt.Method == "POST" || rt.Method == "PATCH" {
				body = map[string]any{}
			}
			r := e.call(rt.Method, path, body, req{bearer: users[role].Access})
			allowed := rt.Access.Permits(role)
			switch {
			case allowed && (r.Status == 401 || r.Status == 403):
				t.Errorf("%s %s as %s: %d (%s), but the matrix allows it", rt.Method, rt.Pattern, role, r.Status, r.detail())
			case !allowed && r.Status != 403:
				t.Errorf("%s %s as %s: %d, but the matrix forbids it (want 403)", rt.Method, rt.Pattern, role, r.Status)
			}
			checked++
		}
	}
	t.Logf("%d route × role calls checked", checked)
}

func boolKey(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// docs/api.md documents every route: a route added without docs fails here.
func TestAPIDocsListEveryRoute(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range httpapi.Routes() {
		if !strings.Contains(string(doc), "`"+r.Method+" "+strings.TrimPrefix(r.Pattern, "/api/v1")+"`") {
			t.Errorf("docs/api.md does not document `%s %s`", r.Method, strings.TrimPrefix(r.Pattern, "/api/v1"))
		}
	}
}
