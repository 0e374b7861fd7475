package scheduling

import (
	"context"
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/rsched/rsched/internal/server/fieldcrypt"
	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/store"
)

// MaxReasonLength bounds an absence reason, in characters.
const MaxReasonLength = 2000

// reasonBinding ties a sealed reason to its row: moved to another absence it does not open.
func reasonBinding(id string) fieldcrypt.Binding {
	return fieldcrypt.Binding{Table: "absences", Column: "reason_sealed", Row: id}
}

// NewAbsence is a request for an absence.
type NewAbsence struct {
	PersonID    string
	Start, End  roster.Date
	Type        string
	Reason      string
	RequestedBy string
}

// RequestAbsence validates and stores a pending absence; the reason is sealed before it reaches
// the database and bound to the new row.
func (s *Service) RequestAbsence(ctx context.Context, a NewAbsence) (store.AbsenceRecord, error) {
	switch {
	case !ValidID(a.PersonID):
		return store.AbsenceRecord{}, invalidf("person_id must be a person's id")
	case a.Start == (roster.Date{}) || a.End == (roster.Date{}):
		return store.AbsenceRecord{}, invalidf("start_date and end_date are required (YYYY-MM-DD)")
	case a.End.Before(a.Start):
		return store.AbsenceRecord{}, invalidf("end_date %s is before start_date %s", a.End, a.Start)
	case a.End.Sub(a.Start) >= 400:
		return store.AbsenceRecord{}, invalidf("an absence lasts at most 400 days")
	case !slices.Contains(store.AbsenceTypes, a.Type):
		return store.AbsenceRecord{}, invalidf("absence_type must be one of %v", store.AbsenceTypes)
	case !utf8.ValidString(a.Reason) || strings.ContainsRune(a.Reason, 0) || utf8.RuneCountInString(a.Reason) > MaxReasonLength:
		return store.AbsenceRecord{}, invalidf("reason must be text of at most %d characters", MaxReasonLength)
	}
	rec := store.AbsenceRecord{ID: store.NewAbsenceID(), PersonID: a.PersonID, Start: a.Start, End: a.End, Type: a.Type, RequestedBy: a.RequestedBy}
	if a.Reason != "" {
		sealed, err := s.fields.Encrypt([]byte(a.Reason), reasonBinding(rec.ID))
		if err != nil {
			return store.AbsenceRecord{}, err
		}
		rec.ReasonSealed = sealed
	}
	out, err := s.st.CreateAbsence(ctx, rec)
	if errors.Is(err, store.ErrUnknownReference) {
		return out, invalidf("person_id names no person")
	}
	return out, err
}

// Reason opens an absence's sealed reason ("" for none).
func (s *Service) Reason(a store.AbsenceRecord) (string, error) {
	if a.ReasonSealed == "" {
		return "", nil
	}
	b, err := s.fields.Decrypt(a.ReasonSealed, reasonBinding(a.ID))
	return string(b), err
}
