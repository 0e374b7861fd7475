package roster

import "math"

// The Lagrangian part of the annual planner's lower bound. Requirements and fairness are what
// tie the blocks together; priced into the arcs with multipliers, they leave one min-cost flow
// per block, and for any multipliers in range the sum of the flows plus a constant is a lower
// bound on the cost of every plan:
//
//   - a requirement's deviation, W·dev(c) with dev = max(0, min−c) + max(0, c−max), is at
//     least λ(min−c) + μ(c−max) for any 0 ≤ λ, μ ≤ W (one of the two terms is ≤ 0 whenever the
//     other is positive, and each is at most W times its own part);
//   - a level's spread in a fair kind, W·(max_i c_i − min_i c_i), is at least Σ_i (α_i − β_i)·c_i
//     for any α, β ≥ 0 with Σα = Σβ = W (W·max ≥ Σ α_i c_i and W·min ≤ Σ β_i c_i).
//
// Both are linear in the counts c, which are sums of a resident's cells: each arc resident →
// rotation carries its share, and the rest is a constant. The multipliers are improved by
// projected subgradient steps (integers, so the flows stay integral); every step's value is a
// valid bound and the best is kept. Since each block's subproblem is a network flow, the best
// such bound is the LP relaxation's optimum; a few dozen steps approach it.

// lagrange holds the multipliers: lam/mu[i][q] for resident i's requirement q, and for level
// index l and fair kind k, alpha/beta[l][k][m] for the level's m-th resident.
type lagrange struct {
	lam, mu     [][]float64
	alpha, beta [][][]int64
	// member[i] is resident i's level index and place among the level's residents.
	member [][2]int
}

func (a *annual) newLagrange() *lagrange {
	g := &lagrange{lam: make([][]float64, len(a.res)), mu: make([][]float64, len(a.res)), member: make([][2]int, len(a.res))}
	for i := range a.res {
		g.lam[i] = make([]float64, len(a.reqs[i]))
		g.mu[i] = make([]float64, len(a.reqs[i]))
	}
	for l, level := range a.levelKeys {
		g.alpha = append(g.alpha, make([][]int64, len(a.fairKinds)))
		g.beta = append(g.beta, make([][]int64, len(a.fairKinds)))
		for k := range a.fairKinds {
			g.alpha[l][k] = make([]int64, len(a.levels[level]))
			g.beta[l][k] = make([]int64, len(a.levels[level]))
			g.alpha[l][k][0], g.beta[l][k][0] = a.w.Fairness, a.w.Fairness // α = β: no effect to start
		}
		for m, i := range a.levels[level] {
			g.member[i] = [2]int{l, m}
		}
	}
	return g
}

// arcCost is the multipliers' price of resident i on rotation r (r ≥ 0).
func (a *annual) lagrangeArc(g *lagrange, i, r int) int64 {
	var c int64
	for q, rq := range a.reqs[i] {
		if rq.counts[r] {
			c += rnd(g.mu[i][q]) - rnd(g.lam[i][q])
		}
	}
	if k := a.fairOf[r]; k >= 0 {
		l, m := g.member[i][0], g.member[i][1]
		c += g.alpha[l][k][m] - g.beta[l][k][m]
	}
	return c
}

// lagrangeValue evaluates the bound at g and returns it with the plan the flows chose (the kept
// entries and the flows' choices).
func (a *annual) lagrangeValue(g *lagrange) (int64, *plan) {
	kept := newPlan(a)
	out := kept.clone()
	var v int64
	for i := range a.res {
		for q, rq := range a.reqs[i] {
			n := int64(kept.reqCount(i, rq))
			v += rnd(g.lam[i][q]) * (int64(rq.q.MinBlocks) - n)
			if rq.q.MaxBlocks != nil {
				v += rnd(g.mu[i][q]) * (n - int64(*rq.q.MaxBlocks))
			}
		}
		l, m := g.member[i][0], g.member[i][1]
		for k := range a.fairKinds {
			v += (g.alpha[l][k][m] - g.beta[l][k][m]) * int64(kept.fairCount(i, k))
		}
	}
	for b := range a.blocks {
		choice, c := kept.blockFlow(b, func(i, r int) int64 {
			if r < 0 {
				return a.requestCost(i, b, r)
			}
			return a.requestCost(i, b, r) + a.lagrangeArc(g, i, r)
		})
		v += c
		for i := range a.res {
			if r := a.kept[i][b]; r >= 0 {
				v += a.requestCost(i, b, r)
			}
		}
		for i, r := range choice {
			out.set(i, b, r)
		}
	}
	return v, out
}

