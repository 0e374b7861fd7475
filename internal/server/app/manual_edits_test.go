package app

import (
	"slices"
	"strings"
	"sync"
	"testing"
)

// Manual edits are checked by every rule, on real PostgreSQL: an edit that breaks a hard rule is
// refused with what it would break (422, nothing written) unless an override reason is given,
// which the audit entry keeps with the rules broken; an edit that only leaves coverage short goes
// through and says so; a clean edit answers an empty list.
func TestManualEditsAreCheckedAndOverridesAudited(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	p := e.makeProgram(admin)
	r := p.residents[1]
	assign := func(date, half, tmpl, reason string) resp {
		body := map[string]any{"person_id": r, "date": date, "time_of_day": half, "rotation_template_id": tmpl}
		if reason != "" {
			body["override_reason"] = reason
		}
		return e.call("POST", "/api/v1/assignments", body, req{bearer: coord.Access})
	}
	// A 12-hour night call from 13:00 ends at 01:00; a ward morning at 07:00 leaves 6 hours off.
	clean := assign("2026-07-06", "PM", p.call, "").want(t, 201, "a call")
	if vs, ok := clean.Body["violations"].([]any); !ok || len(vs) != 0 || clean.Body["hard_violations"].(float64) != 0 {
		t.Fatalf("a clean edit: %s", clean.Raw)
	}
	before := e.count("SELECT count(*) FROM assignments")
	refused := assign("2026-07-07", "AM", p.ward, "").want(t, 422, "a ward morning 6 hours after the call")
	vs := refused.Body["violations"].([]any)
	if len(vs) == 0 || vs[0].(map[string]any)["type"] != "rest_between_shifts" || vs[0].(map[string]any)["hard"] != true ||
		!strings.Contains(refused.detail(), "override_reason") {
		t.Fatalf("refusal: %s", refused.Raw)
	}
	if n := e.count("SELECT count(*) FROM assignments"); n != before {
		t.Fatalf("a refused edit wrote: %d assignments, had %d", n, before)
	}
	assign("2026-07-07", "AM", p.ward, "too short").want(t, 422, "a reason under 10 characters")
	assign("2026-07-07", "AM", p.ward, "bad\x00reason here").want(t, 422, "a reason with a control character")

	reason := "Covering a sick colleague; approved by the program director"
	ok := assign("2026-07-07", "AM", p.ward, reason).want(t, 201, "the same with an override reason")
	if ok.Body["hard_violations"].(float64) < 1 || ok.str("override_reason") != reason {
		t.Fatalf("override: %s", ok.Raw)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'assignment.create' AND target = $1
		AND details::jsonb->>'override_reason' = $2 AND details::jsonb->'rules' ? 'rest_between_shifts'`, "assignment:"+ok.str("id"), reason); n != 1 {
		t.Errorf("%d audit entries keep the override and its rules, want 1", n)
	}

	// Soft only: the ward morning of 2026-07-08 covered by r, then deleted: the ward is short
	// again, which the deletion answers with (200, not a bare 204).
	ward := assign("2026-07-08", "PM", p.ward, "").want(t, 201, "a ward afternoon")
	del := e.call("DELETE", "/api/v1/assignments/"+ward.str("id"), nil, req{bearer: coord.Access, header: map[string]string{"If-Match": ward.Header.Get("ETag")}}).
		want(t, 200, "delete it")
	dv := del.Body["violations"].([]any)
	if len(dv) != 1 || dv[0].(map[string]any)["type"] != "coverage" || dv[0].(map[string]any)["hard"] != false || del.Body["hard_violations"].(float64) != 0 {
		t.Fatalf("delete: %s", del.Raw)
	}
	// Deleting the call behind the override needs no reason (it breaks nothing); deleting with
	// a bad reason is refused before anything happens.
	e.call("DELETE", "/api/v1/assignments/"+clean.str("id"), map[string]any{"override_reason": "x"},
		req{bearer: coord.Access, header: map[string]string{"If-Match": clean.Header.Get("ETag")}}).want(t, 422, "a bad reason")
	e.call("DELETE", "/api/v1/assignments/"+clean.str("id"), map[string]any{"reason": "x"},
		req{bearer: coord.Access, header: map[string]string{"If-Match": clean.Header.Get("ETag")}}).want(t, 422, "an unknown field")
}

// Two edits at once that each pass alone but break a rule together (a night call and a ward
// morning 6 hours after it) cannot both go through unchecked: the edit check locks what it
// judges, so the second sees the first and is refused.
func TestConcurrentEditsCannotTogetherBreakARule(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	p := e.makeProgram(admin)
	bodies := []map[string]any{
		{"person_id": p.residents[2], "date": "2026-07-06", "time_of_day": "PM", "rotation_template_id": p.call},
		{"person_id": p.residents[2], "date": "2026-07-07", "time_of_day": "AM", "rotation_template_id": p.ward},
	}
	for round := range 3 {
		codes := make([]int, 2)
		var wg sync.WaitGroup
		for i, b := range bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i] = e.call("POST", "/api/v1/assignments", b, req{bearer: coord.Access}).Status
			}()
		}
		wg.Wait()
		slices.Sort(codes)
		if codes[0] != 201 || codes[1] != 422 {
			t.Fatalf("round %d: statuses %v, want one 201 and one 422", round, codes)
		}
		e.sql(`DELETE FROM assignments WHERE person_id = $1`, p.residents[2])
	}
}
