package app

import (
	"slices"
	"sync"
	"testing"
)

// templateEdit is a PATCH of template id with body, as coord.
func (e *env) templateEdit(coord *user, id string, body map[string]any) resp {
	e.t.Helper()
	return e.call("PATCH", "/api/v1/rotation-templates/"+id, body, req{bearer: coord.Access})
}

// rulesOf lists the rules of a response's violations, and whether each is hard.
func rulesOf(t *testing.T, r resp) (rules []string, hard []bool) {
	t.Helper()
	vs, ok := r.Body["violations"].([]any)
	if !ok {
		t.Fatalf("no violations list: %s", r.Raw)
	}
	for _, v := range vs {
		m := v.(map[string]any)
		rules, hard = append(rules, m["type"].(string)), append(hard, m["hard"].(bool))
	}
	return rules, hard
}

// A template change is a checked edit of every assignment on it, on real PostgreSQL:
// lengthening a 12-hour day shift to 24 hours under a resident who holds a ward morning right
// after it breaks 24+4 (continuous duty) there, so the change is refused with the violations
// (422, nothing written, no audit entry); with an override reason it goes through and the audit
// entry keeps the reason and the rules.
func TestTemplateEditBreakingDutyHoursIsRefusedUnlessOverridden(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	p := e.makeProgram(admin)
	shift := e.call("POST", "/api/v1/rotation-templates", map[string]any{"name": "Day shift", "activity_type": "inpatient", "start_time": "07:00",
		"hours_per_session": 12, "min_residents": 0, "max_residents": 2, "weekends": true}, req{bearer: admin.Access}).want(t, 201, "a shift").str("id")
	for _, a := range [][3]string{{"2026-07-06", "AM", shift}, {"2026-07-07", "AM", p.ward}} {
		r := e.call("POST", "/api/v1/assignments", map[string]any{"person_id": p.residents[0], "date": a[0], "time_of_day": a[1], "rotation_template_id": a[2]},
			req{bearer: coord.Access}).want(t, 201, "assign "+a[0])
		if r.Body["hard_violations"].(float64) != 0 {
			t.Fatalf("a clean assignment: %s", r.Raw)
		}
	}
	ref := e.templateEdit(coord, shift, map[string]any{"hours_per_session": 24}).want(t, 422, "a 24-hour shift before a ward morning")
	if rules, hard := rulesOf(t, ref); !slices.Contains(rules, "continuous_duty") || slices.Contains(hard, false) || ref.detail() == "" {
		t.Fatalf("refusal: %s", ref.Raw)
	}
	if n := e.count(`SELECT count(*) FROM rotation_templates WHERE id = $1 AND hours_per_session = 12`, shift); n != 1 {
		t.Fatal("a refused template change was written")
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'rotation_template.update'`); n != 0 {
		t.Fatalf("%d audit entries of a refused change", n)
	}
	e.templateEdit(coord, shift, map[string]any{"hours_per_session": 24, "override_reason": "short"}).want(t, 422, "a reason under 10 characters")

	reason := "Trauma surge: 24-hour shifts approved by the DIO"
	ok := e.templateEdit(coord, shift, map[string]any{"hours_per_session": 24, "override_reason": reason}).want(t, 200, "the same with a reason")
	if ok.Body["hours_per_session"].(float64) != 24 || ok.Body["hard_violations"].(float64) < 1 || ok.str("override_reason") != reason ||
		ok.Body["schedule_checked"] != true || ok.Body["days_checked"].(float64) != 1 {
		t.Fatalf("override: %s", ok.Raw)
	}
	// 2026-07 is before the test's today (the schedule's history): reported as past.
	if ok.Body["past_violations"].(float64) < 1 {
		t.Errorf("past violations: %s", ok.Raw)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'rotation_template.update' AND target = $1
		AND details::jsonb->>'override_reason' = $2 AND details::jsonb->'rules' ? 'continuous_duty'`, "rotation_template:"+shift, reason); n != 1 {
		t.Errorf("%d audit entries keep the override and its rules, want 1", n)
	}
}

