package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// assignmentsOf lists the template of each of a person's live assignments in [from, to].
func (e *env) assignmentsOf(as *user, person, from, to string) []string {
	e.t.Helper()
	r := e.call("GET", "/api/v1/assignments?start_date="+from+"&end_date="+to+"&page_size=5000&person_id="+person, nil, req{bearer: as.Access}).
		want(e.t, 200, "list assignments")
	var out []string
	for _, it := range r.Body["items"].([]any) {
		out = append(out, it.(map[string]any)["rotation_template_id"].(string))
	}
	return out
}

// A 5-year program on real PostgreSQL: PGY-4 and PGY-5 residents are created through the API, a
// template restricted to them names those levels, and the solver staffs it with them only.
// Levels past 8 are a 422 naming the field, as is a program that ends before the level.
func TestFiveYearProgramSchedulesItsSeniorResidents(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	level := map[string]int{}
	for pgy := 1; pgy <= 5; pgy++ {
		for i := range 2 {
			r := e.call("POST", "/api/v1/people", map[string]any{"name": fmt.Sprintf("PGY%d-%d", pgy, i), "type": "resident", "pgy_level": pgy, "final_pgy_level": 5},
				req{bearer: coord.Access}).want(t, 201, "a resident of a 5-year program")
			if r.Body["final_pgy_level"].(float64) != 5 {
				t.Fatalf("created %s", r.Raw)
			}
			level[r.str("id")] = pgy
		}
	}
	e.call("POST", "/api/v1/people", map[string]any{"name": "Attending", "type": "faculty"}, req{bearer: coord.Access}).want(t, 201, "faculty")
	senior := e.call("POST", "/api/v1/rotation-templates", map[string]any{"name": "Senior clinic", "activity_type": "clinic", "hours_per_session": 4,
		"min_residents": 2, "max_residents": 2, "allowed_pgy_levels": []int{4, 5}}, req{bearer: coord.Access}).want(t, 201, "a PGY 4-5 template")
	if fmt.Sprint(senior.Body["allowed_pgy_levels"]) != "[4 5]" {
		t.Fatalf("template %s", senior.Raw)
	}
	e.call("POST", "/api/v1/rotation-templates", map[string]any{"name": "Wards", "activity_type": "inpatient", "hours_per_session": 6, "min_residents": 1,
		"max_residents": 10}, req{bearer: coord.Access}).want(t, 201, "wards")

	r := e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.5},
		req{bearer: coord.Access}).want(t, 200, "generate a week")
	if r.str("status") != "success" {
		t.Fatalf("run %.600s", r.Raw)
	}
	placed := map[int]int{}
	for id, pgy := range level {
		for _, tmpl := range e.assignmentsOf(coord, id, weekStart, weekEnd) {
			if tmpl == senior.str("id") {
				placed[pgy]++
			}
		}
	}
	// 5 weekdays x 2 halves x 2 residents, all PGY 4 or 5.
	if placed[4]+placed[5] != 20 || placed[1]+placed[2]+placed[3] != 0 {
		t.Fatalf("senior clinic half-days by level: %v", placed)
	}
	// The PGY-5s alone (the PGY-4s' days kept empty) cannot staff the senior clinic: partial, not refused.
	if r := e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": "2026-07-09", "end_date": "2026-07-10", "time_budget_seconds": 0.3, "pgy_levels": []int{5}},
		req{bearer: coord.Access}); (r.Status != 200 && r.Status != 207) || r.Body["hard_violations"].(float64) != 0 {
		t.Fatalf("a run of the PGY-5s alone: %d %.300s", r.Status, r.Raw)
	}

	for body, want := range map[string]string{
		`{"name":"X","type":"resident","pgy_level":9}`:                       "pgy_level 1 to 8",
		`{"name":"X","type":"resident","pgy_level":2,"final_pgy_level":9}`:   "final_pgy_level",
		`{"name":"X","type":"resident","pgy_level":2,"final_pgy_level":"3"}`: "final_pgy_level",
	} {
		if got := e.call("POST", "/api/v1/people", body, req{bearer: coord.Access, contentType: "application/json"}); got.Status != 422 || !strings.Contains(got.detail(), want) {
			t.Errorf("%s: %d %q, want 422 naming %q", body, got.Status, got.detail(), want)
		}
	}
	if got := e.call("POST", "/api/v1/rotation-templates", map[string]any{"name": "Too senior", "activity_type": "clinic", "hours_per_session": 4, "max_residents": 1,
		"allowed_pgy_levels": []int{9}}, req{bearer: coord.Access}); got.Status != 422 || !strings.Contains(got.detail(), "PGY level 9 is not 1 to 8") {
		t.Errorf("PGY 9 on a template: %d %s", got.Status, got.Raw)
	}
	e.call("GET", "/api/v1/people?pgy_level=5", nil, req{bearer: coord.Access}).want(t, 200, "filter by PGY 5")
	e.call("GET", "/api/v1/people?pgy_level=9", nil, req{bearer: coord.Access}).want(t, 422, "filter by PGY 9")
	e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "pgy_levels": []int{9}},
		req{bearer: coord.Access}).want(t, 422, "a run of PGY 9")
}