// rnd is a multiplier as the flows use it: rounded, so arc costs stay integral (a rounded
// multiplier is still in range, so the bound stays valid).
func rnd(x float64) int64 { return int64(math.Round(x)) }

// subgradient is the requirements' part of the subgradient at the plan s the flows chose:
// min − count for each λ and count − max for each μ, 0 where the projection would stop the step.
func (a *annual) subgradient(g *lagrange, s *plan) (dl, dm [][]float64, norm float64) {
	w := float64(a.w.Requirement)
	dl, dm = make([][]float64, len(a.res)), make([][]float64, len(a.res))
	for i := range a.res {
		dl[i], dm[i] = make([]float64, len(a.reqs[i])), make([]float64, len(a.reqs[i]))
		for q, rq := range a.reqs[i] {
			n := float64(s.reqCount(i, rq))
			if d := float64(rq.q.MinBlocks) - n; (d > 0 && g.lam[i][q] < w) || (d < 0 && g.lam[i][q] > 0) {
				dl[i][q] = d
			}
			if rq.q.MaxBlocks == nil {
				continue
			}
			if d := n - float64(*rq.q.MaxBlocks); (d > 0 && g.mu[i][q] < w) || (d < 0 && g.mu[i][q] > 0) {
				dm[i][q] = d
			}
		}
	}
	for i := range dl {
		for q := range dl[i] {
			norm += dl[i][q]*dl[i][q] + dm[i][q]*dm[i][q]
		}
	}
	return dl, dm, norm
}

// lagrangeStep moves the multipliers: the requirements' by a Polyak step of size
// theta·(ub − v)/‖d‖² toward the target ub (the best plan's cost), the fairness weights by units.
func (a *annual) lagrangeStep(g *lagrange, s *plan, theta float64, ub, v, units int64) {
	dl, dm, norm := a.subgradient(g, s)
	if norm > 0 {
		step := theta * float64(max(1, ub-v)) / norm
		w := float64(a.w.Requirement)
		for i := range dl {
			for q := range dl[i] {
				g.lam[i][q] = min(w, max(0, g.lam[i][q]+step*dl[i][q]))
				g.mu[i][q] = min(w, max(0, g.mu[i][q]+step*dm[i][q]))
			}
		}
	}
	for l, level := range a.levelKeys {
		members := a.levels[level]
		for k := range a.fairKinds {
			counts := make([]int, len(members))
			hi, lo := 0, 0
			for m, i := range members {
				counts[m] = s.fairCount(i, k)
				if counts[m] > counts[hi] {
					hi = m
				}
				if counts[m] < counts[lo] {
					lo = m
				}
			}
			shift(g.alpha[l][k], counts, hi, units, -1)
			shift(g.beta[l][k], counts, lo, units, 1)
		}
	}
}

// shift moves up to units of weight w to member to from the member with weight whose count is
// lowest (dir -1) or highest (dir 1), if that count differs from to's.
func shift(w []int64, counts []int, to int, units int64, dir int) {
	from := -1
	for m := range w {
		if w[m] > 0 && m != to && (from < 0 || dir*(counts[m]-counts[from]) > 0) {
			from = m
		}
	}
	if from < 0 || counts[from] == counts[to] {
		return
	}
	d := min(units, w[from])
	w[from] -= d
	w[to] += d
}

// lagrangeBound is the best Lagrangian bound found in at most rounds subgradient steps aimed at
// ub (the cost of a known plan): theta starts at 1 and halves after 5 steps without improvement,
// and the steps stop once it is below 1/64 (30 steps without improvement).
func (a *annual) lagrangeBound(rounds int, ub int64) int64 {
	g := a.newLagrange()
	best, stale, theta := int64(math.MinInt64), 0, 1.0
	for t := 0; t < rounds && best < ub && theta >= 1.0/64; t++ {
		v, s := a.lagrangeValue(g)
		if v > best {
			best, stale = v, 0
		} else if stale++; stale >= 5 {
			theta, stale = theta/2, 0
		}
		a.lagrangeStep(g, s, theta, ub, v, max(1, int64(float64(a.w.Fairness)*theta/2)))
	}
	return best
}
