package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/rsched/rsched/internal/server/schedule"
	"github.com/rsched/rsched/internal/server/scheduling"
	"github.com/rsched/rsched/internal/server/store"
)

// assignmentView is an assignment as the API shows it; updated_at is its version (also sent as
// the ETag of a single read).
type assignmentView struct {
	ID                 string        `json:"id"`
	PersonID           string        `json:"person_id"`
	Date               schedule.Date `json:"date"`
	TimeOfDay          schedule.Half `json:"time_of_day"`
	RotationTemplateID string        `json:"rotation_template_id"`
	Locked             bool          `json:"locked"`
	Source             string        `json:"source"`
	UpdatedAt          time.Time     `json:"updated_at"`
}

func viewAssignment(a store.StoredAssignment) assignmentView {
	return assignmentView{ID: a.ID, PersonID: a.PersonID, Date: a.Slot.Date, TimeOfDay: a.Slot.Half, RotationTemplateID: a.TemplateID,
		Locked: a.Locked, Source: a.Source, UpdatedAt: a.UpdatedAt}
}

func (s *server) listAssignments(w http.ResponseWriter, r *http.Request) {
	pg, size, ok := page(w, r, 500, 5000)
	if !ok {
		return
	}
	from, to, ok := dateRange(w, r, schedule.MaxRangeDays)
	if !ok {
		return
	}
	person, ok := queryID(w, r, "person_id")
	if !ok {
		return
	}
	tmpl, ok := queryID(w, r, "rotation_template_id")
	if !ok {
		return
	}
	as, total, err := s.Scheduling.Store().ListAssignments(r.Context(), store.AssignmentFilter{From: from, To: to, PersonID: person, TemplateID: tmpl, Page: pg, Size: size})
	if err != nil {
		s.schedFail(w, r, err)
		return
	}
	items := make([]assignmentView, 0, len(as))
	for _, a := range as {
		items = append(items, viewAssignment(a))
	}
	writeJSON(w, http.StatusOK, pageBody(items, total, pg, size))
}

type newAssignmentBody struct {
	PersonID           string        `json:"person_id"`
	Date               schedule.Date `json:"date"`
	TimeOfDay          schedule.Half `json:"time_of_day"`
	RotationTemplateID string        `json:"rotation_template_id"`
	Locked             bool          `json:"locked"`
}

func (s *server) createAssignment(w http.ResponseWriter, r *http.Request) {
	var b newAssignmentBody
	if !decodeJSON(w, r, &b) {
		return
	}
	switch {
	case !scheduling.ValidID(b.PersonID) || !scheduling.ValidID(b.RotationTemplateID):
		Error(w, http.StatusUnprocessableEntity, "person_id and rotation_template_id must be the ids of a person and a rotation template")
		return
	case b.Date == (schedule.Date{}):
		Error(w, http.StatusUnprocessableEntity, "date is required (YYYY-MM-DD)")
		return
	case b.TimeOfDay != schedule.AM && b.TimeOfDay != schedule.PM:
		Error(w, http.StatusUnprocessableEntity, "time_of_day must be AM or PM")
		return
	}
	var a store.StoredAssignment
	err := s.change(r, func(st *store.Store) (event, error) {
		var err error
		a, err = st.CreateAssignment(r.Context(), schedule.Assignment{Slot: schedule.Slot{Date: b.Date, Half: b.TimeOfDay},
			PersonID: strings.ToLower(b.PersonID), TemplateID: strings.ToLower(b.RotationTemplateID), Locked: b.Locked})
		return event{"assignment.create", "assignment:" + a.ID, map[string]any{"locked": a.Locked}}, err
	})
	if err != nil {
		s.schedFail(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(a.UpdatedAt))
	writeJSON(w, http.StatusCreated, viewAssignment(a))
}

func (s *server) getAssignment(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	a, err := s.Scheduling.Store().GetAssignment(r.Context(), id)
	if err != nil {
		s.schedFail(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(a.UpdatedAt))
	writeJSON(w, http.StatusOK, viewAssignment(a))
}

type updateAssignmentBody struct {
	RotationTemplateID *string    `json:"rotation_template_id"`
	Locked             *bool      `json:"locked"`
	UpdatedAt          *time.Time `json:"updated_at"`
}

// updateAssignment changes an assignment's template or lock, only at the version the caller
// read (If-Match or updated_at): a stale version is a 409 and nothing is written.
func (s *server) updateAssignment(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	var b updateAssignmentBody
	if !decodeJSON(w, r, &b) {
		return
	}
	v, ok := version(w, r, b.UpdatedAt)
	if !ok {
		return
	}
	cur, err := s.Scheduling.Store().GetAssignment(r.Context(), id)
	if err != nil {
		s.schedFail(w, r, err)
		return
	}
	tmpl, locked := cur.TemplateID, cur.Locked
	if b.RotationTemplateID != nil {
		if !scheduling.ValidID(*b.RotationTemplateID) {
			Error(w, http.StatusUnprocessableEntity, "rotation_template_id must be a rotation template's id")
			return
		}
		tmpl = strings.ToLower(*b.RotationTemplateID)
	}
	if b.Locked != nil {
		locked = *b.Locked
	}
	var a store.StoredAssignment
	err = s.change(r, func(st *store.Store) (event, error) {
		var err error
		a, err = st.UpdateAssignment(r.Context(), id, tmpl, locked, v)
		return event{"assignment.update", "assignment:" + id, map[string]any{"locked": a.Locked}}, err
	})
	if err != nil {
		s.schedFail(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(a.UpdatedAt))
	writeJSON(w, http.StatusOK, viewAssignment(a))
}

func (s *server) deleteAssignment(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	v, ok := version(w, r, nil)
	if !ok {
		return
	}
	err := s.change(r, func(st *store.Store) (event, error) {
		return event{"assignment.delete", "assignment:" + id, nil}, st.DeleteAssignment(r.Context(), id, v)
	})
	if err != nil {
		s.schedFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
