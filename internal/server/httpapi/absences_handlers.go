package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rsched/rsched/internal/server/rbac"
	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/scheduling"
	"github.com/rsched/rsched/internal/server/store"
)

// absenceView is an absence as the API shows it. Reason, which is confidential, is only in
// single reads by coordinators, administrators and the person; lists say whether there is one.
type absenceView struct {
	ID          string      `json:"id"`
	PersonID    string      `json:"person_id"`
	StartDate   roster.Date `json:"start_date"`
	EndDate     roster.Date `json:"end_date"`
	Type        string      `json:"absence_type"`
	Status      string      `json:"status"`
	HasReason   bool        `json:"has_reason"`
	Reason      *string     `json:"reason,omitempty"`
	RequestedBy string      `json:"requested_by,omitempty"`
	ReviewedBy  string      `json:"reviewed_by,omitempty"`
	ReviewedAt  *time.Time  `json:"reviewed_at,omitempty"`
	CreatedAt   time.Time   `json:"created_at"`
	UpdatedAt   time.Time   `json:"updated_at"`
}

func viewAbsence(a store.AbsenceRecord) absenceView {
	return absenceView{ID: a.ID, PersonID: a.PersonID, StartDate: a.Start, EndDate: a.End, Type: a.Type, Status: a.Status, HasReason: a.ReasonSealed != "",
		RequestedBy: a.RequestedBy, ReviewedBy: a.ReviewedBy, ReviewedAt: a.ReviewedAt, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

// absenceScope is whose absences the caller may see and act on: everyone's for coordinators
// and administrators, otherwise only their own person's (own == "" when the account is linked
// to no person, who then sees none).
func (s *server) absenceScope(r *http.Request) (all bool, own string, err error) {
	if isManager(principal(r), rbac.Absence) {
		return true, "", nil
	}
	own, err = s.ownPerson(r)
	return false, own, err
}

func (s *server) listAbsences(w http.ResponseWriter, r *http.Request) error {
	pg, size, err := page(r, 100, 1000)
	if err != nil {
		return err
	}
	all, own, err := s.absenceScope(r)
	if err != nil {
		return err
	}
	person, err := queryID(r, "person_id")
	if err != nil {
		return err
	}
	f := store.AbsenceFilter{PersonID: person, Status: r.URL.Query().Get("status"), Page: pg, Size: size}
	if f.Status != "" && !slices.Contains([]string{store.AbsencePending, store.AbsenceApproved, store.AbsenceRejected, store.AbsenceCancelled}, f.Status) {
		return errStatus(http.StatusUnprocessableEntity, "status must be pending, approved, rejected or cancelled")
	}
	if from, err := queryDate(r, "start_date", false); err != nil {
		return err
	} else if to, err := queryDate(r, "end_date", from != nil); err != nil {
		return err
	} else if from != nil {
		f.From, f.To = from, to
	}
	if !all {
		if own == "" || (person != "" && person != own) {
			writeJSON(w, http.StatusOK, pageBody([]absenceView{}, 0, pg, size))
			return nil
		}
		f.PersonID = own
	}
	as, total, err := s.Scheduling.ListAbsences(r.Context(), f)
	if err != nil {
		return err
	}
	items := make([]absenceView, 0, len(as))
	for _, a := range as {
		items = append(items, viewAbsence(a))
	}
	writeJSON(w, http.StatusOK, pageBody(items, total, pg, size))
	return nil
}

type newAbsenceBody struct {
	PersonID    string      `json:"person_id"`
	StartDate   roster.Date `json:"start_date"`
	EndDate     roster.Date `json:"end_date"`
	AbsenceType string      `json:"absence_type"`
	Reason      string      `json:"reason"`
}

// requestAbsence records a pending absence. Residents and faculty request their own (person_id
// may be left out); coordinators and administrators may request for anyone.
func (s *server) requestAbsence(w http.ResponseWriter, r *http.Request) error {
	var b newAbsenceBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	all, own, err := s.absenceScope(r)
	if err != nil {
		return err
	}
	b.PersonID = strings.ToLower(b.PersonID)
	if !all {
		if own == "" {
			// Not a permission problem (the role may request absences): the account lacks the
			// link that says whose absence it would be.
			return errStatus(http.StatusUnprocessableEntity, "your account is not linked to a person: ask a coordinator to set your user_id on your person record")
		}
		if b.PersonID == "" {
			b.PersonID = own
		}
		if b.PersonID != own {
			return errStatus(http.StatusForbidden, "you may request absences for yourself only")
		}
	}
	var a store.AbsenceRecord
	err = s.change(r, func(svc *scheduling.Service) (event, error) {
		var err error
		a, err = svc.RequestAbsence(r.Context(), scheduling.NewAbsence{PersonID: b.PersonID, Start: b.StartDate, End: b.EndDate,
			Type: b.AbsenceType, Reason: b.Reason, RequestedBy: principal(r).ID})
		return event{"absence.request", "absence:" + a.ID, map[string]any{"person_id": a.PersonID, "type": a.Type}}, err
	})
	if err != nil {
		return err
	}
	v := viewAbsence(a)
	if b.Reason != "" {
		v.Reason = &b.Reason
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// visibleAbsence reads absence {id} if the caller may see it; others' absences are a 404 to
// residents and faculty, so their existence does not leak.
func (s *server) visibleAbsence(r *http.Request) (store.AbsenceRecord, error) {
	id, err := pathID(r)
	if err != nil {
		return store.AbsenceRecord{}, err
	}
	all, own, err := s.absenceScope(r)
	if err != nil {
		return store.AbsenceRecord{}, err
	}
	a, err := s.Scheduling.GetAbsence(r.Context(), id)
	if err == nil && !all && a.PersonID != own {
		err = store.ErrNotFound
	}
	return a, err
}

func (s *server) getAbsence(w http.ResponseWriter, r *http.Request) error {
	a, err := s.visibleAbsence(r)
	if err != nil {
		return err
	}
	v := viewAbsence(a)
	reason, err := s.Scheduling.Reason(a)
	if err != nil {
		// The row is intact but its reason will not open (a retired key, tampering): say so
		// without failing the read.
		s.Log.Error("absence reason cannot be decrypted", "absence", a.ID, "request_id", RequestID(r.Context()))
		reason = "(the reason cannot be decrypted; an administrator has been told)"
	}
	if a.ReasonSealed != "" {
		v.Reason = &reason
	}
	s.record(r, principal(r).ID, "absence.read", "absence:"+a.ID, nil)
	writeJSON(w, http.StatusOK, v)
	return nil
}

// reviewAbsence approves or rejects a pending absence (action names it in the audit trail).
func (s *server) reviewAbsence(status, action string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		var a store.AbsenceRecord
		err = s.change(r, func(svc *scheduling.Service) (event, error) {
			var err error
			a, err = svc.SetAbsenceStatus(r.Context(), id, []string{store.AbsencePending}, status, principal(r).ID)
			return event{"absence." + action, "absence:" + id, map[string]any{"person_id": a.PersonID}}, err
		})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, viewAbsence(a))
		return nil
	}
}

// cancelAbsence withdraws a pending or approved absence: the person's own, or anyone's for
// coordinators and administrators.
func (s *server) cancelAbsence(w http.ResponseWriter, r *http.Request) error {
	a, err := s.visibleAbsence(r)
	if err != nil {
		return err
	}
	var out store.AbsenceRecord
	err = s.change(r, func(svc *scheduling.Service) (event, error) {
		var err error
		out, err = svc.SetAbsenceStatus(r.Context(), a.ID, []string{store.AbsencePending, store.AbsenceApproved}, store.AbsenceCancelled, "")
		return event{"absence.cancel", "absence:" + a.ID, map[string]any{"person_id": a.PersonID}}, err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewAbsence(out))
	return nil
}

func (s *server) deleteAbsence(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	err = s.change(r, func(svc *scheduling.Service) (event, error) {
		return event{"absence.delete", "absence:" + id, nil}, svc.DeleteAbsence(r.Context(), id)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
