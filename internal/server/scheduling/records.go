package scheduling

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/store"
)

// The plain reads and writes of the scheduling records (people, rotation templates,
// assignments, absences, schedule runs), the handlers' one way to them: the handlers see the
// service, never the store. They hold no rule of their own yet; a rule that the records gain
// belongs here, not in a handler.

// Begin starts a transaction on the service's database, for a change and its audit entry
// (audit.Log.WithTx); OnTx binds the service to it.
func (s *Service) Begin(ctx context.Context) (pgx.Tx, error) { return s.st.Pool.Begin(ctx) }

// OnTx returns the service working in tx (see On).
func (s *Service) OnTx(tx pgx.Tx) *Service { return s.On(s.st.On(tx)) }

// ListPeople is a page of the people that match f and how many match.
func (s *Service) ListPeople(ctx context.Context, f store.PersonFilter) ([]store.PersonRecord, int, error) {
	return s.st.ListPeople(ctx, f)
}

// GetPerson is one person.
func (s *Service) GetPerson(ctx context.Context, id string) (store.PersonRecord, error) {
	return s.st.GetPerson(ctx, id)
}

// PersonOfUser is the person linked to a user account.
func (s *Service) PersonOfUser(ctx context.Context, userID string) (store.PersonRecord, error) {
	return s.st.PersonOfUser(ctx, userID)
}

// CreatePerson stores a new person, and a resident's level as theirs in the current academic
// year (PGYHistory).
func (s *Service) CreatePerson(ctx context.Context, p store.PersonRecord) (store.PersonRecord, error) {
	return s.writePerson(ctx, p, store.PGYFromCreate, (*store.Store).CreatePerson)
}

// UpdatePerson stores a changed person, and a resident's changed level as theirs in the current
// academic year (PGYHistory).
func (s *Service) UpdatePerson(ctx context.Context, p store.PersonRecord) (store.PersonRecord, error) {
	return s.writePerson(ctx, p, store.PGYFromUpdate, (*store.Store).UpdatePerson)
}

// RemovePerson deletes a person without history and archives one with it (deleted says which).
func (s *Service) RemovePerson(ctx context.Context, id, by string) (store.PersonRecord, bool, error) {
	return s.st.RemovePerson(ctx, id, by)
}

// RestorePerson brings an archived person back.
func (s *Service) RestorePerson(ctx context.Context, id string) (store.PersonRecord, error) {
	return s.st.RestorePerson(ctx, id)
}

// RollOver advances the residents into the academic year starting on start, as the dry run
// whose confirm token is sent showed it (see store.RollOver).
func (s *Service) RollOver(ctx context.Context, start roster.Date, by string, dry bool, confirm string) (store.Rollover, error) {
	return s.st.RollOver(ctx, start, by, dry, confirm)
}

// ListTemplates is every rotation template.
func (s *Service) ListTemplates(ctx context.Context) ([]store.TemplateRecord, error) {
	return s.st.ListTemplates(ctx)
}

// GetTemplate is one rotation template.
func (s *Service) GetTemplate(ctx context.Context, id string) (store.TemplateRecord, error) {
	return s.st.GetTemplate(ctx, id)
}

// CreateTemplate stores a new rotation template.
func (s *Service) CreateTemplate(ctx context.Context, t roster.Template) (store.TemplateRecord, error) {
	return s.st.CreateTemplate(ctx, t)
}

// UpdateTemplate stores a changed rotation template.
func (s *Service) UpdateTemplate(ctx context.Context, t store.TemplateRecord) (store.TemplateRecord, error) {
	return s.st.UpdateTemplate(ctx, t)
}

// DeleteTemplate removes a rotation template.
func (s *Service) DeleteTemplate(ctx context.Context, id string) error {
	return s.st.DeleteTemplate(ctx, id)
}

// ListAssignments is a page of the assignments that match f and how many match.
func (s *Service) ListAssignments(ctx context.Context, f store.AssignmentFilter) ([]store.StoredAssignment, int, error) {
	return s.st.ListAssignments(ctx, f)
}

// GetAssignment is one assignment.
func (s *Service) GetAssignment(ctx context.Context, id string) (store.StoredAssignment, error) {
	return s.st.GetAssignment(ctx, id)
}

// Schedule is every assignment from from to to.
func (s *Service) Schedule(ctx context.Context, from, to roster.Date) ([]store.StoredAssignment, error) {
	return s.st.Schedule(ctx, from, to)
}

// CreateAssignment stores a new assignment.
func (s *Service) CreateAssignment(ctx context.Context, a roster.Assignment) (store.StoredAssignment, error) {
	return s.st.CreateAssignment(ctx, a)
}

// UpdateAssignment changes an assignment still at version ifUnmodifiedSince (store.ErrStale
// otherwise).
func (s *Service) UpdateAssignment(ctx context.Context, id, templateID string, locked bool, ifUnmodifiedSince time.Time) (store.StoredAssignment, error) {
	return s.st.UpdateAssignment(ctx, id, templateID, locked, ifUnmodifiedSince)
}

// DeleteAssignment removes an assignment still at version ifUnmodifiedSince (store.ErrStale
// otherwise).
func (s *Service) DeleteAssignment(ctx context.Context, id string, ifUnmodifiedSince time.Time) error {
	return s.st.DeleteAssignment(ctx, id, ifUnmodifiedSince)
}

// ListAbsences is a page of the absences that match f and how many match.
func (s *Service) ListAbsences(ctx context.Context, f store.AbsenceFilter) ([]store.AbsenceRecord, int, error) {
	return s.st.ListAbsences(ctx, f)
}

// GetAbsence is one absence.
func (s *Service) GetAbsence(ctx context.Context, id string) (store.AbsenceRecord, error) {
	return s.st.GetAbsence(ctx, id)
}

// SetAbsenceStatus moves an absence from one of the statuses in from to status
// (store.SetAbsenceStatus).
func (s *Service) SetAbsenceStatus(ctx context.Context, id string, from []string, status, reviewer string) (store.AbsenceRecord, error) {
	return s.st.SetAbsenceStatus(ctx, id, from, status, reviewer)
}

// DeleteAbsence removes an absence.
func (s *Service) DeleteAbsence(ctx context.Context, id string) error {
	return s.st.DeleteAbsence(ctx, id)
}

// ListRuns is a page of the schedule runs, newest first, and how many there are.
func (s *Service) ListRuns(ctx context.Context, page, size int) ([]store.Run, int, error) {
	return s.st.ListRuns(ctx, page, size)
}

// GetRun is one schedule run.
func (s *Service) GetRun(ctx context.Context, id string) (store.Run, error) {
	return s.st.GetRun(ctx, id)
}

// RunAssignments is the assignments a run proposed.
func (s *Service) RunAssignments(ctx context.Context, id string) ([]roster.Assignment, error) {
	return s.st.RunAssignments(ctx, id)
}
