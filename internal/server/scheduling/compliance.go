package scheduling

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"

	"github.com/rsched/rsched/internal/server/compliance"
	"github.com/rsched/rsched/internal/server/roster"
)

// ComplianceReport builds the compliance report of the stored schedule of [from, to] (for one
// resident when personID is set): the inputs and the 27-day margin the validator uses, so the
// report's violations are Validate's, and the audit log's manual assignment changes as the
// overrides. Residents are judged at their levels of the academic year from falls in (levelsOf).
func (s *Service) ComplianceReport(ctx context.Context, from, to roster.Date, personID string) (*compliance.Report, error) {
	if to.Before(from) || to.Sub(from)+1 > roster.MaxRangeDays {
		return nil, invalidf("need start_date <= end_date and at most %d days", roster.MaxRangeDays)
	}
	in, err := s.st.LoadInputs(ctx, from, to, Margin)
	if err != nil {
		return nil, err
	}
	if err := s.levelsOf(ctx, in, from); err != nil {
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
	if personID == "" {
		if err := s.addRollbackOverrides(ctx, r, from, to); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// addRollbackOverrides lists the rollbacks of publications meeting [from, to] that were made
// over the hard rules the restored schedule broke, with their reasons (a program-wide change:
// in the program's report, not in one resident's).
func (s *Service) addRollbackOverrides(ctx context.Context, r *compliance.Report, from, to roster.Date) error {
	rbs, err := s.st.RollbackOverrides(ctx, from, to)
	if err != nil {
		return err
	}
	for _, o := range rbs {
		var d struct {
			Reason string   `json:"override_reason"`
			Rules  []string `json:"rules"`
		}
		_ = json.Unmarshal([]byte(o.Details), &d)
		r.Overrides = append(r.Overrides, compliance.Override{Seq: o.Seq, At: o.At, Actor: o.Actor, Action: "schedule.rollback", Target: o.Target,
			Reason: d.Reason, Rules: d.Rules, Range: o.From.String() + ".." + o.To.String()})
	}
	slices.SortFunc(r.Overrides, func(a, b compliance.Override) int { return cmp.Compare(a.Seq, b.Seq) })
	return nil
}
