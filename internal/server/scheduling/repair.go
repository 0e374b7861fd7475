package scheduling

import (
	"context"
	"slices"
	"strings"

	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/store"
)

// MaxRepairDays bounds one repair's absence.
const MaxRepairDays = 31

// RepairRequest names the absence a repair is for: a person away from StartDate to EndDate.
type RepairRequest struct {
	PersonID  string      `json:"person_id"`
	StartDate roster.Date `json:"start_date"`
	EndDate   roster.Date `json:"end_date"`
}

func (r RepairRequest) check() error {
	switch {
	case !ValidID(r.PersonID):
		return invalidf("person_id must be a person's id")
	case r.StartDate == (roster.Date{}) || r.EndDate == (roster.Date{}):
		return invalidf("start_date and end_date are required (YYYY-MM-DD)")
	case r.EndDate.Before(r.StartDate) || r.EndDate.Sub(r.StartDate)+1 > MaxRepairDays:
		return invalidf("need start_date <= end_date and at most %d days", MaxRepairDays)
	}
	return nil
}

// window is the days a repair judges and changes: the absence and a day on each side (a night
// session runs into the next day).
func (r RepairRequest) window() (roster.Date, roster.Date) {
	return r.StartDate.AddDays(-1), r.EndDate.AddDays(1)
}

// RepairProposal is a repair plan and the fingerprint of the data it was made from, which
// applying it names (based_on): it is applied only onto that data.
type RepairProposal struct {
	RepairRequest
	roster.RepairPlan
	BasedOn string `json:"based_on"`
}

// PlanRepair proposes the fewest changes that restore the coverage an absence breaks
// (roster.PlanRepair), on the live schedule; nothing is written.
func (s *Service) PlanRepair(ctx context.Context, req RepairRequest) (*RepairProposal, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	from, to := req.window()
	in, err := s.st.LoadInputs(ctx, from, to, Margin)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(in.People, func(p store.PersonRecord) bool { return p.ID == req.PersonID }) {
		return nil, store.ErrNotFound
	}
	p, _ := s.problem(in, from, to, nil)
	var live []roster.Assignment
	for _, a := range in.Assignments {
		if !a.Slot.Date.Before(from) && !to.Before(a.Slot.Date) {
			live = append(live, a.Assignment)
		}
	}
	plan, err := roster.PlanRepair(p, live, roster.Absence{PersonID: req.PersonID, Start: req.StartDate, End: req.EndDate})
	if err != nil {
		return nil, err
	}
	return &RepairProposal{RepairRequest: req, RepairPlan: *plan, BasedOn: in.Fingerprint}, nil
}

// ApplyRepair makes a proposal's changes (the coordinator may drop or swap candidates) on s,
// bound to the change's transaction: only onto the data it was made from, only for an approved
// absence of the person covering its days, and checked like any manual edit (CheckEdit: a new
// hard violation needs override).
func (s *Service) ApplyRepair(ctx context.Context, req RepairRequest, basedOn string, changes []roster.RepairChange, override string) (EditOutcome, error) {
	if err := req.check(); err != nil {
		return EditOutcome{}, err
	}
	from, to := req.window()
	if basedOn == "" || len(changes) == 0 || len(changes) > 4*MaxRepairDays*2 {
		return EditOutcome{}, invalidf("based_on (from the proposal) and 1 to %d changes are required", 4*MaxRepairDays*2)
	}
	for i := range changes {
		if err := checkRepairChange(req, &changes[i]); err != nil {
			return EditOutcome{}, err
		}
	}
	in, err := s.st.LoadInputs(ctx, req.StartDate, req.EndDate, 0)
	if err != nil {
		return EditOutcome{}, err
	}
	for d := req.StartDate; !req.EndDate.Before(d); d = d.AddDays(1) {
		if !slices.ContainsFunc(in.Absences, func(a roster.Absence) bool { return a.PersonID == req.PersonID && a.Covers(d) }) {
			return EditOutcome{}, invalidf("record and approve the absence first: %s has no approved absence on %s", req.PersonID, d)
		}
	}
	dates := []roster.Date{from, to}
	return s.CheckEdit(ctx, dates, override, func() error {
		return s.st.ApplyRepairChanges(ctx, from, to, Margin, basedOn, req.PersonID, changes)
	})
}

// checkRepairChange keeps a change to what a repair of req's absence can be: the absent person's
// half-days removed, and other people placed on or moved to the half-days they leave, all from
// the day before the absence (a night session running into it) to its last day.
func checkRepairChange(req RepairRequest, c *roster.RepairChange) error {
	c.PersonID, c.From, c.To = strings.ToLower(c.PersonID), strings.ToLower(c.From), strings.ToLower(c.To)
	switch {
	case !ValidID(c.PersonID) || (c.From == "" && c.To == "") || (c.From != "" && !ValidID(c.From)) || (c.To != "" && !ValidID(c.To)) ||
		(c.Half != roster.AM && c.Half != roster.PM):
		return invalidf("each change needs person_id, time_of_day AM or PM, and from_template_id and/or to_template_id")
	case c.Date.Before(req.StartDate.AddDays(-1)) || req.EndDate.Before(c.Date):
		return invalidf("a repair changes only %s..%s (the absence and the day before it)", req.StartDate.AddDays(-1), req.EndDate)
	case c.PersonID == req.PersonID && c.To != "":
		return invalidf("a repair only removes the absent person's half-days")
	case c.PersonID != req.PersonID && c.To == "":
		return invalidf("a repair removes only the absent person's half-days; others are placed or moved")
	}
	return nil
}
