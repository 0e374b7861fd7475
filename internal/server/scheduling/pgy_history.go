package scheduling

import (
	"context"

	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/store"
)

// A resident's level is kept per academic year (store.PGYHistory): the person's create and
// update record it as the current year's, the rollover records the new year's and the one left,
// and a report on a past period judges it with that period's levels (levelsOf).

// academicYearToday is the program's academic year of today.
func (s *Service) academicYearToday() roster.AcademicYear {
	return roster.AcademicYearOf(roster.DateOf(s.cfg.Now().In(s.cfg.Location)))
}

// writePerson stores p with write and records a resident's level from source, in one
// transaction.
func (s *Service) writePerson(ctx context.Context, p store.PersonRecord, source string,
	write func(*store.Store, context.Context, store.PersonRecord) (store.PersonRecord, error),
) (out store.PersonRecord, err error) {
	err = s.st.InTx(ctx, func(st *store.Store) error {
		if out, err = write(st, ctx, p); err != nil {
			return err
		}
		return st.RecordPGY(ctx, out, s.academicYearToday(), source)
	})
	return out, err
}

// PGYHistory is a person's recorded levels per academic year, oldest first (store.ErrNotFound
// for no such person).
func (s *Service) PGYHistory(ctx context.Context, personID string) ([]store.PGYYear, error) {
	if _, err := s.st.GetPerson(ctx, personID); err != nil {
		return nil, err
	}
	return s.st.PGYHistory(ctx, personID)
}

// levelsOf sets the residents of in to their levels in the academic year from falls in, where
// their history records one (a period across 1 July is judged with the levels of the year it
// starts in).
func (s *Service) levelsOf(ctx context.Context, in store.Inputs, from roster.Date) error {
	levels, err := s.st.PGYLevelsIn(ctx, roster.AcademicYearOf(from))
	if err != nil {
		return err
	}
	for i, x := range in.People {
		if l, ok := levels[x.ID]; ok && x.Type == roster.Resident {
			in.People[i].PGY = l
		}
	}
	return nil
}
