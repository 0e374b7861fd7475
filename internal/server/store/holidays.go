package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/roster"
)

// HolidayRecord is a stored holiday of the program.
type HolidayRecord struct {
	ID string
	roster.Holiday
	CreatedAt time.Time
}

const holidayColumns = `id, date, name, created_at`

func scanHoliday(r pgx.Row) (HolidayRecord, error) {
	var h HolidayRecord
	var d time.Time
	err := r.Scan(&h.ID, &d, &h.Name, &h.CreatedAt)
	h.Date = roster.DateOf(d)
	return h, err
}

// CreateHoliday stores a holiday (ErrConflict when the date already has one).
func (s *Store) CreateHoliday(ctx context.Context, h roster.Holiday) (HolidayRecord, error) {
	out, err := scanHoliday(s.db.QueryRow(ctx, `INSERT INTO holidays (id, date, name) VALUES ($1, $2, $3) RETURNING `+holidayColumns,
		uuid.NewString(), h.Date.In(time.UTC), h.Name))
	if err != nil {
		return out, fmt.Errorf("store: creating a holiday: %w", pgErr(err))
	}
	return out, nil
}

// ListHolidays returns the holidays of [from, to] by date.
func (s *Store) ListHolidays(ctx context.Context, from, to roster.Date) ([]HolidayRecord, error) {
	rows, err := s.db.Query(ctx, `SELECT `+holidayColumns+` FROM holidays WHERE date BETWEEN $1 AND $2 ORDER BY date`,
		from.In(time.UTC), to.In(time.UTC))
	if err != nil {
		return nil, fmt.Errorf("store: listing holidays: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (HolidayRecord, error) { return scanHoliday(r) })
}

// DeleteHoliday removes a holiday (ErrNotFound if there is none with that id).
func (s *Store) DeleteHoliday(ctx context.Context, id string) error {
	return s.deleteRow(ctx, "holidays", id)
}
