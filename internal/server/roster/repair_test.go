package roster

import (
	"slices"
	"strings"
	"testing"

	"github.com/rsched/rsched/internal/server/acgme"
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

// backupProgram is plantProgram with block rotations: the ward belongs to rotation A, the
// procedures to B; r1 is on A, r2 and r4 on B, r3 on rotation rot (A or B); a backup call
// template (no rotation). The ward needs one resident.
func backupProgram(rot string) *Problem {
	p := plantProgram()
	p.Templates[0].MinResidents, p.Templates[0].RotationID = 1, "A"
	p.Templates[3].RotationID = "B"
	p.Templates = append(p.Templates, Template{ID: "backup", Activity: BackupCall, HoursPerSession: 12, MaxResidents: 2, Weekends: true})
	for id, r := range map[string]string{"r1": "A", "r2": "B", "r3": rot, "r4": "B"} {
		p.Plan = append(p.Plan, PlanEntry{PersonID: id, RotationID: r, Start: p.From, End: p.To})
	}
	return p
}

// The backup (jeopardy) pool is pulled across rotations: r1 (rotation A) calls in sick on the
// ward; who covers, and why the others do not.
func TestPlanRepairPullsTheBackupPoolAcrossRotations(t *testing.T) {
	cases := []struct {
		name      string
		rot       string // r3's rotation
		half      Half   // the ward half-day r1 leaves on day 5
		extra     func(p *Problem) []Assignment
		chosen    string // "" none
		backupDay int    // the chosen backup's session day (-1: not a backup)
		changes   int
		why, note string // substrings of the vacancy's why and note
		second    string // the candidate ranked second ("" any)
	}{
		{name: "a backup that day covers another rotation's morning, the pool then empty", rot: "B", half: AM,
			extra:  func(p *Problem) []Assignment { return []Assignment{at2(p, 5, PM, "r2", "backup")} },
			chosen: "r2", backupDay: 5, changes: 1, note: "the backup pool is empty"},
		{name: "the evening before's backup stands by into the day", rot: "B", half: PM,
			extra:  func(p *Problem) []Assignment { return []Assignment{at2(p, 4, PM, "r2", "backup")} },
			chosen: "r2", backupDay: 4, changes: 1, note: "the backup pool is empty"},
		{name: "two days before is no cover", rot: "B", half: AM,
			extra: func(p *Problem) []Assignment { return []Assignment{at2(p, 3, PM, "r2", "backup")} },
			why:   "3 on another rotation"},
		{name: "without backup call, another rotation is refused", rot: "B", half: AM,
			extra: func(*Problem) []Assignment { return nil }, why: "3 on another rotation"},
		{name: "a backup session in the vacancy's own half-day would be given up", rot: "B", half: PM,
			extra: func(p *Problem) []Assignment { return []Assignment{at2(p, 5, PM, "r2", "backup")} },
			why:   "3 on another rotation"},
		{name: "a backup coming off an overnight call breaks a duty-hour rule", rot: "B", half: AM,
			extra: func(p *Problem) []Assignment {
				return []Assignment{at2(p, 4, PM, "r2", "call"), at2(p, 5, PM, "r2", "backup")}
			},
			why: "2 on another rotation, 1 would break post_call_day"},
		{name: "a backup of a level the ward does not take", rot: "B", half: AM,
			extra: func(p *Problem) []Assignment {
				p.Templates[0].AllowedPGY = []int{1, 3}
				return []Assignment{at2(p, 5, PM, "r2", "backup")}
			},
			why: "2 not eligible, 1 on another rotation"}, // r2 and r4 (PGY-2); r3 on B
		{name: "the backup ranks ahead of a free resident of the rotation, though more loaded", rot: "A", half: AM,
			extra: func(p *Problem) []Assignment {
				return append(days(p, "r2", "procedures", false, 1, 2, 3, 4), at2(p, 5, PM, "r2", "backup"))
			},
			chosen: "r2", backupDay: 5, changes: 1, second: "r3", note: "the backup pool is empty"},
		{name: "the backup ranks ahead even when it must be moved (two changes)", rot: "A", half: AM,
			extra: func(p *Problem) []Assignment {
				return []Assignment{at2(p, 5, AM, "r2", "procedures"), at2(p, 5, PM, "r2", "backup")}
			},
			chosen: "r2", backupDay: 5, changes: 2, second: "r3", note: "the backup pool is empty"},
		{name: "a second backup that day: the pool is not empty", rot: "B", half: AM,
			extra: func(p *Problem) []Assignment {
				return []Assignment{at2(p, 5, PM, "r2", "backup"), at2(p, 5, PM, "r4", "backup")}
			},
			chosen: "r2", backupDay: 5, changes: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := backupProgram(tc.rot)
			live := append([]Assignment{at2(p, 5, tc.half, "r1", "ward")}, tc.extra(p)...)
			sick := p.From.AddDays(5)
			plan, err := PlanRepair(p, live, Absence{PersonID: "r1", Start: sick, End: sick})
			if err != nil {
				t.Fatal(err)
			}
			if len(plan.Vacancies) != 1 {
				t.Fatalf("plan: %+v", plan)
			}
			v := plan.Vacancies[0]
			checkBackupVacancy(t, p, v, tc.chosen, tc.backupDay, tc.changes)
			if !strings.Contains(v.Why, tc.why) || !strings.Contains(v.Note, tc.note) || (tc.note == "") != (v.Note == "") {
				t.Errorf("why %q (want %q), note %q (want %q)", v.Why, tc.why, v.Note, tc.note)
			}
			if tc.second != "" && (len(v.Candidates) < 2 || v.Candidates[1].PersonID != tc.second || v.Candidates[1].Backup ||
				v.Candidates[1].Cost >= v.Candidates[0].Cost) {
				t.Errorf("want the backup first, then %s at a lower cost: %+v", tc.second, v.Candidates)
			}
			if tc.chosen == "" {
				return
			}
			if len(plan.ActivatedBackups) != 1 || plan.ActivatedBackups[0] != (BackupActivation{PersonID: tc.chosen, TemplateID: "backup",
				Date: p.From.AddDays(tc.backupDay), Covers: sick}) {
				t.Errorf("activated backups %+v", plan.ActivatedBackups)
			}
			checkRepairedKeepsHardRules(t, p, live, plan)
		})
	}
}

