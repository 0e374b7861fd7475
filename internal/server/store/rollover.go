package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/roster"
)

// ErrYearsRollForward: a later academic year than the one asked for was already rolled over
// (409): levels only ever advance.
var ErrYearsRollForward = errors.New("a later academic year was already rolled over; years roll forward only")

// A rollover is made only as its dry run showed it: the dry run answers a confirm token (the
// year and a digest of the changes), which the rollover must send. A typo in the year shows in
// the dry run's changes before anything is written, and cannot block later years by accident.
var (
	// ErrRolloverUnconfirmed (422): no confirm, or one from the dry run of another year.
	ErrRolloverUnconfirmed = errors.New("confirm is required: run the rollover with ?dry_run=true first, check the changes it lists, and send its confirm for the same academic_year_start")
	// ErrRolloverChanged (409): the residents changed since the dry run; nothing was changed.
	ErrRolloverChanged = errors.New("the residents changed since the dry run that confirm comes from; nothing was changed: run the dry run again and check its changes")
)

// RolloverChange is what the rollover does to one resident.
type RolloverChange struct {
	PersonID string `json:"person_id"`
	Name     string `json:"name"`
	FromPGY  int    `json:"from_pgy_level"`
	// ToPGY is the new level; 0 for a graduate (archived, ArchivedGraduated).
	ToPGY    int `json:"to_pgy_level,omitempty"`
	FinalPGY int `json:"final_pgy_level"`
}

// Rollover is the outcome of one academic-year rollover.
type Rollover struct {
	AcademicYearStart roster.Date `json:"academic_year_start"`
	// AlreadyDone: this year was rolled over before (at PerformedAt); nothing changed now.
	AlreadyDone bool `json:"already_done"`
	DryRun      bool `json:"dry_run"`
	// PerformedAt is when the year was rolled over (nil for a dry run).
	PerformedAt *time.Time `json:"performed_at,omitempty"`
	// Advanced and Graduated count the residents; the lists name them (empty when AlreadyDone).
	AdvancedCount  int              `json:"advanced_count"`
	GraduatedCount int              `json:"graduated_count"`
	Advanced       []RolloverChange `json:"advanced"`
	Graduated      []RolloverChange `json:"graduated"`
	// Confirm is what the rollover of this year must send to make exactly these changes (a dry
	// run's answer, unless the year was rolled over already).
	Confirm string `json:"confirm,omitempty"`
}

// rolloverConfirm is the confirm token of the rollover of year start making changes advanced
// and graduated: the year, and a digest of who moves from which level to which (by id, so a
// renamed resident does not change it).
func rolloverConfirm(start roster.Date, advanced, graduated []RolloverChange) string {
	var lines []string
	for _, c := range advanced {
		lines = append(lines, fmt.Sprintf("advance %s %d %d", c.PersonID, c.FromPGY, c.ToPGY))
	}
	for _, c := range graduated {
		lines = append(lines, fmt.Sprintf("graduate %s %d %d", c.PersonID, c.FromPGY, c.FinalPGY))
	}
	slices.Sort(lines)
	sum := sha256.Sum256([]byte("rsched academic-year rollover " + start.String() + "\n" + strings.Join(lines, "\n")))
	return start.String() + "." + hex.EncodeToString(sum[:16])
}

// checkRolloverConfirm compares what the caller sent with the token of the changes the
// rollover would make now.
func checkRolloverConfirm(start roster.Date, sent, want string) error {
	switch {
	case sent == want:
		return nil
	case !strings.HasPrefix(sent, start.String()+"."):
		return ErrRolloverUnconfirmed
	default:
		return ErrRolloverChanged
	}
}

// PlanRollover decides the rollover of the active residents given: a resident in their final
// level graduates, every other advances one level.
func PlanRollover(residents []PersonRecord) (advanced, graduated []RolloverChange) {
	advanced, graduated = []RolloverChange{}, []RolloverChange{}
	for _, p := range residents {
		if p.Type != roster.Resident || p.Archived() {
			continue
		}
		final := p.FinalPGY
		if final == 0 {
			final = DefaultFinalPGY(p.PGY)
		}
		c := RolloverChange{PersonID: p.ID, Name: p.Name, FromPGY: p.PGY, FinalPGY: final}
		if p.PGY >= final {
			graduated = append(graduated, c)
			continue
		}
		c.ToPGY = p.PGY + 1
		advanced = append(advanced, c)
	}
	return advanced, graduated
}

