package roster

import (
	"strings"
	"testing"
)

// applyRepair is the schedule after plan: removals, then placements and moves.
func applyRepair(as []Assignment, plan *RepairPlan) []Assignment {
	out := append([]Assignment(nil), as...)
	for _, c := range plan.Changes {
		slot := Slot{c.Date, c.Half}
		kept := out[:0]
		for _, a := range out {
			if !(a.PersonID == c.PersonID && a.Slot == slot) {
				kept = append(kept, a)
			}
		}
		out = kept
		if c.To != "" {
			out = append(out, Assignment{Slot: slot, PersonID: c.PersonID, TemplateID: c.To})
		}
	}
	return out
}

func TestPlanRepairFillsEachVacancyWithTheFewestChanges(t *testing.T) {
	p := plantProgram()
	p.Templates[0].MinResidents = 1 // ward
	sick := p.From.AddDays(5)       // a Tuesday
	live := []Assignment{at2(p, 5, AM, "r1", "ward"), at2(p, 5, PM, "r1", "ward"), at2(p, 5, AM, "r2", "procedures")}
	// r4 worked the four days before: more hours than r3, who is fresh.
	live = append(live, days(p, "r4", "ward", false, 1, 2, 3, 4)...)
	// Cover every other ward half-day so that only the sick day's are at stake.
	for d := range 28 {
		if d >= 1 && d <= 5 {
			continue
		}
		live = append(live, at2(p, d, AM, "r2", "ward"))
	}
	plan, err := PlanRepair(p, live, Absence{PersonID: "r1", Start: sick, End: sick})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Removed != 2 || len(plan.Vacancies) != 2 || plan.Uncovered != 0 {
		t.Fatalf("plan: %+v", plan)
	}
	am, pm := plan.Vacancies[0], plan.Vacancies[1]
	if am.Half != AM || am.Chosen == nil || am.Chosen.PersonID != "r3" || am.Chosen.Changes != 1 ||
		pm.Half != PM || pm.Chosen == nil || pm.Chosen.PersonID != "r3" || !pm.Chosen.Continuity {
		t.Fatalf("chosen: AM %+v, PM %+v", am.Chosen, pm.Chosen)
	}
	byPerson := map[string]Candidate{}
	for _, c := range am.Candidates {
		byPerson[c.PersonID] = c
	}
	if r2 := byPerson["r2"]; r2.Changes != 2 || r2.From != "procedures" {
		t.Errorf("r2 would move from procedures (2 changes): %+v", r2)
	}
	if r4, r3 := byPerson["r4"], byPerson["r3"]; r4.PeakWeeklyHours <= r3.PeakWeeklyHours || r4.Cost <= r3.Cost {
		t.Errorf("the loaded r4 (%+v) ranks above the fresh r3 (%+v)", r4, r3)
	}
	for i := 1; i < len(am.Candidates); i++ {
		if am.Candidates[i].Cost < am.Candidates[i-1].Cost {
			t.Errorf("candidates not ranked by cost: %+v", am.Candidates)
		}
	}
	// The proposal, applied, leaves the sick person nothing in the absence and adds no hard
	// violation (the fixture's r2 works every day, which it had before); the ward is covered
	// both half-days.
	before, err := Validate(p, live)
	if err != nil {
		t.Fatal(err)
	}
	p.Absences = append(p.Absences, Absence{PersonID: "r1", Start: sick, End: sick})
	vs, err := Validate(p, applyRepair(live, plan))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range missingViolations(vs, before) {
		if Hard(v.Rule) || (v.Rule == RuleCoverage && strings.Contains(v.Message, sick.String())) {
			t.Errorf("after the repair: %+v", v)
		}
	}
	if len(plan.Changes) != 4 {
		t.Errorf("changes %+v, want 2 removals and 2 placements", plan.Changes)
	}
}

func TestPlanRepairSaysWhyAVacancyCannotBeFilled(t *testing.T) {
	p := plantProgram()
	p.Templates[1].MinResidents, p.Templates[1].AllowedPGY = 1, []int{1} // clinic: PGY-1s only
	sick := p.From.AddDays(5)
	live := []Assignment{at2(p, 5, AM, "r1", "clinic"), at2(p, 5, AM, "f1", "clinic")}
	plan, err := PlanRepair(p, live, Absence{PersonID: "r1", Start: sick, End: sick})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Uncovered != 1 || len(plan.Vacancies) != 1 || plan.Vacancies[0].Chosen != nil ||
		!strings.Contains(plan.Vacancies[0].Why, "3 not eligible") {
		t.Fatalf("plan: %+v", plan)
	}
	// A template that keeps its minimum without them is no vacancy: the procedures half-day of
	// r2 (no minimum) is just removed.
	plan, err = PlanRepair(p, []Assignment{at2(p, 5, AM, "r2", "procedures")}, Absence{PersonID: "r2", Start: sick, End: sick})
	if err != nil || plan.Removed != 1 || len(plan.Vacancies) != 0 || len(plan.Changes) != 1 {
		t.Fatalf("plan %+v, %v", plan, err)
	}
}

// A faculty member on a 07-19 attending shift cannot cover a 13:00 clinic the same day: the
// repair says so (overlapping_sessions) and takes the free one.
func TestPlanRepairKeepsFacultyInOnePlace(t *testing.T) {
	p := shiftProgram() // f1 and f2 faculty; "day" is a 07-19 shift
	p.People = append(p.People, Person{ID: "f3", Type: Faculty})
	sick := p.From.AddDays(5) // a Tuesday
	live := []Assignment{at2(p, 5, PM, "r2", "clinic"), at2(p, 5, PM, "f1", "clinic"), at2(p, 5, AM, "f2", "day")}
	plan, err := PlanRepair(p, live, Absence{PersonID: "f1", Start: sick, End: sick})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Vacancies) != 1 || plan.Vacancies[0].Chosen == nil || plan.Vacancies[0].Chosen.PersonID != "f3" {
		t.Fatalf("plan: %+v", plan)
	}
	for _, c := range plan.Vacancies[0].Candidates {
		if c.PersonID == "f2" {
			t.Fatalf("f2, on the day shift until 19:00, offered for the 13:00 clinic: %+v", c)
		}
	}
}
