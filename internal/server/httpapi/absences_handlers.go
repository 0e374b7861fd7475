package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rsched/rsched/internal/server/rbac"
	"github.com/rsched/rsched/internal/server/schedule"
	"github.com/rsched/rsched/internal/server/scheduling"
	"github.com/rsched/rsched/internal/server/store"
)

// absenceView is an absence as the API shows it. Reason, which is confidential, is only in
// single reads by coordinators, administrators and the person; lists say whether there is one.
type absenceView struct {
	ID          string        `json:"id"`
	PersonID    string        `json:"person_id"`
	StartDate   schedule.Date `json:"start_date"`
	EndDate     schedule.Date `json:"end_date"`
	Type        string        `json:"absence_type"`
	Status      string        `json:"status"`
	HasReason   bool          `json:"has_reason"`
	Reason      *string       `json:"reason,omitempty"`
	RequestedBy string        `json:"requested_by,omitempty"`
	ReviewedBy  string        `json:"reviewed_by,omitempty"`
	ReviewedAt  *time.Time    `json:"reviewed_at,omitempty"`
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
}

func viewAbsence(a store.AbsenceRecord) absenceView {
	return absenceView{ID: a.ID, PersonID: a.PersonID, StartDate: a.Start, EndDate: a.End, Type: a.Type, Status: a.Status, HasReason: a.ReasonSealed != "",
		RequestedBy: a.RequestedBy, ReviewedBy: a.ReviewedBy, ReviewedAt: a.ReviewedAt, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

// absenceScope is whose absences the caller may see and act on: everyone's for coordinators
// and administrators, otherwise only their own person's (own == "" when the account is linked
// to no person, who then sees none).
func (s *server) absenceScope(w http.ResponseWriter, r *http.Request) (all bool, own string, ok bool) {
	if isManager(principal(r), rbac.Absence) {
		return true, "", true
	}
	own, err := s.ownPerson(r)
	if err != nil {
		s.schedFail(w, r, err)
		return false, "", false
	}
	return false, own, true
}

func (s *server) listAbsences(w http.ResponseWriter, r *http.Request) {
	pg, size, ok := page(w, r, 100, 1000)
	if !ok {
		return
	}
	all, own, ok := s.absenceScope(w, r)
	if !ok {
		return
	}
	person, ok := queryID(w, r, "person_id")
	if !ok {
		return
	}
	f := store.AbsenceFilter{PersonID: person, Status: r.URL.Query().Get("status"), Page: pg, Size: size}
	if f.Status != "" && !slices.Contains([]string{store.AbsencePending, store.AbsenceApproved, store.AbsenceRejected, store.AbsenceCancelled}, f.Status) {
		Error(w, http.StatusUnprocessableEntity, "status must be pending, approved, rejected or cancelled")
		return
	}
	if from, ok := queryDate(w, r, "start_date", false); !ok {
		return
	} else if to, ok := queryDate(w, r, "end_date", from != nil); !ok {
		return
	} else if from != nil {
		f.From, f.To = from, to
	}
	if !all {
		if own == "" || (person != "" && person != own) {
			writeJSON(w, http.StatusOK, pageBody([]absenceView{}, 0, pg, size))
			return
		}
		f.PersonID = own
	}
	as, total, err := s.Scheduling.Store().ListAbsences(r.Context(), f)
	if err != nil {
		s.schedFail(w, r, err)
		return
	}
	items := make([]absenceView, 0, len(as))
	for _, a := range as {
		items = append(items, viewAbsence(a))
	}
	writeJSON(w, http.StatusOK, pageBody(items, total, pg, size))
}

type newAbsenceBody struct {
	PersonID    string        `json:"person_id"`
	StartDate   schedule.Date `json:"start_date"`
	EndDate     schedule.Date `json:"end_date"`
	AbsenceType string        `json:"absence_type"`
	Reason      string        `json:"reason"`
}

// requestAbsence records a pending absence. Residents and faculty request their own (person_id
// may be left out); coordinators and administrators may request for anyone.
func (s *server) requestAbsence(w http.ResponseWriter, r *http.Request) {
	var b newAbsenceBody
	if !decodeJSON(w, r, &b) {
		return
	}
	all, own, ok := s.absenceScope(w, r)
	if !ok {
		return
	}
	b.PersonID = strings.ToLower(b.PersonID)
	if !all {
		if own == "" {
			// Not a permission problem (the role may request absences): the account lacks the
			// link that says whose absence it would be.
			Error(w, http.StatusUnprocessableEntity, "your account is not linked to a person: ask a coordinator to set your user_id on your person record")
			return
		}
		if b.PersonID == "" {
			b.PersonID = own
		}
		if b.PersonID != own {
			Error(w, http.StatusForbidden, "you may request absences for yourself only")
			return
		}
	}
	var a store.AbsenceRecord
	err := s.change(r, func(st *store.Store) (event, error) {
		var err error
		a, err = s.Scheduling.On(st).RequestAbsence(r.Context(), scheduling.NewAbsence{PersonID: b.PersonID, Start: b.StartDate, End: b.EndDate,
			Type: b.AbsenceType, Reason: b.Reason, RequestedBy: principal(r).ID})
		return event{"absence.request", "absence:" + a.ID, map[string]any{"person_id": a.PersonID, "type": a.Type}}, err
	})
	if err != nil {
		s.schedFail(w, r, err)
		return
	}
	v := viewAbsence(a)
	if b.Reason != "" {
		v.Reason = &b.Reason
	}
	writeJSON(w, http.StatusCreated, v)
}

// visibleAbsence reads absence {id} if the caller may see it; others' absences are a 404 to
// residents and faculty, so their existence does not leak.
func (s *server) visibleAbsence(w http.ResponseWriter, r *http.Request) (store.AbsenceRecord, bool) {
	id, ok := pathID(w, r)
	if !ok {
		return store.AbsenceRecord{}, false
	}
	all, own, ok := s.absenceScope(w, r)
	if !ok {
		return store.AbsenceRecord{}, false
	}
	a, err := s.Scheduling.Store().GetAbsence(r.Context(), id)
	if err == nil && !all && a.PersonID != own {
		err = store.ErrNotFound
	}
	if err != nil {
		s.schedFail(w, r, err)
		return store.AbsenceRecord{}, false
	}
	return a, true
}

func (s *server) getAbsence(w http.ResponseWriter, r *http.Request) {
	a, ok := s.visibleAbsence(w, r)
	if !ok {
		return
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
}

// reviewAbsence approves or rejects a pending absence (action names it in the audit trail).
func (s *server) reviewAbsence(status, action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		var a store.AbsenceRecord
		err := s.change(r, func(st *store.Store) (event, error) {
			var err error
			a, err = st.SetAbsenceStatus(r.Context(), id, []string{store.AbsencePending}, status, principal(r).ID)
			return event{"absence." + action, "absence:" + id, map[string]any{"person_id": a.PersonID}}, err
		})
		if err != nil {
			s.schedFail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, viewAbsence(a))
	}
}

// cancelAbsence withdraws a pending or approved absence: the person's own, or anyone's for
// coordinators and administrators.
func (s *server) cancelAbsence(w http.ResponseWriter, r *http.Request) {
	a, ok := s.visibleAbsence(w, r)
	if !ok {
		return
	}
	var out store.AbsenceRecord
	err := s.change(r, func(st *store.Store) (event, error) {
		var err error
		out, err = st.SetAbsenceStatus(r.Context(), a.ID, []string{store.AbsencePending, store.AbsenceApproved}, store.AbsenceCancelled, "")
		return event{"absence.cancel", "absence:" + a.ID, map[string]any{"person_id": a.PersonID}}, err
	})
	if err != nil {
		s.schedFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewAbsence(out))
}

func (s *server) deleteAbsence(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	err := s.change(r, func(st *store.Store) (event, error) {
		return event{"absence.delete", "absence:" + id, nil}, st.DeleteAbsence(r.Context(), id)
	})
	if err != nil {
		s.schedFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
