package roster

import (
	"fmt"
	"slices"
)

// AnnualResult is the planner's answer.
type AnnualResult struct {
	Year AcademicYear `json:"academic_year"`
	// Entries is the whole plan of the planned residents: kept entries and new ones.
	Entries []BlockAssignment `json:"entries"`
	// Added counts the entries the planner chose (every entry that was not kept).
	Added int        `json:"added"`
	Cost  AnnualCost `json:"cost"`
	// LowerBound is a proven lower bound on Cost.Total for any plan keeping the kept entries;
	// Gap is (Cost.Total - LowerBound) / Cost.Total (0 when the cost is 0).
	LowerBound   int64               `json:"lower_bound"`
	Gap          float64             `json:"gap"`
	Unplaced     []UnplacedCell      `json:"unplaced"`
	Shortfalls   []RotationShortfall `json:"shortfalls"`
	Requirements []RequirementUnmet  `json:"requirements_unmet"`
	Requests     []RequestOutcome    `json:"requests"`
	Fairness     []FairnessSpread    `json:"fairness"`
	Weights      AnnualWeights       `json:"weights"`
	Stats        AnnualStats         `json:"stats"`
	Violations   []PlanViolation     `json:"violations"`
	// Kept counts the entries kept from the plan.
	Kept int `json:"kept"`
}

// UnplacedCell is a resident-block left without a rotation.
type UnplacedCell struct {
	PersonID string `json:"person_id"`
	Block    int    `json:"block_number"`
	Why      string `json:"why"`
}

// RotationShortfall is a rotation below its minimum in a block.
type RotationShortfall struct {
	Block      int    `json:"block_number"`
	RotationID string `json:"rotation_id"`
	Have       int    `json:"residents"`
	Min        int    `json:"min_residents"`
}

// RequirementUnmet is a graduation requirement a resident misses.
type RequirementUnmet struct {
	PersonID    string      `json:"person_id"`
	Requirement Requirement `json:"requirement"`
	Have        int         `json:"blocks"`
	Why         string      `json:"why"`
}

// RequestOutcome says whether a request was honoured and, if not, why.
type RequestOutcome struct {
	RotationRequest
	Honoured bool   `json:"honoured"`
	Why      string `json:"why,omitempty"`
}

// FairnessSpread is the spread of one fair kind's blocks across the residents of a level.
type FairnessSpread struct {
	PGY    int          `json:"pgy_level"`
	Kind   RotationKind `json:"kind"`
	Min    int          `json:"min"`
	Max    int          `json:"max"`
	Spread int          `json:"spread"`
}

func (a *annual) report(s *plan) *AnnualResult {
	cost := s.cost()
	out := &AnnualResult{Year: a.p.Year, Cost: cost, LowerBound: a.lowerBound(cost.Total), Weights: a.w,
		Unplaced: []UnplacedCell{}, Shortfalls: []RotationShortfall{}, Requirements: []RequirementUnmet{},
		Requests: []RequestOutcome{}, Fairness: []FairnessSpread{}, Entries: []BlockAssignment{}}
	if out.Cost.Total > 0 {
		out.Gap = float64(out.Cost.Total-out.LowerBound) / float64(out.Cost.Total)
	}
	for i, x := range a.res {
		for b, r := range s.at[i] {
			n := a.blocks[b].Number
			switch {
			case r < 0:
				out.Unplaced = append(out.Unplaced, UnplacedCell{x.ID, n, "no rotation that takes PGY-" + fmt.Sprint(x.PGY) + " had room in this block"})
			case a.kept[i][b] == r:
				out.Kept++
				out.Entries = append(out.Entries, BlockAssignment{x.ID, a.p.Year, n, a.rot[r].ID})
			default:
				out.Added++
				out.Entries = append(out.Entries, BlockAssignment{x.ID, a.p.Year, n, a.rot[r].ID})
			}
		}
	}
	for b := range a.blocks {
		for r, rot := range a.rot {
			if n := s.cnt[b][r]; n < rot.MinResidents {
				out.Shortfalls = append(out.Shortfalls, RotationShortfall{a.blocks[b].Number, rot.ID, n, rot.MinResidents})
			}
		}
	}
	out.Requirements = a.requirementReport(s)
	out.Requests = a.requestReport(s)
	out.Fairness = a.fairnessReport(s)
	out.Violations = ValidatePlan(a.p.Year, a.rot, a.res, out.Entries)
	return out
}

