package httpapi

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rsched/rsched/internal/server/accounts"
	"github.com/rsched/rsched/internal/server/rbac"
	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/scheduling"
	"github.com/rsched/rsched/internal/server/store"
)

// personView is a person as the API shows it. Lists leave out the contact and account fields
// (data minimisation); single reads show them to coordinators, administrators and the person.
type personView struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Type     string `json:"type"`
	PGYLevel *int   `json:"pgy_level,omitempty"`
	// FinalPGYLevel is the level a resident's program ends in (the rollover graduates them).
	FinalPGYLevel      *int `json:"final_pgy_level,omitempty"`
	MaxSessionsPerWeek int  `json:"max_sessions_per_week"`
	// The predecessor's attributes.
	PerformsProcedures       bool     `json:"performs_procedures"`
	Specialties              []string `json:"specialties"`
	PrimaryDuty              string   `json:"primary_duty,omitempty"`
	FacultyRole              string   `json:"faculty_role,omitempty"`
	AdminType                string   `json:"admin_type,omitempty"`
	MinClinicHalfdaysPerWeek int      `json:"min_clinic_halfdays_per_week"`
	// Credentials are what a faculty member may supervise where a template requires one:
	// shown to those the matrix lets read credentials (administrators, faculty).
	Credentials *[]string `json:"credentials,omitempty"`
	Email       string    `json:"email,omitempty"`
	UserID      string    `json:"user_id,omitempty"`
	// Archived people (removed with history, or graduated) are kept, never scheduled.
	Archived       bool       `json:"archived"`
	ArchivedAt     *time.Time `json:"archived_at,omitempty"`
	ArchivedReason string     `json:"archived_reason,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

func viewPerson(p store.PersonRecord, full bool) personView {
	a := p.PersonAttributes
	v := personView{ID: p.ID, Name: p.Name, Type: string(p.Type), MaxSessionsPerWeek: p.MaxSessionsPerWeek, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		PerformsProcedures: a.PerformsProcedures, Specialties: a.Specialties, PrimaryDuty: a.PrimaryDuty, FacultyRole: a.FacultyRole, AdminType: a.AdminType,
		MinClinicHalfdaysPerWeek: a.MinClinicHalfdaysPerWeek, Archived: p.Archived(), ArchivedAt: p.ArchivedAt, ArchivedReason: p.ArchivedReason}
	if v.Specialties == nil {
		v.Specialties = []string{}
	}

	if p.Type == roster.Resident {
		pgy, final := p.PGY, p.FinalPGY
		v.PGYLevel, v.FinalPGYLevel = &pgy, &final
	}
	if full {
		v.Email, v.UserID = p.Email, p.UserID
	}
	return v
}

// personBody is the body of POST and PATCH /people: on PATCH, missing fields stay as they are.
type personBody struct {
	Name               *string `json:"name"`
	Type               *string `json:"type"`
	PGYLevel           *int    `json:"pgy_level"`
	FinalPGYLevel      *int    `json:"final_pgy_level"`
	MaxSessionsPerWeek *int    `json:"max_sessions_per_week"`
	Email              *string `json:"email"`
	UserID             *string `json:"user_id"`

	PerformsProcedures       *bool     `json:"performs_procedures"`
	Specialties              *[]string `json:"specialties"`
	PrimaryDuty              *string   `json:"primary_duty"`
	FacultyRole              *string   `json:"faculty_role"`
	AdminType                *string   `json:"admin_type"`
	MinClinicHalfdaysPerWeek *int      `json:"min_clinic_halfdays_per_week"`
	// Credentials: a faculty member's, the whole list ([] for none).
	Credentials *[]string `json:"credentials"`
}

// apply writes the body's fields over p and checks the result.
func (b personBody) apply(p *store.PersonRecord) string {
	b.merge(p)
	b.mergeAttributes(&p.PersonAttributes)
	switch {
	case p.Type != roster.Resident:
		p.PGY, p.FinalPGY = 0, 0
	case p.FinalPGY == 0:
		p.FinalPGY = store.DefaultFinalPGY(p.PGY)
	}
	if msg := checkAttributes(p.PersonAttributes, p.Type, p.MaxSessionsPerWeek); msg != "" {
		return msg
	}
	return checkPerson(*p)
}

// merge writes the body's person fields over p.
func (b personBody) merge(p *store.PersonRecord) {
	if b.Name != nil {
		p.Name = strings.TrimSpace(*b.Name)
	}
	if b.Type != nil {
		p.Type = roster.PersonType(*b.Type)
	}
	if b.PGYLevel != nil {
		p.PGY = *b.PGYLevel
	}
	if b.FinalPGYLevel != nil {
		p.FinalPGY = *b.FinalPGYLevel
	}
	if b.MaxSessionsPerWeek != nil {
		p.MaxSessionsPerWeek = *b.MaxSessionsPerWeek
	}
	if b.Email != nil {
		p.Email = strings.TrimSpace(*b.Email)
	}
	if b.UserID != nil {
		p.UserID = strings.ToLower(*b.UserID)
	}
	if b.Credentials != nil {
		p.Credentials = *b.Credentials
	}
}

// mergeAttributes writes the body's attribute fields over a.
func (b personBody) mergeAttributes(a *store.PersonAttributes) {
	if b.PerformsProcedures != nil {
		a.PerformsProcedures = *b.PerformsProcedures
	}
	if b.Specialties != nil {
		a.Specialties = *b.Specialties
	}
	if b.PrimaryDuty != nil {
		a.PrimaryDuty = strings.TrimSpace(*b.PrimaryDuty)
	}
	if b.FacultyRole != nil {
		a.FacultyRole = *b.FacultyRole
	}
	if b.AdminType != nil {
		a.AdminType = strings.TrimSpace(*b.AdminType)
	}
	if b.MinClinicHalfdaysPerWeek != nil {
		a.MinClinicHalfdaysPerWeek = *b.MinClinicHalfdaysPerWeek
	}
}

// personTypes are the kinds of people: learners (medical students) are placed by hand on
// templates that take them and have no PGY level and no duty-hour accounting.
var personTypes = []roster.PersonType{roster.Resident, roster.Faculty, roster.Learner}

// pgyRange is the message for a PGY level out of range.
var pgyRange = fmt.Sprintf("a resident needs pgy_level 1 to %d", roster.MaxPGY)

// checkPerson validates a person's own fields.
func checkPerson(p store.PersonRecord) string {
	switch {
	case p.Name == "" || utf8.RuneCountInString(p.Name) > 200 || !validText(p.Name):
		return "name is required, at most 200 characters"
	case !slices.Contains(personTypes, p.Type):
		return "type must be resident, faculty or learner"
	case p.Type == roster.Resident && (p.PGY < 1 || p.PGY > roster.MaxPGY):
		return pgyRange
	case p.Type == roster.Resident && (p.FinalPGY < p.PGY || p.FinalPGY > roster.MaxPGY):
		return fmt.Sprintf("final_pgy_level (the level the program ends in) must be from pgy_level (%d) to %d", p.PGY, roster.MaxPGY)
	case p.MaxSessionsPerWeek < 0 || p.MaxSessionsPerWeek > 14:
		return "max_sessions_per_week must be from 0 (no cap) to 14"
	case p.Email != "" && accounts.ValidEmail(p.Email) != nil:
		return "email is not a valid address such as name@example.org"
	case p.UserID != "" && !scheduling.ValidID(p.UserID):
		return "user_id must be a user's id"
	}
	return checkCredentials(p)
}

// checkCredentials validates a person's credentials: faculty's only, well-formed, no repeats.
func checkCredentials(p store.PersonRecord) string {
	if len(p.Credentials) == 0 {
		return ""
	}
	if p.Type != roster.Faculty {
		return "credentials are for faculty (residents learn a procedure under faculty who hold it)"
	}
	if len(p.Credentials) > roster.MaxCredentials {
		return fmt.Sprintf("credentials lists at most %d", roster.MaxCredentials)
	}
	for i, c := range p.Credentials {
		if !roster.ValidCredential(c) {
			return "a credential is 1 to 63 lower-case letters, digits, '-' or '_', starting with a letter or digit"
		}
		if slices.Contains(p.Credentials[:i], c) {
			return "credentials lists " + c + " twice"
		}
	}
	return ""
}

// check validates the predecessor's attributes.
func checkAttributes(a store.PersonAttributes, typ roster.PersonType, maxSessions int) string {
	switch {
	case len(a.Specialties) > 20:
		return "specialties lists at most 20"
	case utf8.RuneCountInString(a.PrimaryDuty) > 100 || !validText(a.PrimaryDuty):
		return "primary_duty is text of at most 100 characters"
	case utf8.RuneCountInString(a.AdminType) > 50 || !validText(a.AdminType):
		return "admin_type is text of at most 50 characters"
	case a.FacultyRole != "" && !slices.Contains(store.FacultyRoles, a.FacultyRole):
		return "faculty_role must be one of " + strings.Join(store.FacultyRoles, ", ")
	case typ != roster.Faculty && (a.FacultyRole != "" || a.AdminType != ""):
		return "faculty_role and admin_type are for faculty only"
	case a.MinClinicHalfdaysPerWeek < 0 || a.MinClinicHalfdaysPerWeek > 14:
		return "min_clinic_halfdays_per_week must be from 0 to 14"
	case maxSessions > 0 && a.MinClinicHalfdaysPerWeek > maxSessions:
		return "min_clinic_halfdays_per_week is above max_sessions_per_week"
	}
	for _, sp := range a.Specialties {
		if sp == "" || utf8.RuneCountInString(sp) > 100 || !validText(sp) {
			return "each specialty is text of 1 to 100 characters"
		}
	}
	return ""
}

func (s *server) listPeople(w http.ResponseWriter, r *http.Request) error {
	pg, size, err := page(r, 100, 500)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.PersonFilter{Type: roster.PersonType(q.Get("type")), Query: q.Get("q"), Page: pg, Size: size, ActiveOnly: true}
	if v := q.Get("include_archived"); v != "" {
		all, err := strconv.ParseBool(v)
		if err != nil {
			return errStatus(http.StatusUnprocessableEntity, "include_archived must be true or false")
		}
		f.ActiveOnly = !all
	}
	if f.Type != "" && !slices.Contains(personTypes, f.Type) {
		return errStatus(http.StatusUnprocessableEntity, "type must be resident, faculty or learner")
	}
	if v := q.Get("pgy_level"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > roster.MaxPGY {
			return errStatus(http.StatusUnprocessableEntity, pgyRange)
		}
		f.PGY = n
	}
	if utf8.RuneCountInString(f.Query) > 100 || !validText(f.Query) {
		return errStatus(http.StatusUnprocessableEntity, "q must be text of at most 100 characters")
	}
	f.FacultyRole, f.Specialty = q.Get("faculty_role"), q.Get("specialty")
	if f.FacultyRole != "" && !slices.Contains(store.FacultyRoles, f.FacultyRole) {
		return errStatus(http.StatusUnprocessableEntity, "faculty_role must be one of "+strings.Join(store.FacultyRoles, ", "))
	}
	if utf8.RuneCountInString(f.Specialty) > 100 || !validText(f.Specialty) {
		return errStatus(http.StatusUnprocessableEntity, "specialty must be text of at most 100 characters")
	}
	if v := q.Get("performs_procedures"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errStatus(http.StatusUnprocessableEntity, "performs_procedures must be true or false")
		}
		f.PerformsProcedures = &b
	}
	people, total, err := s.Scheduling.ListPeople(r.Context(), f)
	if err != nil {
		return err
	}
	items := make([]personView, 0, len(people))
	for _, p := range people {
		items = append(items, personOut(principal(r), p, false))
	}
	writeJSON(w, http.StatusOK, pageBody(items, total, pg, size))
	return nil
}

func (s *server) createPerson(w http.ResponseWriter, r *http.Request) error {
	var b personBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	if err := mayManageCredentials(principal(r), b, rbac.Create); err != nil {
		return err
	}
	var p store.PersonRecord
	if msg := b.apply(&p); msg != "" {
		return errStatus(http.StatusUnprocessableEntity, msg)
	}
	var out store.PersonRecord
	err := s.change(r, func(svc *scheduling.Service) (event, error) {
		var err error
		out, err = svc.CreatePerson(r.Context(), p)
		details := map[string]any{"type": string(out.Type)}
		if len(out.Credentials) > 0 {
			details["credentials"] = out.Credentials
		}
		return event{"person.create", "person:" + out.ID, details}, err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, personOut(principal(r), out, true))
	return nil
}

// personOut is the view of p for the caller: contact fields when full, credentials when the
// matrix lets them read credentials.
func personOut(c *accounts.Principal, p store.PersonRecord, full bool) personView {
	v := viewPerson(p, full)
	if rbac.Allowed(c.Role, rbac.Credential, rbac.Read) {
		cs := p.Credentials
		if cs == nil {
			cs = []string{}
		}
		v.Credentials = &cs
	}
	return v
}

// mayManageCredentials refuses a body that sets credentials from a caller the matrix does not
// let manage them (the medical staff office's: administrators).
func mayManageCredentials(c *accounts.Principal, b personBody, action rbac.Action) error {
	if b.Credentials != nil && !rbac.Allowed(c.Role, rbac.Credential, action) {
		return errStatus(http.StatusForbidden, "credentials are managed by administrators (the credential permission)")
	}
	return nil
}

// seesContact says whether the caller may see a person's contact and account fields.
func seesContact(c *accounts.Principal, p store.PersonRecord) bool {
	return rbac.Allowed(c.Role, rbac.Person, rbac.Update) || (p.UserID != "" && p.UserID == c.ID)
}

func (s *server) getPerson(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	p, err := s.Scheduling.GetPerson(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, personOut(principal(r), p, seesContact(principal(r), p)))
	return nil
}

func (s *server) updatePerson(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var b personBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	if err := mayManageCredentials(principal(r), b, rbac.Update); err != nil {
		return err
	}
	p, err := s.Scheduling.GetPerson(r.Context(), id)
	if err != nil {
		return err
	}
	if msg := b.apply(&p); msg != "" {
		return errStatus(http.StatusUnprocessableEntity, msg)
	}
	var out store.PersonRecord
	err = s.change(r, func(svc *scheduling.Service) (event, error) {
		var err error
		out, err = svc.UpdatePerson(r.Context(), p)
		var details map[string]any
		if b.Credentials != nil {
			details = map[string]any{"credentials": append([]string{}, out.Credentials...)}
		}
		return event{"person.update", "person:" + id, details}, err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, personOut(principal(r), out, true))
	return nil
}

// deletePerson deletes a person without history outright (204) and archives one with history
// (200, the archived person): assignments, absences and runs' proposals are the duty-hour
// record the program must keep, and the database refuses to delete them with the person.
func (s *server) deletePerson(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var out store.PersonRecord
	var deleted bool
	err = s.change(r, func(svc *scheduling.Service) (event, error) {
		var err error
		out, deleted, err = svc.RemovePerson(r.Context(), id, principal(r).ID)
		if deleted {
			return event{"person.delete", "person:" + id, nil}, err
		}
		return event{"person.archive", "person:" + id, map[string]any{"reason": out.ArchivedReason}}, err
	})
	if err != nil {
		return err
	}
	if deleted {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	writeJSON(w, http.StatusOK, personOut(principal(r), out, true))
	return nil
}

// restorePerson brings an archived person back into lists and schedules.
func (s *server) restorePerson(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var out store.PersonRecord
	err = s.change(r, func(svc *scheduling.Service) (event, error) {
		var err error
		out, err = svc.RestorePerson(r.Context(), id)
		return event{"person.restore", "person:" + id, nil}, err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, personOut(principal(r), out, true))
	return nil
}

// pgyHistory is a person's PGY level per academic year, as recorded at their creation, each
// level change and each rollover (an empty list for one never recorded: a learner, faculty, or
// a resident stored before the history and unchanged since, who is at their current level).
func (s *server) pgyHistory(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	years, err := s.Scheduling.PGYHistory(r.Context(), id) // 404 for no such person, as GET /people/{id}
	if err != nil {
		return err
	}
	// A repeated year is an education record (a remediation): the program's managers read
	// anyone's, everyone else their own only.
	if !rbac.Allowed(principal(r).Role, rbac.ResidentRecord, rbac.Read) {
		own, err := s.ownPerson(r)
		if err != nil {
			return err
		}
		if own != id {
			return errStatus(http.StatusForbidden, "you may read your own PGY history only")
		}
	}
	if years == nil {
		years = []store.PGYYear{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"person_id": id, "years": years})
	return nil
}

// rolloverBody is the body of POST /people/rollover.
type rolloverBody struct {
	AcademicYearStart *string `json:"academic_year_start"`
	// Confirm is the dry run's confirm token (required unless dry_run).
	Confirm string `json:"confirm"`
}

// year checks the body's academic year: a 1 July.
func (b rolloverBody) year() (roster.Date, error) {
	const msg = "academic_year_start is required: the 1 July the academic year starts (YYYY-07-01)"
	if b.AcademicYearStart == nil {
		return roster.Date{}, errStatus(http.StatusUnprocessableEntity, msg)
	}
	d, err := roster.ParseDate(*b.AcademicYearStart)
	if err != nil || d.Month != time.July || d.Day != 1 || d.Year < 2001 || d.Year > 2100 {
		return roster.Date{}, errStatus(http.StatusUnprocessableEntity, msg+", from 2001 to 2100")
	}
	return d, nil
}

// rollOver advances every active resident one PGY level and graduates (archives) those in
// their final level, once per academic year; ?dry_run=true shows the same answer and changes
// nothing, and its confirm token is what the rollover must send: 422 without it (or with one for
// another year), 409 when the residents changed since the dry run.
func (s *server) rollOver(w http.ResponseWriter, r *http.Request) error {
	var b rolloverBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	year, err := b.year()
	if err != nil {
		return err
	}
	if len(b.Confirm) > 100 {
		return errStatus(http.StatusUnprocessableEntity, "confirm must be the dry run's confirm token")
	}
	dry := false
	if v := r.URL.Query().Get("dry_run"); v != "" {
		if dry, err = strconv.ParseBool(v); err != nil {
			return errStatus(http.StatusUnprocessableEntity, "dry_run must be true or false")
		}
	}
	var out store.Rollover
	if dry {
		if out, err = s.Scheduling.RollOver(r.Context(), year, principal(r).ID, true, ""); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	err = s.change(r, func(svc *scheduling.Service) (event, error) {
		var err error
		out, err = svc.RollOver(r.Context(), year, principal(r).ID, false, b.Confirm)
		return event{"people.rollover", "academic_year:" + year.String(), map[string]any{"already_done": out.AlreadyDone,
			"advanced": out.AdvancedCount, "graduated": out.GraduatedCount}}, err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
