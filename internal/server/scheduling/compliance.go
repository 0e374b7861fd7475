package scheduling

import (
	"context"
	"encoding/json"

	"github.com/rsched/rsched/internal/server/compliance"
	"github.com/rsched/rsched/internal/server/roster"
)

// ComplianceReport builds the compliance report of the stored schedule of [from, to] (for one
// resident when personID is set): the inputs and the 27-day margin the validator uses, so the
// report's violations are Validate's, and the audit log's manual assignment changes as the
// overrides.
func (s *Service) ComplianceReport(ctx context.Context, from, to roster.Date, personID string) (*compliance.Report, error) {
	if to.Before(from) || to.Sub(from)+1 > roster.MaxRangeDays {
		return nil, invalidf("need start_date <= end_date and at most %d days", roster.MaxRangeDays)
	}
	in, err := s.st.LoadInputs(ctx, from, to, Margin)
	if err != nil {
		return nil, err
	}
	p, _ := s.problem(in, from, to, nil)
	var live []roster.Assignment
	for _, a := range in.Assignments {
		if !a.Slot.Date.Before(from) && !to.Before(a.Slot.Date) {
			live = append(live, a.Assignment)
		}
	}
	r, err := compliance.Build(p, live, personID, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	changes, err := s.st.AssignmentChanges(ctx, from, to, s.cfg.Location, personID)
	if err != nil {
		return nil, err
	}
	for _, c := range changes {
		// What the edit broke and why it was made anyway, as its audit entry says (CheckEdit's
		// AuditDetails); an entry whose details do not parse still lists the change.
		var d struct {
			Reason string   `json:"override_reason"`
			Rules  []string `json:"rules"`
		}
		_ = json.Unmarshal([]byte(c.Details), &d)
		r.Overrides = append(r.Overrides, compliance.Override{Seq: c.Seq, At: c.At, Actor: c.Actor, Action: c.Action, Target: c.Target,
			PersonID: c.PersonID, Date: c.Date, Half: c.Half, TemplateID: c.TemplateID, Reason: d.Reason, Rules: d.Rules})
	}
	return r, nil
}
