package roster

import (
	"fmt"
	"slices"
)

// The annual planner (issue 18) solves a year's block plan: one rotation per active resident
// per block with days, within each rotation's maximum and PGY levels (hard), keeping the entries
// already in the plan unless asked to replan, and weighing, in this order: residents left
// without a rotation, rotation minimums, graduation requirements, rotation requests and the
// fairness spread of the night-float and vacation blocks across the residents of a level. The
// objective is one integer cost (AnnualWeights); the planner builds each block with a min-cost
// flow, improves the year by simulated annealing over three moves (change one resident's
// rotation, swap two residents in a block, swap two blocks of one resident), and reports a
// proven lower bound on the cost (annual_bound.go). The LP export (annual_lp.go) lets CBC prove
// the optimum of small instances.

// MaxRequirementBlocks bounds a requirement's min and max blocks: an academic year has 14
// blocks (the orientation block 0 included when it has days).
const MaxRequirementBlocks = 14

// Requirement is one graduation requirement of the program: a resident of level PGY does at
// least MinBlocks (and, when MaxBlocks is set, at most MaxBlocks) blocks of the academic year on
// the rotation RotationID, or on any rotation of kind Kind (exactly one of the two is set).
type Requirement struct {
	PGY        int          `json:"pgy_level"`
	RotationID string       `json:"rotation_id,omitempty"`
	Kind       RotationKind `json:"kind,omitempty"`
	MinBlocks  int          `json:"min_blocks"`
	MaxBlocks  *int         `json:"max_blocks,omitempty"`
}

// Validate checks one requirement on its own.
func (q Requirement) Validate() error {
	switch {
	case q.PGY < 1 || q.PGY > MaxPGY:
		return fmt.Errorf("pgy_level %d is not 1 to %d", q.PGY, MaxPGY)
	case (q.RotationID == "") == (q.Kind == ""):
		return fmt.Errorf("set exactly one of rotation_id and kind")
	case q.Kind != "" && !slices.Contains(RotationKinds, q.Kind):
		return fmt.Errorf("kind %s is not one of %v", short(string(q.Kind)), RotationKinds)
	case q.MinBlocks < 0 || q.MinBlocks > MaxRequirementBlocks:
		return fmt.Errorf("min_blocks %d is not 0 to %d", q.MinBlocks, MaxRequirementBlocks)
	case q.MaxBlocks != nil && (*q.MaxBlocks < q.MinBlocks || *q.MaxBlocks > MaxRequirementBlocks):
		return fmt.Errorf("max_blocks %d is not min_blocks (%d) to %d", *q.MaxBlocks, q.MinBlocks, MaxRequirementBlocks)
	case q.MinBlocks == 0 && q.MaxBlocks == nil:
		return fmt.Errorf("a requirement needs min_blocks above 0 or a max_blocks")
	}
	return nil
}

// Counts says whether a block on r counts toward q.
func (q Requirement) Counts(r Rotation) bool {
	if q.RotationID != "" {
		return r.ID == q.RotationID
	}
	return r.Kind == q.Kind
}

// Target names what q counts, for messages.
func (q Requirement) Target() string {
	if q.RotationID != "" {
		return "rotation " + q.RotationID
	}
	return "kind " + string(q.Kind)
}

// deviation is how many blocks count n misses q by (below its minimum or above its maximum).
func (q Requirement) deviation(n int) int {
	switch {
	case n < q.MinBlocks:
		return q.MinBlocks - n
	case q.MaxBlocks != nil && n > *q.MaxBlocks:
		return n - *q.MaxBlocks
	}
	return 0
}

// MaxRequestWeight bounds a rotation request's weight.
const MaxRequestWeight = 10

// RotationRequest is a resident's wish for a rotation in one block (Avoid: a wish not to be on
// it), with a weight 1 to MaxRequestWeight: the planner's cost of not honouring it is Weight
// times AnnualWeights.Request.
type RotationRequest struct {
	PersonID   string `json:"person_id"`
	Block      int    `json:"block_number"`
	RotationID string `json:"rotation_id"`
	Avoid      bool   `json:"avoid"`
	Weight     int    `json:"weight"`
}