// DELETE of a person with history archives them: their assignments and absences stay (and
// still count when a past week is validated), lists leave them out unless asked, generation
// never places them again, the database itself refuses to delete them with their history, and
// restore brings them back. A person without history is deleted outright. Each is audited.
func TestDeletingAPersonWithHistoryArchivesThem(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	nurse := e.create(admin, "nurse", "rn")
	p := e.makeProgram(admin)
	e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.5},
		req{bearer: coord.Access}).want(t, 200, "generate a week")
	gone := p.residents[0]
	held := e.assignmentsOf(coord, gone, weekStart, weekEnd)
	if len(held) == 0 {
		t.Fatal("the resident holds nothing to keep")
	}
	validated := e.call("GET", "/api/v1/schedule/validate?start_date="+weekStart+"&end_date="+weekEnd, nil, req{bearer: coord.Access}).want(t, 200, "validate").Body["assignments"]

	e.call("DELETE", "/api/v1/people/"+gone, nil, req{bearer: nurse.Access}).want(t, 403, "a nurse archives")
	a := e.call("DELETE", "/api/v1/people/"+gone, nil, req{bearer: coord.Access}).want(t, 200, "archive a resident with history")
	if a.Body["archived"] != true || a.str("archived_reason") != "removed" || a.Body["archived_at"] == nil {
		t.Fatalf("archived: %s", a.Raw)
	}
	if n := e.count(`SELECT count(*) FROM people WHERE id = $1 AND archived_by = $2`, gone, coord.ID); n != 1 {
		t.Fatal("archived_by is not the coordinator")
	}
	if after := e.assignmentsOf(coord, gone, weekStart, weekEnd); len(after) != len(held) {
		t.Fatalf("archiving changed the history: %d assignments, had %d", len(after), len(held))
	}
	if v := e.call("GET", "/api/v1/schedule/validate?start_date="+weekStart+"&end_date="+weekEnd, nil, req{bearer: coord.Access}).want(t, 200, "validate again"); v.Body["assignments"] != validated {
		t.Fatalf("the past week validates %v assignments, had %v", v.Body["assignments"], validated)
	}
	ids := func(q string) map[string]bool {
		out := map[string]bool{}
		for _, it := range e.call("GET", "/api/v1/people"+q, nil, req{bearer: coord.Access}).want(t, 200, "list "+q).Body["items"].([]any) {
			out[it.(map[string]any)["id"].(string)] = true
		}
		return out
	}
	if ids("")[gone] || !ids("?include_archived=true")[gone] || len(ids("?include_archived=true")) != len(ids(""))+1 {
		t.Fatal("the default list shows the archived person, or the full list leaves them out")
	}
	e.call("GET", "/api/v1/people?include_archived=maybe", nil, req{bearer: coord.Access}).want(t, 422, "include_archived=maybe")
	if g := e.call("GET", "/api/v1/people/"+gone, nil, req{bearer: coord.Access}).want(t, 200, "read the archived"); g.Body["archived"] != true {
		t.Fatalf("read %s", g.Raw)
	}

	// The next week is generated without them; this week's run (over their half-days) keeps theirs.
	e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": "2026-07-09", "end_date": "2026-07-15", "time_budget_seconds": 0.5},
		req{bearer: coord.Access}).want(t, 200, "generate the next week")
	if got := e.assignmentsOf(coord, gone, "2026-07-09", "2026-07-15"); len(got) != 0 {
		t.Fatalf("the archived resident was scheduled: %v", got)
	}
	e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.5, "seed": 3},
		req{bearer: coord.Access}).want(t, 200, "regenerate the archived resident's week")
	if after := e.assignmentsOf(coord, gone, weekStart, weekEnd); len(after) != len(held) {
		t.Fatalf("regenerating their week changed their history: %d assignments, had %d", len(after), len(held))
	}

	// The database refuses to take the history with the person.
	_, err := e.apps[0].Store.Pool.Exec(context.Background(), `DELETE FROM people WHERE id = $1`, gone)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23503" {
		t.Fatalf("a raw DELETE of a person with assignments: %v, want a foreign-key violation", err)
	}

	// Restore, and a person without any history is deleted outright.
	if r := e.call("POST", "/api/v1/people/"+gone+"/restore", nil, req{bearer: coord.Access}).want(t, 200, "restore"); r.Body["archived"] != false {
		t.Fatalf("restored %s", r.Raw)
	}
	if !ids("")[gone] {
		t.Fatal("the restored person is not listed")
	}
	e.call("POST", "/api/v1/people/"+gone+"/restore", nil, req{bearer: nurse.Access}).want(t, 403, "a nurse restores")
	e.call("POST", "/api/v1/people/00000000-0000-4000-8000-000000000000/restore", nil, req{bearer: coord.Access}).want(t, 404, "restore nobody")
	fresh := e.call("POST", "/api/v1/people", map[string]any{"name": "Typo", "type": "faculty"}, req{bearer: coord.Access}).want(t, 201, "a mistake").str("id")
	e.call("DELETE", "/api/v1/people/"+fresh, nil, req{bearer: coord.Access}).want(t, 204, "delete a person without history")
	e.call("GET", "/api/v1/people/"+fresh, nil, req{bearer: coord.Access}).want(t, 404, "deleted")
	for action, want := range map[string]int{"person.archive": 1, "person.restore": 1, "person.delete": 1} {
		if n := e.count(`SELECT count(*) FROM audit_log WHERE action = $1`, action); n != want {
			t.Errorf("%d %s audit entries, want %d", n, action, want)
		}
	}
}

