package httpapi

import (
	"net/http"
	"strconv"

	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/scheduling"
)

// queryYear reads the required ?year= (the academic year starting July 1 of it).
func queryYear(r *http.Request) (roster.AcademicYear, error) {
	v := r.URL.Query().Get("year")
	y, err := strconv.Atoi(v)
	if err != nil || len(v) > 4 {
		return 0, errStatus(http.StatusUnprocessableEntity, "year is required: the academic year starting July 1 of it (YYYY)")
	}
	year := roster.AcademicYear(y)
	return year, scheduling.CheckPlanYear(year)
}

// planEntryView is one resident's rotation for one block, with the block's days.
type planEntryView struct {
	roster.BlockAssignment
	StartDate roster.Date `json:"start_date"`
	EndDate   roster.Date `json:"end_date"`
}

func (s *server) getBlockPlan(w http.ResponseWriter, r *http.Request) error {
	year, err := queryYear(r)
	if err != nil {
		return err
	}
	plan, err := s.Scheduling.BlockPlan(r.Context(), year)
	if err != nil {
		return err
	}
	items := make([]planEntryView, 0, len(plan))
	for _, a := range plan {
		e := a.Entry()
		items = append(items, planEntryView{BlockAssignment: a, StartDate: e.Start, EndDate: e.End})
	}
	writeJSON(w, http.StatusOK, map[string]any{"academic_year": year, "blocks": year.Blocks(), "items": items, "total": len(items)})
	return nil
}

// planEntryBody is one entry of PUT /block-plan.
type planEntryBody struct {
	PersonID   string `json:"person_id"`
	Block      *int   `json:"block_number"`
	RotationID string `json:"rotation_id"`
}

func (b planEntryBody) assignment(year roster.AcademicYear) (roster.BlockAssignment, string) {
	switch {
	case !scheduling.ValidID(b.PersonID):
		return roster.BlockAssignment{}, "person_id must be a UUID"
	case !scheduling.ValidID(b.RotationID):
		return roster.BlockAssignment{}, "rotation_id must be a UUID"
	case b.Block == nil:
		return roster.BlockAssignment{}, "block_number is required (0 to 13)"
	}
	return roster.BlockAssignment{PersonID: b.PersonID, Year: year, Block: *b.Block, RotationID: b.RotationID}, ""
}

// putBlockPlan replaces a whole year's plan.
func (s *server) putBlockPlan(w http.ResponseWriter, r *http.Request) error {
	year, err := queryYear(r)
	if err != nil {
		return err
	}
	var b struct {
		Entries []planEntryBody `json:"entries"`
	}
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	if b.Entries == nil {
		return errStatus(http.StatusUnprocessableEntity, "entries is required (an empty list clears the year)")
	}
	plan, err := convertAll(b.Entries, scheduling.MaxPlanEntries, "entry", "entries", func(e planEntryBody) (roster.BlockAssignment, string) { return e.assignment(year) })
	if err != nil {
		return err
	}
	err = s.change(r, func(svc *scheduling.Service) (event, error) {
		before, err := svc.ReplaceBlockPlan(r.Context(), year, plan)
		return event{"block_plan.replace", "block_plan:" + strconv.Itoa(int(year)),
			map[string]any{"academic_year": int(year), "entries": len(plan), "replaced": before}}, err
	})
	if err != nil {
		return err
	}
	return s.getBlockPlan(w, r)
}

// setPlanEntry puts one resident on a rotation for one block: PUT /block-plan/people/{id}.
func (s *server) setPlanEntry(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var b struct {
		Year       *int   `json:"academic_year"`
		Block      *int   `json:"block_number"`
		RotationID string `json:"rotation_id"`
	}
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	if b.Year == nil {
		return errStatus(http.StatusUnprocessableEntity, "academic_year is required")
	}
	year := roster.AcademicYear(*b.Year)
	a, msg := planEntryBody{PersonID: id, Block: b.Block, RotationID: b.RotationID}.assignment(year)
	if msg != "" {
		return errStatus(http.StatusUnprocessableEntity, msg)
	}
	err = s.change(r, func(svc *scheduling.Service) (event, error) {
		return event{"block_plan.set", "person:" + id,
			map[string]any{"academic_year": int(year), "block_number": a.Block, "rotation_id": a.RotationID}}, svc.SetBlockAssignment(r.Context(), a)
	})
	if err != nil {
		return err
	}
	e := a.Entry()
	writeJSON(w, http.StatusOK, planEntryView{BlockAssignment: a, StartDate: e.Start, EndDate: e.End})
	return nil
}

// clearPlanEntry takes one resident off the plan for one block:
// DELETE /block-plan/people/{id}?year=&block=.
func (s *server) clearPlanEntry(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	year, err := queryYear(r)
	if err != nil {
		return err
	}
	v := r.URL.Query().Get("block")
	block, err := strconv.Atoi(v)
	if err != nil || len(v) > 2 || block < 0 || block > 13 {
		return errStatus(http.StatusUnprocessableEntity, "block is required (0 to 13)")
	}
	err = s.change(r, func(svc *scheduling.Service) (event, error) {
		return event{"block_plan.clear", "person:" + id, map[string]any{"academic_year": int(year), "block_number": block}},
			svc.ClearBlockAssignment(r.Context(), id, year, block)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) validateBlockPlan(w http.ResponseWriter, r *http.Request) error {
	year, err := queryYear(r)
	if err != nil {
		return err
	}
	v, err := s.Scheduling.ValidatePlan(r.Context(), year)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// fillBlockPlan fills the year's empty plan cells greedily: POST /block-plan/fill?year=.
func (s *server) fillBlockPlan(w http.ResponseWriter, r *http.Request) error {
	year, err := queryYear(r)
	if err != nil {
		return err
	}
	var out *scheduling.PlanFill
	err = s.change(r, func(svc *scheduling.Service) (event, error) {
		var err error
		out, err = svc.FillPlan(r.Context(), year)
		ev := event{"block_plan.fill", "block_plan:" + strconv.Itoa(int(year)), map[string]any{"academic_year": int(year)}}
		if out != nil {
			ev.details["added"], ev.details["empty"] = len(out.Added), out.Empty
		}
		return ev, err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// convertAll turns the items of a whole-set body into what the service takes: 422 "too many
// <what>" past most, or "<one> <k>: <why>" naming the first item that cannot be.
func convertAll[B, T any](items []B, most int, one, what string, conv func(B) (T, string)) ([]T, error) {
	if len(items) > most {
		return nil, errStatus(http.StatusUnprocessableEntity, "too many "+what)
	}
	out := make([]T, 0, len(items))
	for k, b := range items {
		v, msg := conv(b)
		if msg != "" {
			return nil, errStatus(http.StatusUnprocessableEntity, one+" "+strconv.Itoa(k)+": "+msg)
		}
		out = append(out, v)
	}
	return out, nil
}
