package roster

// lowerBound is a proven lower bound on the cost of any plan of a that keeps its kept entries;
// ub is the cost of a known plan, which the Lagrangian steps aim at.
// The cost is a sum of parts, so the sum of lower bounds of disjoint parts bounds it:
//   - per block, unplaced + minimum shortfall + request costs: the block's exact optimum,
//     the min-cost flow of blockFlow with request prices from the kept plan (blocks are
//     independent in these parts: only requirements and fairness tie them together);
//   - per resident, requirements: a kept count above a maximum is missed for sure; a minimum
//     no rotation the resident may hold counts toward is missed whole; and over requirements
//     that share no rotation, the blocks still needed beyond the resident's free blocks;
//   - fairness: 0.
//
// It is the larger of that bound and the Lagrangian bound (annual_lagrange.go), which prices
// requirements and fairness into the per-block flows.
func (a *annual) lowerBound(ub int64) int64 {
	s := newPlan(a)
	var lb int64
	for b := range a.blocks {
		_, c := s.blockFlow(b, func(i, r int) int64 { return a.requestCost(i, b, r) })
		lb += c
		for i := range a.res {
			if r := a.kept[i][b]; r >= 0 {
				lb += a.requestCost(i, b, r)
			}
		}
	}
	for i := range a.res {
		lb += int64(s.requirementBound(i)) * a.w.Requirement
	}
	return max(lb, a.lagrangeBound(LagrangeRounds, ub))
}

// LagrangeRounds bounds the subgradient steps of the Lagrangian bound (annual_lagrange.go).
const LagrangeRounds = 200

// requirementBound is a lower bound on resident i's requirement deviation given the kept plan s.
func (s *plan) requirementBound(i int) int {
	a := s.a
	free := 0
	for b := range a.blocks {
		if a.kept[i][b] < 0 {
			free++
		}
	}
	sure, needed := 0, 0
	used := make([]bool, len(a.rot))
	for _, q := range a.reqs[i] {
		n := s.reqCount(i, q)
		if q.q.MaxBlocks != nil && n > *q.q.MaxBlocks {
			sure += n - *q.q.MaxBlocks
			continue
		}
		d := max(0, q.q.MinBlocks-n)
		if d == 0 {
			continue
		}
		if !a.mayCount(i, q) {
			sure += d
			continue
		}
		overlap := false
		for r, c := range q.counts {
			overlap = overlap || (c && used[r])
		}
		if overlap {
			continue
		}
		for r, c := range q.counts {
			used[r] = used[r] || c
		}
		needed += d
	}
	return sure + max(0, needed-free)
}

// mayCount says whether resident i may hold some rotation counting toward q.
func (a *annual) mayCount(i int, q reqIdx) bool {
	for r, c := range q.counts {
		if c && a.eligible(i, r) && a.rot[r].MaxResidents > 0 {
			return true
		}
	}
	return false
}