// Narrowing who a template takes under the assignments already on it is hard too: PGY levels
// a resident on it no longer has (eligibility), a maximum under the residents placed
// (capacity), a credential the faculty on it lacks (eligibility).
func TestTemplateEditMakingAssignmentsIneligibleIsRefused(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	p := e.makeProgram(admin)
	// residents[0] is PGY-1, residents[1] PGY-2; faculty[0] holds no credential.
	place := func(person, tmpl string) {
		e.call("POST", "/api/v1/assignments", map[string]any{"person_id": person, "date": "2026-07-08", "time_of_day": "AM", "rotation_template_id": tmpl},
			req{bearer: coord.Access}).want(t, 201, "assign")
	}
	place(p.residents[0], p.ward)
	place(p.residents[1], p.ward)
	place(p.faculty[0], p.clinic)
	for _, c := range []struct {
		tmpl string
		body map[string]any
		rule string
	}{
		{p.ward, map[string]any{"allowed_pgy_levels": []int{2, 3}}, "eligibility"},
		{p.ward, map[string]any{"max_residents": 1}, "capacity"},
		{p.clinic, map[string]any{"required_credential": "procedures"}, "eligibility"},
	} {
		r := e.templateEdit(coord, c.tmpl, c.body).want(t, 422, c.rule)
		if rules, _ := rulesOf(t, r); !slices.Contains(rules, c.rule) {
			t.Errorf("%v: %s", c.body, r.Raw)
		}
	}
	if n := e.count(`SELECT count(*) FROM rotation_templates WHERE id = $1 AND max_residents = 3 AND allowed_pgy_levels = '{}'`, p.ward); n != 1 {
		t.Fatal("a refused change was written")
	}
}

// A change of the name alone is not judged; a change of the sessions that breaks nothing
// answers 200 with no violations; one that only leaves coverage short (soft) goes through with
// the coverage findings listed.
func TestTemplateEditHarmlessAndSoftOnly(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	p := e.makeProgram(admin)
	e.call("POST", "/api/v1/assignments", map[string]any{"person_id": p.residents[0], "date": "2026-07-08", "time_of_day": "AM", "rotation_template_id": p.ward},
		req{bearer: coord.Access}).want(t, 201, "assign")
	name := e.templateEdit(coord, p.ward, map[string]any{"name": "Inpatient wards"}).want(t, 200, "rename")
	if vs := name.Body["violations"].([]any); len(vs) != 0 || name.Body["schedule_checked"] != false || name.str("name") != "Inpatient wards" {
		t.Fatalf("rename: %s", name.Raw)
	}
	same := e.templateEdit(coord, p.ward, map[string]any{"max_learners": 2}).want(t, 200, "a harmless change of the sessions")
	if vs := same.Body["violations"].([]any); len(vs) != 0 || same.Body["schedule_checked"] != true || same.Body["days_checked"].(float64) != 1 ||
		same.Body["hard_violations"].(float64) != 0 {
		t.Fatalf("harmless: %s", same.Raw)
	}
	soft := e.templateEdit(coord, p.ward, map[string]any{"min_residents": 2}).want(t, 200, "a minimum the schedule does not meet")
	rules, hard := rulesOf(t, soft)
	if len(rules) == 0 || slices.Contains(hard, true) || soft.Body["hard_violations"].(float64) != 0 || rules[0] != "coverage" {
		t.Fatalf("soft: %s", soft.Raw)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'rotation_template.update' AND details::jsonb->'rules' ? 'coverage'
		AND NOT details::jsonb ? 'override_reason'`); n != 1 {
		t.Errorf("%d audit entries of the soft change list coverage, want 1", n)
	}
}

// Two template changes at once, each judged, both go through: the template lock orders them
// (without it each would hold the templates shared and wait on the other's write: a deadlock).
func TestConcurrentTemplateEditsDoNotDeadlock(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	p := e.makeProgram(admin)
	for _, a := range [][2]string{{p.residents[0], p.ward}, {p.residents[1], p.call}} {
		e.call("POST", "/api/v1/assignments", map[string]any{"person_id": a[0], "date": "2026-07-08", "time_of_day": "PM", "rotation_template_id": a[1]},
			req{bearer: coord.Access}).want(t, 201, "assign")
	}
	for round := range 3 {
		codes := make([]int, 2)
		var wg sync.WaitGroup
		for i, id := range []string{p.ward, p.call} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i] = e.templateEdit(coord, id, map[string]any{"max_learners": round + 1}).Status
			}()
		}
		wg.Wait()
		if codes[0] != 200 || codes[1] != 200 {
			t.Fatalf("round %d: statuses %v, want 200 twice", round, codes)
		}
	}
}
