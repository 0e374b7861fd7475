package roster

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestCredentialBoundaries(t *testing.T) {
	for _, c := range []struct {
		cred string
		ok   bool
	}{
		{"endoscopy", true}, {"central-line", true}, {"a", true}, {"0ct_scan", true},
		{"", false}, {"Endoscopy", false}, {"-x", false}, {"two words", false}, {"é", false},
		{"a23456789012345678901234567890123456789012345678901234567890123", true},   // 63
		{"a234567890123456789012345678901234567890123456789012345678901234", false}, // 64
	} {
		if got := ValidCredential(c.cred); got != c.ok {
			t.Errorf("ValidCredential(%q) = %v", c.cred, got)
		}
	}
	tp := Template{ID: "scope", Activity: Procedure, HoursPerSession: 4, MaxResidents: 1, SupervisionRequired: true, RequiredCredential: "endoscopy"}
	for _, c := range []struct {
		x    Person
		want bool
	}{
		{Person{ID: "f1", Type: Faculty, Credentials: []string{"endoscopy"}}, true},
		{Person{ID: "f2", Type: Faculty, Credentials: []string{"bronchoscopy"}}, false},
		{Person{ID: "f3", Type: Faculty}, false},
		{Person{ID: "r1", Type: Resident, PGY: 1}, true}, // residents learn it
		{Person{ID: "l1", Type: Learner}, true},
	} {
		if got := tp.Credentialed(c.x); got != c.want {
			t.Errorf("%s on %s: %v", c.x.ID, tp.ID, got)
		}
	}
	if (Template{ID: "t", Activity: Clinic, MaxResidents: 1, RequiredCredential: "Bad Name"}).Validate() == nil {
		t.Error("a bad required_credential accepted")
	}
	p := plantProgram()
	p.People[4].Credentials = []string{"x", "x"}
	if _, err := Solve(context.Background(), p, Options{Seed: 1, TimeBudget: 10 * time.Millisecond}); err == nil {
		t.Error("a repeated credential accepted")
	}
}

// Planted: a faculty member without the credential on a template that requires it is an
// eligibility violation, and a locked one makes the request impossible.
func TestUncredentialedFacultyIsAViolation(t *testing.T) {
	p := plantProgram()
	p.Templates[1].RequiredCredential = "clinic-precepting"
	p.People[4].Credentials = []string{"clinic-precepting"} // f1; f2 has none
	for _, c := range []struct {
		who  string
		want int
	}{{"f1", 0}, {"f2", 1}} {
		vs, err := Validate(p, []Assignment{at2(p, 4, AM, "r2", "clinic"), at2(p, 4, AM, c.who, "clinic")})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, v := range vs {
			if v.Rule == RuleEligibility && v.PersonID == c.who {
				n++
			}
		}
		if n != c.want || len(vs) != c.want {
			t.Errorf("%s supervising: %+v, want %d eligibility violation", c.who, vs, c.want)
		}
	}
	p.Fixed = []Assignment{{Slot: Slot{p.From.AddDays(4), AM}, PersonID: "f2", TemplateID: "clinic", Locked: true}}
	if _, err := Solve(context.Background(), p, Options{Seed: 1, TimeBudget: 10 * time.Millisecond}); err == nil {
		t.Error("f2 locked on the clinic without the credential was accepted")
	}
}

// The solver supervises a credentialed template only with credentialed faculty, and its
// schedules pass the validator.
func TestSolverSupervisesWithCredentialedFaculty(t *testing.T) {
	from := Date{2026, time.July, 2}
	for seed := uint64(1); seed <= 3; seed++ {
		p, err := GenerateProgram(ProgramConfig{Residents: 18, Faculty: 12, From: from, To: from.AddDays(27), AbsenceRate: 0.05, Seed: seed, Credentials: true})
		if err != nil {
			t.Fatal(err)
		}
		res := solveCompliant(t, fmt.Sprintf("seed %d", seed), p, Options{Seed: seed, TimeBudget: time.Second})
		people := map[string]Person{}
		for _, x := range p.People {
			people[x.ID] = x
		}
		supervised := 0
		for _, a := range res.Assignments {
			if x := people[a.PersonID]; a.TemplateID == "procedures" && x.Type == Faculty {
				if len(x.Credentials) == 0 {
					t.Fatalf("seed %d: %s supervises procedures without the credential", seed, x.ID)
				}
				supervised++
			}
		}
		if supervised == 0 {
			t.Fatalf("seed %d: nobody supervised procedures", seed)
		}
		t.Logf("seed %d: %d procedure half-days supervised by credentialed faculty, shortfall %d (bound %d)", seed, supervised, res.Stats.Shortfall, res.Stats.ShortfallLowerBound)
	}
}
