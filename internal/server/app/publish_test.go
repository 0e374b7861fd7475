package app

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// liveWeek is the live schedule of the test week as "person date half template" lines, sorted.
func (e *env) liveWeek(t *testing.T, as *user) []string {
	t.Helper()
	l := e.call("GET", "/api/v1/assignments?start_date="+weekStart+"&end_date="+weekEnd+"&page_size=500", nil, req{bearer: as.Access}).want(t, 200, "the live week")
	var out []string
	for _, it := range l.Body["items"].([]any) {
		a := it.(map[string]any)
		out = append(out, fmt.Sprint(a["person_id"], " ", a["date"], " ", a["time_of_day"], " ", a["rotation_template_id"]))
	}
	slices.Sort(out)
	return out
}

// runWeek is what a run proposed, in liveWeek's form.
func (e *env) runWeek(t *testing.T, as *user, runID string) []string {
	t.Helper()
	r := e.call("GET", "/api/v1/schedule/runs/"+runID+"/assignments", nil, req{bearer: as.Access}).want(t, 200, "the run's assignments")
	var out []string
	for _, it := range r.Body["items"].([]any) {
		a := it.(map[string]any)
		slot := a["slot"].(map[string]any)
		out = append(out, fmt.Sprint(a["person_id"], " ", slot["date"], " ", slot["time_of_day"], " ", a["rotation_template_id"]))
	}
	slices.Sort(out)
	return out
}

