package roster

import (
	"context"
	"testing"
	"time"

	"github.com/rsched/rsched/internal/server/acgme"
)

// learnerWeek is a week of a clinic that takes a learner and needs supervision, one resident
// (its minimum), one faculty member, and a learner locked on every clinic half-day but Monday
// afternoon, when they take an 18-hour call: Monday's clinic morning, the call and Tuesday's
// clinic day are 36 hours of duty in a row, which a resident may not do (continuous_duty, at most
// 28) and a learner's hours are not judged by.
func learnerWeek() *Problem {
	from := Date{2026, time.July, 6} // a Monday
	p := &Problem{From: from, To: from.AddDays(4),
		People: []Person{{ID: "r1", Type: Resident, PGY: 2}, {ID: "f1", Type: Faculty}, {ID: "s1", Type: Learner}},
		Templates: []Template{
			{ID: "clinic", Activity: Clinic, HoursPerSession: 6, MinResidents: 1, MaxResidents: 1, MaxLearners: 1, SupervisionRequired: true},
			{ID: "wards", Activity: Inpatient, HoursPerSession: 6, MaxResidents: 2},
			{ID: "call", Activity: Call, HoursPerSession: 18, MaxResidents: 1, MaxLearners: 1},
		}}
	for d := range 5 {
		for _, h := range []Half{AM, PM} {
			tmpl := "clinic"
			if d == 0 && h == PM {
				tmpl = "call"
			}
			p.Fixed = append(p.Fixed, Assignment{Slot: Slot{from.AddDays(d), h}, PersonID: "s1", TemplateID: tmpl, Locked: true})
		}
	}
	p.Keep = []string{"s1"}
	return p
}

// A learner is placed by hand on a template that takes learners and kept there; they count
// toward no minimum (the resident is still placed), need supervision as a PGY-1 (the faculty
// member is placed beside them every half-day), and no ACGME rule is applied to them.
func TestLearnersAreKeptSupervisedAndNotCountedAsResidents(t *testing.T) {
	p := learnerWeek()
	res, err := Solve(context.Background(), p, Options{Seed: 1, TimeBudget: time.Second, MaxIterations: 2000})
	if err != nil {
		t.Fatal(err)
	}
	on := map[string]int{}
	for _, a := range res.Assignments {
		if a.TemplateID == "clinic" {
			on[a.PersonID]++
		}
	}
	if on["s1"] != 9 || on["r1"] != 10 || on["f1"] != 10 {
		t.Fatalf("clinic half-days by person: %v, want the learner on 9, the resident and the faculty member on all 10", on)
	}
	vs, err := Validate(p, res.Assignments)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 0 {
		t.Fatalf("violations: %+v", vs)
	}
	// The same half-days held by a resident break the 28-hour rule: the check above means something.
	p.People[2] = Person{ID: "s1", Type: Resident, PGY: 3}
	vs, err = Validate(p, res.Assignments)
	if err != nil {
		t.Fatal(err)
	}
	duty := 0
	for _, v := range vs {
		if v.Rule == acgme.RuleContinuousDuty {
			duty++
		}
	}
	if duty == 0 {
		t.Fatalf("a resident with the learner's week: %+v, want continuous duty over 28 hours", vs)
	}
}

// The validator judges learners by their own rules only: a template that takes no learners, more
// learners than it takes, and a learner without supervision.
func TestValidatorJudgesLearnersPlacementCapacityAndSupervision(t *testing.T) {
	p := learnerWeek()
	p.People = append(p.People, Person{ID: "s2", Type: Learner})
	day := Slot{p.From, AM}
	vs, err := Validate(p, []Assignment{
		{Slot: day, PersonID: "s1", TemplateID: "clinic"}, {Slot: day, PersonID: "s2", TemplateID: "clinic"}, // two learners, one taken, no faculty
		{Slot: Slot{p.From, PM}, PersonID: "s1", TemplateID: "wards"}, // wards take no learners
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, v := range vs {
		got[string(v.Rule)]++
	}
	if got[string(RuleEligibility)] != 1 || got[string(RuleCapacity)] != 1 || got[string(acgme.RuleSupervision)] != 1 {
		t.Fatalf("violations by rule: %v\n%+v", got, vs)
	}
	// Locking a learner where no learner may be is refused up front.
	p.Fixed = append(p.Fixed, Assignment{Slot: Slot{p.To, PM}, PersonID: "s2", TemplateID: "wards", Locked: true})
	if _, err := Solve(context.Background(), p, Options{Seed: 1, MaxIterations: 10}); !IsInputError(err) {
		t.Fatalf("a learner locked on wards: %v, want an input error", err)
	}
}
