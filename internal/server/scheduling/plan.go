package scheduling

import (
	"context"
	"errors"
	"fmt"

	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/store"
)

// MinPlanYear and MaxPlanYear bound the academic years a block plan may name.
const (
	MinPlanYear = 2000
	MaxPlanYear = 2200
)

// ListRotations is every block rotation.
func (s *Service) ListRotations(ctx context.Context) ([]store.RotationRecord, error) {
	return s.st.ListRotations(ctx)
}

// GetRotation is one block rotation.
func (s *Service) GetRotation(ctx context.Context, id string) (store.RotationRecord, error) {
	return s.st.GetRotation(ctx, id)
}

// CreateRotation stores a new block rotation.
func (s *Service) CreateRotation(ctx context.Context, r roster.Rotation) (store.RotationRecord, error) {
	return s.st.CreateRotation(ctx, r)
}

// UpdateRotation stores a changed block rotation.
func (s *Service) UpdateRotation(ctx context.Context, r store.RotationRecord) (store.RotationRecord, error) {
	return s.st.UpdateRotation(ctx, r)
}

// DeleteRotation removes a block rotation no template or plan uses.
func (s *Service) DeleteRotation(ctx context.Context, id string) error {
	return s.st.DeleteRotation(ctx, id)
}

// CheckPlanYear refuses an academic year outside [MinPlanYear, MaxPlanYear].
func CheckPlanYear(y roster.AcademicYear) error {
	if y < MinPlanYear || y > MaxPlanYear {
		return invalidf("academic_year is %d to %d", MinPlanYear, MaxPlanYear)
	}
	return nil
}

// BlockPlan is the plan of one academic year.
func (s *Service) BlockPlan(ctx context.Context, year roster.AcademicYear) ([]roster.BlockAssignment, error) {
	if err := CheckPlanYear(year); err != nil {
		return nil, err
	}
	return s.st.BlockPlan(ctx, year)
}

// checkBlockAssignment refuses a plan entry that makes no sense: a block that is not one of the
// year's (or has no days), someone who is not an active resident, an unknown rotation, or one
// that does not take the resident's PGY level.
func (s *Service) checkBlockAssignment(ctx context.Context, a roster.BlockAssignment, rotations map[string]roster.Rotation) error {
	if err := CheckPlanYear(a.Year); err != nil {
		return err
	}
	if a.Block < 0 || a.Block > 13 || a.Year.Blocks()[a.Block].Days() <= 0 {
		return invalidf("block_number %d is not a block of academic year %d with days (0 to 13)", a.Block, a.Year)
	}
	x, err := s.st.GetPerson(ctx, a.PersonID)
	if errors.Is(err, store.ErrNotFound) {
		return invalidf("person %s does not exist", a.PersonID)
	} else if err != nil {
		return err
	}
	if x.Type != roster.Resident || x.Archived() {
		return invalidf("person %s is not an active resident", a.PersonID)
	}
	r, ok := rotations[a.RotationID]
	if !ok {
		return invalidf("rotation %s does not exist", a.RotationID)
	}
	if !r.Allows(x.PGY) {
		return invalidf("rotation %s does not take PGY-%d residents (it takes %v)", r.Name, x.PGY, r.AllowedPGY)
	}
	return nil
}

func (s *Service) rotationsByID(ctx context.Context) (map[string]roster.Rotation, error) {
	rs, err := s.st.ListRotations(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]roster.Rotation, len(rs))
	for _, r := range rs {
		out[r.ID] = r.Rotation
	}
	return out, nil
}

// planRotations lists the rotations as the plan's checks and the planner take them.
func (s *Service) planRotations(ctx context.Context) ([]roster.Rotation, error) {
	rs, err := s.st.ListRotations(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]roster.Rotation, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Rotation)
	}
	return out, nil
}

// SetBlockAssignment puts a resident on a rotation for one block.
func (s *Service) SetBlockAssignment(ctx context.Context, a roster.BlockAssignment) error {
	rotations, err := s.rotationsByID(ctx)
	if err != nil {
		return err
	}
	if err := s.checkBlockAssignment(ctx, a, rotations); err != nil {
		return err
	}
	return s.st.SetBlockAssignment(ctx, a)
}

// ClearBlockAssignment takes a resident off the plan for one block.
func (s *Service) ClearBlockAssignment(ctx context.Context, personID string, year roster.AcademicYear, block int) error {
	if err := CheckPlanYear(year); err != nil {
		return err
	}
	return s.st.ClearBlockAssignment(ctx, personID, year, block)
}

// MaxPlanEntries bounds one PUT of a year's plan (14 blocks of up to 500 residents).
const MaxPlanEntries = 7000

