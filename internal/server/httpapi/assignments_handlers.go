package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/scheduling"
	"github.com/rsched/rsched/internal/server/store"
)

// assignmentView is an assignment as the API shows it; updated_at is its version (also sent as
// the ETag of a single read).
type assignmentView struct {
	ID                 string      `json:"id"`
	PersonID           string      `json:"person_id"`
	Date               roster.Date `json:"date"`
	TimeOfDay          roster.Half `json:"time_of_day"`
	RotationTemplateID string      `json:"rotation_template_id"`
	Locked             bool        `json:"locked"`
	Source             string      `json:"source"`
	UpdatedAt          time.Time   `json:"updated_at"`
}

// assignmentWrite is the answer to a write: the assignment and what the write caused, the
// violations the schedule has since and did not have before (hard ones first), and the override
// reason when it broke hard rules with one.
type assignmentWrite struct {
	assignmentView
	Violations     []scheduling.ViolationView `json:"violations"`
	HardViolations int                        `json:"hard_violations"`
	OverrideReason string                     `json:"override_reason,omitempty"`
}

// withOutcome is v as the answer to a write with outcome o.
func withOutcome(v assignmentView, o scheduling.EditOutcome) assignmentWrite {
	w := assignmentWrite{assignmentView: v, Violations: o.Violations, HardViolations: o.Hard, OverrideReason: o.Override}
	if w.Violations == nil {
		w.Violations = []scheduling.ViolationView{}
	}
	return w
}

// refused answers an edit refused for the hard rules it would break: 422 with the detail and
// the violations, nothing written. It reports whether err was such a refusal.
func refused(w http.ResponseWriter, err error) bool {
	var refusal *scheduling.RuleRefusal
	if !errors.As(err, &refusal) {
		return false
	}
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"detail": refusal.Error(), "violations": refusal.Broken})
	return true
}

func viewAssignment(a store.StoredAssignment) assignmentView {
	return assignmentView{ID: a.ID, PersonID: a.PersonID, Date: a.Slot.Date, TimeOfDay: a.Slot.Half, RotationTemplateID: a.TemplateID,
		Locked: a.Locked, Source: a.Source, UpdatedAt: a.UpdatedAt}
}

func (s *server) listAssignments(w http.ResponseWriter, r *http.Request) error {
	pg, size, err := page(r, 500, 5000)
	if err != nil {
		return err
	}
	from, to, err := dateRange(r, roster.MaxRangeDays)
	if err != nil {
		return err
	}
	person, err := queryID(r, "person_id")
	if err != nil {
		return err
	}
	tmpl, err := queryID(r, "rotation_template_id")
	if err != nil {
		return err
	}
	as, total, err := s.Scheduling.ListAssignments(r.Context(), store.AssignmentFilter{From: from, To: to, PersonID: person, TemplateID: tmpl, Page: pg, Size: size})
	if err != nil {
		return err
	}
	items := make([]assignmentView, 0, len(as))
	for _, a := range as {
		items = append(items, viewAssignment(a))
	}
	writeJSON(w, http.StatusOK, pageBody(items, total, pg, size))
	return nil
}

type newAssignmentBody struct {
	PersonID           string      `json:"person_id"`
	Date               roster.Date `json:"date"`
	TimeOfDay          roster.Half `json:"time_of_day"`
	RotationTemplateID string      `json:"rotation_template_id"`
	Locked             bool        `json:"locked"`
	OverrideReason     string      `json:"override_reason"`
}

