package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/scheduling"
	"github.com/rsched/rsched/internal/server/store"
)

// templateView is a rotation template as the API shows it.
type templateView struct {
	roster.Template
	AllowedPGY []int `json:"allowed_pgy_levels"`
	// StartTime is shown as null for the half-day family.
	StartTime *roster.ClockTime `json:"start_time"`
	// EveryNthNight is shown as 0 when the template has no q-N pattern.
	EveryNthNight int       `json:"call_every_nth_night"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

func viewTemplate(t store.TemplateRecord) templateView {
	levels := t.AllowedPGY
	if levels == nil {
		levels = []int{}
	}
	return templateView{Template: t.Template, AllowedPGY: levels, StartTime: t.StartTime, EveryNthNight: t.EveryNthNight, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

// MaxTemplates bounds a program's rotation templates: the solver lays out a table per half-day
// and template, so their number bounds its memory (programs have tens).
const MaxTemplates = 500

// templateBody is the body of POST and PATCH /rotation-templates: on PATCH, missing fields stay.
type templateBody struct {
	Name                *string  `json:"name"`
	ActivityType        *string  `json:"activity_type"`
	HoursPerSession     *float64 `json:"hours_per_session"`
	MinResidents        *int     `json:"min_residents"`
	MaxResidents        *int     `json:"max_residents"`
	AllowedPGYLevels    *[]int   `json:"allowed_pgy_levels"`
	SupervisionRequired *bool    `json:"supervision_required"`
	Weekends            *bool    `json:"weekends"`
	// Holidays: on POST, missing means as weekends (wards and call run on holidays, clinics do not).
	Holidays *bool `json:"holidays"`
	// MaxLearners: learners per half-day besides the residents (0: takes none).
	MaxLearners *int `json:"max_learners"`
	// RotationID ties the template to a block rotation ("": none).
	RotationID *string `json:"rotation_id"`
	// StartTime "HH:MM" makes the template a shift of its own hours ("": back to the half-day
	// family).
	StartTime *string `json:"start_time"`
	// RequiredCredential: only faculty holding it supervise the template ("": none).
	RequiredCredential *string `json:"required_credential"`
	// MinFaculty makes it a faculty shift: this many faculty in every half-day it runs.
	MinFaculty *int `json:"min_faculty"`
	// EveryNthNight is a call template's q-N pattern (0: none).
	EveryNthNight *int `json:"call_every_nth_night"`
}

func (b templateBody) apply(t *roster.Template) string {
	if msg := b.set(t); msg != "" {
		return msg
	}
	return checkTemplate(t)
}

// set copies the fields the body has onto t.
func (b templateBody) set(t *roster.Template) string {
	if b.Name != nil {
		t.Name = strings.TrimSpace(*b.Name)
	}
	if b.ActivityType != nil {
		t.Activity = roster.Activity(*b.ActivityType)
	}
	if b.HoursPerSession != nil {
		t.HoursPerSession = *b.HoursPerSession
	}
	if b.MinResidents != nil {
		t.MinResidents = *b.MinResidents
	}
	if b.MaxResidents != nil {
		t.MaxResidents = *b.MaxResidents
	}
	if b.AllowedPGYLevels != nil {
		t.AllowedPGY = *b.AllowedPGYLevels
	}
	if b.SupervisionRequired != nil {
		t.SupervisionRequired = *b.SupervisionRequired
	}
	if b.Weekends != nil {
		t.Weekends = *b.Weekends
	}
	if b.Holidays != nil {
		t.Holidays = *b.Holidays
	}
	if b.MaxLearners != nil {
		t.MaxLearners = *b.MaxLearners
	}
	if b.RotationID != nil {
		t.RotationID = strings.ToLower(*b.RotationID)
	}
	if b.RequiredCredential != nil {
		t.RequiredCredential = *b.RequiredCredential
	}
	if b.MinFaculty != nil {
		t.MinFaculty = *b.MinFaculty
	}
	if b.EveryNthNight != nil {
		t.EveryNthNight = *b.EveryNthNight
	}
	if b.StartTime != nil {
		t.StartTime = nil
		if *b.StartTime != "" {
			c, err := roster.ParseClock(*b.StartTime)
			if err != nil {
				return err.Error()
			}
			t.StartTime = &c
		}
	}
	return ""
}

// checkTemplate judges a template as the body left it.
func checkTemplate(t *roster.Template) string {
	if t.RotationID != "" && !scheduling.ValidID(t.RotationID) {
		return "rotation_id must be a UUID or empty"
	}
	if t.Name == "" || utf8.RuneCountInString(t.Name) > 200 || !validText(t.Name) {
		return "name is required, at most 200 characters"
	}
	if t.MaxResidents > 1000 {
		return "max_residents is at most 1000"
	}
	// Hours are stored to the hundredth: a value that would be rounded is refused, not changed.
	if h := t.HoursPerSession * 100; math.Abs(h-math.Round(h)) > 1e-6 {
		return "hours_per_session has at most two decimals"
	}
	id := t.ID
	if id == "" {
		t.ID = "new"
	}
	err := t.Validate()
	t.ID = id
	if err != nil {
		// The message names the template by id; the client knows which one it sent.
		msg := err.Error()
		if _, rest, ok := strings.Cut(msg, ": "); ok {
			msg = rest
		}
		return msg
	}
	return ""
}

func (s *server) listTemplates(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.Scheduling.ListTemplates(r.Context())
	if err != nil {
		return err
	}
	items := make([]templateView, 0, len(ts))
	for _, t := range ts {
		items = append(items, viewTemplate(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
	return nil
}

func (s *server) createTemplate(w http.ResponseWriter, r *http.Request) error {
	var b templateBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	var t roster.Template
	if b.Holidays == nil {
		t.Holidays = b.Weekends != nil && *b.Weekends
	}
	if msg := b.apply(&t); msg != "" {
		return errStatus(http.StatusUnprocessableEntity, msg)
	}
	existing, err := s.Scheduling.ListTemplates(r.Context())
	if err != nil {
		return err
	}
	if len(existing) >= MaxTemplates {
		return errStatus(http.StatusUnprocessableEntity, fmt.Sprintf("a program has at most %d rotation templates; delete one it no longer uses", MaxTemplates))
	}
	var out store.TemplateRecord
	err = s.change(r, func(svc *scheduling.Service) (event, error) {
		var err error
		out, err = svc.CreateTemplate(r.Context(), t)
		return event{"rotation_template.create", "rotation_template:" + out.ID, nil}, err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, viewTemplate(out))
	return nil
}

func (s *server) getTemplate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	t, err := s.Scheduling.GetTemplate(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewTemplate(t))
	return nil
}

// templatePatch is the body of PATCH /rotation-templates/{id}: the fields to change and, for a
// change that breaks hard rules in the schedule already on the template, why.
type templatePatch struct {
	templateBody
	OverrideReason string `json:"override_reason"`
}

// templateWrite is the answer to a template change: the template and what the change caused to
// the assignments on it (scheduling.TemplateEditOutcome).
type templateWrite struct {
	templateView
	scheduling.TemplateEditOutcome
}

// updateTemplate changes a template. A change of its sessions (anything but the name) is judged
// like a manual edit of every assignment on it (scheduling.CheckTemplateEdit): refused with 422
// and the violations, nothing written, when it breaks a hard rule and no override_reason is
// given.
func (s *server) updateTemplate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var b templatePatch
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	t, err := s.Scheduling.GetTemplate(r.Context(), id)
	if err != nil {
		return err
	}
	before := t.Template
	before.AllowedPGY = slices.Clone(before.AllowedPGY)
	if msg := b.apply(&t.Template); msg != "" {
		return errStatus(http.StatusUnprocessableEntity, msg)
	}
	var out store.TemplateRecord
	var outcome scheduling.TemplateEditOutcome
	err = s.change(r, func(svc *scheduling.Service) (event, error) {
		var err error
		outcome, err = svc.CheckTemplateEdit(r.Context(), before, t.Template, b.OverrideReason, func() error {
			var err error
			out, err = svc.UpdateTemplate(r.Context(), t)
			return err
		})
		return event{"rotation_template.update", "rotation_template:" + id, outcome.AuditDetails(nil)}, err
	})
	if refused(w, err) {
		return nil
	}
	if err != nil {
		return err
	}
	if outcome.Violations == nil {
		outcome.Violations = []scheduling.ViolationView{}
	}
	writeJSON(w, http.StatusOK, templateWrite{viewTemplate(out), outcome})
	return nil
}

func (s *server) deleteTemplate(w http.ResponseWriter, r *http.Request) error {
	return s.deleteRecord(w, r, "rotation_template", (*scheduling.Service).DeleteTemplate)
}
