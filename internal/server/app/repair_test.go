package app

import (
	"context"
	"strings"
	"testing"
)

// Repair after a sick call, on real PostgreSQL: a resident of the live week calls in sick; the
// proposal removes their half-days, fills each vacancy with a ranked candidate and writes
// nothing; applied as confirmed, it leaves them free that day with no new hard violation and
// records schedule.repair; the same proposal again is stale (409); a repair for someone with no
// approved absence is refused (422).
func TestSickCallRepairIsProposedThenAppliedOnConfirmation(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	p := e.makeProgram(admin)
	e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.5},
		req{bearer: coord.Access}).want(t, 200, "a live week")
	const sickDay = "2026-07-06"
	day := e.call("GET", "/api/v1/assignments?start_date="+sickDay+"&end_date="+sickDay+"&rotation_template_id="+p.ward, nil, req{bearer: coord.Access}).want(t, 200, "Monday's wards")
	items := day.Body["items"].([]any)
	if len(items) == 0 {
		t.Fatal("nobody on the wards on Monday")
	}
	sick := items[0].(map[string]any)["person_id"].(string)
	ab := e.call("POST", "/api/v1/absences", map[string]any{"person_id": sick, "start_date": sickDay, "end_date": sickDay, "absence_type": "medical"},
		req{bearer: coord.Access}).want(t, 201, "the sick call")
	e.call("POST", "/api/v1/absences/"+ab.str("id")+"/approve", nil, req{bearer: coord.Access}).want(t, 200, "approved")

	before := e.count("SELECT count(*) FROM assignments")
	body := map[string]any{"person_id": sick, "start_date": sickDay, "end_date": sickDay}
	plan := e.call("POST", "/api/v1/schedule/repair", body, req{bearer: coord.Access}).want(t, 200, "the proposal")
	if e.count("SELECT count(*) FROM assignments") != before {
		t.Fatal("a proposal wrote")
	}
	removed := int(plan.Body["removed"].(float64))
	changes := plan.Body["changes"].([]any)
	vacancies, _ := plan.Body["vacancies"].([]any)
	chosen := 0
	for _, v := range vacancies {
		v := v.(map[string]any)
		if c, ok := v["chosen"].(map[string]any); ok {
			chosen++
			if cands := v["candidates"].([]any); len(cands) == 0 || cands[0].(map[string]any)["person_id"] != c["person_id"] {
				t.Errorf("the chosen candidate is not the first ranked: %v", v)
			}
		} else if v["why"] == "" {
			t.Errorf("a vacancy neither filled nor explained: %v", v)
		}
	}
	if removed == 0 || len(changes) != removed+chosen || plan.str("based_on") == "" || int(plan.Body["uncovered"].(float64)) != len(vacancies)-chosen {
		t.Fatalf("proposal: %.1500s", plan.Raw)
	}

	t.Logf("proposal: %d removed, %d vacancies, %d filled", removed, len(vacancies), chosen)
	apply := map[string]any{"person_id": sick, "start_date": sickDay, "end_date": sickDay, "based_on": plan.str("based_on"), "changes": changes}
	done := e.call("POST", "/api/v1/schedule/repair/apply", apply, req{bearer: coord.Access}).want(t, 200, "apply it")
	if int(done.Body["applied"].(float64)) != len(changes) || done.Body["hard_violations"].(float64) != 0 {
		t.Fatalf("applied: %s", done.Raw)
	}
	left := e.call("GET", "/api/v1/assignments?start_date="+sickDay+"&end_date="+sickDay+"&person_id="+sick, nil, req{bearer: coord.Access}).want(t, 200, "the sick person's day")
	if left.Body["total"].(float64) != 0 {
		t.Fatalf("the sick person still holds %s", left.Raw)
	}
	v := e.call("GET", "/api/v1/schedule/validate?start_date="+weekStart+"&end_date="+weekEnd, nil, req{bearer: coord.Access}).want(t, 200, "validate")
	if v.Body["hard_violations"].(float64) != 0 {
		t.Fatalf("after the repair: %.800s", v.Raw)
	}
	if n := e.count("SELECT count(*) FROM audit_log WHERE action = 'schedule.repair' AND target = $1", "person:"+sick); n != 1 {
		t.Errorf("%d schedule.repair audit entries", n)
	}
	e.call("POST", "/api/v1/schedule/repair/apply", apply, req{bearer: coord.Access}).want(t, 409, "the same proposal again")

	other := map[string]any{"person_id": p.residents[5], "start_date": "2026-07-07", "end_date": "2026-07-07", "based_on": "x",
		"changes": []any{map[string]any{"person_id": p.residents[5], "date": "2026-07-07", "time_of_day": "AM", "from_template_id": p.ward}}}
	e.call("POST", "/api/v1/schedule/repair/apply", other, req{bearer: coord.Access}).want(t, 422, "no approved absence")
	// A repair removes only the absent person's half-days and places only others, within the
	// absence and the day before it. (Someone else: not the sick resident, whom the generated
	// week picks.)
	someoneElse := p.residents[5]
	if someoneElse == sick {
		someoneElse = p.residents[4]
	}
	for what, c := range map[string]map[string]any{
		"removing someone else":     {"person_id": someoneElse, "date": sickDay, "time_of_day": "AM", "from_template_id": p.ward},
		"placing the absent person": {"person_id": sick, "date": sickDay, "time_of_day": "AM", "to_template_id": p.ward},
		"a day outside the absence": {"person_id": p.residents[5], "date": "2026-07-08", "time_of_day": "AM", "to_template_id": p.ward},
	} {
		bad := map[string]any{"person_id": sick, "start_date": sickDay, "end_date": sickDay, "based_on": plan.str("based_on"), "changes": []any{c}}
		e.call("POST", "/api/v1/schedule/repair/apply", bad, req{bearer: coord.Access}).want(t, 422, what)
	}
	var listed string
	if err := e.apps[0].Store.Pool.QueryRow(context.Background(), `SELECT details FROM audit_log WHERE action = 'schedule.repair'`).Scan(&listed); err != nil ||
		!strings.Contains(listed, "change_list") {
		t.Errorf("the repair's audit entry does not list its changes: %v %s", err, listed)
	}
	e.call("POST", "/api/v1/schedule/repair", map[string]any{"person_id": sick, "start_date": "2026-07-08", "end_date": "2026-07-06"}, req{bearer: coord.Access}).
		want(t, 422, "a reversed range")
	e.call("POST", "/api/v1/schedule/repair", map[string]any{"person_id": "00000000-0000-4000-8000-000000000000", "start_date": sickDay, "end_date": sickDay},
		req{bearer: coord.Access}).want(t, 404, "an unknown person")
}

