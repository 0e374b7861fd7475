package app

import (
	"testing"
)

// The block rotation plan end to end on real PostgreSQL: rotations made and their templates
// tied to them, a year's plan put and validated, a week generated in which every resident holds
// only their rotation's templates; bad inputs refused with 422, a resident can read but not write,
// and every write is in the audit trail.
func TestBlockPlanRestrictsTheGeneratedWeek(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	res := e.create(admin, "resident_user", "resident")
	p := e.makeProgram(admin) // residents PGY 1,2,3,1,2,3; wards, clinic, night call
	rot := func(body map[string]any) string {
		return e.call("POST", "/api/v1/rotations", body, req{bearer: coord.Access}).want(t, 201, "create rotation").str("id")
	}
	wards := rot(map[string]any{"name": "Inpatient medicine", "kind": "inpatient", "min_residents": 0, "max_residents": 4})
	amb := rot(map[string]any{"name": "Ambulatory", "kind": "clinic", "max_residents": 4})
	nf := rot(map[string]any{"name": "Night float", "kind": "night_float", "min_residents": 1, "max_residents": 2, "allowed_pgy_levels": []int{2, 3}})
	for tmpl, r := range map[string]string{p.ward: wards, p.clinic: amb, p.call: nf} {
		e.call("PATCH", "/api/v1/rotation-templates/"+tmpl, map[string]any{"rotation_id": r}, req{bearer: coord.Access}).want(t, 200, "tie a template")
	}
	got := e.call("GET", "/api/v1/rotations/"+nf, nil, req{bearer: res.Access}).want(t, 200, "a resident reads a rotation")
	if got.str("kind") != "night_float" || len(got.Body["allowed_pgy_levels"].([]any)) != 2 {
		t.Fatalf("rotation %s", got.Raw)
	}

	rotationOf := map[string]string{p.residents[0]: wards, p.residents[1]: amb, p.residents[2]: amb, p.residents[3]: wards, p.residents[4]: nf, p.residents[5]: wards}
	var entries []any
	for person, r := range rotationOf {
		entries = append(entries, map[string]any{"person_id": person, "block_number": 1, "rotation_id": r})
	}
	plan := e.call("PUT", "/api/v1/block-plan?year=2026", map[string]any{"entries": entries}, req{bearer: coord.Access}).want(t, 200, "put the plan")
	if plan.Body["total"].(float64) != 6 {
		t.Fatalf("plan %s", plan.Raw)
	}
	// Night float needs one resident a block: every block but 1 lacks one (block 0 of 2026 is
	// July 1, a day).
	v := e.call("GET", "/api/v1/block-plan/validate?year=2026", nil, req{bearer: res.Access}).want(t, 200, "validate the plan")
	if v.Body["valid"] != false || len(v.Body["violations"].([]any)) != 13 {
		t.Fatalf("validation %s", v.Raw)
	}
	for _, x := range v.Body["violations"].([]any) {
		if x := x.(map[string]any); x["rule"] != "under_capacity" || x["rotation_id"] != nf || x["block_number"] == float64(1) {
			t.Errorf("violation %v", x)
		}
	}

	r := e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.5},
		req{bearer: coord.Access}).want(t, 200, "generate a week within the plan")
	if r.Body["hard_violations"].(float64) != 0 {
		t.Fatalf("run %s", r.Raw)
	}
	templateRotation := map[string]string{p.ward: wards, p.clinic: amb, p.call: nf}
	live := e.call("GET", "/api/v1/assignments?start_date="+weekStart+"&end_date="+weekEnd+"&page_size=5000", nil, req{bearer: coord.Access}).want(t, 200, "the week")
	held := map[string]int{}
	for _, it := range live.Body["items"].([]any) {
		a := it.(map[string]any)
		person, tmpl := a["person_id"].(string), a["rotation_template_id"].(string)
		want, isResident := rotationOf[person]
		if !isResident {
			continue
		}
		if templateRotation[tmpl] != want {
			t.Errorf("%s (on rotation %s) holds template %s of rotation %s on %v", person, want, tmpl, templateRotation[tmpl], a["date"])
		}
		held[templateRotation[tmpl]]++
	}
	if held[wards] == 0 || held[amb] == 0 {
		t.Fatalf("the week placed nobody on wards or ambulatory: %v", held)
	}
	// The plan is part of what the schedule is judged by: the stored week is compliant.
	val := e.call("GET", "/api/v1/schedule/validate?start_date="+weekStart+"&end_date="+weekEnd, nil, req{bearer: coord.Access}).want(t, 200, "validate the week")
	if val.Body["hard_violations"].(float64) != 0 {
		t.Fatalf("validation %s", val.Raw)
	}

	// One resident at a time: set, read back, clear.
	e.call("PUT", "/api/v1/block-plan/people/"+p.residents[5], map[string]any{"academic_year": 2026, "block_number": 2, "rotation_id": nf},
		req{bearer: coord.Access}).want(t, 200, "set one block")
	e.call("DELETE", "/api/v1/block-plan/people/"+p.residents[5]+"?year=2026&block=2", nil, req{bearer: coord.Access}).want(t, 204, "clear it")
	e.call("DELETE", "/api/v1/block-plan/people/"+p.residents[5]+"?year=2026&block=2", nil, req{bearer: coord.Access}).want(t, 404, "nothing to clear")

	// Bad inputs: 422 with the reason.
	const unknown = "00000000-0000-4000-8000-000000000000"
	for what, c := range map[string]struct {
		method, path string
		body         any
	}{
		"a kind not in the list":   {"POST", "/api/v1/rotations", map[string]any{"name": "Surgery", "kind": "surgery", "max_residents": 2}},
		"min above max":            {"POST", "/api/v1/rotations", map[string]any{"name": "Surgery", "kind": "inpatient", "min_residents": 3, "max_residents": 2}},
		"PGY 9":                    {"POST", "/api/v1/rotations", map[string]any{"name": "Surgery", "kind": "inpatient", "max_residents": 2, "allowed_pgy_levels": []int{9}}},
		"no name":                  {"PATCH", "/api/v1/rotations/" + nf, map[string]any{"name": " "}},
		"a template rotation_id":   {"PATCH", "/api/v1/rotation-templates/" + p.ward, map[string]any{"rotation_id": "wards"}},
		"an unknown rotation":      {"PATCH", "/api/v1/rotation-templates/" + p.ward, map[string]any{"rotation_id": unknown}},
		"a PGY-1 on night float":   {"PUT", "/api/v1/block-plan/people/" + p.residents[0], map[string]any{"academic_year": 2026, "block_number": 3, "rotation_id": nf}},
		"block 14":                 {"PUT", "/api/v1/block-plan/people/" + p.residents[1], map[string]any{"academic_year": 2026, "block_number": 14, "rotation_id": amb}},
		"no year":                  {"PUT", "/api/v1/block-plan/people/" + p.residents[1], map[string]any{"block_number": 3, "rotation_id": amb}},
		"a faculty member":         {"PUT", "/api/v1/block-plan/people/" + p.faculty[0], map[string]any{"academic_year": 2026, "block_number": 3, "rotation_id": amb}},
		"an unknown rotation plan": {"PUT", "/api/v1/block-plan/people/" + p.residents[1], map[string]any{"academic_year": 2026, "block_number": 3, "rotation_id": unknown}},
		"a year out of range":      {"PUT", "/api/v1/block-plan?year=1999", map[string]any{"entries": []any{}}},
		"no entries":               {"PUT", "/api/v1/block-plan?year=2026", map[string]any{}},
		"two entries for a block": {"PUT", "/api/v1/block-plan?year=2026", map[string]any{"entries": []any{
			map[string]any{"person_id": p.residents[1], "block_number": 1, "rotation_id": amb}, map[string]any{"person_id": p.residents[1], "block_number": 1, "rotation_id": wards}}}},
		"a missing year":       {"GET", "/api/v1/block-plan", nil},
		"a bad year":           {"GET", "/api/v1/block-plan/validate?year=20x6", nil},
		"a block out of range": {"DELETE", "/api/v1/block-plan/people/" + p.residents[1] + "?year=2026&block=99", nil},
	} {
		if r := e.call(c.method, c.path, c.body, req{bearer: coord.Access}).want(t, 422, what); r.detail() == "" {
			t.Errorf("%s: no detail", what)
		}
	}
	// The plan is unchanged by the refused PUT.
	if n := e.call("GET", "/api/v1/block-plan?year=2026", nil, req{bearer: res.Access}).want(t, 200, "a resident reads the plan").Body["total"].(float64); n != 6 {
		t.Fatalf("the plan has %v entries after a refused PUT", n)
	}

	// A resident reads, never writes.
	e.call("POST", "/api/v1/rotations", map[string]any{"name": "Mine", "kind": "elective", "max_residents": 1}, req{bearer: res.Access}).want(t, 403, "a resident creates a rotation")
	e.call("PUT", "/api/v1/block-plan?year=2026", map[string]any{"entries": []any{}}, req{bearer: res.Access}).want(t, 403, "a resident puts a plan")
	e.call("PUT", "/api/v1/block-plan/people/"+p.residents[1], map[string]any{"academic_year": 2026, "block_number": 3, "rotation_id": nf}, req{bearer: res.Access}).
		want(t, 403, "a resident sets a block")

	// A rotation in use is not deleted; every write is audited.
	e.call("DELETE", "/api/v1/rotations/"+nf, nil, req{bearer: coord.Access}).want(t, 409, "delete a rotation in use")
	for action, n := range map[string]int{"rotation.create": 3, "block_plan.replace": 1, "block_plan.set": 1, "block_plan.clear": 1} {
		trail := e.call("GET", "/api/v1/audit?action="+action, nil, req{bearer: admin.Access}).want(t, 200, "audit "+action)
		if got := len(trail.Body["items"].([]any)); got != n {
			t.Errorf("%d %s audit entries, want %d", got, action, n)
		}
	}
	// Clearing the year lifts the plan: the call template is open again to everyone.
	e.call("PUT", "/api/v1/block-plan?year=2026", map[string]any{"entries": []any{}}, req{bearer: coord.Access}).want(t, 200, "clear the year")
	e.call("DELETE", "/api/v1/rotations/"+amb, nil, req{bearer: coord.Access}).want(t, 409, "a rotation a template uses")
}

