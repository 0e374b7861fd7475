package httpapi

import (
	"net/http"

	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/scheduling"
)

// planRepair proposes how to repair the live schedule after an absence (a sick call): the
// person's half-days removed, each vacancy with its ranked candidates, the changes; nothing is
// written.
func (s *server) planRepair(w http.ResponseWriter, r *http.Request) error {
	var req scheduling.RepairRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	p, err := s.Scheduling.PlanRepair(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

type applyRepairBody struct {
	scheduling.RepairRequest
	BasedOn        string                `json:"based_on"`
	Changes        []roster.RepairChange `json:"changes"`
	OverrideReason string                `json:"override_reason"`
}

// applyRepair makes the changes of a repair proposal (as the coordinator confirmed them) in one
// transaction with its schedule.repair audit entry: only onto the data the proposal was made
// from (409 otherwise), for a recorded, approved absence, checked like a manual edit (a new hard
// violation is 422 without override_reason).
func (s *server) applyRepair(w http.ResponseWriter, r *http.Request) error {
	var b applyRepairBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	var outcome scheduling.EditOutcome
	err := s.change(r, func(svc *scheduling.Service) (event, error) {
		var err error
		outcome, err = svc.ApplyRepair(r.Context(), b.RepairRequest, b.BasedOn, b.Changes, b.OverrideReason)
		details := outcome.AuditDetails(map[string]any{"person_id": b.PersonID, "start_date": b.StartDate.String(),
			"end_date": b.EndDate.String(), "changes": len(b.Changes), "change_list": b.Changes})
		return event{"schedule.repair", "person:" + b.PersonID, details}, err
	})
	if refused(w, err) {
		return nil
	}
	if err != nil {
		return err
	}
	violations := outcome.Violations
	if violations == nil {
		violations = []scheduling.ViolationView{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"applied": len(b.Changes), "violations": violations, "hard_violations": outcome.Hard,
		"override_reason": outcome.Override})
	return nil
}