func (a *annual) requirementReport(s *plan) []RequirementUnmet {
	k := newPlan(a) // the kept plan alone
	out := []RequirementUnmet{}
	for i, x := range a.res {
		free := 0
		for b := range a.blocks {
			if a.kept[i][b] < 0 {
				free++
			}
		}
		for _, q := range a.reqs[i] {
			n := s.reqCount(i, q)
			if q.q.deviation(n) == 0 {
				continue
			}
			why := "rotation capacities and higher goals (rotation minimums, the resident's other requirements) left no room"
			switch kept := k.reqCount(i, q); {
			case q.q.MaxBlocks != nil && kept > *q.q.MaxBlocks:
				why = fmt.Sprintf("the kept plan already has %d blocks of it, above the maximum %d", kept, *q.q.MaxBlocks)
			case n < q.q.MinBlocks && !a.mayCount(i, q):
				why = fmt.Sprintf("no rotation it counts takes PGY-%d", x.PGY)
			case n < q.q.MinBlocks && kept+free < q.q.MinBlocks:
				why = fmt.Sprintf("only %d blocks were free beside the kept plan", free)
			}
			out = append(out, RequirementUnmet{x.ID, q.q, n, why})
		}
	}
	return out
}

func (a *annual) requestReport(s *plan) []RequestOutcome {
	out := []RequestOutcome{}
	for i, x := range a.res {
		for b := range a.blocks {
			for _, q := range a.requests[i][b] {
				r := s.at[i][b]
				if (q.r == r) != q.Avoid {
					out = append(out, RequestOutcome{q.RotationRequest, true, ""})
					continue
				}
				out = append(out, RequestOutcome{q.RotationRequest, false, a.requestWhy(s, i, b, q, x)})
			}
		}
	}
	return out
}

func (a *annual) requestWhy(s *plan, i, b int, q reqWish, x Person) string {
	rot := a.rot[q.r]
	switch {
	case a.kept[i][b] >= 0:
		return fmt.Sprintf("the plan already had them on %s in this block (kept; replan to change it)", a.rot[a.kept[i][b]].Name)
	case !q.Avoid && !rot.Allows(x.PGY):
		return fmt.Sprintf("%s takes PGY %v, not PGY-%d", rot.Name, rot.AllowedPGY, x.PGY)
	case !q.Avoid && slices.ContainsFunc(a.requests[i][b], func(o reqWish) bool { return !o.Avoid && o.r == s.at[i][b] }):
		return "another of their requests for this block was honoured"
	case !q.Avoid && s.cnt[b][q.r] >= rot.MaxResidents:
		return fmt.Sprintf("%s is full in this block (%d of at most %d), and moving someone off it cost more", rot.Name, s.cnt[b][q.r], rot.MaxResidents)
	case q.Avoid:
		return fmt.Sprintf("%s needed them in this block (its minimum, their requirements or the level's fairness weighed more)", rot.Name)
	}
	return "higher goals (rotation minimums, graduation requirements, heavier requests or fairness) outweighed it"
}

func (a *annual) fairnessReport(s *plan) []FairnessSpread {
	out := []FairnessSpread{}
	levels := make([]int, 0, len(a.levels))
	for l := range a.levels {
		levels = append(levels, l)
	}
	slices.Sort(levels)
	for _, l := range levels {
		for k, kind := range a.fairKinds {
			f := FairnessSpread{PGY: l, Kind: kind, Min: -1}
			for _, i := range a.levels[l] {
				n := s.fairCount(i, k)
				if f.Min < 0 || n < f.Min {
					f.Min = n
				}
				f.Max = max(f.Max, n)
			}
			f.Spread = f.Max - f.Min
			out = append(out, f)
		}
	}
	return out
}

// ValidateRequirements judges a year's plan against the graduation requirements: one
// violation per resident and requirement missed (rule "requirement", Block -1: the whole year,
// Value the blocks counted, Limit the minimum missed or the maximum exceeded).
func ValidateRequirements(year AcademicYear, rotations []Rotation, people []Person, plan []BlockAssignment, reqs []Requirement) []PlanViolation {
	byID := map[string]Rotation{}
	for _, r := range rotations {
		byID[r.ID] = r
	}
	// The year's entries by person, once: people × requirements × their own entries (at most
	// 14), not × the whole plan.
	entries := map[string][]Rotation{}
	for _, e := range plan {
		if r, ok := byID[e.RotationID]; ok && e.Year == year {
			entries[e.PersonID] = append(entries[e.PersonID], r)
		}
	}
	var out []PlanViolation
	for _, x := range people {
		if x.Type != Resident {
			continue
		}
		for _, q := range reqs {
			if q.PGY != x.PGY {
				continue
			}
			n := 0
			for _, r := range entries[x.ID] {
				if q.Counts(r) {
					n++
				}
			}
			if q.deviation(n) == 0 {
				continue
			}
			limit, word := q.MinBlocks, "at least"
			if n > q.MinBlocks {
				limit, word = *q.MaxBlocks, "at most"
			}
			out = append(out, PlanViolation{Rule: PlanRequirement, Block: -1, RotationID: q.RotationID, PersonID: x.ID, Value: n, Limit: limit,
				Message: fmt.Sprintf("%s (PGY-%d) has %d blocks of %s this year; the program requires %s %d", x.ID, x.PGY, n, q.Target(), word, limit)})
		}
	}
	return out
}

// PlanRequirement: a resident's year misses a graduation requirement.
const PlanRequirement = "requirement"
