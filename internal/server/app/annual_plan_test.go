package app

import (
	"strconv"
	"strings"
	"testing"
)

// The annual planner end to end on real PostgreSQL: graduation requirements and rotation
// requests stored (bad ones 422, residents read but do not write), a dry run proposing a whole
// year that keeps the kept entry and explains what it cannot meet, an apply refused without the
// preview's token (422) and after the inputs changed (409), then applied as previewed, audited.
func TestAnnualPlannerPreviewsAndAppliesTheYear(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	res := e.create(admin, "resident_user", "resident")
	p := e.makeProgram(admin) // six residents, PGY 1,2,3,1,2,3
	rot := map[string]string{}
	for _, body := range []map[string]any{
		{"name": "Night float", "kind": "night_float", "min_residents": 1, "max_residents": 1, "allowed_pgy_levels": []int{2, 3}},
		{"name": "Wards", "kind": "inpatient", "min_residents": 2, "max_residents": 3},
		{"name": "Clinic", "kind": "clinic", "max_residents": 2},
		{"name": "Vacation", "kind": "vacation", "max_residents": 1},
		{"name": "ICU", "kind": "icu", "max_residents": 1, "allowed_pgy_levels": []int{2, 3}},
	} {
		rot[body["name"].(string)] = e.call("POST", "/api/v1/rotations", body, req{bearer: coord.Access}).want(t, 201, "create rotation").str("id")
	}
	const unknown = "00000000-0000-4000-8000-000000000001"

	reqs := []any{
		map[string]any{"pgy_level": 1, "kind": "vacation", "min_blocks": 1, "max_blocks": 1},
		map[string]any{"pgy_level": 2, "rotation_id": rot["ICU"], "min_blocks": 2},
		map[string]any{"pgy_level": 1, "kind": "icu", "min_blocks": 1}, // ICU takes PGY 2-3: cannot be met
	}
	for name, bad := range map[string]any{
		"no list":         nil,
		"level 0":         []any{map[string]any{"pgy_level": 0, "kind": "icu", "min_blocks": 1}},
		"both targets":    []any{map[string]any{"pgy_level": 1, "kind": "icu", "rotation_id": rot["ICU"], "min_blocks": 1}},
		"unknown":         []any{map[string]any{"pgy_level": 1, "rotation_id": unknown, "min_blocks": 1}},
		"not a uuid":      []any{map[string]any{"pgy_level": 1, "rotation_id": "icu", "min_blocks": 1}},
		"max below min":   []any{map[string]any{"pgy_level": 1, "kind": "icu", "min_blocks": 2, "max_blocks": 1}},
		"15 blocks":       []any{map[string]any{"pgy_level": 1, "kind": "icu", "min_blocks": 15}},
		"twice":           []any{reqs[0], reqs[0]},
		"unknown field":   []any{map[string]any{"pgy_level": 1, "kind": "icu", "min_blocks": 1, "minimum": 2}},
		"nothing to meet": []any{map[string]any{"pgy_level": 1, "kind": "icu"}},
	} {
		r := e.call("PUT", "/api/v1/graduation-requirements", map[string]any{"requirements": bad}, req{bearer: coord.Access}).want(t, 422, name)
		if r.detail() == "" {
			t.Errorf("%s: 422 without a detail", name)
		}
	}
	e.call("PUT", "/api/v1/graduation-requirements", map[string]any{"requirements": reqs}, req{bearer: res.Access}).want(t, 403, "a resident sets requirements")
	e.call("PUT", "/api/v1/graduation-requirements", map[string]any{"requirements": reqs}, req{bearer: coord.Access}).want(t, 200, "requirements")
	if got := e.call("GET", "/api/v1/graduation-requirements", nil, req{bearer: res.Access}).want(t, 200, "a resident reads them"); got.Body["total"].(float64) != 3 {
		t.Fatalf("requirements %s", got.Raw)
	}

	wish := func(person string, block int, rotation string, avoid bool, weight int) map[string]any {
		return map[string]any{"person_id": person, "block_number": block, "rotation_id": rotation, "avoid": avoid, "weight": weight}
	}
	wishes := []any{
		wish(p.residents[0], 3, rot["Vacation"], false, 5),
		wish(p.residents[1], 2, rot["Night float"], true, 3),
		wish(p.residents[0], 4, rot["Night float"], false, 2), // PGY-1: not eligible
	}
	for name, bad := range map[string]any{
		"no list":       nil,
		"unknown":       []any{wish(unknown, 3, rot["Vacation"], false, 5)},
		"block 14":      []any{wish(p.residents[0], 14, rot["Vacation"], false, 5)},
		"weight 0":      []any{wish(p.residents[0], 3, rot["Vacation"], false, 0)},
		"weight 11":     []any{wish(p.residents[0], 3, rot["Vacation"], false, 11)},
		"twice":         []any{wishes[0], wishes[0]},
		"no block":      []any{map[string]any{"person_id": p.residents[0], "rotation_id": rot["Vacation"], "weight": 1}},
		"bad rotation":  []any{wish(p.residents[0], 3, unknown, false, 5)},
		"faculty wish":  []any{wish(p.faculty[0], 3, rot["Vacation"], false, 5)},
		"not a uuid":    []any{wish("someone", 3, rot["Vacation"], false, 5)},
		"unknown field": []any{map[string]any{"person_id": p.residents[0], "block_number": 1, "rotation_id": rot["Vacation"], "weight": 1, "why": "x"}},
	} {
		e.call("PUT", "/api/v1/rotation-requests?year=2026", map[string]any{"requests": bad}, req{bearer: coord.Access}).want(t, 422, name)
	}
	e.call("PUT", "/api/v1/rotation-requests", map[string]any{"requests": wishes}, req{bearer: coord.Access}).want(t, 422, "no year")
	e.call("PUT", "/api/v1/rotation-requests?year=2026", map[string]any{"requests": wishes}, req{bearer: res.Access}).want(t, 403, "a resident sets requests")
	e.call("PUT", "/api/v1/rotation-requests?year=2026", map[string]any{"requests": wishes}, req{bearer: coord.Access}).want(t, 200, "requests")
	if got := e.call("GET", "/api/v1/rotation-requests?year=2026", nil, req{bearer: coord.Access}).want(t, 200, "read requests"); got.Body["total"].(float64) != 3 {
		t.Fatalf("requests %s", got.Raw)
	}
	// Everyone's wishes are the planners': a resident reads their own only.
	e.call("GET", "/api/v1/rotation-requests?year=2026", nil, req{bearer: res.Access}).want(t, 403, "a resident reads everyone's requests")

	// A resident sets their own requests (one replaces theirs, the others' stay), not another's.
	e.call("PATCH", "/api/v1/people/"+p.residents[5], map[string]any{"user_id": res.ID}, req{bearer: admin.Access}).want(t, 200, "link the resident")
	own := []any{map[string]any{"block_number": 7, "rotation_id": rot["Clinic"], "weight": 4}}
	e.call("PUT", "/api/v1/people/"+p.residents[1]+"/rotation-requests?year=2026", map[string]any{"requests": own}, req{bearer: res.Access}).want(t, 403, "another's requests")
	e.call("PUT", "/api/v1/people/"+p.residents[5]+"/rotation-requests?year=2026", map[string]any{"requests": []any{wish(p.residents[1], 7, rot["Clinic"], false, 4)}},
		req{bearer: res.Access}).want(t, 422, "someone else's person_id in the body")
	e.call("PUT", "/api/v1/people/"+p.residents[5]+"/rotation-requests?year=2026", map[string]any{"requests": []any{map[string]any{"block_number": 7, "rotation_id": rot["Clinic"], "weight": 0}}},
		req{bearer: res.Access}).want(t, 422, "weight 0")
	e.call("PUT", "/api/v1/people/"+p.faculty[0]+"/rotation-requests?year=2026", map[string]any{"requests": own}, req{bearer: coord.Access}).want(t, 422, "a faculty member's")
	mine := e.call("PUT", "/api/v1/people/"+p.residents[5]+"/rotation-requests?year=2026", map[string]any{"requests": own}, req{bearer: res.Access}).want(t, 200, "own requests")
	if mine.Body["total"].(float64) != 1 || mine.Body["replaced"].(float64) != 0 {
		t.Fatalf("own requests %s", mine.Raw)
	}
	if got := e.call("GET", "/api/v1/rotation-requests?year=2026", nil, req{bearer: coord.Access}).want(t, 200, "read requests"); got.Body["total"].(float64) != 4 {
		t.Fatalf("requests after a resident's own %s", got.Raw)
	}
	if got := e.call("GET", "/api/v1/people/"+p.residents[5]+"/rotation-requests?year=2026", nil, req{bearer: res.Access}).want(t, 200, "read own requests"); got.Body["total"].(float64) != 1 {
		t.Fatalf("own requests read back %s", got.Raw)
	}
	e.call("GET", "/api/v1/people/"+p.residents[1]+"/rotation-requests?year=2026", nil, req{bearer: res.Access}).want(t, 403, "read another's requests")
	e.call("PUT", "/api/v1/people/"+p.residents[5]+"/rotation-requests?year=2026", map[string]any{"requests": []any{}}, req{bearer: res.Access}).want(t, 200, "clear own requests")

	// One kept entry: residents[2] (PGY-3) on clinic in block 1.
	e.call("PUT", "/api/v1/block-plan/people/"+p.residents[2], map[string]any{"academic_year": 2026, "block_number": 1, "rotation_id": rot["Clinic"]},
		req{bearer: coord.Access}).want(t, 200, "keep an entry")

	e.call("POST", "/api/v1/block-plan/solve?year=2026&dry_run=true", map[string]any{}, req{bearer: res.Access}).want(t, 403, "a resident solves")
	e.call("POST", "/api/v1/block-plan/solve?dry_run=true", map[string]any{}, req{bearer: coord.Access}).want(t, 422, "no year")
	e.call("POST", "/api/v1/block-plan/solve?year=2026&dry_run=true", map[string]any{"iterations": -1}, req{bearer: coord.Access}).want(t, 422, "negative iterations")
	e.call("POST", "/api/v1/block-plan/solve?year=2026&dry_run=maybe", map[string]any{}, req{bearer: coord.Access}).want(t, 422, "bad dry_run")
	preview := e.call("POST", "/api/v1/block-plan/solve?year=2026&dry_run=true", map[string]any{}, req{bearer: coord.Access}).want(t, 200, "preview")
	checkAnnualPreview(t, preview, p.residents, rot)
	if got := e.call("GET", "/api/v1/block-plan?year=2026", nil, req{bearer: coord.Access}).want(t, 200, "plan"); got.Body["total"].(float64) != 1 {
		t.Fatalf("a preview wrote the plan: %s", got.Raw)
	}

	confirm := preview.str("confirm")
	e.call("POST", "/api/v1/block-plan/solve?year=2026", map[string]any{}, req{bearer: coord.Access}).want(t, 422, "apply without confirm")
	e.call("POST", "/api/v1/block-plan/solve?year=2027", map[string]any{"confirm": confirm}, req{bearer: coord.Access}).want(t, 422, "another year's confirm")
	e.call("POST", "/api/v1/block-plan/solve?year=2026", map[string]any{"confirm": confirm, "replan": true}, req{bearer: coord.Access}).want(t, 409, "other options")
	// The inputs change: one more wish. The old preview's plan is not applied.
	e.call("PUT", "/api/v1/rotation-requests?year=2026", map[string]any{"requests": append(wishes, wish(p.residents[4], 5, rot["Clinic"], false, 1))},
		req{bearer: coord.Access}).want(t, 200, "requests changed")
	e.call("POST", "/api/v1/block-plan/solve?year=2026", map[string]any{"confirm": confirm}, req{bearer: coord.Access}).want(t, 409, "inputs changed")
	if got := e.call("GET", "/api/v1/block-plan?year=2026", nil, req{bearer: coord.Access}).want(t, 200, "plan"); got.Body["total"].(float64) != 1 {
		t.Fatalf("a refused apply wrote the plan: %s", got.Raw)
	}

	preview = e.call("POST", "/api/v1/block-plan/solve?year=2026&dry_run=true", map[string]any{}, req{bearer: coord.Access}).want(t, 200, "preview again")
	applied := e.call("POST", "/api/v1/block-plan/solve?year=2026", map[string]any{"confirm": preview.str("confirm")}, req{bearer: coord.Access}).want(t, 200, "apply")
	if applied.Body["applied"] != true || applied.str("confirm") != preview.str("confirm") {
		t.Fatalf("apply %.400s", applied.Raw)
	}
	plan := e.call("GET", "/api/v1/block-plan?year=2026", nil, req{bearer: coord.Access}).want(t, 200, "plan")
	if plan.Body["total"].(float64) != 6*14 {
		t.Fatalf("applied plan has %v entries", plan.Body["total"])
	}
	want := map[string]string{}
	for _, it := range preview.Body["entries"].([]any) {
		a := it.(map[string]any)
		want[a["person_id"].(string)+"/"+jsonNumber(a["block_number"])] = a["rotation_id"].(string)
	}
	for _, it := range plan.Body["items"].([]any) {
		a := it.(map[string]any)
		if want[a["person_id"].(string)+"/"+jsonNumber(a["block_number"])] != a["rotation_id"] {
			t.Fatalf("stored %v, previewed %v", a, want[a["person_id"].(string)+"/"+jsonNumber(a["block_number"])])
		}
	}
	v := e.call("GET", "/api/v1/block-plan/validate?year=2026", nil, req{bearer: coord.Access}).want(t, 200, "validate")
	for _, x := range v.Body["violations"].([]any) {
		x := x.(map[string]any)
		if x["rule"] != "requirement" || !strings.Contains(x["message"].(string), "kind icu") {
			t.Errorf("applied plan violation %v", x)
		}
	}
	e.call("POST", "/api/v1/block-plan/solve?year=2026", map[string]any{"confirm": preview.str("confirm")}, req{bearer: coord.Access}).want(t, 409, "the same confirm twice")

	// A kept entry the resident's level no longer allows (levels change at the rollover) is kept
	// and reported, and does not stop an apply.
	e.call("PUT", "/api/v1/block-plan/people/"+p.residents[4], map[string]any{"academic_year": 2026, "block_number": 5, "rotation_id": rot["Night float"]},
		req{bearer: coord.Access}).want(t, 200, "night float for a PGY-2")
	e.sql("UPDATE people SET pgy_level = 1 WHERE id = $1", p.residents[4])
	again := e.call("POST", "/api/v1/block-plan/solve?year=2026&dry_run=true", map[string]any{}, req{bearer: coord.Access}).want(t, 200, "preview with an ineligible kept entry")
	if again.Body["added"].(float64) != 0 || !strings.Contains(again.Raw, `"rule":"eligibility"`) {
		t.Fatalf("preview over a full plan: added %v: %.300s", again.Body["added"], again.Raw)
	}
	e.call("POST", "/api/v1/block-plan/solve?year=2026", map[string]any{"confirm": again.str("confirm")}, req{bearer: coord.Access}).want(t, 200, "apply with an ineligible kept entry")

	for action, n := range map[string]int{"block_plan.solve": 2, "graduation_requirements.replace": 1, "rotation_requests.replace": 2, "person_rotation_requests.replace": 2} {
		trail := e.call("GET", "/api/v1/audit?action="+action, nil, req{bearer: admin.Access}).want(t, 200, "audit "+action)
		if got := len(trail.Body["items"].([]any)); got != n {
			t.Errorf("%d %s audit entries, want %d", got, action, n)
		}
	}
}

