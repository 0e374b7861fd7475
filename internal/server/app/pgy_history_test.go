package app

import (
	"fmt"
	"testing"
	"time"
)

// A resident's level is kept per academic year: an intern created in 2026 and rolled over into
// 2027 reads 2026: 1 and 2027: 2, and the compliance report and the validation of a 2026 week
// judge that week with the 2026 levels. One faculty member covers 4 supervision units: the
// intern (2 as a PGY-1) and three PGY-2s (1 each) are 5 in 2026, and the same clinic a year
// later (a PGY-2 and three PGY-3s: 4) is supervised.
func TestPGYHistoryJudgesAPastYearWithItsLevels(t *testing.T) {
	e := newEnv(t, 1, nil)
	start := time.Date(2026, time.August, 3, 12, 0, 0, 0, time.UTC)
	e.clock.now.Store(&start) // the program's today: academic year 2026
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	mk := func(body map[string]any) string {
		return e.call("POST", "/api/v1/people", body, req{bearer: coord.Access}).want(t, 201, fmt.Sprint("create ", body["name"])).str("id")
	}
	intern := mk(map[string]any{"name": "Intern", "type": "resident", "pgy_level": 1, "final_pgy_level": 3})
	seniors := []string{}
	for i := range 3 {
		seniors = append(seniors, mk(map[string]any{"name": fmt.Sprintf("Senior %d", i+1), "type": "resident", "pgy_level": 2, "final_pgy_level": 5}))
	}
	attending := mk(map[string]any{"name": "Attending", "type": "faculty", "max_sessions_per_week": 10})
	moved := mk(map[string]any{"name": "Moved", "type": "resident", "pgy_level": 1, "final_pgy_level": 4})
	e.call("PATCH", "/api/v1/people/"+moved, map[string]any{"pgy_level": 2}, req{bearer: coord.Access}).want(t, 200, "a level corrected")
	clinic := e.call("POST", "/api/v1/rotation-templates", map[string]any{"name": "Clinic", "activity_type": "clinic", "hours_per_session": 4,
		"min_residents": 0, "max_residents": 6, "supervision_required": true}, req{bearer: admin.Access}).want(t, 201, "clinic").str("id")
	for _, date := range []string{"2026-08-04", "2027-08-03"} {
		for _, who := range append([]string{attending, intern}, seniors...) {
			e.call("POST", "/api/v1/assignments", map[string]any{"person_id": who, "rotation_template_id": clinic, "date": date, "time_of_day": "AM",
				"override_reason": "planted: a clinic for the PGY history"}, req{bearer: coord.Access}).want(t, 201, "clinic "+date)
		}
	}

	dry := e.call("POST", "/api/v1/people/rollover?dry_run=true", map[string]any{"academic_year_start": "2027-07-01"}, req{bearer: coord.Access}).want(t, 200, "dry run")
	e.call("POST", "/api/v1/people/rollover", map[string]any{"academic_year_start": "2027-07-01", "confirm": dry.str("confirm")},
		req{bearer: coord.Access}).want(t, 200, "roll over into 2027")

	history := func(id string) string {
		r := e.call("GET", "/api/v1/people/"+id+"/pgy-history", nil, req{bearer: coord.Access}).want(t, 200, "history")
		out := ""
		for _, y := range r.Body["years"].([]any) {
			y := y.(map[string]any)
			out += fmt.Sprintf("%v:%v/%v ", y["academic_year"], y["pgy_level"], y["source"])
		}
		return out
	}
	for id, want := range map[string]string{intern: "2026:1/create 2027:2/rollover ", moved: "2026:2/update 2027:3/rollover ", attending: ""} {
		if got := history(id); got != want {
			t.Errorf("history %q, want %q", got, want)
		}
	}
	// A level set after the rollover (made before 1 July) is the new year's.
	e.call("PATCH", "/api/v1/people/"+moved, map[string]any{"pgy_level": 4}, req{bearer: coord.Access}).want(t, 200, "a level changed after the rollover")
	if got, want := history(moved), "2026:2/update 2027:4/update "; got != want {
		t.Errorf("after the change: %q, want %q", got, want)
	}
	e.call("GET", "/api/v1/people/00000000-0000-4000-8000-000000000000/pgy-history", nil, req{bearer: coord.Access}).want(t, 404, "no such person")
	e.call("GET", "/api/v1/people/nope/pgy-history", nil, req{bearer: coord.Access}).want(t, 404, "a malformed id")

	// A manual edit of last year's schedule is judged with last year's levels: the intern (2
	// units as a PGY-1) and two seniors fill the attending's 4; a third senior breaks
	// supervision in 2026 (refused without a reason) and not in 2027.
	for _, c := range []struct {
		date   string
		status int
	}{{"2026-08-11", 422}, {"2027-08-10", 201}} {
		for _, who := range []string{attending, intern, seniors[0], seniors[1]} {
			e.call("POST", "/api/v1/assignments", map[string]any{"person_id": who, "rotation_template_id": clinic, "date": c.date, "time_of_day": "AM",
				"override_reason": "planted: a clinic for the PGY history"}, req{bearer: coord.Access}).want(t, 201, "clinic "+c.date)
		}
		r := e.call("POST", "/api/v1/assignments", map[string]any{"person_id": seniors[2], "rotation_template_id": clinic, "date": c.date, "time_of_day": "AM"},
			req{bearer: coord.Access}).want(t, c.status, "a third senior in the clinic of "+c.date)
		if c.status == 422 && !hasRule(r.Body["violations"], "supervision") {
			t.Errorf("%s: refused for %.500s, want supervision", c.date, r.Raw)
		}
	}

	for _, c := range []struct {
		from, to string
		pgy      float64
		under    bool
	}{{"2026-08-03", "2026-08-09", 1, true}, {"2027-08-02", "2027-08-08", 2, false}} {
		r := e.call("GET", "/api/v1/reports/compliance?start_date="+c.from+"&end_date="+c.to, nil, req{bearer: coord.Access}).want(t, 200, "report "+c.from)
		if got := residentNamed(t, r, "Intern")["pgy_level"]; got != c.pgy {
			t.Errorf("%s: the intern is PGY-%v in the report, want %v", c.from, got, c.pgy)
		}
		if got := hasRule(r.Body["program"].(map[string]any)["violations_by_rule"], "supervision"); got != c.under {
			t.Errorf("%s: supervision violated %v, want %v: %.800s", c.from, got, c.under, r.Raw)
		}
		v := e.call("GET", "/api/v1/schedule/validate?start_date="+c.from+"&end_date="+c.to, nil, req{bearer: coord.Access}).want(t, 200, "validate "+c.from)
		if got := hasRule(v.Body["violations"], "supervision"); got != c.under {
			t.Errorf("%s: validation finds supervision violated %v, want %v: %.800s", c.from, got, c.under, v.Raw)
		}
	}
}