// ReplaceBlockPlan makes plan the whole plan of year; every entry is checked first, and one
// resident has at most one entry per block. It returns how many entries the year had before.
func (s *Service) ReplaceBlockPlan(ctx context.Context, year roster.AcademicYear, plan []roster.BlockAssignment) (int, error) {
	if err := CheckPlanYear(year); err != nil {
		return 0, err
	}
	if len(plan) > MaxPlanEntries {
		return 0, invalidf("at most %d plan entries", MaxPlanEntries)
	}
	rotations, err := s.rotationsByID(ctx)
	if err != nil {
		return 0, err
	}
	seen := map[string]bool{}
	for k, a := range plan {
		a.Year = year
		plan[k] = a
		key := fmt.Sprintf("%s/%d", a.PersonID, a.Block)
		if seen[key] {
			return 0, invalidf("entry %d: person %s has two entries for block %d", k, a.PersonID, a.Block)
		}
		seen[key] = true
		if err := s.checkBlockAssignment(ctx, a, rotations); err != nil {
			var bad *InvalidError
			if errors.As(err, &bad) {
				return 0, invalidf("entry %d: %s", k, bad.Reason)
			}
			return 0, err
		}
	}
	return s.st.ReplaceBlockPlan(ctx, year, plan)
}

// PlanValidation is the result of judging a year's block plan.
type PlanValidation struct {
	Year       roster.AcademicYear    `json:"academic_year"`
	Valid      bool                   `json:"valid"`
	Entries    int                    `json:"entries"`
	Violations []roster.PlanViolation `json:"violations"`
}

// ValidatePlan judges the plan of year: PGY eligibility, per-block capacities and the
// graduation requirements of each resident's year.
func (s *Service) ValidatePlan(ctx context.Context, year roster.AcademicYear) (*PlanValidation, error) {
	plan, err := s.BlockPlan(ctx, year)
	if err != nil {
		return nil, err
	}
	rotations, err := s.planRotations(ctx)
	if err != nil {
		return nil, err
	}
	people, _, err := s.st.ListPeople(ctx, store.PersonFilter{Type: roster.Resident})
	if err != nil {
		return nil, err
	}
	persons := make([]roster.Person, 0, len(people))
	for _, x := range people {
		persons = append(persons, x.Person)
	}
	reqs, err := s.st.GraduationRequirements(ctx)
	if err != nil {
		return nil, err
	}
	// Requirements judge the active residents and those with entries this year (not everyone
	// who ever graduated).
	inPlan := map[string]bool{}
	for _, a := range plan {
		inPlan[a.PersonID] = true
	}
	var judged []roster.Person
	for _, x := range people {
		if !x.Archived() || inPlan[x.ID] {
			judged = append(judged, x.Person)
		}
	}
	vs := append(roster.ValidatePlan(year, rotations, persons, plan), roster.ValidateRequirements(year, rotations, judged, plan, reqs)...)
	if vs == nil {
		vs = []roster.PlanViolation{}
	}
	return &PlanValidation{Year: year, Valid: len(vs) == 0, Entries: len(plan), Violations: vs}, nil
}

// planOf is the plan entries of the problem's residents (a plan entry of someone the problem
// does not schedule as a resident is not the solver's concern).
func planOf(entries []roster.PlanEntry, people []roster.Person) []roster.PlanEntry {
	residents := map[string]bool{}
	for _, x := range people {
		residents[x.ID] = x.Type == roster.Resident
	}
	var out []roster.PlanEntry
	for _, e := range entries {
		if residents[e.PersonID] {
			out = append(out, e)
		}
	}
	return out
}

// PlanFill is what FillPlan added.
type PlanFill struct {
	Year  roster.AcademicYear      `json:"academic_year"`
	Added []roster.BlockAssignment `json:"added"`
	// Empty counts the resident-blocks still without a rotation (no eligible rotation had room).
	Empty int `json:"empty"`
}

// FillPlan fills the empty cells of year's plan with roster.FillPlan (greedy) and stores them;
// it runs on a service bound to the change's transaction (OnTx) and locks the plan first.
func (s *Service) FillPlan(ctx context.Context, year roster.AcademicYear) (*PlanFill, error) {
	if err := CheckPlanYear(year); err != nil {
		return nil, err
	}
	if err := s.st.LockBlockPlan(ctx); err != nil {
		return nil, err
	}
	plan, err := s.st.BlockPlan(ctx, year)
	if err != nil {
		return nil, err
	}
	rotations, err := s.planRotations(ctx)
	if err != nil {
		return nil, err
	}
	people, _, err := s.st.ListPeople(ctx, store.PersonFilter{Type: roster.Resident, ActiveOnly: true})
	if err != nil {
		return nil, err
	}
	residents := make([]roster.Person, 0, len(people))
	for _, x := range people {
		residents = append(residents, x.Person)
	}
	added := roster.FillPlan(year, rotations, residents, plan)
	for _, a := range added {
		if err := s.st.SetBlockAssignment(ctx, a); err != nil {
			return nil, err
		}
	}
	cells := 0
	for _, b := range year.Blocks() {
		if b.Days() > 0 {
			cells += len(residents)
		}
	}
	planned := len(added)
	active := map[string]bool{}
	for _, x := range residents {
		active[x.ID] = true
	}
	for _, a := range plan {
		if active[a.PersonID] {
			planned++
		}
	}
	if added == nil {
		added = []roster.BlockAssignment{}
	}
	return &PlanFill{Year: year, Added: added, Empty: cells - planned}, nil
}
