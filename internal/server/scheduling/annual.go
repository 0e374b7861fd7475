package scheduling

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rsched/rsched/internal/server/roster"
	"github.com/rsched/rsched/internal/server/store"
)

// Bounds of the annual planner's inputs through the API.
const (
	MaxRequirements     = 500
	MaxRotationRequests = 20000
	// MaxAnnualIterations bounds the local search's length a caller may ask for.
	MaxAnnualIterations = 10_000_000
)

// GraduationRequirements is the program's set of graduation requirements.
func (s *Service) GraduationRequirements(ctx context.Context) ([]roster.Requirement, error) {
	return s.st.GraduationRequirements(ctx)
}

// ReplaceGraduationRequirements makes reqs the program's whole set: each valid on its own, one
// per level and target, naming existing rotations. It returns how many there were before.
func (s *Service) ReplaceGraduationRequirements(ctx context.Context, reqs []roster.Requirement) (int, error) {
	if len(reqs) > MaxRequirements {
		return 0, invalidf("at most %d requirements", MaxRequirements)
	}
	rotations, err := s.rotationsByID(ctx)
	if err != nil {
		return 0, err
	}
	seen := map[string]bool{}
	for k, q := range reqs {
		if err := q.Validate(); err != nil {
			return 0, invalidf("requirement %d: %v", k, err)
		}
		if _, ok := rotations[q.RotationID]; q.RotationID != "" && !ok {
			return 0, invalidf("requirement %d: rotation %s does not exist", k, q.RotationID)
		}
		key := fmt.Sprintf("%d/%s", q.PGY, q.Target())
		if seen[key] {
			return 0, invalidf("requirement %d: a second requirement for PGY-%d on %s", k, q.PGY, q.Target())
		}
		seen[key] = true
	}
	return s.st.ReplaceGraduationRequirements(ctx, reqs)
}

// RotationRequests are the rotation requests of one academic year.
func (s *Service) RotationRequests(ctx context.Context, year roster.AcademicYear) ([]roster.RotationRequest, error) {
	if err := CheckPlanYear(year); err != nil {
		return nil, err
	}
	return s.st.RotationRequests(ctx, year)
}

// ReplaceRotationRequests makes reqs the whole set of year's requests: each valid, by an active
// resident, for a block of the year with days and an existing rotation, one per person, block
// and rotation. It returns how many there were before.
func (s *Service) ReplaceRotationRequests(ctx context.Context, year roster.AcademicYear, reqs []roster.RotationRequest) (int, error) {
	if err := s.checkRotationRequests(ctx, year, reqs, MaxRotationRequests, ""); err != nil {
		return 0, err
	}
	return s.st.ReplaceRotationRequests(ctx, year, reqs)
}

// MaxPersonRotationRequests bounds one person's requests of a year.
const MaxPersonRotationRequests = 100

// ReplacePersonRotationRequests makes reqs the whole set of one active resident's requests of
// year (every request's person_id is theirs), checked as ReplaceRotationRequests checks them.
func (s *Service) ReplacePersonRotationRequests(ctx context.Context, year roster.AcademicYear, personID string, reqs []roster.RotationRequest) (int, error) {
	for k := range reqs {
		reqs[k].PersonID = personID
	}
	if err := s.checkRotationRequests(ctx, year, reqs, MaxPersonRotationRequests, personID); err != nil {
		return 0, err
	}
	return s.st.ReplacePersonRotationRequests(ctx, year, personID, reqs)
}

// checkRotationRequests judges a set of requests of year (at most most; all of personID's when
// it is set, who must be an active resident).
func (s *Service) checkRotationRequests(ctx context.Context, year roster.AcademicYear, reqs []roster.RotationRequest, most int, personID string) error {
	if err := CheckPlanYear(year); err != nil {
		return err
	}
	if len(reqs) > most {
		return invalidf("at most %d requests", most)
	}
	rotations, err := s.rotationsByID(ctx)
	if err != nil {
		return err
	}
	residents, err := s.activeResidents(ctx)
	if err != nil {
		return err
	}
	active := map[string]bool{}
	for _, x := range residents {
		active[x.ID] = true
	}
	if personID != "" && !active[personID] {
		return invalidf("person %s is not an active resident", personID)
	}
	blocks, seen := year.Blocks(), map[string]bool{}
	for k, q := range reqs {
		if err := checkRotationRequest(q, active, rotations, blocks, seen); err != "" {
			return invalidf("request %d: %s", k, err)
		}
	}
	return nil
}

