package httpapi

import (
	"strings"
	"testing"

	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/store"
)

func ptr[T any](v T) *T { return &v }

// A person body is merged over the stored person (PATCH keeps what it leaves out) and the result
// is checked as a whole, one message per broken rule.
func TestPersonBodyMergesThenChecksEveryRule(t *testing.T) {
	resident := func() store.PersonRecord {
		return store.PersonRecord{Person: roster.Person{Name: "Ada", Type: roster.Resident, PGY: 2, MaxSessionsPerWeek: 10}}
	}
	faculty := func() store.PersonRecord {
		return store.PersonRecord{Person: roster.Person{Name: "Grace", Type: roster.Faculty, MaxSessionsPerWeek: 10}}
	}
	for _, tc := range []struct {
		name   string
		before store.PersonRecord
		body   personBody
		want   string // "" accepted
	}{
		{"an empty patch keeps a valid person", resident(), personBody{}, ""},
		{"a new resident with everything it needs", store.PersonRecord{}, personBody{Name: ptr(" Ada "), Type: ptr("resident"), PGYLevel: ptr(1)}, ""},
		{"a name is required", store.PersonRecord{}, personBody{Name: ptr("  "), Type: ptr("resident"), PGYLevel: ptr(1)}, "name is required, at most 200 characters"},
		{"a name is at most 200 characters", resident(), personBody{Name: ptr(strings.Repeat("é", 201))}, "name is required, at most 200 characters"},
		{"a name holds no NUL", resident(), personBody{Name: ptr("A\x00da")}, "name is required, at most 200 characters"},
		{"the type is resident, faculty or learner", resident(), personBody{Type: ptr("nurse")}, "type must be resident, faculty or learner"},
		{"a learner has no PGY level", store.PersonRecord{}, personBody{Name: ptr("Student"), Type: ptr("learner"), PGYLevel: ptr(2)}, ""},
		{"a learner has no faculty role", store.PersonRecord{}, personBody{Name: ptr("Student"), Type: ptr("learner"), FacultyRole: ptr("pd")}, "faculty_role and admin_type are for faculty only"},
		{"a resident needs a PGY level", store.PersonRecord{}, personBody{Name: ptr("Ada"), Type: ptr("resident")}, "a resident needs pgy_level 1 to 8"},
		{"PGY 8 (a long program with fellowship) is taken", resident(), personBody{PGYLevel: ptr(8)}, ""},
		{"PGY 9 is refused", resident(), personBody{PGYLevel: ptr(9)}, "a resident needs pgy_level 1 to 8"},
		{"PGY 0 is refused", resident(), personBody{PGYLevel: ptr(0)}, "a resident needs pgy_level 1 to 8"},
		{"a 3-year resident is not moved past PGY 3 alone", store.PersonRecord{Person: roster.Person{Name: "Ada", Type: roster.Resident, PGY: 3}, FinalPGY: 3},
			personBody{PGYLevel: ptr(4)}, "final_pgy_level (the level the program ends in) must be from pgy_level (4) to 8"},
		{"a 5-year program", resident(), personBody{PGYLevel: ptr(4), FinalPGYLevel: ptr(5)}, ""},
		{"a level past the program's end", resident(), personBody{FinalPGYLevel: ptr(1)}, "final_pgy_level (the level the program ends in) must be from pgy_level (2) to 8"},
		{"a program ending past PGY 8", resident(), personBody{FinalPGYLevel: ptr(9)}, "final_pgy_level (the level the program ends in) must be from pgy_level (2) to 8"},
		{"faculty drop their PGY level", faculty(), personBody{PGYLevel: ptr(9)}, ""},
		{"sessions are capped at 14", resident(), personBody{MaxSessionsPerWeek: ptr(15)}, "max_sessions_per_week must be from 0 (no cap) to 14"},
		{"sessions are not negative", resident(), personBody{MaxSessionsPerWeek: ptr(-1)}, "max_sessions_per_week must be from 0 (no cap) to 14"},
		{"an e-mail must be an address", resident(), personBody{Email: ptr("ada@")}, "email is not a valid address such as name@example.org"},
		{"an e-mail is trimmed", resident(), personBody{Email: ptr(" ada@example.org ")}, ""},
		{"a user id must be a user's id", resident(), personBody{UserID: ptr("42")}, "user_id must be a user's id"},
		{"a user id in capitals is accepted", resident(), personBody{UserID: ptr("0B4F6C1E-9D1A-4C55-8F0A-2D7E3B9A1C00")}, ""},
		{"at most 20 specialties", resident(), personBody{Specialties: ptr(make([]string, 21))}, "specialties lists at most 20"},
		{"a specialty is not empty", resident(), personBody{Specialties: ptr([]string{""})}, "each specialty is text of 1 to 100 characters"},
		{"a primary duty is at most 100 characters", resident(), personBody{PrimaryDuty: ptr(strings.Repeat("x", 101))}, "primary_duty is text of at most 100 characters"},
		{"an admin type is at most 50 characters", faculty(), personBody{AdminType: ptr(strings.Repeat("x", 51))}, "admin_type is text of at most 50 characters"},
		{"a faculty role is one of the list", faculty(), personBody{FacultyRole: ptr("dean")}, "faculty_role must be one of " + strings.Join(store.FacultyRoles, ", ")},
		{"a faculty role is for faculty", resident(), personBody{FacultyRole: ptr("pd")}, "faculty_role and admin_type are for faculty only"},
		{"clinic half-days are at most 14", faculty(), personBody{MaxSessionsPerWeek: ptr(0), MinClinicHalfdaysPerWeek: ptr(15)}, "min_clinic_halfdays_per_week must be from 0 to 14"},
		{"clinic half-days fit in the session cap", faculty(), personBody{MinClinicHalfdaysPerWeek: ptr(11)}, "min_clinic_halfdays_per_week is above max_sessions_per_week"},
		{"the attributes are checked before the person", store.PersonRecord{}, personBody{FacultyRole: ptr("dean")}, "faculty_role must be one of " + strings.Join(store.FacultyRoles, ", ")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.before
			if got := tc.body.apply(&p); got != tc.want {
				t.Errorf("apply = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPersonBodyWritesOnlyWhatItCarries(t *testing.T) {
	p := store.PersonRecord{Person: roster.Person{ID: "id", Name: "Ada", Type: roster.Resident, PGY: 2, MaxSessionsPerWeek: 10}, Email: "ada@example.org",
		PersonAttributes: store.PersonAttributes{Specialties: []string{"peds"}, PrimaryDuty: "clinic"}}
	b := personBody{Name: ptr(" Ada L. "), PrimaryDuty: ptr(" wards "), UserID: ptr("0B4F6C1E-9D1A-4C55-8F0A-2D7E3B9A1C00")}
	if msg := b.apply(&p); msg != "" {
		t.Fatalf("apply = %q", msg)
	}
	if p.Name != "Ada L." || p.PrimaryDuty != "wards" || p.UserID != "0b4f6c1e-9d1a-4c55-8f0a-2d7e3b9a1c00" {
		t.Errorf("carried fields: name %q, primary duty %q, user id %q", p.Name, p.PrimaryDuty, p.UserID)
	}
	if p.PGY != 2 || p.MaxSessionsPerWeek != 10 || p.Email != "ada@example.org" || len(p.Specialties) != 1 {
		t.Errorf("fields left out changed: %+v", p)
	}
}