// RollOver advances every active resident one PGY level and archives (graduates) those in
// their final level, for the academic year starting on start (a 1 July), by user by, in one
// transaction. A year already rolled over changes nothing and says so (AlreadyDone); a year
// before one already rolled over is ErrYearsRollForward. dry computes the same answer and
// writes nothing; its Confirm is what the rollover must be sent as confirm to make exactly those
// changes (ErrRolloverUnconfirmed, or ErrRolloverChanged when the residents changed since).
func (s *Store) RollOver(ctx context.Context, start roster.Date, by string, dry bool, confirm string) (Rollover, error) {
	out := Rollover{AcademicYearStart: start, DryRun: dry}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return out, fmt.Errorf("store: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// One rollover at a time: the second of two concurrent ones sees the first's row.
	if _, err := tx.Exec(ctx, `LOCK TABLE academic_year_rollovers IN EXCLUSIVE MODE`); err != nil {
		return out, fmt.Errorf("store: locking the rollovers: %w", err)
	}
	day := start.In(time.UTC)
	var performed time.Time
	err = tx.QueryRow(ctx, `SELECT performed_at, advanced, graduated FROM academic_year_rollovers WHERE academic_year_start = $1`, day).
		Scan(&performed, &out.AdvancedCount, &out.GraduatedCount)
	switch {
	case err == nil:
		out.AlreadyDone, out.PerformedAt = true, &performed
		out.Advanced, out.Graduated = []RolloverChange{}, []RolloverChange{}
		return out, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return out, fmt.Errorf("store: reading the rollovers: %w", err)
	}
	var later bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM academic_year_rollovers WHERE academic_year_start > $1)`, day).Scan(&later); err != nil {
		return out, fmt.Errorf("store: reading the rollovers: %w", err)
	}
	if later {
		return out, ErrYearsRollForward
	}
	rows, err := tx.Query(ctx, `SELECT `+personColumns+` FROM people WHERE type = 'resident' AND archived_at IS NULL
		ORDER BY pgy_level, name, id FOR UPDATE`)
	if err != nil {
		return out, fmt.Errorf("store: reading the residents: %w", err)
	}
	residents, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PersonRecord, error) { return scanPerson(r) })
	if err != nil {
		return out, fmt.Errorf("store: reading the residents: %w", err)
	}
	out.Advanced, out.Graduated = PlanRollover(residents)
	out.AdvancedCount, out.GraduatedCount = len(out.Advanced), len(out.Graduated)
	want := rolloverConfirm(start, out.Advanced, out.Graduated)
	if dry {
		out.Confirm = want
		return out, nil
	}
	if err := checkRolloverConfirm(start, confirm, want); err != nil {
		return out, err
	}
	if err := applyRollover(ctx, tx, out, by); err != nil {
		return out, err
	}
	if err := recordRollover(ctx, tx, out); err != nil {
		return out, err
	}
	if err := tx.QueryRow(ctx, `INSERT INTO academic_year_rollovers (academic_year_start, advanced, graduated, performed_by)
		VALUES ($1, $2, $3, $4) RETURNING performed_at`, day, out.AdvancedCount, out.GraduatedCount, nullable(by)).Scan(&performed); err != nil {
		return out, fmt.Errorf("store: recording the rollover: %w", err)
	}
	out.PerformedAt = &performed
	if err := tx.Commit(ctx); err != nil {
		return out, fmt.Errorf("store: %w", err)
	}
	return out, nil
}

// applyRollover writes the plan in r: levels advanced, graduates archived.
func applyRollover(ctx context.Context, tx pgx.Tx, r Rollover, by string) error {
	ids := func(cs []RolloverChange) []string {
		out := make([]string, 0, len(cs))
		for _, c := range cs {
			out = append(out, c.PersonID)
		}
		return out
	}
	if _, err := tx.Exec(ctx, `UPDATE people SET pgy_level = pgy_level + 1, updated_at = greatest(now(), updated_at + interval '1 microsecond')
		WHERE id = ANY($1::uuid[])`, ids(r.Advanced)); err != nil {
		return fmt.Errorf("store: advancing the residents: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE people SET archived_at = now(), archived_by = $2, archived_reason = $3,
		updated_at = greatest(now(), updated_at + interval '1 microsecond') WHERE id = ANY($1::uuid[])`,
		ids(r.Graduated), nullable(by), ArchivedGraduated); err != nil {
		return fmt.Errorf("store: archiving the graduates: %w", err)
	}
	return nil
}