func checkRotationRequest(q roster.RotationRequest, active map[string]bool, rotations map[string]roster.Rotation, blocks []roster.Block, seen map[string]bool) string {
	if err := q.Validate(); err != nil {
		return err.Error()
	}
	key := q.PersonID + "/" + fmt.Sprint(q.Block) + "/" + q.RotationID
	switch _, ok := rotations[q.RotationID]; {
	case !active[q.PersonID]:
		return fmt.Sprintf("person %s is not an active resident", q.PersonID)
	case !ok:
		return fmt.Sprintf("rotation %s does not exist", q.RotationID)
	case blocks[q.Block].Days() <= 0:
		return fmt.Sprintf("block %d has no days this academic year", q.Block)
	case seen[key]:
		return "a second request of the same person for the same block and rotation"
	}
	seen[key] = true
	return ""
}

func (s *Service) activeResidents(ctx context.Context) ([]roster.Person, error) {
	people, _, err := s.st.ListPeople(ctx, store.PersonFilter{Type: roster.Resident, ActiveOnly: true})
	if err != nil {
		return nil, err
	}
	out := make([]roster.Person, 0, len(people))
	for _, x := range people {
		out = append(out, x.Person)
	}
	slices.SortFunc(out, func(a, b roster.Person) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// AnnualOptions are a solve's options: Replan drops the year's entries of the planned residents
// instead of keeping them; Iterations and Seed set the (deterministic) local search.
type AnnualOptions struct {
	Replan     bool   `json:"replan"`
	Iterations int    `json:"iterations,omitempty"`
	Seed       uint64 `json:"seed"`
}

// AnnualSolve is the answer of a solve: the planner's result, whether it was applied, and the
// confirm token an apply must send (the inputs' and the proposed plan's digests).
type AnnualSolve struct {
	*roster.AnnualResult
	Options AnnualOptions `json:"options"`
	Applied bool          `json:"applied"`
	Confirm string        `json:"confirm"`
}

// loadAnnual reads the planner's problem for year.
func (s *Service) loadAnnual(ctx context.Context, year roster.AcademicYear, opt AnnualOptions) (*roster.AnnualProblem, error) {
	p := &roster.AnnualProblem{Year: year, Replan: opt.Replan, Iterations: opt.Iterations, Seed: opt.Seed}
	var err error
	if p.Plan, err = s.st.BlockPlan(ctx, year); err != nil {
		return nil, err
	}
	if p.Rotations, err = s.planRotations(ctx); err != nil {
		return nil, err
	}
	slices.SortFunc(p.Rotations, func(a, b roster.Rotation) int { return cmp.Compare(a.ID, b.ID) })
	if p.Residents, err = s.activeResidents(ctx); err != nil {
		return nil, err
	}
	if p.Requirements, err = s.st.GraduationRequirements(ctx); err != nil {
		return nil, err
	}
	reqs, err := s.st.RotationRequests(ctx, year)
	if err != nil {
		return nil, err
	}
	active := map[string]bool{}
	for _, x := range p.Residents {
		active[x.ID] = true
	}
	for _, q := range reqs {
		if active[q.PersonID] { // an archived resident's wishes are not planned
			p.Requests = append(p.Requests, q)
		}
	}
	return p, nil
}

// digest is a short SHA-256 of v's JSON.
func digest(label string, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // plain data: cannot fail
	}
	sum := sha256.Sum256(append([]byte(label+"\n"), b...))
	return hex.EncodeToString(sum[:16])
}

// ErrPlannerBusy: another annual plan is being solved in this process (one at a time: a solve
// takes seconds of a core).
var ErrPlannerBusy = errors.New("the annual planner is solving another plan; try again in a minute")

// SolveAnnualPlan solves year's block plan with roster.PlanAnnual and answers it with its confirm
// token (the digests of the inputs and options and of the proposed entries). It holds no lock
// and writes nothing; ApplyAnnualPlan writes what it proposed. One solve runs at a time per
// process (ErrPlannerBusy).
func (s *Service) SolveAnnualPlan(ctx context.Context, year roster.AcademicYear, opt AnnualOptions) (*AnnualSolve, error) {
	if err := CheckPlanYear(year); err != nil {
		return nil, err
	}
	if opt.Iterations < 0 || opt.Iterations > MaxAnnualIterations {
		return nil, invalidf("iterations is 0 (the default) to %d", MaxAnnualIterations)
	}
	select {
	case s.annual <- struct{}{}:
		defer func() { <-s.annual }()
	default:
		return nil, ErrPlannerBusy
	}
	p, err := s.loadAnnual(ctx, year, opt)
	if err != nil {
		return nil, err
	}
	in := annualInputs(year, opt, p)
	res, err := roster.PlanAnnual(ctx, p)
	if err != nil {
		return nil, err
	}
	return &AnnualSolve{AnnualResult: res, Options: opt,
		Confirm: fmt.Sprintf("%d.%s.%s", year, in, digest("rsched annual plan entries", res.Entries))}, nil
}

// annualInputs is the digest of what a plan is solved from.
func annualInputs(year roster.AcademicYear, opt AnnualOptions, p *roster.AnnualProblem) string {
	return digest("rsched annual plan inputs", []any{year, opt, p.Rotations, p.Residents, p.Plan, p.Requirements, p.Requests})
}

// CheckAnnualConfirm refuses a confirm token that is not a preview's token for year.
func CheckAnnualConfirm(year roster.AcademicYear, confirm string) error {
	if !strings.HasPrefix(confirm, fmt.Sprintf("%d.", year)) || len(confirm) > 100 {
		return store.ErrPlanUnconfirmed
	}
	return nil
}

// ApplyAnnualPlan writes solved, the plan SolveAnnualPlan proposed (deterministically, from the
// same inputs and options as the preview whose token confirm is), on a service bound to the
// change's transaction (OnTx): it locks the plan and the planner's inputs, and writes only when
// solved proposes the preview's very entries (ErrPlanChanged otherwise) and the inputs under the
// locks are still those the preview and solved were solved from (ErrPlanChanged otherwise). The
// solve itself ran before, outside the locks, so writers of people, rotations and requests wait
// only for the check and the write.
func (s *Service) ApplyAnnualPlan(ctx context.Context, year roster.AcademicYear, opt AnnualOptions, confirm string, solved *AnnualSolve) error {
	if err := CheckAnnualConfirm(year, confirm); err != nil {
		return err
	}
	if solved.Confirm != confirm {
		return store.ErrPlanChanged
	}
	if err := s.st.LockAnnualInputs(ctx); err != nil {
		return err
	}
	p, err := s.loadAnnual(ctx, year, opt)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(confirm, fmt.Sprintf("%d.%s.", year, annualInputs(year, opt, p))) {
		return store.ErrPlanChanged
	}
	return s.writeAnnual(ctx, p, solved)
}

// writeAnnual stores an applied plan: every entry of the planned residents when replanning,
// the new entries otherwise (kept entries stay as they are).
//
// The planner never puts anyone on a rotation outside their levels; a kept entry may be (levels
// change at the rollover) and stays as it was, reported in the answer's violations.
func (s *Service) writeAnnual(ctx context.Context, p *roster.AnnualProblem, out *AnnualSolve) error {
	entries, clear := out.Entries, []string(nil)
	if p.Replan {
		for _, x := range p.Residents {
			clear = append(clear, x.ID)
		}
	} else {
		kept := map[roster.BlockAssignment]bool{}
		for _, a := range p.Plan {
			kept[a] = true
		}
		entries = slices.DeleteFunc(slices.Clone(entries), func(a roster.BlockAssignment) bool { return kept[a] })
	}
	written := map[string]bool{}
	for _, a := range entries {
		written[fmt.Sprintf("%s/%d", a.PersonID, a.Block)] = true
	}
	for _, v := range out.Violations {
		if v.Rule == roster.PlanEligibility && written[fmt.Sprintf("%s/%d", v.PersonID, v.Block)] {
			return fmt.Errorf("scheduling: the annual planner proposed a plan breaking %s: %s", v.Rule, v.Message)
		}
	}
	out.Applied = true
	return s.st.ApplyAnnualPlan(ctx, p.Year, clear, entries)
}
