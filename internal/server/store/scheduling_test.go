package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rsched/rsched/internal/server/roster"
)

func schedulingStore(t *testing.T) *Store {
	t.Helper()
	s, _, err := Open(context.Background(), freshDatabase(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// mustID returns a function that passes a new record's id through, failing the test on an error.
func mustID[R interface{ id() string }](t *testing.T) func(R, error) string {
	return func(r R, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r.id()
	}
}

func (p PersonRecord) id() string   { return p.ID }
func (t TemplateRecord) id() string { return t.ID }

func person(p roster.Person, email string) PersonRecord {
	return PersonRecord{Person: p, Email: email}
}

var july1 = roster.Date{Year: 2026, Month: time.July, Day: 1}

// The scheduling tables refuse what makes no sense themselves, whatever the application does.
func TestSchedulingConstraintsAreTheDatabases(t *testing.T) {
	s := schedulingStore(t)
	ctx := context.Background()
	if _, err := s.CreatePerson(ctx, person(roster.Person{Name: "Dr. A", Type: roster.Resident, PGY: 2}, "a@hospital.example")); err != nil {
		t.Fatal(err)
	}
	// A fellow: PGY 5 of a program that ends in it, on a template for PGY 4 and 5.
	if _, err := s.Pool.Exec(ctx, `INSERT INTO people (id, name, type, pgy_level, final_pgy_level) VALUES (gen_random_uuid(), 'f', 'resident', 5, 5)`); err != nil {
		t.Fatalf("a PGY-5 fellow: %v", err)
	}
	if _, err := s.Pool.Exec(ctx, `INSERT INTO rotation_templates (id, name, activity_type, hours_per_session, max_residents, allowed_pgy_levels)
		VALUES (gen_random_uuid(), 'fellows', 'clinic', 4, 2, '{4,5}')`); err != nil {
		t.Fatalf("a template for PGY 4 and 5: %v", err)
	}
	if _, err := s.CreatePerson(ctx, person(roster.Person{Name: "Dr. B", Type: roster.Faculty}, "A@HOSPITAL.example")); !errors.Is(err, ErrConflict) {
		t.Fatalf("an e-mail differing only in case: %v, want ErrConflict", err)
	}
	for name, q := range map[string]string{
		"a resident without a PGY level":   `INSERT INTO people (id, name, type) VALUES (gen_random_uuid(), 'x', 'resident')`,
		"a faculty member with one":        `INSERT INTO people (id, name, type, pgy_level) VALUES (gen_random_uuid(), 'x', 'faculty', 1)`,
		"PGY-9":                            `INSERT INTO people (id, name, type, pgy_level, final_pgy_level) VALUES (gen_random_uuid(), 'x', 'resident', 9, 9)`,
		"a level past the program's end":   `INSERT INTO people (id, name, type, pgy_level, final_pgy_level) VALUES (gen_random_uuid(), 'x', 'resident', 4, 3)`,
		"a resident without a final level": `INSERT INTO people (id, name, type, pgy_level) VALUES (gen_random_uuid(), 'x', 'resident', 2)`,
		"an archive without a reason":      `INSERT INTO people (id, name, type, archived_at) VALUES (gen_random_uuid(), 'x', 'faculty', now())`,
		"a 7-hour half-day":                `INSERT INTO rotation_templates (id, name, activity_type, hours_per_session, max_residents) VALUES (gen_random_uuid(), 'x', 'clinic', 7, 1)`,
		"a 19-hour call":                   `INSERT INTO rotation_templates (id, name, activity_type, hours_per_session, max_residents) VALUES (gen_random_uuid(), 'y', 'call', 19, 1)`,
		"a maximum below the minimum":      `INSERT INTO rotation_templates (id, name, activity_type, hours_per_session, min_residents, max_residents) VALUES (gen_random_uuid(), 'z', 'clinic', 4, 3, 2)`,
		"PGY level 9 allowed":              `INSERT INTO rotation_templates (id, name, activity_type, hours_per_session, max_residents, allowed_pgy_levels) VALUES (gen_random_uuid(), 'w', 'clinic', 4, 2, '{1,9}')`,
		"credentials of a resident":        `INSERT INTO people (id, name, type, pgy_level, final_pgy_level, credentials) VALUES (gen_random_uuid(), 'x', 'resident', 2, 3, '{endoscopy}')`,
		"a malformed credential":           `INSERT INTO people (id, name, type, credentials) VALUES (gen_random_uuid(), 'x', 'faculty', '{"Endo scopy"}')`,
		"a NULL credential":                `INSERT INTO people (id, name, type, credentials) VALUES (gen_random_uuid(), 'x', 'faculty', '{NULL}')`,
		"a credential with a comma":        `INSERT INTO people (id, name, type, credentials) VALUES (gen_random_uuid(), 'x', 'faculty', '{"a,b"}')`,
		"an empty credential":              `INSERT INTO people (id, name, type, credentials) VALUES (gen_random_uuid(), 'x', 'faculty', '{a,""}')`,
		"a shift starting at 24:00":        `INSERT INTO rotation_templates (id, name, activity_type, hours_per_session, max_residents, start_time) VALUES (gen_random_uuid(), 'u', 'clinic', 4, 1, '24:00')`,
		"a malformed required credential":  `INSERT INTO rotation_templates (id, name, activity_type, hours_per_session, max_residents, required_credential) VALUES (gen_random_uuid(), 'v', 'clinic', 4, 1, 'a,b')`,
		"a run that ends before it began":  `INSERT INTO schedule_runs (id, start_date, end_date, status, request) VALUES (gen_random_uuid(), '2026-07-02', '2026-07-01', 'in_progress', '{}')`,
	} {
		if _, err := s.Pool.Exec(ctx, q); err == nil {
			t.Errorf("%s was accepted", name)
		}
	}
}

// Two runs over overlapping ranges cannot be in progress at once, whichever replica starts them.
func TestOverlappingRunsInProgressConflict(t *testing.T) {
	s := schedulingStore(t)
	ctx := context.Background()
	a, err := s.BeginRun(ctx, RunStart{From: july1, To: july1.AddDays(27), Request: map[string]any{"n": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.BeginRun(ctx, RunStart{From: july1.AddDays(27), To: july1.AddDays(40), Request: map[string]any{}}); !errors.Is(err, ErrOverlap) {
		t.Fatalf("a run sharing one day: %v, want ErrOverlap", err)
	}
	if _, err := s.BeginRun(ctx, RunStart{From: july1.AddDays(28), To: july1.AddDays(40), Request: map[string]any{}}); err != nil {
		t.Fatalf("the next block: %v", err)
	}
	if err := s.FinishRun(ctx, a.ID, RunResult{Status: "failed", Message: "no"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BeginRun(ctx, RunStart{From: july1, To: july1.AddDays(10), Request: map[string]any{}}); err != nil {
		t.Fatalf("after the first run ended: %v", err)
	}
	if err := s.FinishRun(ctx, a.ID, RunResult{Status: "success"}); err == nil {
		t.Fatal("a finished run was finished again")
	}
}

func TestIdempotencyKeyReturnsTheFirstRun(t *testing.T) {
	s := schedulingStore(t)
	ctx := context.Background()
	users := []string{uuid.NewString(), uuid.NewString()}
	for i, id := range users {
		if _, err := s.Pool.Exec(ctx, `INSERT INTO users (id, username, email, role, password_hash) VALUES ($1, $2, $3, 'coordinator', 'x')`,
			id, "coord"+string(rune('a'+i)), "c"+string(rune('a'+i))+"@hospital.example"); err != nil {
			t.Fatal(err)
		}
	}
	hash := make([]byte, 32)
	first, err := s.BeginRun(ctx, RunStart{From: july1, To: july1.AddDays(6), Request: map[string]any{}, IdempotencyKey: "k-1", RequestHash: hash, CreatedBy: users[0]})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.BeginRun(ctx, RunStart{From: july1.AddDays(100), To: july1.AddDays(106), Request: map[string]any{}, IdempotencyKey: "k-1", RequestHash: hash, CreatedBy: users[0]})
	var idem *ErrIdempotent
	if !errors.As(err, &idem) || idem.Run.ID != first.ID || len(idem.Run.RequestHash) != 32 {
		t.Fatalf("the same key again: %v, want the first run %s", err, first.ID)
	}
	// Keys are per user: another coordinator's k-1 is a different request.
	if _, err := s.BeginRun(ctx, RunStart{From: july1.AddDays(200), To: july1.AddDays(206), Request: map[string]any{}, IdempotencyKey: "k-1", RequestHash: hash, CreatedBy: users[1]}); err != nil {
		t.Fatalf("another user's key: %v", err)
	}
}

// An update made on a stale read is refused; nothing is overwritten silently.
func TestStaleAssignmentUpdateIsRefused(t *testing.T) {
	s := schedulingStore(t)
	ctx := context.Background()
	mustP, mustT := mustID[PersonRecord](t), mustID[TemplateRecord](t)
	r := mustP(s.CreatePerson(ctx, person(roster.Person{Name: "R", Type: roster.Resident, PGY: 1}, "")))
	clinic := mustT(s.CreateTemplate(ctx, roster.Template{Name: "Clinic", Activity: roster.Clinic, HoursPerSession: 4, MaxResidents: 2}))
	ward := mustT(s.CreateTemplate(ctx, roster.Template{Name: "Ward", Activity: roster.Inpatient, HoursPerSession: 6, MaxResidents: 2}))
	a, err := s.CreateAssignment(ctx, roster.Assignment{Slot: roster.Slot{Date: july1, Half: roster.AM}, PersonID: r, TemplateID: clinic})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAssignment(ctx, roster.Assignment{Slot: roster.Slot{Date: july1, Half: roster.AM}, PersonID: r, TemplateID: ward}); !errors.Is(err, ErrConflict) {
		t.Fatalf("a second assignment in the same half-day: %v, want ErrConflict", err)
	}
	b, err := s.UpdateAssignment(ctx, a.ID, ward, false, a.UpdatedAt)
	if err != nil || b.TemplateID != ward || !b.UpdatedAt.After(a.UpdatedAt) {
		t.Fatalf("update on a fresh read: %+v %v", b, err)
	}
	if _, err := s.UpdateAssignment(ctx, a.ID, clinic, true, a.UpdatedAt); !errors.Is(err, ErrStale) {
		t.Fatalf("update on a stale read: %v, want ErrStale", err)
	}
	if _, err := s.UpdateAssignment(ctx, uuid.NewString(), clinic, true, a.UpdatedAt); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of a missing assignment: %v, want ErrNotFound", err)
	}
	// People and templates too: a write based on an old read is refused, not merged over.
	p, err := s.GetPerson(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	p.Name = "R renamed"
	if _, err := s.UpdatePerson(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.PGY = 3
	if _, err := s.UpdatePerson(ctx, p); !errors.Is(err, ErrStale) {
		t.Fatalf("a person updated from a stale read: %v, want ErrStale", err)
	}
	tm, err := s.GetTemplate(ctx, ward)
	if err != nil {
		t.Fatal(err)
	}
	tm.MaxResidents = 3
	if _, err := s.UpdateTemplate(ctx, tm); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateTemplate(ctx, tm); !errors.Is(err, ErrStale) {
		t.Fatalf("a template updated from a stale read: %v, want ErrStale", err)
	}
}

// A finished run replaces the unlocked assignments of its range and keeps the locked ones; a
// draft run changes nothing live.
func TestFinishedRunBecomesTheLiveScheduleKeepingLocks(t *testing.T) {
	s := schedulingStore(t)
	ctx := context.Background()
	mustP, mustT := mustID[PersonRecord](t), mustID[TemplateRecord](t)
	r1 := mustP(s.CreatePerson(ctx, person(roster.Person{Name: "R1", Type: roster.Resident, PGY: 1}, "")))
	r2 := mustP(s.CreatePerson(ctx, person(roster.Person{Name: "R2", Type: roster.Resident, PGY: 2}, "")))
	ward := mustT(s.CreateTemplate(ctx, roster.Template{Name: "Ward", Activity: roster.Inpatient, HoursPerSession: 6, MaxResidents: 2}))
	day := func(n int, h roster.Half) roster.Slot { return roster.Slot{Date: july1.AddDays(n), Half: h} }
	if _, err := s.CreateAssignment(ctx, roster.Assignment{Slot: day(0, roster.AM), PersonID: r1, TemplateID: ward, Locked: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAssignment(ctx, roster.Assignment{Slot: day(1, roster.AM), PersonID: r1, TemplateID: ward}); err != nil {
		t.Fatal(err)
	}
	// Outside the run's range: untouched.
	if _, err := s.CreateAssignment(ctx, roster.Assignment{Slot: day(9, roster.AM), PersonID: r2, TemplateID: ward}); err != nil {
		t.Fatal(err)
	}
	proposed := []roster.Assignment{
		{Slot: day(0, roster.AM), PersonID: r1, TemplateID: ward}, // the locked cell, proposed again
		{Slot: day(0, roster.PM), PersonID: r2, TemplateID: ward},
		{Slot: day(2, roster.AM), PersonID: r2, TemplateID: ward},
	}
	draft, err := s.BeginRun(ctx, RunStart{From: july1, To: july1.AddDays(6), Draft: true, Request: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, draft.ID, RunResult{Status: "success", Stats: map[string]any{"assignments": 3}, Assignments: proposed}); err != nil {
		t.Fatal(err)
	}
	if live, _ := s.Schedule(ctx, july1, july1.AddDays(30)); len(live) != 3 {
		t.Fatalf("a draft changed the live schedule: %+v", live)
	}
	run, err := s.BeginRun(ctx, RunStart{From: july1, To: july1.AddDays(6), Request: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	in, err := s.LoadInputs(ctx, july1, july1.AddDays(6), 27)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, run.ID, RunResult{Status: "partial", Violations: 1, Assignments: proposed, Fingerprint: in.Fingerprint, Margin: 27}); err != nil {
		t.Fatal(err)
	}
	live, err := s.Schedule(ctx, july1, july1.AddDays(30))
	if err != nil {
		t.Fatal(err)
	}
	got := map[roster.Slot]string{}
	for _, a := range live {
		got[a.Slot] = a.PersonID + "/" + a.Source
		if a.Slot == day(0, roster.AM) && (!a.Locked || a.Source != "manual") {
			t.Fatalf("the locked assignment was replaced: %+v", a)
		}
	}
	want := map[roster.Slot]string{day(0, roster.AM): r1 + "/manual", day(0, roster.PM): r2 + "/generated", day(2, roster.AM): r2 + "/generated", day(9, roster.AM): r2 + "/manual"}
	if len(got) != len(want) {
		t.Fatalf("live schedule %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("live schedule %v, want %v", got, want)
		}
	}
	stored, err := s.GetRun(ctx, run.ID)
	if err != nil || stored.Status != "partial" || stored.FinishedAt == nil || stored.Violations == nil || *stored.Violations != 1 {
		t.Fatalf("run %+v %v", stored, err)
	}
}

// A run whose inputs changed while it solved writes nothing, ends failed with the reason and
// frees its range; each kind of change (a person, a template, an absence, an assignment near the
// range) is seen.
func TestRunWritesNothingWhenItsInputsChanged(t *testing.T) {
	s := schedulingStore(t)
	ctx := context.Background()
	mustP, mustT := mustID[PersonRecord](t), mustID[TemplateRecord](t)
	r1 := mustP(s.CreatePerson(ctx, person(roster.Person{Name: "R1", Type: roster.Resident, PGY: 1}, "")))
	ward := mustT(s.CreateTemplate(ctx, roster.Template{Name: "Ward", Activity: roster.Inpatient, HoursPerSession: 6, MaxResidents: 2}))
	before, err := s.CreateAssignment(ctx, roster.Assignment{Slot: roster.Slot{Date: july1.AddDays(-3), Half: roster.AM}, PersonID: r1, TemplateID: ward})
	if err != nil {
		t.Fatal(err)
	}
	changes := map[string]func(){
		"a person renamed": func() { s.sql(t, `UPDATE people SET name = name || '.', updated_at = now() WHERE id = $1`, r1) },
		"a template added": func() {
			mustT(s.CreateTemplate(ctx, roster.Template{Name: "Clinic " + uuid.NewString(), Activity: roster.Clinic, HoursPerSession: 4, MaxResidents: 1}))
		},
		"an absence requested": func() {
			if _, err := s.CreateAbsence(ctx, AbsenceRecord{ID: NewAbsenceID(), PersonID: r1, Start: july1.AddDays(20), End: july1.AddDays(21), Type: "vacation"}); err != nil {
				t.Fatal(err)
			}
		},
		"an assignment in the margin deleted": func() { s.sql(t, `DELETE FROM assignments WHERE id = $1`, before.ID) },
	}
	for name, change := range changes {
		run, err := s.BeginRun(ctx, RunStart{From: july1, To: july1.AddDays(6), Request: map[string]any{}})
		if err != nil {
			t.Fatal(err)
		}
		in, err := s.LoadInputs(ctx, july1, july1.AddDays(6), 27)
		if err != nil {
			t.Fatal(err)
		}
		change()
		proposed := []roster.Assignment{{Slot: roster.Slot{Date: july1, Half: roster.AM}, PersonID: r1, TemplateID: ward}}
		if err := s.FinishRun(ctx, run.ID, RunResult{Status: RunSuccess, Assignments: proposed, Fingerprint: in.Fingerprint, Margin: 27}); !errors.Is(err, ErrChanged) {
			t.Fatalf("%s: FinishRun = %v, want ErrChanged", name, err)
		}
		got, err := s.GetRun(ctx, run.ID)
		if err != nil || got.Status != RunFailed || got.Message == nil || *got.Message != ErrChanged.Error() {
			t.Fatalf("%s: run %+v %v", name, got, err)
		}
		if live, _ := s.Schedule(ctx, july1, july1.AddDays(6)); len(live) != 0 {
			t.Fatalf("%s: written anyway: %+v", name, live)
		}
	}
	// Unchanged inputs write, and a filtered run replaces only its scope's half-days.
	r2 := mustP(s.CreatePerson(ctx, person(roster.Person{Name: "R2", Type: roster.Resident, PGY: 2}, "")))
	kept, err := s.CreateAssignment(ctx, roster.Assignment{Slot: roster.Slot{Date: july1.AddDays(1), Half: roster.AM}, PersonID: r2, TemplateID: ward})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAssignment(ctx, roster.Assignment{Slot: roster.Slot{Date: july1.AddDays(2), Half: roster.AM}, PersonID: r1, TemplateID: ward}); err != nil {
		t.Fatal(err)
	}
	run, err := s.BeginRun(ctx, RunStart{From: july1, To: july1.AddDays(6), Request: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	in, err := s.LoadInputs(ctx, july1, july1.AddDays(6), 27)
	if err != nil {
		t.Fatal(err)
	}
	// The proposal holds R2's kept half-day and one more for R2 that a scoped run must not write.
	proposed := []roster.Assignment{{Slot: roster.Slot{Date: july1, Half: roster.AM}, PersonID: r1, TemplateID: ward}, {Slot: kept.Slot, PersonID: r2, TemplateID: ward},
		{Slot: roster.Slot{Date: july1.AddDays(3), Half: roster.PM}, PersonID: r2, TemplateID: ward}}
	if err := s.FinishRun(ctx, run.ID, RunResult{Status: RunSuccess, Assignments: proposed, Fingerprint: in.Fingerprint, Margin: 27, Scope: []string{r1}}); err != nil {
		t.Fatal(err)
	}
	live, _ := s.Schedule(ctx, july1, july1.AddDays(6))
	if len(live) != 2 || live[0].PersonID != r1 || live[0].Slot.Date != july1 || live[1].ID != kept.ID || live[1].Source != "manual" {
		t.Fatalf("after a run scoped to R1: %+v (R1's day-2 half-day replaced, R2's kept as it was, nothing added for R2)", live)
	}
}

// A run whose server died stops beating; the next run over its range closes it.
func TestAbandonedRunIsClosedByTheNext(t *testing.T) {
	s := schedulingStore(t)
	ctx := context.Background()
	dead, err := s.BeginRun(ctx, RunStart{From: july1, To: july1.AddDays(6), Request: map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.BeginRun(ctx, RunStart{From: july1, To: july1.AddDays(6), Request: map[string]any{}, AbandonAfter: time.Minute}); !errors.Is(err, ErrOverlap) {
		t.Fatalf("a live run's range: %v, want ErrOverlap", err)
	}
	s.sql(t, `UPDATE schedule_runs SET heartbeat_at = now() - interval '5 minutes' WHERE id = $1`, dead.ID)
	if _, err := s.BeginRun(ctx, RunStart{From: july1, To: july1.AddDays(6), Request: map[string]any{}, AbandonAfter: time.Minute}); err != nil {
		t.Fatalf("after the heartbeat stopped: %v", err)
	}
	got, _ := s.GetRun(ctx, dead.ID)
	if got.Status != RunFailed || got.Message == nil {
		t.Fatalf("the dead run: %+v", got)
	}
}

// A failed run gives its idempotency key back: the same key and body run again.
func TestFailedRunFreesItsIdempotencyKey(t *testing.T) {
	s := schedulingStore(t)
	ctx := context.Background()
	var user string
	if err := s.Pool.QueryRow(ctx, `INSERT INTO users (id, username, email, role, password_hash) VALUES (gen_random_uuid(), 'coord', 'u@x.example', 'coordinator', 'x') RETURNING id`).Scan(&user); err != nil {
		t.Fatal(err)
	}
	start := RunStart{From: july1, To: july1, Request: map[string]any{}, IdempotencyKey: "k", RequestHash: make([]byte, 32), CreatedBy: user}
	first, err := s.BeginRun(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, first.ID, RunResult{Status: RunFailed, Message: "cancelled"}); err != nil {
		t.Fatal(err)
	}
	second, err := s.BeginRun(ctx, start)
	if err != nil || second.ID == first.ID {
		t.Fatalf("retry after a failure: %+v %v", second, err)
	}
}

func (s *Store) sql(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := s.Pool.Exec(context.Background(), q, args...); err != nil {
		t.Fatal(err)
	}
}