// Validate checks one request on its own.
func (q RotationRequest) Validate() error {
	switch {
	case q.Block < 0 || q.Block > 13:
		return fmt.Errorf("block_number %d is not 0 to 13", q.Block)
	case q.Weight < 1 || q.Weight > MaxRequestWeight:
		return fmt.Errorf("weight %d is not 1 to %d", q.Weight, MaxRequestWeight)
	}
	return nil
}

// AnnualWeights price the planner's objective, per unit: a resident-block without a rotation,
// a resident missing from a rotation's minimum in a block, a block missing from (or above) a
// graduation requirement, a request's weight when it is not honoured, and one block of spread
// (max - min over the residents of a level) of a fairness kind.
type AnnualWeights struct {
	Unplaced    int64 `json:"unplaced"`
	Minimum     int64 `json:"minimum"`
	Requirement int64 `json:"requirement"`
	Request     int64 `json:"request"`
	Fairness    int64 `json:"fairness"`
}

// DefaultAnnualWeights rank the goals: everyone placed, then rotation minimums, then graduation
// requirements, then requests (up to 100 for a weight-10 request), then fairness.
var DefaultAnnualWeights = AnnualWeights{Unplaced: 100000, Minimum: 1000, Requirement: 300, Request: 10, Fairness: 20}

// DefaultFairKinds are the kinds whose blocks the planner spreads evenly across a level.
var DefaultFairKinds = []RotationKind{KindNightFloat, KindVacation}

// AnnualProblem is one year's planning problem.
type AnnualProblem struct {
	Year      AcademicYear
	Rotations []Rotation
	// Residents are the active residents to plan (people of other types are ignored).
	Residents []Person
	// Plan is the year's current plan; its entries are kept unless Replan is set.
	Plan         []BlockAssignment
	Replan       bool
	Requirements []Requirement
	Requests     []RotationRequest
	// FairKinds default to DefaultFairKinds; Weights (all zero) to DefaultAnnualWeights.
	FairKinds []RotationKind
	Weights   AnnualWeights
	// Iterations of the local search (default DefaultAnnualIterationsPerCell per resident-block); Seed its random draw.
	// The planner is deterministic for a given problem, Iterations and Seed.
	Iterations int
	Seed       uint64
}

// annual is the indexed problem the planner and the bound work on.
type annual struct {
	p         *AnnualProblem
	w         AnnualWeights
	rot       []Rotation
	rotIdx    map[string]int
	res       []Person
	resIdx    map[string]int
	blocks    []Block // the blocks with days
	fairKinds []RotationKind
	// fairOf[r] is the index in fairKinds of rotation r's kind, or -1.
	fairOf []int
	// kept[i][b]: rotation index of a kept entry, or -1.
	kept [][]int
	// reqs[i] are the requirements of resident i's level, with the rotations each counts.
	reqs [][]reqIdx
	// requests[i][b] are resident i's requests for block b (rotation index, -1 if unknown).
	requests [][][]reqWish
	// levels maps a PGY level to its residents; levelKeys are the levels, sorted.
	levels    map[int][]int
	levelKeys []int
}

type reqIdx struct {
	q      Requirement
	counts []bool // by rotation
}

type reqWish struct {
	RotationRequest
	r int
}

// newAnnual indexes p (sorted by id so the plan does not depend on input order).
func newAnnual(p *AnnualProblem) (*annual, error) {
	a := &annual{p: p, w: p.Weights, rotIdx: map[string]int{}, resIdx: map[string]int{}, levels: map[int][]int{}}
	if a.w == (AnnualWeights{}) {
		a.w = DefaultAnnualWeights
	}
	a.fairKinds = p.FairKinds
	if a.fairKinds == nil {
		a.fairKinds = DefaultFairKinds
	}
	a.rot = slices.Clone(p.Rotations)
	slices.SortFunc(a.rot, func(x, y Rotation) int { return cmpString(x.ID, y.ID) })
	for k, r := range a.rot {
		if err := r.Validate(); err != nil {
			return nil, inputErrorf("rotation %s: %v", r.ID, err)
		}
		a.rotIdx[r.ID] = k
		a.fairOf = append(a.fairOf, slices.Index(a.fairKinds, r.Kind))
	}
	for _, x := range p.Residents {
		if x.Type == Resident {
			a.res = append(a.res, x)
		}
	}
	slices.SortFunc(a.res, func(x, y Person) int { return cmpString(x.ID, y.ID) })
	for i, x := range a.res {
		if x.PGY < 1 || x.PGY > MaxPGY {
			return nil, inputErrorf("resident %s: PGY level %d is not 1 to %d", x.ID, x.PGY, MaxPGY)
		}
		a.resIdx[x.ID] = i
		if len(a.levels[x.PGY]) == 0 {
			a.levelKeys = append(a.levelKeys, x.PGY)
		}
		a.levels[x.PGY] = append(a.levels[x.PGY], i)
	}
	slices.Sort(a.levelKeys)
	for _, b := range p.Year.Blocks() {
		if b.Days() > 0 {
			a.blocks = append(a.blocks, b)
		}
	}
	if err := a.indexKept(); err != nil {
		return nil, err
	}
	if err := a.indexRequirements(); err != nil {
		return nil, err
	}
	return a, a.indexRequests()
}

