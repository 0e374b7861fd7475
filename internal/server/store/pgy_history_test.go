package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/roster"
)

const (
	histResident  = "00000000-0000-0000-0000-0000000000a1"
	histGraduated = "00000000-0000-0000-0000-0000000000a2"
	histFaculty   = "00000000-0000-0000-0000-0000000000f1"
	histLate      = "00000000-0000-0000-0000-0000000000a3"
)

// migrateHistory stores, at the version before the PGY history, an active resident (PGY 2 of
// 4), an archived graduate and a faculty member, and the rollovers given; then migrates.
func migrateHistory(t *testing.T, rollovers ...string) *Store {
	t.Helper()
	ctx := context.Background()
	url := freshDatabase(t)
	migrateBefore(t, ctx, url, "_pgy_history.sql")
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `
		INSERT INTO people (id, name, type, pgy_level, final_pgy_level) VALUES ('`+histResident+`', 'Dr. Active', 'resident', 2, 4);
		INSERT INTO people (id, name, type, pgy_level, final_pgy_level, archived_at, archived_reason)
			VALUES ('`+histGraduated+`', 'Dr. Gone', 'resident', 3, 3, now(), 'graduated');
		INSERT INTO people (id, name, type) VALUES ('`+histFaculty+`', 'Dr. Attending', 'faculty');`); err != nil {
		t.Fatal(err)
	}
	for _, y := range rollovers {
		if _, err := conn.Exec(ctx, `INSERT INTO academic_year_rollovers (academic_year_start, advanced, graduated) VALUES ($1, 0, 0)`, y); err != nil {
			t.Fatal(err)
		}
	}
	s, _, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// history is every recorded row, as "person year:level/source".
func history(t *testing.T, s *Store) string {
	t.Helper()
	var out string
	if err := s.Pool.QueryRow(context.Background(), `SELECT coalesce(string_agg(format('%s %s:%s/%s', right(person_id::text, 2), academic_year, pgy_level, source), ' '
		ORDER BY person_id, academic_year), '') FROM pgy_history`).Scan(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Migration 019 records each active resident's level (not the archived, not faculty) for the
// latest year rolled over when it is later than today's, else for today's academic year.
func TestPGYHistoryMigrationBackfillsTheActiveResidents(t *testing.T) {
	if got, want := history(t, migrateHistory(t, "2029-07-01", "2030-07-01")), "a1 2030:2/migration"; got != want {
		t.Errorf("after rollovers up to 2030: %q, want %q", got, want)
	}
	before := roster.AcademicYearOf(roster.DateOf(time.Now().UTC()))
	got := history(t, migrateHistory(t))
	after := roster.AcademicYearOf(roster.DateOf(time.Now().UTC()))
	if got != fmt.Sprintf("a1 %d:2/migration", before) && got != fmt.Sprintf("a1 %d:2/migration", after) {
		t.Errorf("without rollovers: %q, want today's academic year %d", got, before)
	}
}

// The rollover records the new year's level and the one each resident leaves (where that year
// has no row: the migration's stays), and a level is read per academic year: that year's row,
// else the latest before, else the earliest after, else the current level.
func TestPGYHistoryOfARolloverAndTheLevelOnADay(t *testing.T) {
	ctx := context.Background()
	s := migrateHistory(t, "2030-07-01")
	if _, err := s.Pool.Exec(ctx, `INSERT INTO people (id, name, type, pgy_level, final_pgy_level) VALUES ($1, 'Dr. Late', 'resident', 3, 3)`, histLate); err != nil {
		t.Fatal(err)
	}
	start := roster.Date{Year: 2031, Month: time.July, Day: 1}
	dry, err := s.RollOver(ctx, start, "", true, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RollOver(ctx, start, "", false, dry.Confirm); err != nil {
		t.Fatal(err)
	}
	if got, want := history(t, s), "a1 2030:2/migration a1 2031:3/rollover a3 2030:3/rollover"; got != want {
		t.Fatalf("after the 2031 rollover: %q, want %q", got, want)
	}
	for _, c := range []struct {
		who  string
		day  roster.Date
		want int
	}{
		{histResident, roster.Date{Year: 2029, Month: time.December, Day: 1}, 2}, // before any row: the earliest
		{histResident, roster.Date{Year: 2031, Month: time.June, Day: 30}, 2},
		{histResident, start, 3},
		{histResident, roster.Date{Year: 2040, Month: time.January, Day: 1}, 3}, // after the last: it holds
		{histLate, roster.Date{Year: 2031, Month: time.June, Day: 30}, 3},       // a graduate keeps their last year
		{histGraduated, start, 3}, // no row: the current level
		{histFaculty, start, 0},
	} {
		if got, err := s.PGYOn(ctx, c.who, c.day); err != nil || got != c.want {
			t.Errorf("%s on %s: PGY %d (%v), want %d", c.who[len(c.who)-2:], c.day, got, err, c.want)
		}
	}
	if _, err := s.PGYOn(ctx, "00000000-0000-4000-8000-000000000000", start); !errors.Is(err, ErrNotFound) {
		t.Errorf("no such person: %v", err)
	}
	levels, err := s.PGYLevelsIn(ctx, 2030)
	if err != nil || fmt.Sprint(levels) != fmt.Sprintf("map[%s:2 %s:3]", histResident, histLate) {
		t.Errorf("levels of 2030: %v (%v)", levels, err)
	}
}
