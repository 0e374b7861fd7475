package rbac

import (
	"strings"
	"testing"
)

// The matrix as printed in seed-project.md §3.3 ("all" = every action, "–" = none). The test
// rebuilds every cell from this text, so a typo in the Go table cannot hide.
const seedMatrix = `
schedule          all CRUDLXEI RL RL RL RL RL RL
assignment        all CRUDLM   RL RL RL RL RL RL
block             all CRUDL    RL RL RL RL RL RL
rotation          all CRUDL    RL RL RL RL RL RL
person            all CRUDL    R  R  RL RL RL RL
resident          all CRUDL    –  –  –  –  –  –
faculty_member    all CRUDL    –  –  –  –  –  –
absence           all CRUDLAJ  CRU CRU – – – –
leave             all CRUDLAJ  CRU CRU – – – –
swap              all RULAJX   CRUL CRUL – – – –
swap_request      all RULAJ    CRULAJ CRULAJ – – – –
procedure         all –        RL – – – – –
credential        all –        RL – – – – –
certification     all –        RL – – – – –
conflict          all RULM     –  RL – – – –
conflict_alert    all RULM     – – – – – –
user              all – – – – – – –
settings          all – – – – – – –
feature_flag      all – – – – – – –
report            all RLE – – – – – –
analytics         all RL – – – – – –
audit_log         all – – – – – – –
notification      all CRL RL RL RL RL RL RL
email_template    all – – – – – – –
resilience_metric all RL – – – – – –
contingency_plan  all RUL – – – – – –
`

func TestMatrixMatchesTheSeedTableCellByCell(t *testing.T) {
	rows := 0
	for _, line := range strings.Split(strings.TrimSpace(seedMatrix), "\n") {
		f := strings.Fields(line)
		if len(f) != 9 {
			t.Fatalf("bad seed line %q", line)
		}
		res := Resource(f[0])
		rows++
		for i, role := range Roles {
			cell := f[i+1]
			for _, a := range all {
				action := Action(a)
				want := cell == "all" || strings.ContainsRune(cell, a) ||
					(strings.ContainsRune(cell, 'M') && strings.ContainsRune("CRUDL", a))
				if got := Allowed(role, res, action); got != want {
					t.Errorf("%s %s %s: Allowed = %v, seed says %v", role, res, action, got, want)
				}
			}
		}
	}
	if rows != len(Resources()) {
		t.Errorf("seed table has %d resources, matrix %d", rows, len(Resources()))
	}
}

func TestUnknownRolesResourcesAndActionsGetNothing(t *testing.T) {
	for _, c := range []struct {
		role   Role
		res    Resource
		action Action
	}{
		{"superuser", Schedule, Read},
		{"", Schedule, Read},
		{"Admin", Schedule, Read}, // roles are case-sensitive
		{Admin, "secrets", Read},
		{Admin, Schedule, Action('Z')},
	} {
		if Allowed(c.role, c.res, c.action) {
			t.Errorf("Allowed(%q, %q, %v) = true", c.role, c.res, c.action)
		}
	}
}

func TestResidentsAndFacultyChangeOnlyTheirOwnAbsences(t *testing.T) {
	cases := []struct {
		role          Role
		action        Action
		owner, caller string
		want          bool
	}{
		{Resident, Update, "p1", "p1", true},
		{Resident, Update, "p2", "p1", false},
		{Resident, Update, "", "", false}, // unknown owner never passes
		{Resident, Delete, "p1", "p1", false},
		{Resident, Create, "p2", "p1", true}, // create: the handler sets the owner to the caller
		{Faculty, Update, "p1", "p1", true},
		{Faculty, Update, "p2", "p1", false},
		{Coordinator, Update, "p2", "p1", true},
		{Coordinator, Delete, "p2", "p1", true},
		{Admin, Delete, "p2", "p1", true},
		{ClinicalStaff, Read, "p1", "p1", false},
	}
	for _, c := range cases {
		if got := CanActOn(c.role, Absence, c.action, c.owner, c.caller); got != c.want {
			t.Errorf("%s %s absence of %q as %q: %v, want %v", c.role, c.action, c.owner, c.caller, got, c.want)
		}
	}
}

func TestAccessForms(t *testing.T) {
	if (Access{}).Declared() {
		t.Error("the zero Access counts as declared")
	}
	if Need("nonsense", Read).Declared() || Need(User, Action('Z')).Declared() {
		t.Error("an access outside the matrix counts as declared")
	}
	if !Public().IsPublic() || !Public().Declared() || !Authenticated().Declared() || Authenticated().IsPublic() {
		t.Error("public/authenticated forms misbehave")
	}
	if !Authenticated().Permits(MSA) || Authenticated().Permits("intruder") {
		t.Error("Authenticated must admit every real role and nothing else")
	}
	if Need(User, List).Permits(Coordinator) || !Need(User, List).Permits(Admin) {
		t.Error("user:list must be admin only")
	}
	if got := Need(AuditLog, Read).String(); got != "audit_log:read" {
		t.Errorf("String = %q", got)
	}
}