// checkBackupVacancy checks v's chosen candidate: who, pulled from which backup session, with how
// many changes.
func checkBackupVacancy(t *testing.T, p *Problem, v Vacancy, chosen string, backupDay, changes int) {
	t.Helper()
	if chosen == "" {
		if v.Chosen != nil {
			t.Fatalf("chosen %+v, want none (%s)", v.Chosen, v.Why)
		}
		return
	}
	c := v.Chosen
	if c == nil || c.PersonID != chosen || c.Changes != changes || !c.Backup || c.ActivatedBackupTemplateID != "backup" ||
		c.ActivatedBackupDate == nil || *c.ActivatedBackupDate != p.From.AddDays(backupDay) {
		t.Fatalf("chosen %+v, want %s from the backup of day %d with %d changes (%s)", c, chosen, backupDay, changes, v.Why)
	}
}

// checkRepairedKeepsHardRules applies plan to live and checks the validator finds no new hard
// violation (the pulled backup is not on another rotation in its eyes), and that the backup
// session is kept.
func checkRepairedKeepsHardRules(t *testing.T, p *Problem, live []Assignment, plan *RepairPlan) {
	t.Helper()
	before, err := Validate(p, live)
	if err != nil {
		t.Fatal(err)
	}
	after := applyRepair(live, plan)
	vs, err := Validate(p, after)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range missingViolations(vs, before) {
		if Hard(v.Rule) {
			t.Errorf("after the repair: %+v", v)
		}
	}
	a := plan.ActivatedBackups[0]
	if !slices.Contains(after, Assignment{Slot: Slot{a.Date, PM}, PersonID: a.PersonID, TemplateID: a.TemplateID}) {
		t.Errorf("the activated backup session was given up: %+v", after)
	}
}