// hasRule says whether a list of violations (or of violations by rule) holds rule.
func hasRule(list any, rule string) bool {
	items, _ := list.([]any)
	for _, x := range items {
		m, _ := x.(map[string]any)
		if m["rule"] == rule || m["type"] == rule {
			return true
		}
	}
	return false
}

// A PGY history is an education record (a repeated year shows a remediation): coordinators and
// administrators read anyone's, a resident their own only, faculty none but their own.
func TestPGYHistoryIsReadByManagersAndItsOwner(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	res := e.create(admin, "res", "resident")
	fac := e.create(admin, "fac", "faculty")
	p := e.makeProgram(admin)
	e.call("PATCH", "/api/v1/people/"+p.residents[0], map[string]any{"user_id": res.ID}, req{bearer: admin.Access}).want(t, 200, "link the resident")
	path := func(id string) string { return "/api/v1/people/" + id + "/pgy-history" }
	e.call("GET", path(p.residents[1]), nil, req{bearer: coord.Access}).want(t, 200, "a coordinator reads anyone's")
	e.call("GET", path(p.residents[1]), nil, req{bearer: admin.Access}).want(t, 200, "an administrator reads anyone's")
	own := e.call("GET", path(p.residents[0]), nil, req{bearer: res.Access}).want(t, 200, "a resident reads their own")
	if own.Body["person_id"] != p.residents[0] {
		t.Fatalf("%s", own.Raw)
	}
	e.call("GET", path(p.residents[1]), nil, req{bearer: res.Access}).want(t, 403, "a resident reads another's")
	e.call("GET", path(p.residents[1]), nil, req{bearer: fac.Access}).want(t, 403, "a faculty member reads a resident's")
}