// Draft -> review -> publish -> roll back, on real PostgreSQL: a draft leaves the live schedule
// alone; its diff says what publishing would change; publishing makes it live exactly, once,
// audited; a draft made before that is stale and refused; a rollback restores the previous
// schedule exactly (same rows), after which the earlier publication can be rolled back in turn;
// an edit made since a publication makes its rollback refused.
func TestDraftDiffPublishAndRollBack(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	e.makeProgram(admin)
	week := map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.3}
	live := e.call("POST", "/api/v1/schedule/generate", week, req{bearer: coord.Access}).want(t, 200, "a live week")
	first := e.liveWeek(t, coord)
	if !slices.Equal(first, e.runWeek(t, coord, live.str("id"))) || len(first) == 0 {
		t.Fatalf("the live run's schedule is not what is live")
	}

	draftBody := map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.3, "draft": true, "seed": 7}
	draft := e.call("POST", "/api/v1/schedule/generate", draftBody, req{bearer: coord.Access}).want(t, 200, "a draft")
	stale := e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.3, "draft": true, "seed": 8},
		req{bearer: coord.Access}).want(t, 200, "a second draft")
	if !slices.Equal(first, e.liveWeek(t, coord)) {
		t.Fatal("a draft changed the live schedule")
	}
	proposed := e.runWeek(t, coord, draft.str("id"))

	d := e.call("GET", "/api/v1/schedule/runs/"+draft.str("id")+"/diff", nil, req{bearer: coord.Access}).want(t, 200, "the draft's diff")
	changes := d.Body["changes"].([]any)
	n := func(k string) int { return int(d.Body[k].(float64)) }
	if d.Body["publishable"] != true || n("added")+n("removed")+n("changed") != len(changes) || n("unchanged")+n("changed")+n("removed") != len(first) ||
		n("unchanged")+n("changed")+n("added") != len(proposed) || d.Body["before"].(map[string]any)["hard_violations"].(float64) != 0 ||
		d.Body["after"].(map[string]any)["hard_violations"].(float64) != 0 {
		t.Fatalf("diff: %.1500s", d.Raw)
	}
	if eb, ea := d.Body["equity_before"].(map[string]any), d.Body["equity_after"].(map[string]any); len(eb["levels"].([]any)) != 3 || len(ea["levels"].([]any)) != 3 {
		t.Fatalf("the diff's equity: %v / %v", eb, ea)
	}
	if slices.Equal(first, proposed) != (len(changes) == 0) {
		t.Fatalf("%d changes listed for schedules that are equal=%v", len(changes), slices.Equal(first, proposed))
	}
	liveDiff := e.call("GET", "/api/v1/schedule/runs/"+live.str("id")+"/diff", nil, req{bearer: coord.Access}).want(t, 200, "the live run's diff")
	if liveDiff.Body["publishable"] != false || !strings.Contains(liveDiff.str("why"), "not a draft") || liveDiff.Body["changes"] != nil && len(liveDiff.Body["changes"].([]any)) != 0 {
		t.Fatalf("the live run's diff: %.600s", liveDiff.Raw)
	}

	pub := e.call("POST", "/api/v1/schedule/runs/"+draft.str("id")+"/publish", nil, req{bearer: coord.Access}).want(t, 200, "publish the draft")
	if !slices.Equal(proposed, e.liveWeek(t, coord)) || pub.str("run_id") != draft.str("id") || int(pub.Body["written"].(float64)) != len(proposed) ||
		int(pub.Body["replaced"].(float64)) != len(first) {
		t.Fatalf("published: %s", pub.Raw)
	}
	if n := e.count("SELECT count(*) FROM audit_log WHERE action = 'schedule.publish' AND target = $1", "schedule_publication:"+pub.str("id")); n != 1 {
		t.Errorf("%d schedule.publish audit entries", n)
	}
	e.call("POST", "/api/v1/schedule/runs/"+draft.str("id")+"/publish", nil, req{bearer: coord.Access}).want(t, 409, "publish twice")
	if r := e.call("POST", "/api/v1/schedule/runs/"+stale.str("id")+"/publish", nil, req{bearer: coord.Access}).want(t, 409, "a draft made before"); !strings.Contains(r.detail(), "changed since the draft was made") {
		t.Errorf("stale draft: %s", r.Raw)
	}
	e.call("POST", "/api/v1/schedule/runs/"+live.str("id")+"/publish", nil, req{bearer: coord.Access}).want(t, 409, "a live run")
	e.call("POST", "/api/v1/schedule/runs/"+draft.str("id")+"/publish", nil, req{bearer: e.create(admin, "res", "resident").Access}).want(t, 403, "a resident")

	// Roll back the draft's publication: the first schedule again, exactly.
	pubs := e.call("GET", "/api/v1/schedule/publications", nil, req{bearer: coord.Access}).want(t, 200, "publications")
	if pubs.Body["total"].(float64) != 2 {
		t.Fatalf("publications: %s", pubs.Raw)
	}
	liveItems := pubs.Body["items"].([]any)
	firstPub := liveItems[1].(map[string]any)["id"].(string)
	rb := e.call("POST", "/api/v1/schedule/publications/"+pub.str("id")+"/rollback", nil, req{bearer: coord.Access}).want(t, 200, "roll back")
	if rb.Body["rolled_back_at"] == nil || !slices.Equal(first, e.liveWeek(t, coord)) {
		t.Fatalf("after the rollback: %s", rb.Raw)
	}
	e.call("POST", "/api/v1/schedule/publications/"+pub.str("id")+"/rollback", nil, req{bearer: coord.Access}).want(t, 409, "roll back twice")
	// The range is again exactly what the first publication wrote: it can be rolled back in
	// turn, to the empty week it replaced.
	e.call("POST", "/api/v1/schedule/publications/"+firstPub+"/rollback", nil, req{bearer: coord.Access}).want(t, 200, "roll back the first")
	if w := e.liveWeek(t, coord); len(w) != 0 {
		t.Fatalf("after both rollbacks %d assignments are live, want none", len(w))
	}

	// An edit since a publication: rolling it back would lose the edit.
	again := e.call("POST", "/api/v1/schedule/generate", week, req{bearer: coord.Access}).want(t, 200, "a live week again")
	againPub := e.call("GET", "/api/v1/schedule/runs/"+again.str("id")+"/diff", nil, req{bearer: coord.Access}).want(t, 200, "its diff").str("publication_id")
	l := e.call("GET", "/api/v1/assignments?start_date="+weekStart+"&end_date="+weekEnd, nil, req{bearer: coord.Access}).want(t, 200, "the live week")
	one := l.Body["items"].([]any)[0].(map[string]any)
	e.call("PATCH", "/api/v1/assignments/"+one["id"].(string), map[string]any{"locked": true, "updated_at": one["updated_at"]},
		req{bearer: coord.Access}).want(t, 200, "an edit: lock one half-day")
	if r := e.call("POST", "/api/v1/schedule/publications/"+againPub+"/rollback", nil, req{bearer: coord.Access}).want(t, 409, "roll back over an edit"); !strings.Contains(r.detail(), "changed since it was published") {
		t.Errorf("rollback over an edit: %s", r.Raw)
	}
	if n := e.count("SELECT count(*) FROM audit_log WHERE action = 'schedule.rollback'"); n != 2 {
		t.Errorf("%d schedule.rollback audit entries, want 2", n)
	}
}

