package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/roster"
)

// PGYYear is a resident's level in one academic year (migration 019).
type PGYYear struct {
	// AcademicYear is the year the academic year starts in (2026: July 2026 - June 2027).
	AcademicYear int       `json:"academic_year"`
	PGY          int       `json:"pgy_level"`
	Source       string    `json:"source"`
	RecordedAt   time.Time `json:"recorded_at"`
}

// Where a level in the history comes from.
const (
	PGYFromCreate   = "create"
	PGYFromUpdate   = "update"
	PGYFromRollover = "rollover"
)

// levelsYearSQL is the academic year the stored levels (people.pgy_level) are for, given the
// academic year of today as $2: the later of that and the latest year rolled over (a rollover
// made before 1 July already put the new year's levels in place).
const levelsYearSQL = `greatest($2::integer, (SELECT max(extract(year FROM academic_year_start))::integer FROM academic_year_rollovers))`

// RecordPGY records a resident's level as theirs in the year the stored levels are for (see
// levelsYearSQL; today is the program's academic year of today), replacing that year's row if
// the level differs. Others are not recorded.
func (s *Store) RecordPGY(ctx context.Context, p PersonRecord, today roster.AcademicYear, source string) error {
	if p.Type != roster.Resident || p.PGY == 0 {
		return nil
	}
	_, err := s.db.Exec(ctx, `INSERT INTO pgy_history (person_id, academic_year, pgy_level, source)
		VALUES ($1, `+levelsYearSQL+`, $3, $4)
		ON CONFLICT (person_id, academic_year) DO UPDATE SET pgy_level = excluded.pgy_level, source = excluded.source, recorded_at = now()
		WHERE pgy_history.pgy_level <> excluded.pgy_level`, p.ID, int(today), p.PGY, source)
	if err != nil {
		return fmt.Errorf("store: recording a PGY level: %w", pgErr(err))
	}
	return nil
}

// recordRollover writes the history of the rollover r: the new year's level of each resident
// advanced, and the level each advanced or graduated resident leaves as the previous year's,
// where that year has no row yet.
func recordRollover(ctx context.Context, tx pgx.Tx, r Rollover) error {
	year := r.AcademicYearStart.Year
	var ids, left []string
	var levels, from []int
	for _, c := range r.Advanced {
		ids, levels = append(ids, c.PersonID), append(levels, c.ToPGY)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO pgy_history (person_id, academic_year, pgy_level, source)
		SELECT id, $2, level, 'rollover' FROM unnest($1::uuid[], $3::integer[]) AS c(id, level)
		ON CONFLICT (person_id, academic_year) DO UPDATE SET pgy_level = excluded.pgy_level, source = excluded.source, recorded_at = now()`,
		ids, year, levels); err != nil {
		return fmt.Errorf("store: recording the new levels: %w", err)
	}
	for _, c := range append(append([]RolloverChange{}, r.Advanced...), r.Graduated...) {
		left, from = append(left, c.PersonID), append(from, c.FromPGY)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO pgy_history (person_id, academic_year, pgy_level, source)
		SELECT id, $2, level, 'rollover' FROM unnest($1::uuid[], $3::integer[]) AS c(id, level)
		ON CONFLICT (person_id, academic_year) DO NOTHING`, left, year-1, from); err != nil {
		return fmt.Errorf("store: recording the levels left: %w", err)
	}
	return nil
}

// PGYHistory is a person's recorded levels, oldest year first (empty for one never recorded).
func (s *Store) PGYHistory(ctx context.Context, personID string) ([]PGYYear, error) {
	rows, err := s.db.Query(ctx, `SELECT academic_year, pgy_level, source, recorded_at FROM pgy_history
		WHERE person_id = $1 ORDER BY academic_year`, personID)
	if err != nil {
		return nil, fmt.Errorf("store: reading a PGY history: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PGYYear, error) {
		var y PGYYear
		return y, r.Scan(&y.AcademicYear, &y.PGY, &y.Source, &y.RecordedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("store: reading a PGY history: %w", err)
	}
	return out, nil
}

// PGYLevelsIn is the level in academic year year of every resident with a recorded history:
// that year's row, else the latest before it (a level holds until a change is recorded), else
// the earliest after it. One without any history is at their current level.
func (s *Store) PGYLevelsIn(ctx context.Context, year roster.AcademicYear) (map[string]int, error) {
	rows, err := s.db.Query(ctx, `SELECT DISTINCT ON (person_id) person_id::text, pgy_level FROM pgy_history
		ORDER BY person_id, academic_year > $1, abs(academic_year - $1)`, int(year))
	if err != nil {
		return nil, fmt.Errorf("store: reading the PGY levels of %d: %w", year, err)
	}
	out := map[string]int{}
	var id string
	var level int
	if _, err := pgx.ForEachRow(rows, []any{&id, &level}, func() error { out[id] = level; return nil }); err != nil {
		return nil, fmt.Errorf("store: reading the PGY levels of %d: %w", year, err)
	}
	return out, nil
}

// PGYOn is a person's PGY level on day: the level of its academic year as PGYLevelsIn reads it,
// else their current level; 0 for one who is not a resident and has no history.
func (s *Store) PGYOn(ctx context.Context, personID string, day roster.Date) (int, error) {
	var level int
	err := s.db.QueryRow(ctx, `SELECT coalesce((SELECT pgy_level FROM pgy_history WHERE person_id = p.id
			ORDER BY academic_year > $2, abs(academic_year - $2) LIMIT 1), p.pgy_level, 0)
		FROM people p WHERE p.id = $1`, personID, int(roster.AcademicYearOf(day))).Scan(&level)
	return level, notFound(err, "reading a PGY level")
}