// Repair pulls from the backup (jeopardy) pool across rotations, on real PostgreSQL: a ward
// resident calls in sick for Monday; everyone else is on the ambulatory rotation in the block
// plan, one of them on backup call the evening before (standing by into Monday). The proposal
// takes the backup for both half-days (the only one: the pool is then empty), keeps their backup
// session, and applied it leaves no hard violation (the validator lets the pulled backup hold
// the ward).
func TestSickCallRepairActivatesTheBackupPool(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	p := e.makeProgram(admin) // residents PGY 1,2,3,1,2,3; wards (min 1), clinic, night call
	rot := func(name, kind string) string {
		return e.call("POST", "/api/v1/rotations", map[string]any{"name": name, "kind": kind, "max_residents": 6}, req{bearer: coord.Access}).want(t, 201, "a rotation").str("id")
	}
	wards, amb := rot("Inpatient medicine", "inpatient"), rot("Ambulatory", "clinic")
	e.call("PATCH", "/api/v1/rotation-templates/"+p.ward, map[string]any{"rotation_id": wards}, req{bearer: coord.Access}).want(t, 200, "wards on the inpatient rotation")
	e.call("PATCH", "/api/v1/rotation-templates/"+p.clinic, map[string]any{"rotation_id": amb}, req{bearer: coord.Access}).want(t, 200, "clinic on ambulatory")
	backup := e.call("POST", "/api/v1/rotation-templates", map[string]any{"name": "Jeopardy", "activity_type": "backup_call", "hours_per_session": 18,
		"min_residents": 0, "max_residents": 1, "weekends": true}, req{bearer: coord.Access}).want(t, 201, "a backup call template").str("id")
	sick, jeopardy := p.residents[0], p.residents[1]
	entries := []any{map[string]any{"person_id": sick, "block_number": 1, "rotation_id": wards}}
	for _, r := range p.residents[1:] {
		entries = append(entries, map[string]any{"person_id": r, "block_number": 1, "rotation_id": amb})
	}
	e.call("PUT", "/api/v1/block-plan?year=2026", map[string]any{"entries": entries}, req{bearer: coord.Access}).want(t, 200, "the block plan")
	const sickDay, evening = "2026-07-06", "2026-07-05"
	place := func(person, date, half, tmpl string) {
		e.call("POST", "/api/v1/assignments", map[string]any{"person_id": person, "date": date, "time_of_day": half, "rotation_template_id": tmpl},
			req{bearer: coord.Access}).want(t, 201, "place "+half)
	}
	place(sick, sickDay, "AM", p.ward)
	place(sick, sickDay, "PM", p.ward)
	place(jeopardy, evening, "PM", backup)
	ab := e.call("POST", "/api/v1/absences", map[string]any{"person_id": sick, "start_date": sickDay, "end_date": sickDay, "absence_type": "medical"},
		req{bearer: coord.Access}).want(t, 201, "the sick call")
	e.call("POST", "/api/v1/absences/"+ab.str("id")+"/approve", nil, req{bearer: coord.Access}).want(t, 200, "approved")

	body := map[string]any{"person_id": sick, "start_date": sickDay, "end_date": sickDay}
	plan := e.call("POST", "/api/v1/schedule/repair", body, req{bearer: coord.Access}).want(t, 200, "the proposal")
	checkBackupProposal(t, plan, jeopardy, backup, evening, sickDay)
	apply := map[string]any{"person_id": sick, "start_date": sickDay, "end_date": sickDay, "based_on": plan.str("based_on"), "changes": plan.Body["changes"]}
	done := e.call("POST", "/api/v1/schedule/repair/apply", apply, req{bearer: coord.Access}).want(t, 200, "apply it")
	if done.Body["applied"].(float64) != 4 || done.Body["hard_violations"].(float64) != 0 {
		t.Fatalf("applied: %s", done.Raw)
	}
	held := e.call("GET", "/api/v1/assignments?start_date="+evening+"&end_date="+sickDay+"&person_id="+jeopardy, nil, req{bearer: coord.Access}).want(t, 200, "the backup's days")
	got := map[string]string{}
	for _, it := range held.Body["items"].([]any) {
		a := it.(map[string]any)
		got[a["date"].(string)+" "+a["time_of_day"].(string)] = a["rotation_template_id"].(string)
	}
	if len(got) != 3 || got[evening+" PM"] != backup || got[sickDay+" AM"] != p.ward || got[sickDay+" PM"] != p.ward {
		t.Fatalf("the backup holds %v", got)
	}
	v := e.call("GET", "/api/v1/schedule/validate?start_date="+weekStart+"&end_date="+weekEnd, nil, req{bearer: coord.Access}).want(t, 200, "validate")
	if v.Body["hard_violations"].(float64) != 0 {
		t.Fatalf("after the repair: %.800s", v.Raw)
	}

	// By hand, a backup session is no licence to cross the plan: placing another ambulatory
	// resident on the wards the morning after their backup evening needs a reason, audited.
	other := p.residents[2]
	place(other, sickDay, "PM", backup)
	cross := map[string]any{"person_id": other, "date": "2026-07-07", "time_of_day": "AM", "rotation_template_id": p.ward}
	refused := e.call("POST", "/api/v1/assignments", cross, req{bearer: coord.Access}).want(t, 422, "a manual crossing of the plan beside a backup")
	if !strings.Contains(refused.Raw, "rotation_plan") {
		t.Fatalf("refusal: %s", refused.Raw)
	}
	cross["override_reason"] = "Pulled from jeopardy by the chief resident by phone"
	e.call("POST", "/api/v1/assignments", cross, req{bearer: coord.Access}).want(t, 201, "the same with a reason")
}