func cmpString(x, y string) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// blockIdx is the index in a.blocks of block number n, or -1.
func (a *annual) blockIdx(n int) int {
	for k, b := range a.blocks {
		if b.Number == n {
			return k
		}
	}
	return -1
}

func (a *annual) indexKept() error {
	a.kept = make([][]int, len(a.res))
	for i := range a.kept {
		a.kept[i] = slices.Repeat([]int{-1}, len(a.blocks))
	}
	if a.p.Replan {
		return nil
	}
	for _, e := range a.p.Plan {
		i, okI := a.resIdx[e.PersonID]
		r, okR := a.rotIdx[e.RotationID]
		b := a.blockIdx(e.Block)
		if !okI || e.Year != a.p.Year || b < 0 {
			continue // an entry of someone not planned (archived, not a resident) or another year
		}
		if !okR {
			return inputErrorf("plan entry of %s in block %d: unknown rotation %s", e.PersonID, e.Block, e.RotationID)
		}
		if a.kept[i][b] >= 0 {
			return inputErrorf("plan entry of %s in block %d: two entries", e.PersonID, e.Block)
		}
		a.kept[i][b] = r
	}
	return nil
}

func (a *annual) indexRequirements() error {
	a.reqs = make([][]reqIdx, len(a.res))
	for k, q := range a.p.Requirements {
		if err := q.Validate(); err != nil {
			return inputErrorf("requirement %d: %v", k, err)
		}
		if q.RotationID != "" {
			if _, ok := a.rotIdx[q.RotationID]; !ok {
				return inputErrorf("requirement %d: unknown rotation %s", k, q.RotationID)
			}
		}
		ri := reqIdx{q: q, counts: make([]bool, len(a.rot))}
		for r, rot := range a.rot {
			ri.counts[r] = q.Counts(rot)
		}
		for _, i := range a.levels[q.PGY] {
			a.reqs[i] = append(a.reqs[i], ri)
		}
	}
	return nil
}

func (a *annual) indexRequests() error {
	a.requests = make([][][]reqWish, len(a.res))
	for i := range a.requests {
		a.requests[i] = make([][]reqWish, len(a.blocks))
	}
	for k, q := range a.p.Requests {
		if err := q.Validate(); err != nil {
			return inputErrorf("request %d: %v", k, err)
		}
		i, ok := a.resIdx[q.PersonID]
		if !ok {
			return inputErrorf("request %d: %s is not an active resident", k, q.PersonID)
		}
		r, ok := a.rotIdx[q.RotationID]
		if !ok {
			return inputErrorf("request %d: unknown rotation %s", k, q.RotationID)
		}
		b := a.blockIdx(q.Block)
		if b < 0 {
			return inputErrorf("request %d: block %d has no days in academic year %d", k, q.Block, a.p.Year)
		}
		a.requests[i][b] = append(a.requests[i][b], reqWish{q, r})
	}
	return nil
}

// eligible says whether resident i may be on rotation r.
func (a *annual) eligible(i, r int) bool { return a.rot[r].Allows(a.res[i].PGY) }

// requestCost is the cost of resident i's requests in block b when on rotation r (-1: none).
func (a *annual) requestCost(i, b, r int) int64 {
	var c int64
	for _, q := range a.requests[i][b] {
		if (q.r == r) == q.Avoid {
			c += int64(q.Weight) * a.w.Request
		}
	}
	return c
}