func (s *server) createAssignment(w http.ResponseWriter, r *http.Request) error {
	var b newAssignmentBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	switch {
	case !scheduling.ValidID(b.PersonID) || !scheduling.ValidID(b.RotationTemplateID):
		return errStatus(http.StatusUnprocessableEntity, "person_id and rotation_template_id must be the ids of a person and a rotation template")
	case b.Date == (roster.Date{}):
		return errStatus(http.StatusUnprocessableEntity, "date is required (YYYY-MM-DD)")
	case b.TimeOfDay != roster.AM && b.TimeOfDay != roster.PM:
		return errStatus(http.StatusUnprocessableEntity, "time_of_day must be AM or PM")
	}
	var a store.StoredAssignment
	var outcome scheduling.EditOutcome
	err := s.change(r, func(svc *scheduling.Service) (event, error) {
		var err error
		outcome, err = svc.CheckManualEdit(r.Context(), []roster.Date{b.Date}, b.OverrideReason, func() error {
			var err error
			a, err = svc.CreateAssignment(r.Context(), roster.Assignment{Slot: roster.Slot{Date: b.Date, Half: b.TimeOfDay},
				PersonID: strings.ToLower(b.PersonID), TemplateID: strings.ToLower(b.RotationTemplateID), Locked: b.Locked})
			return err
		})
		return event{"assignment.create", "assignment:" + a.ID, outcome.AuditDetails(map[string]any{"locked": a.Locked})}, err
	})
	if refused(w, err) {
		return nil
	}
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(a.UpdatedAt))
	writeJSON(w, http.StatusCreated, withOutcome(viewAssignment(a), outcome))
	return nil
}

func (s *server) getAssignment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	a, err := s.Scheduling.GetAssignment(r.Context(), id)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(a.UpdatedAt))
	writeJSON(w, http.StatusOK, viewAssignment(a))
	return nil
}

type updateAssignmentBody struct {
	RotationTemplateID *string    `json:"rotation_template_id"`
	Locked             *bool      `json:"locked"`
	UpdatedAt          *time.Time `json:"updated_at"`
	OverrideReason     string     `json:"override_reason"`
}

// updateAssignment changes an assignment's template or lock, only at the version the caller
// read (If-Match or updated_at): a stale version is a 409 and nothing is written.
func (s *server) updateAssignment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var b updateAssignmentBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	v, err := version(r, b.UpdatedAt)
	if err != nil {
		return err
	}
	cur, err := s.Scheduling.GetAssignment(r.Context(), id)
	if err != nil {
		return err
	}
	tmpl, locked := cur.TemplateID, cur.Locked
	if b.RotationTemplateID != nil {
		if !scheduling.ValidID(*b.RotationTemplateID) {
			return errStatus(http.StatusUnprocessableEntity, "rotation_template_id must be a rotation template's id")
		}
		tmpl = strings.ToLower(*b.RotationTemplateID)
	}
	if b.Locked != nil {
		locked = *b.Locked
	}
	var a store.StoredAssignment
	var outcome scheduling.EditOutcome
	err = s.change(r, func(svc *scheduling.Service) (event, error) {
		var err error
		outcome, err = svc.CheckManualEdit(r.Context(), []roster.Date{cur.Slot.Date}, b.OverrideReason, func() error {
			var err error
			a, err = svc.UpdateAssignment(r.Context(), id, tmpl, locked, v)
			return err
		})
		return event{"assignment.update", "assignment:" + id, outcome.AuditDetails(map[string]any{"locked": a.Locked})}, err
	})
	if refused(w, err) {
		return nil
	}
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(a.UpdatedAt))
	writeJSON(w, http.StatusOK, withOutcome(viewAssignment(a), outcome))
	return nil
}

func (s *server) deleteAssignment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	v, err := version(r, nil)
	if err != nil {
		return err
	}
	// The reason is free text: in an optional JSON body, never in the URL (access logs keep URLs).
	var body struct {
		OverrideReason string `json:"override_reason"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &body); err != nil {
			return err
		}
	}
	override := body.OverrideReason
	cur, err := s.Scheduling.GetAssignment(r.Context(), id)
	if err != nil {
		return err
	}
	var outcome scheduling.EditOutcome
	err = s.change(r, func(svc *scheduling.Service) (event, error) {
		var err error
		outcome, err = svc.CheckManualEdit(r.Context(), []roster.Date{cur.Slot.Date}, override, func() error {
			return svc.DeleteAssignment(r.Context(), id, v)
		})
		return event{"assignment.delete", "assignment:" + id, outcome.AuditDetails(nil)}, err
	})
	if refused(w, err) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(outcome.Violations) > 0 {
		// What the deletion left behind (uncovered half-days, say): 200 with it, not a bare 204.
		writeJSON(w, http.StatusOK, map[string]any{"violations": outcome.Violations, "hard_violations": outcome.Hard, "override_reason": outcome.Override})
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
