package scheduling

import (
	"context"

	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/store"
)

// ListHolidays is the program's holidays of [from, to].
func (s *Service) ListHolidays(ctx context.Context, from, to roster.Date) ([]store.HolidayRecord, error) {
	return s.st.ListHolidays(ctx, from, to)
}

// CreateHoliday stores a holiday (store.ErrConflict when its date has one).
func (s *Service) CreateHoliday(ctx context.Context, h roster.Holiday) (store.HolidayRecord, error) {
	return s.st.CreateHoliday(ctx, h)
}

// DeleteHoliday removes a holiday.
func (s *Service) DeleteHoliday(ctx context.Context, id string) error {
	return s.st.DeleteHoliday(ctx, id)
}
