package roster

// plan is a (partial) year plan of an annual problem with the counts its cost needs.
type plan struct {
	a   *annual
	at  [][]int // at[i][b]: rotation index, -1 none
	cnt [][]int // cnt[b][r]
	// held[i][r]: blocks of resident i on rotation r.
	held [][]int
}

func newPlan(a *annual) *plan {
	s := &plan{a: a, at: make([][]int, len(a.res)), cnt: make([][]int, len(a.blocks)), held: make([][]int, len(a.res))}
	for b := range s.cnt {
		s.cnt[b] = make([]int, len(a.rot))
	}
	for i := range s.at {
		s.at[i] = make([]int, len(a.blocks))
		s.held[i] = make([]int, len(a.rot))
		for b := range s.at[i] {
			s.at[i][b] = -1
			if r := a.kept[i][b]; r >= 0 {
				s.set(i, b, r)
			}
		}
	}
	return s
}

func (s *plan) clone() *plan {
	c := &plan{a: s.a, at: make([][]int, len(s.at)), cnt: make([][]int, len(s.cnt)), held: make([][]int, len(s.held))}
	for i := range s.at {
		c.at[i] = append([]int(nil), s.at[i]...)
		c.held[i] = append([]int(nil), s.held[i]...)
	}
	for b := range s.cnt {
		c.cnt[b] = append([]int(nil), s.cnt[b]...)
	}
	return c
}

// set puts resident i on rotation r (-1: none) in block b.
func (s *plan) set(i, b, r int) {
	if old := s.at[i][b]; old >= 0 {
		s.cnt[b][old]--
		s.held[i][old]--
	}
	s.at[i][b] = r
	if r >= 0 {
		s.cnt[b][r]++
		s.held[i][r]++
	}
}

// AnnualCost is the planner's objective split into its parts (each already weighted) with the
// counts behind them.
type AnnualCost struct {
	Total int64 `json:"total"`
	// Unplaced resident-blocks, residents missing from minimums, blocks missing from or above
	// requirements, unhonoured request weight, and the summed fairness spreads.
	Unplaced         int   `json:"unplaced"`
	MinimumShortfall int   `json:"minimum_shortfall"`
	RequirementMiss  int   `json:"requirement_blocks_missed"`
	RequestWeight    int   `json:"request_weight_unhonoured"`
	FairnessSpread   int   `json:"fairness_spread"`
	UnplacedCost     int64 `json:"unplaced_cost"`
	MinimumCost      int64 `json:"minimum_cost"`
	RequirementCost  int64 `json:"requirement_cost"`
	RequestCost      int64 `json:"request_cost"`
	FairnessCost     int64 `json:"fairness_cost"`
}

// cost evaluates the whole plan.
func (s *plan) cost() AnnualCost {
	a := s.a
	var c AnnualCost
	for i := range s.at {
		for b, r := range s.at[i] {
			if r < 0 {
				c.Unplaced++
			}
			c.RequestCost += a.requestCost(i, b, r)
		}
		c.RequirementMiss += s.requirementDev(i)
	}
	for b := range s.cnt {
		for r, n := range s.cnt[b] {
			c.MinimumShortfall += max(0, a.rot[r].MinResidents-n)
		}
	}
	for l := range a.levels {
		c.FairnessSpread += s.levelSpread(l)
	}
	c.RequestWeight = int(c.RequestCost / max(1, a.w.Request))
	c.UnplacedCost = int64(c.Unplaced) * a.w.Unplaced
	c.MinimumCost = int64(c.MinimumShortfall) * a.w.Minimum
	c.RequirementCost = int64(c.RequirementMiss) * a.w.Requirement
	c.FairnessCost = int64(c.FairnessSpread) * a.w.Fairness
	c.Total = c.UnplacedCost + c.MinimumCost + c.RequirementCost + c.RequestCost + c.FairnessCost
	return c
}

// reqCount is how many blocks of resident i count toward q.
func (s *plan) reqCount(i int, q reqIdx) int {
	n := 0
	for r, h := range s.held[i] {
		if q.counts[r] {
			n += h
		}
	}
	return n
}

// requirementDev is the blocks resident i misses their requirements by.
func (s *plan) requirementDev(i int) int {
	d := 0
	for _, q := range s.a.reqs[i] {
		d += q.q.deviation(s.reqCount(i, q))
	}
	return d
}

// fairCount is resident i's blocks on rotations of fair kind k.
func (s *plan) fairCount(i, k int) int {
	n := 0
	for r, h := range s.held[i] {
		if s.a.fairOf[r] == k {
			n += h
		}
	}
	return n
}

// levelSpread sums, over the fair kinds, the spread of level l's residents.
func (s *plan) levelSpread(l int) int {
	spread, _ := s.levelSpreadTie(l)
	return spread
}

// levelSpreadTie is levelSpread and, for the search only, how many residents hold the most
// blocks of a kind with a spread: a spread only falls once all of them have handed one on, so
// the search prefers fewer of them on its way (the cost does not count it).
func (s *plan) levelSpreadTie(l int) (int, int) {
	total, atMax := 0, 0
	for k := range s.a.fairKinds {
		lo, hi, n := -1, -1, 0
		for _, i := range s.a.levels[l] {
			c := s.fairCount(i, k)
			if lo < 0 || c < lo {
				lo = c
			}
			switch {
			case c > hi:
				hi, n = c, 1
			case c == hi:
				n++
			}
		}
		if hi > lo {
			total += hi - lo
			atMax += n
		}
	}
	return total, atMax
}

// localCost is the part of the cost that a move touching residents is and blocks bs can change:
// their cells' unplaced and request costs, the minimums of bs, the residents' requirements and
// their levels' fairness; and the search's tie-break (levelSpreadTie, weighted so that a whole
// level's residents at the most weigh less than one block of spread).
func (s *plan) localCost(is []int, bs []int) (int64, float64) {
	a := s.a
	var c int64
	for _, i := range is {
		for _, b := range bs {
			r := s.at[i][b]
			if r < 0 {
				c += a.w.Unplaced
			}
			c += a.requestCost(i, b, r)
		}
		c += int64(s.requirementDev(i)) * a.w.Requirement
	}
	for k, b := range bs {
		if k > 0 && bs[0] == b {
			continue
		}
		for r, n := range s.cnt[b] {
			c += int64(max(0, a.rot[r].MinResidents-n)) * a.w.Minimum
		}
	}
	var tie float64
	for k, i := range is {
		l := a.res[i].PGY
		if k > 0 && a.res[is[0]].PGY == l {
			continue
		}
		spread, atMax := s.levelSpreadTie(l)
		c += int64(spread) * a.w.Fairness
		tie += float64(atMax) * float64(a.w.Fairness) / float64(len(a.levels[l])+1)
	}
	return c, tie
}
