package store

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"

	"github.com/rsched/rsched/internal/server/roster"
)

// migrateBefore applies the embedded migrations up to, not including, the one whose file name
// ends in suffix, and returns that migration's sequence number.
func migrateBefore(t *testing.T, ctx context.Context, url, suffix string) int32 {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	m, err := migrate.NewMigrator(ctx, conn, versionTable)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.LoadMigrations(sub); err != nil {
		t.Fatal(err)
	}
	for _, mg := range m.Migrations {
		if strings.HasSuffix(mg.Name, suffix) {
			if err := m.MigrateTo(ctx, mg.Sequence-1); err != nil {
				t.Fatal(err)
			}
			return mg.Sequence
		}
	}
	t.Fatalf("no migration named *%s", suffix)
	return 0
}

// Issue 18: the half-day templates and assignments a program stored before shifts existed come
// through the shift migration unchanged, keep their meaning (sessions from 07:00 and 13:00 of
// the same lengths), and the tables take shifts from then on within the new limits.
func TestShiftMigrationKeepsHalfDayDataAndMeaning(t *testing.T) {
	ctx := context.Background()
	url := freshDatabase(t)
	seq := migrateBefore(t, ctx, url, "_shift_definitions.sql")
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// A program as version seq-1 stored it: a resident, a 4-hour clinic, a 6-hour ward and an
	// 18-hour call, and a week of their assignments.
	const setup = `
		INSERT INTO people (id, name, type, pgy_level, final_pgy_level) VALUES ('00000000-0000-0000-0000-000000000001', 'Dr. Old', 'resident', 2, 3);
		INSERT INTO rotation_templates (id, name, activity_type, hours_per_session, min_residents, max_residents, supervision_required, weekends) VALUES
			('00000000-0000-0000-0000-0000000000c1', 'Clinic', 'clinic', 4, 1, 2, true, false),
			('00000000-0000-0000-0000-0000000000a1', 'Wards', 'inpatient', 6, 1, 4, false, true),
			('00000000-0000-0000-0000-0000000000b1', 'Night call', 'call', 18, 1, 1, false, true);
		INSERT INTO assignments (id, person_id, date, time_of_day, rotation_template_id, locked, source)
		SELECT gen_random_uuid(), '00000000-0000-0000-0000-000000000001', d::date, h,
			CASE WHEN h = 'AM' THEN '00000000-0000-0000-0000-0000000000c1'::uuid WHEN extract(dow FROM d) = 3 THEN '00000000-0000-0000-0000-0000000000b1'::uuid
			ELSE '00000000-0000-0000-0000-0000000000a1'::uuid END, h = 'AM', 'manual'
		FROM generate_series('2026-07-06'::date, '2026-07-10'::date, '1 day') d, unnest(ARRAY['AM', 'PM']) h;`
	if _, err := conn.Exec(ctx, setup); err != nil {
		t.Fatal(err)
	}
	var before string
	digest := `SELECT md5(string_agg(concat_ws('|', id, person_id, date, time_of_day, rotation_template_id, locked, source, updated_at), ',' ORDER BY id))
		|| md5((SELECT string_agg(concat_ws('|', id, name, activity_type, hours_per_session, min_residents, max_residents, supervision_required, weekends, updated_at), ',' ORDER BY id) FROM rotation_templates))
		FROM assignments`
	if err := conn.QueryRow(ctx, digest).Scan(&before); err != nil {
		t.Fatal(err)
	}

	s, res, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if res.From != seq-1 || res.To < seq {
		t.Fatalf("migrated %+v, want from %d past %d", res, seq-1, seq)
	}
	var after string
	if err := s.Pool.QueryRow(ctx, digest).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatal("the migration changed stored templates or assignments")
	}
	ts, err := s.ListTemplates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]roster.Template{}
	for _, tp := range ts {
		if tp.StartTime != nil || tp.IsShift() {
			t.Fatalf("%s came out of the migration as a shift", tp.Name)
		}
		byID[tp.ID] = tp.Template
	}
	as, n, err := s.ListAssignments(ctx, AssignmentFilter{From: roster.Date{Year: 2026, Month: time.July, Day: 6}, To: roster.Date{Year: 2026, Month: time.July, Day: 10}, Page: 1, Size: 100})
	if err != nil || n != 10 {
		t.Fatalf("%d assignments, %v", n, err)
	}
	// The same sessions: clinic 07-11, wards 13-19, call 13-07 the next morning.
	want := map[string][2]string{"Clinic": {"07:00", "11:00"}, "Wards": {"13:00", "19:00"}, "Night call": {"13:00", "07:00"}}
	for _, a := range as {
		tp := byID[a.TemplateID]
		d, ok := tp.Duty(a.Slot, time.UTC)
		if !ok || d.Start.Format("15:04") != want[tp.Name][0] || d.End.Format("15:04") != want[tp.Name][1] || !tp.Staffed(a.Slot) {
			t.Errorf("%s on %v: %v to %v", tp.Name, a.Slot, d.Start, d.End)
		}
	}

	// From now on: shifts up to 24 hours at whole minutes; the half-day limits stay.
	ok := `INSERT INTO rotation_templates (id, name, activity_type, hours_per_session, max_residents, start_time) VALUES (gen_random_uuid(), $1, $2, $3, 1, $4::time)`
	for _, c := range []struct {
		name, activity string
		hours          float64
		start          *string
		accepted       bool
	}{
		{"night float", "inpatient", 12, ptr("19:00"), true},
		{"24-hour call", "call", 24, ptr("07:00"), true},
		{"25-hour shift", "call", 25, ptr("07:00"), false},
		{"a start at seconds", "inpatient", 12, ptr("07:00:30"), false},
		{"7-hour half-day", "clinic", 7, nil, false},
		{"19-hour half-day call", "call", 19, nil, false},
		{"6-hour half-day", "clinic", 6, nil, true},
	} {
		_, err := s.Pool.Exec(ctx, ok, c.name, c.activity, c.hours, c.start)
		if (err == nil) != c.accepted {
			t.Errorf("%s: %v, want accepted=%v", c.name, err, c.accepted)
		}
	}
	ts, err = s.ListTemplates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range ts {
		if tp.Name == "night float" && (tp.StartTime == nil || tp.StartTime.String() != "19:00") {
			t.Errorf("night float reads back with start %v", tp.StartTime)
		}
	}
}

func ptr(s string) *string { return &s }