// The validator lets a resident whose backup call covers the day hold another rotation's
// template, and no one else: the session's day and the next, not the day after.
func TestValidatorLetsTheBackupPoolCrossRotations(t *testing.T) {
	p := backupProgram("B")
	for _, c := range []struct {
		backupDay, wardDay int
		flagged            bool
	}{{-1, 5, true}, {5, 5, false}, {4, 5, false}, {3, 5, true}, {6, 5, true}} {
		live := []Assignment{at2(p, c.wardDay, AM, "r2", "ward")}
		if c.backupDay >= 0 {
			live = append(live, at2(p, c.backupDay, PM, "r2", "backup"))
		}
		vs, err := Validate(p, live)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.ContainsFunc(vs, func(v acgme.Violation) bool { return v.Rule == RuleRotationPlan }); got != c.flagged {
			t.Errorf("backup on day %d, ward on day %d: rotation_plan reported %v, want %v", c.backupDay, c.wardDay, got, c.flagged)
		}
	}
}

// A manual edit crossing the plan gives a reason even beside a backup session (StrictPlan), and a
// backup session is no excuse for itself: a backup template of another rotation is
// rotation_plan like any other.
func TestBackupCoverIsNotAManualExemption(t *testing.T) {
	p := backupProgram("B")
	live := []Assignment{at2(p, 5, AM, "r2", "ward"), at2(p, 5, PM, "r2", "backup")}
	for _, strict := range []bool{false, true} {
		p.StrictPlan = strict
		vs, err := Validate(p, live)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.ContainsFunc(vs, func(v acgme.Violation) bool { return v.Rule == RuleRotationPlan }); got != strict {
			t.Errorf("strict %v: rotation_plan reported %v", strict, got)
		}
	}
	p = backupProgram("B")
	for k := range p.Templates {
		if p.Templates[k].ID == "backup" {
			p.Templates[k].RotationID = "A"
		}
	}
	vs, err := Validate(p, []Assignment{at2(p, 5, PM, "r2", "backup")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(vs, func(v acgme.Violation) bool { return v.Rule == RuleRotationPlan }) {
		t.Errorf("a backup session of another rotation excused itself: %+v", vs)
	}
}

// A backup pulled in across rotations keeps the session that lets them: a later vacancy of the
// same repair in that session's own half-day does not move them off it.
func TestRepairKeepsTheSessionABackupWasPulledInBy(t *testing.T) {
	p := backupProgram("B")
	p.Templates[2].MinResidents = 1 // the night call, of no rotation
	for _, id := range []string{"r3", "r4"} {
		p.Absences = append(p.Absences, Absence{PersonID: id, Start: p.From.AddDays(5), End: p.From.AddDays(5)})
	}
	live := []Assignment{at2(p, 5, AM, "r1", "ward"), at2(p, 5, PM, "r1", "call"), at2(p, 5, PM, "r2", "backup")}
	plan, err := PlanRepair(p, live, Absence{PersonID: "r1", Start: p.From.AddDays(5), End: p.From.AddDays(5)})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Vacancies) != 2 || plan.Vacancies[0].Chosen == nil || plan.Vacancies[0].Chosen.PersonID != "r2" || !plan.Vacancies[0].Chosen.Backup {
		t.Fatalf("the ward morning is not the backup's: %+v", plan.Vacancies)
	}
	if v := plan.Vacancies[1]; v.Chosen != nil || !strings.Contains(v.Why, "their backup call covers an earlier choice") {
		t.Fatalf("the night call: chosen %+v, why %q", v.Chosen, v.Why)
	}
	checkRepairedKeepsHardRules(t, p, live, plan)
}
