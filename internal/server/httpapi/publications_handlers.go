package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/audit"
	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/scheduling"
	"github.com/rsched/rsched/internal/server/store"
)

// publicationView is a publication as the API shows it.
type publicationView struct {
	ID           string      `json:"id"`
	RunID        string      `json:"run_id"`
	StartDate    roster.Date `json:"start_date"`
	EndDate      roster.Date `json:"end_date"`
	Scope        []string    `json:"scope,omitempty"`
	PublishedBy  *string     `json:"published_by,omitempty"`
	PublishedAt  time.Time   `json:"published_at"`
	Replaced     int         `json:"replaced"`
	Written      int         `json:"written"`
	RolledBackAt *time.Time  `json:"rolled_back_at,omitempty"`
	RolledBackBy *string     `json:"rolled_back_by,omitempty"`
}

func viewPublication(p store.Publication) publicationView {
	return publicationView{ID: p.ID, RunID: p.RunID, StartDate: p.From, EndDate: p.To, Scope: p.Scope, PublishedBy: p.PublishedBy,
		PublishedAt: p.PublishedAt, Replaced: p.Replaced, Written: p.Written, RolledBackAt: p.RolledBackAt, RolledBackBy: p.RolledBackBy}
}

// publicationAudit writes a publication's audit entry in its transaction; the
// entry reaches the stream once that committed.
type publicationAudit struct {
	s      *server
	r      *http.Request
	action string
	entry  *audit.Entry
}

func (a *publicationAudit) record(ctx context.Context, tx pgx.Tx, p store.Publication) error {
	c := a.s.client(a.r)
	e, err := a.s.Audit.AppendTx(ctx, tx, audit.Event{Actor: principal(a.r).ID, Action: a.action, Target: "schedule_publication:" + p.ID,
		IP: c.IP, UserAgent: c.UserAgent, RequestID: c.RequestID,
		Details: map[string]any{"run_id": p.RunID, "start_date": p.From.String(), "end_date": p.To.String(), "replaced": p.Replaced, "written": p.Written}})
	if a.entry = nil; err == nil {
		a.entry = &e
	}
	return err
}

func (a *publicationAudit) stream() {
	if a.entry != nil {
		a.s.Audit.Stream(*a.entry)
	}
}

// runDiff compares a run's proposal with the live schedule of its range: what publishing it
// would add, remove and change, and the violations before and after.
func (s *server) runDiff(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	d, err := s.Scheduling.Diff(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// publishRun makes a finished draft the live schedule of its range: 200 with the publication;
// 409 when it is not a draft, is published already, is partial without accept_incomplete, or
// the data changed since it was made (nothing is written then).
func (s *server) publishRun(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var body struct {
		AcceptIncomplete bool `json:"accept_incomplete"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &body); err != nil {
			return err
		}
	}
	a := &publicationAudit{s: s, r: r, action: "schedule.publish"}
	pub, err := s.Scheduling.Publish(r.Context(), id, principal(r).ID, body.AcceptIncomplete, a.record)
	if err != nil {
		return err
	}
	a.stream()
	w.Header().Set("Location", "/api/v1/schedule/publications/"+pub.ID)
	writeJSON(w, http.StatusOK, viewPublication(pub))
	return nil
}

func (s *server) listPublications(w http.ResponseWriter, r *http.Request) error {
	pg, size, err := page(r, 50, 200)
	if err != nil {
		return err
	}
	pubs, total, err := s.Scheduling.ListPublications(r.Context(), pg, size)
	if err != nil {
		return err
	}
	items := make([]publicationView, 0, len(pubs))
	for _, p := range pubs {
		items = append(items, viewPublication(p))
	}
	writeJSON(w, http.StatusOK, pageBody(items, total, pg, size))
	return nil
}

func (s *server) getPublication(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	p, err := s.Scheduling.GetPublication(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewPublication(p))
	return nil
}

// rollbackWrite is the answer to a rollback: the publication, now rolled back, and what the
// restored schedule breaks that the published one did not (as a manual edit's answer says).
type rollbackWrite struct {
	publicationView
	Violations     []scheduling.ViolationView `json:"violations"`
	HardViolations int                        `json:"hard_violations"`
	OverrideReason string                     `json:"override_reason,omitempty"`
}

// rollbackPublication puts back what a publication replaced, in one transaction with its
// schedule.rollback audit entry: 200 with the publication, now rolled back; 409 when it was
// rolled back already or its range changed since; 422 with the violations when the restored
// schedule would add hard violations on the data as it is now and no override_reason (in an
// optional JSON body) says why (nothing is changed then).
func (s *server) rollbackPublication(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var body struct {
		OverrideReason string `json:"override_reason"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &body); err != nil {
			return err
		}
	}
	var p store.Publication
	var outcome scheduling.EditOutcome
	err = s.change(r, func(svc *scheduling.Service) (event, error) {
		var err error
		p, outcome, err = svc.Rollback(r.Context(), id, principal(r).ID, body.OverrideReason)
		details := outcome.AuditDetails(map[string]any{"run_id": p.RunID, "start_date": p.From.String(), "end_date": p.To.String(),
			"replaced": p.Replaced, "written": p.Written})
		return event{"schedule.rollback", "schedule_publication:" + id, details}, err
	})
	if refused(w, err) {
		return nil
	}
	if err != nil {
		return err
	}
	out := rollbackWrite{publicationView: viewPublication(p), Violations: outcome.Violations, HardViolations: outcome.Hard, OverrideReason: outcome.Override}
	if out.Violations == nil {
		out.Violations = []scheduling.ViolationView{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