// The academic-year rollover on real PostgreSQL: a dry run shows what would change, changes
// nothing and answers a confirm token; the rollover is made only with it (422 without one or with
// another year's, so a typo'd year is seen in its dry run first; 409 when the residents changed
// since); it advances every active resident one level and archives those in their final level,
// in one audited transaction; a second call for the same year changes nothing and says so; an
// earlier year is refused, and bad input is a 422.
func TestRolloverAdvancesGraduatesOnceAndDryRuns(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	res := e.create(admin, "res", "resident")
	mk := func(name string, pgy, final int) string {
		return e.call("POST", "/api/v1/people", map[string]any{"name": name, "type": "resident", "pgy_level": pgy, "final_pgy_level": final},
			req{bearer: coord.Access}).want(t, 201, "create "+name).str("id")
	}
	intern, chief, fellow, senior := mk("Intern", 1, 3), mk("Chief", 3, 3), mk("Fellow", 5, 5), mk("Senior", 4, 5)
	e.call("POST", "/api/v1/people", map[string]any{"name": "Attending", "type": "faculty"}, req{bearer: coord.Access}).want(t, 201, "faculty")
	levels := func() string {
		var out []string
		for _, id := range []string{intern, chief, fellow, senior} {
			g := e.call("GET", "/api/v1/people/"+id, nil, req{bearer: coord.Access}).want(t, 200, "read")
			out = append(out, fmt.Sprintf("%v/%v", g.Body["pgy_level"], g.Body["archived"]))
		}
		return strings.Join(out, " ")
	}
	before := levels()
	body := map[string]any{"academic_year_start": "2027-07-01"}

	dryRun := func(year string) string {
		t.Helper()
		dry := e.call("POST", "/api/v1/people/rollover?dry_run=true", map[string]any{"academic_year_start": year}, req{bearer: coord.Access}).
			want(t, 200, "dry run "+year)
		if dry.Body["dry_run"] != true || !strings.HasPrefix(dry.str("confirm"), year+".") {
			t.Fatalf("dry run %s", dry.Raw)
		}
		return dry.str("confirm")
	}
	dry := e.call("POST", "/api/v1/people/rollover?dry_run=true", body, req{bearer: coord.Access}).want(t, 200, "dry run")
	if dry.Body["dry_run"] != true || dry.Body["advanced_count"].(float64) != 2 || dry.Body["graduated_count"].(float64) != 2 || levels() != before {
		t.Fatalf("dry run %s; levels %s, were %s", dry.Raw, levels(), before)
	}
	if again := dryRun("2027-07-01"); again != dry.str("confirm") {
		t.Fatalf("two dry runs of the same data: confirm %q and %q", dry.str("confirm"), again)
	}
	e.call("POST", "/api/v1/people/rollover", map[string]any{"academic_year_start": "2027-07-01", "confirm": dry.str("confirm")},
		req{bearer: res.Access}).want(t, 403, "a resident rolls over")

	// Without the dry run's token, or with the token of another year (a typo'd year: the
	// coordinator checked 2027's changes and sent 2072), nothing happens.
	for _, b := range []map[string]any{body, {"academic_year_start": "2027-07-01", "confirm": "2027-07-01"}, {"academic_year_start": "2072-07-01", "confirm": dry.str("confirm")},
		{"academic_year_start": "2027-07-01", "confirm": strings.Repeat("x", 101)}} {
		if r := e.call("POST", "/api/v1/people/rollover", b, req{bearer: coord.Access}); r.Status != 422 || !strings.Contains(r.detail(), "confirm") || levels() != before {
			t.Fatalf("%v: %d %s; levels %s", b, r.Status, r.Raw, levels())
		}
	}
	// The residents change after the dry run: its token no longer makes the rollover.
	late := mk("Late", 2, 3)
	if r := e.call("POST", "/api/v1/people/rollover", map[string]any{"academic_year_start": "2027-07-01", "confirm": dry.str("confirm")},
		req{bearer: coord.Access}); r.Status != 409 || !strings.Contains(r.detail(), "changed since the dry run") || levels() != before {
		t.Fatalf("a stale confirm: %d %s", r.Status, r.Raw)
	}
	e.call("DELETE", "/api/v1/people/"+late, nil, req{bearer: coord.Access}).want(t, 204, "the late resident removed")
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'people.rollover'`); n != 0 {
		t.Fatalf("%d rollover audit entries after refusals, want 0", n)
	}

	done := e.call("POST", "/api/v1/people/rollover", map[string]any{"academic_year_start": "2027-07-01", "confirm": dryRun("2027-07-01")},
		req{bearer: coord.Access}).want(t, 200, "roll over")
	if done.Body["already_done"] != false || done.Body["performed_at"] == nil || done.Body["advanced_count"].(float64) != 2 {
		t.Fatalf("rollover %s", done.Raw)
	}
	if got, want := levels(), "2/false 3/true 5/true 5/false"; got != want {
		t.Fatalf("after the rollover: %s, want %s", got, want)
	}
	graduated := e.call("GET", "/api/v1/people/"+chief, nil, req{bearer: coord.Access}).str("archived_reason")
	if graduated != "graduated" {
		t.Fatalf("the chief's archive reason is %q", graduated)
	}
	stamp := e.count(`SELECT count(*) FROM people WHERE updated_at > now() - interval '1 hour'`)

	again := e.call("POST", "/api/v1/people/rollover", body, req{bearer: coord.Access}).want(t, 200, "the same year again")
	if again.Body["already_done"] != true || again.Body["performed_at"] != done.Body["performed_at"] || len(again.Body["advanced"].([]any)) != 0 ||
		levels() != "2/false 3/true 5/true 5/false" || e.count(`SELECT count(*) FROM people WHERE updated_at > now() - interval '1 hour'`) != stamp {
		t.Fatalf("a second rollover of 2027 changed something: %s; %s", again.Raw, levels())
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'people.rollover' AND target = 'academic_year:2027-07-01'`); n != 2 {
		t.Errorf("%d rollover audit entries, want 2 (the rollover and the no-op)", n)
	}
	if r := e.call("POST", "/api/v1/people/rollover", map[string]any{"academic_year_start": "2026-07-01"}, req{bearer: coord.Access}); r.Status != 409 ||
		!strings.Contains(r.detail(), "roll forward only") {
		t.Fatalf("an earlier year: %d %s", r.Status, r.Raw)
	}
	for _, bad := range []string{`{}`, `{"academic_year_start":"2027-08-01"}`, `{"academic_year_start":"July 2027"}`, `{"academic_year_start":"1999-07-01"}`,
		`{"academic_year_start":"2027-07-01","graduating_pgy":3}`} {
		if r := e.call("POST", "/api/v1/people/rollover", bad, req{bearer: coord.Access, contentType: "application/json"}); r.Status != 422 || r.detail() == "" {
			t.Errorf("%s: %d %s, want 422 with a detail", bad, r.Status, r.Raw)
		}
	}
	e.call("POST", "/api/v1/people/rollover?dry_run=perhaps", body, req{bearer: coord.Access}).want(t, 422, "dry_run=perhaps")
	next := e.call("POST", "/api/v1/people/rollover", map[string]any{"academic_year_start": "2028-07-01", "confirm": dryRun("2028-07-01")},
		req{bearer: admin.Access}).want(t, 200, "the next year")
	if next.Body["graduated_count"].(float64) != 1 || levels() != "3/false 3/true 5/true 5/true" {
		t.Fatalf("2028: %s; %s", next.Raw, levels())
	}
}

