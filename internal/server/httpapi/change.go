package httpapi

import (
	"context"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/rsched/rsched/internal/server/audit"
	"github.com/rsched/rsched/internal/server/scheduling"
)

// event is the audit entry of a change made by the caller.
type event struct {
	action, target string
	details        map[string]any
}

// change runs write on the scheduling service bound to one transaction and records the audit
// event it returns in that same transaction: the change and its audit entry commit together, or
// neither does. A failed audit write rolls the change back, and the caller answers 500 like any
// other unexpected error. write's own errors come back unchanged, for respond.
func (s *server) change(r *http.Request, write func(svc *scheduling.Service) (event, error)) error {
	return s.Audit.WithTx(r.Context(), s.Scheduling, func(tx pgx.Tx, rec *audit.Recorder) error {
		ev, err := write(s.Scheduling.OnTx(tx))
		if err != nil {
			return err
		}
		c := s.client(r)
		rec.Record(audit.Event{Actor: principal(r).ID, Action: ev.action, Target: ev.target, IP: c.IP,
			UserAgent: c.UserAgent, RequestID: c.RequestID, Details: ev.details})
		return nil
	})
}

// deleteRecord answers DELETE /{kind}s/{id}: del removes the record in a change audited as
// "<kind>.delete" on "<kind>:<id>", and the answer is 204.
func (s *server) deleteRecord(w http.ResponseWriter, r *http.Request, kind string, del func(*scheduling.Service, context.Context, string) error) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	err = s.change(r, func(svc *scheduling.Service) (event, error) {
		return event{kind + ".delete", kind + ":" + id, nil}, del(svc, r.Context(), id)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