func jsonNumber(v any) string { return strconv.Itoa(int(v.(float64))) }

// checkAnnualPreview checks a dry run of the six-resident year: every resident in every block
// with days, the kept entry kept, the bound below the cost, the impossible PGY-1 ICU requirement
// and the PGY-1 night-float wish explained, the vacation wish honoured.
func checkAnnualPreview(t *testing.T, preview resp, residents []string, rot map[string]string) {
	t.Helper()
	b := preview.Body
	if n := len(b["entries"].([]any)); n != 6*14 || b["kept"].(float64) != 1 || b["applied"] != false {
		t.Fatalf("preview: %d entries, kept %v: %.400s", n, b["kept"], preview.Raw)
	}
	cost := b["cost"].(map[string]any)
	if b["lower_bound"].(float64) > cost["total"].(float64) || cost["unplaced"].(float64) != 0 {
		t.Fatalf("bound %v cost %v", b["lower_bound"], cost)
	}
	unmet := b["requirements_unmet"].([]any)
	if len(unmet) != 2 {
		t.Fatalf("requirements unmet: %v", unmet)
	}
	for _, u := range unmet {
		u := u.(map[string]any)
		if !strings.Contains(u["why"].(string), "no rotation it counts takes PGY-1") {
			t.Errorf("unmet %v", u)
		}
	}
	for _, o := range b["requests"].([]any) {
		o := o.(map[string]any)
		switch {
		case o["person_id"] == residents[0] && o["rotation_id"] == rot["Vacation"] && o["honoured"] != true:
			t.Errorf("the vacation wish: %v", o)
		case o["rotation_id"] == rot["Night float"] && o["avoid"] == false && (o["honoured"] != false || !strings.Contains(o["why"].(string), "takes PGY")):
			t.Errorf("the ineligible wish: %v", o)
		}
	}
	if len(b["fairness"].([]any)) != 6 || b["confirm"] == "" || len(b["shortfalls"].([]any)) != 0 {
		t.Fatalf("fairness %v shortfalls %v confirm %v", b["fairness"], b["shortfalls"], b["confirm"])
	}
}