// The greedy fill on real PostgreSQL: every empty cell of the year filled within capacities and
// eligibility, a valid plan, nothing added the second time, a resident refused.
func TestBlockPlanFillIsGreedyWithinCapacities(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	res := e.create(admin, "resident_user", "resident")
	p := e.makeProgram(admin) // six residents, PGY 1,2,3,1,2,3
	var nf string
	for k, body := range []map[string]any{
		{"name": "Night float", "kind": "night_float", "min_residents": 1, "max_residents": 1, "allowed_pgy_levels": []int{2, 3}},
		{"name": "Wards", "kind": "inpatient", "min_residents": 2, "max_residents": 3},
		{"name": "Clinic", "kind": "clinic", "max_residents": 2},
	} {
		id := e.call("POST", "/api/v1/rotations", body, req{bearer: coord.Access}).want(t, 201, "create rotation").str("id")
		if k == 0 {
			nf = id
		}
	}
	e.call("POST", "/api/v1/block-plan/fill?year=2026", nil, req{bearer: res.Access}).want(t, 403, "a resident fills")
	e.call("POST", "/api/v1/block-plan/fill", nil, req{bearer: coord.Access}).want(t, 422, "no year")
	f := e.call("POST", "/api/v1/block-plan/fill?year=2026", nil, req{bearer: coord.Access}).want(t, 200, "fill")
	if n := len(f.Body["added"].([]any)); n != 6*14 || f.Body["empty"].(float64) != 0 {
		t.Fatalf("fill added %d, empty %v: %.300s", n, f.Body["empty"], f.Raw)
	}
	v := e.call("GET", "/api/v1/block-plan/validate?year=2026", nil, req{bearer: coord.Access}).want(t, 200, "validate")
	if v.Body["valid"] != true || v.Body["entries"].(float64) != 6*14 {
		t.Fatalf("validation %s", v.Raw)
	}
	plan := e.call("GET", "/api/v1/block-plan?year=2026", nil, req{bearer: res.Access}).want(t, 200, "plan")
	pgy1 := map[string]bool{p.residents[0]: true, p.residents[3]: true}
	for _, it := range plan.Body["items"].([]any) {
		a := it.(map[string]any)
		if pgy1[a["person_id"].(string)] && a["rotation_id"] == nf {
			t.Errorf("a PGY-1 on night float: %v", a)
		}
	}
	if again := e.call("POST", "/api/v1/block-plan/fill?year=2026", nil, req{bearer: coord.Access}).want(t, 200, "fill again"); len(again.Body["added"].([]any)) != 0 {
		t.Fatalf("a second fill added %s", again.Raw)
	}
	if trail := e.call("GET", "/api/v1/audit?action=block_plan.fill", nil, req{bearer: admin.Access}).want(t, 200, "audit"); len(trail.Body["items"].([]any)) != 2 {
		t.Errorf("fill audit entries: %s", trail.Raw)
	}
}