// checkBackupProposal checks a repair proposal fills both of the sick day's ward half-days with
// the backup resident (their session of backupTmpl on sessionDay kept, not among the changes),
// activated once, and says the pool is then empty.
func checkBackupProposal(t *testing.T, plan resp, jeopardy, backupTmpl, sessionDay, sickDay string) {
	t.Helper()
	vacancies := plan.Body["vacancies"].([]any)
	if len(vacancies) != 2 || plan.Body["uncovered"].(float64) != 0 || len(plan.Body["changes"].([]any)) != 4 {
		t.Fatalf("proposal: %.2000s", plan.Raw)
	}
	for i, x := range vacancies {
		c, _ := x.(map[string]any)["chosen"].(map[string]any)
		if c == nil || c["person_id"] != jeopardy || c["backup"] != true || c["activated_backup_template_id"] != backupTmpl || c["activated_backup_date"] != sessionDay {
			t.Fatalf("vacancy %d: %v", i, x)
		}
	}
	if note, _ := vacancies[0].(map[string]any)["note"].(string); !strings.Contains(note, "the backup pool is empty") {
		t.Errorf("the first vacancy does not say the pool is empty: %v", vacancies[0])
	}
	acts, _ := plan.Body["activated_backups"].([]any)
	if len(acts) != 1 {
		t.Fatalf("activated backups: %v", plan.Body["activated_backups"])
	}
	if a := acts[0].(map[string]any); a["person_id"] != jeopardy || a["rotation_template_id"] != backupTmpl || a["date"] != sessionDay || a["covers_date"] != sickDay {
		t.Errorf("activated: %v", a)
	}
	for _, x := range plan.Body["changes"].([]any) {
		if x.(map[string]any)["from_template_id"] == backupTmpl {
			t.Errorf("the backup session is given up: %v", x)
		}
	}
}