// Learners on real PostgreSQL: a learner (no PGY level) is placed by hand on a template that
// takes learners, a run keeps that half-day and places them nowhere else, faculty supervise
// them as a PGY-1, and the validator refuses a learner on a template that takes none.
func TestLearnersArePlacedByHandSupervisedAndNeverScheduled(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	p := e.makeProgram(admin)
	teaching := e.call("POST", "/api/v1/rotation-templates", map[string]any{"name": "Teaching clinic", "activity_type": "clinic", "hours_per_session": 4,
		"max_residents": 1, "max_learners": 1, "supervision_required": true}, req{bearer: coord.Access}).want(t, 201, "a template that takes a learner")
	if teaching.Body["max_learners"].(float64) != 1 {
		t.Fatalf("template %s", teaching.Raw)
	}
	e.call("POST", "/api/v1/rotation-templates", map[string]any{"name": "Crowded", "activity_type": "clinic", "hours_per_session": 4, "max_residents": 1,
		"max_learners": 1001}, req{bearer: coord.Access}).want(t, 422, "max_learners 1001")
	student := e.call("POST", "/api/v1/people", map[string]any{"name": "Student", "type": "learner", "pgy_level": 2}, req{bearer: coord.Access}).want(t, 201, "a learner")
	if student.Body["pgy_level"] != nil || student.str("type") != "learner" {
		t.Fatalf("learner %s", student.Raw)
	}
	sid := student.str("id")
	if l := e.call("GET", "/api/v1/people?type=learner", nil, req{bearer: coord.Access}).want(t, 200, "list learners"); l.Body["total"].(float64) != 1 {
		t.Fatalf("learners %s", l.Raw)
	}
	// A learner needs supervising: placing them alone is refused like any hard violation.
	place := map[string]any{"person_id": sid, "date": weekStart, "time_of_day": "AM", "rotation_template_id": teaching.str("id")}
	if r := e.call("POST", "/api/v1/assignments", place, req{bearer: coord.Access}); r.Status != 422 || !strings.Contains(r.Raw, "supervision") {
		t.Fatalf("an unsupervised learner: %d %.300s", r.Status, r.Raw)
	}
	e.call("POST", "/api/v1/assignments", map[string]any{"person_id": p.faculty[0], "date": weekStart, "time_of_day": "AM", "rotation_template_id": teaching.str("id")},
		req{bearer: coord.Access}).want(t, 201, "place a supervisor")
	e.call("POST", "/api/v1/assignments", place, req{bearer: coord.Access}).want(t, 201, "place the learner")

	r := e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.5},
		req{bearer: coord.Access}).want(t, 200, "generate around the learner")
	if r.str("status") != "success" || r.Body["hard_violations"].(float64) != 0 {
		t.Fatalf("run %.400s", r.Raw)
	}
	if got := e.assignmentsOf(coord, sid, weekStart, weekEnd); len(got) != 1 || got[0] != teaching.str("id") {
		t.Fatalf("the learner's week: %v, want only the half-day placed by hand", got)
	}
	supervisors := 0
	for _, f := range p.faculty {
		r := e.call("GET", "/api/v1/assignments?start_date="+weekStart+"&end_date="+weekStart+"&person_id="+f, nil, req{bearer: coord.Access}).want(t, 200, "faculty")
		for _, it := range r.Body["items"].([]any) {
			if a := it.(map[string]any); a["rotation_template_id"] == teaching.str("id") && a["time_of_day"] == "AM" {
				supervisors++
			}
		}
	}
	if supervisors != 1 {
		t.Fatalf("%d faculty supervise the learner, want 1", supervisors)
	}
	if v := e.call("GET", "/api/v1/schedule/validate?start_date="+weekStart+"&end_date="+weekEnd, nil, req{bearer: coord.Access}).want(t, 200, "validate"); v.Body["compliant"] != true {
		t.Fatalf("validation %.600s", v.Raw)
	}
	wards := map[string]any{"person_id": sid, "date": weekStart, "time_of_day": "PM", "rotation_template_id": p.ward}
	if r := e.call("POST", "/api/v1/assignments", wards, req{bearer: coord.Access}); r.Status != 422 || !strings.Contains(r.Raw, "takes no learners") {
		t.Fatalf("a learner on the wards: %d %.300s", r.Status, r.Raw)
	}
	wards["override_reason"] = "shadowing the ward team for a morning"
	e.call("POST", "/api/v1/assignments", wards, req{bearer: coord.Access}).want(t, 201, "a learner on the wards, overridden")
	v := e.call("GET", "/api/v1/schedule/validate?start_date="+weekStart+"&end_date="+weekStart, nil, req{bearer: coord.Access}).want(t, 200, "validate")
	if v.Body["compliant"] != false || !strings.Contains(v.Raw, "takes no learners") {
		t.Fatalf("a learner on the wards: %.600s", v.Raw)
	}
}