// A rollback restores a schedule judged on the data as it is now: an absence approved since the
// publication makes the schedule it replaced break availability, so the rollback is refused
// (422 naming the rule, nothing changed) unless an override reason says why, and then it is
// made and its audit entry keeps the rules broken and the reason.
func TestRollbackIsJudgedOnTheDataAsItIsNow(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	e.makeProgram(admin)
	week := map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.3}
	e.call("POST", "/api/v1/schedule/generate", week, req{bearer: coord.Access}).want(t, 200, "a live week")
	first := e.liveWeek(t, coord)
	// Someone on the first schedule is away on one of its days from now on: a draft made since
	// leaves them off that day, the first schedule does not.
	who := strings.Fields(first[0])
	ab := e.call("POST", "/api/v1/absences", map[string]any{"person_id": who[0], "start_date": who[1], "end_date": who[1], "absence_type": "medical"},
		req{bearer: coord.Access}).want(t, 201, "a sick day")
	e.call("POST", "/api/v1/absences/"+ab.str("id")+"/approve", nil, req{bearer: coord.Access}).want(t, 200, "approved")
	draft := e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.3, "draft": true},
		req{bearer: coord.Access})
	if draft.Status != 200 && draft.Status != 207 {
		t.Fatalf("the draft: %d %s", draft.Status, draft.Raw)
	}
	pub := e.call("POST", "/api/v1/schedule/runs/"+draft.str("id")+"/publish", map[string]any{"accept_incomplete": true}, req{bearer: coord.Access}).want(t, 200, "publish the draft")
	published := e.liveWeek(t, coord)
	if slices.ContainsFunc(published, func(l string) bool { return strings.HasPrefix(l, who[0]+" "+who[1]+" ") }) {
		t.Fatalf("the draft has %s on %s, the day they are away", who[0], who[1])
	}

	rollback := "/api/v1/schedule/publications/" + pub.str("id") + "/rollback"
	r := e.call("POST", rollback, nil, req{bearer: coord.Access}).want(t, 422, "a rollback onto an absence")
	if !strings.Contains(r.detail(), "availability") || !strings.Contains(r.Raw, `"person_id":"`+who[0]+`"`) {
		t.Fatalf("the refusal: %.800s", r.Raw)
	}
	if !slices.Equal(published, e.liveWeek(t, coord)) {
		t.Fatal("a refused rollback changed the live schedule")
	}
	e.call("POST", rollback, map[string]any{"override_reason": "short"}, req{bearer: coord.Access}).want(t, 422, "a too short reason")
	e.call("POST", rollback, map[string]any{"unknown": 1}, req{bearer: coord.Access}).want(t, 422, "an unknown field")

	reason := "the sick day is being covered by swap outside the system"
	ok := e.call("POST", rollback, map[string]any{"override_reason": reason}, req{bearer: coord.Access}).want(t, 200, "the rollback with a reason")
	if ok.Body["rolled_back_at"] == nil || ok.Body["override_reason"] != reason || ok.Body["hard_violations"].(float64) < 1 || !slices.Equal(first, e.liveWeek(t, coord)) {
		t.Fatalf("the overridden rollback: %.800s", ok.Raw)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE action = 'schedule.rollback' AND target = $1
		AND details::jsonb->>'override_reason' = $2 AND details::jsonb->'rules' @> '["availability"]'`, "schedule_publication:"+pub.str("id"), reason); n != 1 {
		t.Errorf("%d schedule.rollback audit entries with the override and the rule, want 1", n)
	}
	if n := e.count("SELECT count(*) FROM audit_log WHERE action = 'schedule.rollback'"); n != 1 {
		t.Errorf("%d schedule.rollback audit entries, want 1 (refusals write none)", n)
	}
	// The GME office sees it among the period's overrides, with its reason and the rule.
	rep := e.call("GET", "/api/v1/reports/compliance?start_date="+weekStart+"&end_date="+weekEnd, nil, req{bearer: coord.Access}).want(t, 200, "the compliance report")
	found := false
	for _, o := range rep.Body["overrides"].([]any) {
		m := o.(map[string]any)
		if m["action"] == "schedule.rollback" {
			found = m["override_reason"] == reason && m["range"] == weekStart+".."+weekEnd && slices.Contains(m["rules"].([]any), any("availability"))
		}
	}
	if !found {
		t.Fatalf("the compliance report's overrides without the rollback: %.1500s", rep.Raw)
	}
	csv := e.call("GET", "/api/v1/reports/compliance?format=csv&start_date="+weekStart+"&end_date="+weekEnd, nil, req{bearer: coord.Access}).want(t, 200, "as CSV")
	if !strings.Contains(csv.Raw, "rolled back") {
		t.Fatalf("the CSV does not list the rollback:\n%.1500s", csv.Raw)
	}
}

// A partial draft (coverage left unfilled) is published only when the coordinator says so.
func TestPublishingAnIncompleteDraftNeedsAcceptIncomplete(t *testing.T) {
	e := newEnv(t, 1, nil)
	admin := e.bootstrap()
	coord := e.create(admin, "coord", "coordinator")
	p := e.makeProgram(admin)
	e.call("PATCH", "/api/v1/rotation-templates/"+p.clinic, map[string]any{"min_residents": 2, "allowed_pgy_levels": []int{1}, "max_residents": 2},
		req{bearer: coord.Access}).want(t, 200, "the clinic needs two PGY-1s")
	ab := e.call("POST", "/api/v1/absences", map[string]any{"person_id": p.residents[0], "start_date": "2026-07-06", "end_date": "2026-07-06", "absence_type": "medical"},
		req{bearer: coord.Access}).want(t, 201, "a sick day")
	e.call("POST", "/api/v1/absences/"+ab.str("id")+"/approve", nil, req{bearer: coord.Access}).want(t, 200, "approved")
	draft := e.call("POST", "/api/v1/schedule/generate", map[string]any{"start_date": weekStart, "end_date": weekEnd, "time_budget_seconds": 0.3, "draft": true},
		req{bearer: coord.Access}).want(t, 207, "an incomplete draft")
	if r := e.call("POST", "/api/v1/schedule/runs/"+draft.str("id")+"/publish", map[string]any{}, req{bearer: coord.Access}).want(t, 409, "without accept_incomplete"); !strings.Contains(r.detail(), "accept_incomplete") {
		t.Errorf("%s", r.Raw)
	}
	if len(e.liveWeek(t, coord)) != 0 {
		t.Fatal("a refused publication wrote something")
	}
	e.call("POST", "/api/v1/schedule/runs/"+draft.str("id")+"/publish", map[string]any{"accept_incomplete": true}, req{bearer: coord.Access}).want(t, 200, "with accept_incomplete")
	if !slices.Equal(e.runWeek(t, coord, draft.str("id")), e.liveWeek(t, coord)) {
		t.Fatal("the accepted draft is not live")
	}
	e.call("POST", "/api/v1/schedule/runs/"+draft.str("id")+"/publish", map[string]any{"unknown": 1}, req{bearer: coord.Access}).want(t, 422, "an unknown field")
}
